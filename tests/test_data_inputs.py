"""Bad input to the data loaders: a clear error naming the file or argument, never a wrong result.

The pickles here are written opcode by opcode where Python would not write them itself (a call
of ``eval``, ``bytes(n)``, a BUILD on an allowed callable); each dangerous one would create a
marker file under ``tmp_path`` if it ran, and the test checks that it did not (and, to show the
test is not vacuous, that plain ``pickle.loads`` does create it).
"""

import gzip
import io
import math
import os
import pickle
import pickletools
import re
import struct

import numpy as np
import pytest

from tinyadv.data import (UnsafePickleError, load_cifar10, load_dataset, load_fashion_mnist,
                          load_mini_mnist, load_mnist, load_svhn, read_cifar_batch, read_idx,
                          read_svhn_mat, safe_load, select_classes, standardize)
from tinyadv.data import cifar as cifar_module
from tinyadv.data import mnist as mnist_module
from tinyadv.data import svhn as svhn_module
from tinyadv.data.download import fetch
from tinyadv.data.idx import write_idx


# -- writing pickles by hand (protocol 2 opcodes) ----------------------------------------------

def _text(s):
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _global(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def _call(func, *args):
    return func + b"(" + b"".join(args) + b"tR"


def _pickle(body):
    return b"\x80\x02" + body + b"."


def _write(tmp_path, payload, name="batch"):
    path = tmp_path / name
    path.write_bytes(payload)
    return path


# -- safe_pickle: bytes() --------------------------------------------------------------------

@pytest.mark.parametrize("obj", [
    {b"data": np.zeros((1, 3072), np.uint8), b"labels": [1], b"batch_label": b""},
    np.zeros((0, 3072), np.uint8),
    b"",
    [b"", b"ab", b""],
], ids=["batch-with-empty-label", "empty-array", "empty-bytes", "list"])
@pytest.mark.parametrize("protocol", [0, 2])
def test_pickles_with_empty_bytes_load(tmp_path, obj, protocol):
    # Python 3 writes b"" in protocols 0-2 as a call of __builtin__.bytes with no arguments
    path = _write(tmp_path, pickle.dumps(obj, protocol=protocol))
    loaded = safe_load(path)
    if isinstance(obj, dict):
        assert loaded[b"batch_label"] == b"" and loaded[b"labels"] == [1]
        assert np.array_equal(loaded[b"data"], obj[b"data"])
    elif isinstance(obj, np.ndarray):
        assert loaded.dtype == np.uint8 and loaded.shape == (0, 3072)
    else:
        assert loaded == obj


def test_cifar_batch_with_empty_batch_label_reads(tmp_path):
    record = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [1], b"batch_label": b""}
    x, y = read_cifar_batch(str(_write(tmp_path, pickle.dumps(record, protocol=2))))
    assert x.shape == (1, 3, 32, 32) and y.tolist() == [1]


@pytest.mark.parametrize("module", ["__builtin__", "builtins"])
@pytest.mark.parametrize("args, expected", [
    (b"", b""),
    (b"C\x02ab", b"ab"),                       # bytes(b"ab")
    (b"]q\x00(K\x01K\xffe", b"\x01\xff"),      # bytes([1, 255])
])
def test_bytes_with_data_arguments_loads(tmp_path, module, args, expected):
    path = _write(tmp_path, _pickle(_call(_global(module, "bytes"), args)))
    assert safe_load(path) == expected


@pytest.mark.parametrize("args, shown", [
    (b"J\x00\x00\x00\x40", r"bytes\(int\)"),                # bytes(2**30) allocates a GiB
    (b"]q\x00(M\x00\x01e", r"bytes\(list\)"),              # [256] is not a byte
    (_text("abc") + _text("latin1"), r"bytes\(str, str\)"),
    (b"C\x01aC\x01b", r"bytes\(bytes, bytes\)"),
])
def test_bytes_with_other_arguments_is_refused(tmp_path, args, shown):
    path = _write(tmp_path, _pickle(_call(_global("__builtin__", "bytes"), args)))
    with pytest.raises(UnsafePickleError, match=shown) as info:
        safe_load(path)
    assert str(path) in str(info.value)


def _dangerous_payloads(marker):
    """(id, pickle) pairs that each create ``marker`` when unpickled by plain pickle."""
    m = str(marker)
    return [
        ("__builtin__.eval", _call(_global("__builtin__", "eval"), _text(f"open({m!r}, 'w').close()"))),
        ("builtins.exec", _call(_global("builtins", "exec"), _text(f"open({m!r}, 'w').close()"))),
        ("__builtin__.open", _call(_global("__builtin__", "open"), _text(m), _text("w"))),
        ("os.mkdir", _call(_global("os", "mkdir"), _text(m))),
        ("builtins.getattr", _call(                # getattr(__import__("os"), "mkdir")(marker)
            _call(_global("builtins", "getattr"),
                  _call(_global("builtins", "__import__"), _text("os")), _text("mkdir")),
            _text(m))),
        # the allowed bytes global first, then a dangerous one: still refused before any call
        ("__builtin__.bytes+eval", b"(" + _call(_global("__builtin__", "bytes"))
         + _call(_global("__builtin__", "eval"), _text(f"open({m!r}, 'w').close()")) + b"t"),
    ]


@pytest.mark.parametrize("index", range(6), ids=[p[0] for p in _dangerous_payloads("m")])
def test_dangerous_calls_are_refused_and_run_nothing(tmp_path, index):
    marker = tmp_path / "pwned"
    name, body = _dangerous_payloads(marker)[index]
    path = _write(tmp_path, _pickle(body), name="evil")
    global_name = name.split("+")[-1].split(".")[-1]
    with pytest.raises(UnsafePickleError, match=rf"refused to load global \S*\.?{global_name}") as info:
        safe_load(path)
    assert str(path) in str(info.value)
    assert not marker.exists()
    with pytest.raises(UnsafePickleError):
        read_cifar_batch(str(path))
    assert not marker.exists()
    # plain pickle does run it: the payload is real, the refusal above is what stopped it
    result = pickle.loads(path.read_bytes())
    if hasattr(result, "close"):   # the file that open() returned
        result.close()
    assert marker.exists()


@pytest.mark.parametrize("target", ["_codecs\nencode", "__builtin__\nbytes"])
@pytest.mark.parametrize("state", [
    b"}X\x0c\x00\x00\x00__defaults__X\x04\x00\x00\x00zlib\x85s",          # dict state
    b"N}X\x0c\x00\x00\x00__defaults__X\x04\x00\x00\x00zlib\x85s\x86",     # (None, slot state)
], ids=["dict", "slots"])
def test_build_cannot_change_the_allowed_callables(tmp_path, target, state):
    # a BUILD on a stand-in would otherwise change it for every later file of the process
    path = _write(tmp_path, b"\x80\x02c" + target.encode() + b"\n" + state + b"b.")
    with pytest.raises(UnsafePickleError, match="refused to set the state"):
        safe_load(path)
    good = _write(tmp_path, pickle.dumps([b"abc", b""], protocol=2), name="good")
    assert safe_load(good) == [b"abc", b""]


# -- safe_pickle: _codecs.encode ---------------------------------------------------------------

@pytest.mark.parametrize("args, shown", [
    (_text("a") + _text("nocodec"), "'nocodec'"),            # unknown codec: was a raw LookupError
    (_text("a") + _text("zlib_codec"), "'zlib_codec'"),
    (_text("a") + _text("utf-8"), "'utf-8'"),
    (_text("a") + _text("latin1") + _text("surrogateescape"), "'surrogateescape'"),
    (_text("a"), r"'a'\)"),                                     # default codec utf-8
    (_text("a") + b"K\x05", r"'a', int"),                    # not a codec name at all
    (b"C\x01a" + _text("latin1"), r"bytes, 'latin1'"),
], ids=["nocodec", "zlib", "utf-8", "errors", "one-arg", "int-codec", "bytes-text"])
def test_codecs_encode_other_than_latin1_is_refused_naming_the_file(tmp_path, args, shown):
    path = _write(tmp_path, _pickle(_call(_global("_codecs", "encode"), args)))
    with pytest.raises(UnsafePickleError, match=rf"refused _codecs\.encode\(.*{shown}") as info:
        safe_load(path)
    assert str(path) in str(info.value)


def test_codecs_encode_from_the_probe_names_the_file(tmp_path):
    payload = b"\x80\x02c_codecs\nencode\nq\x00X\x01\x00\x00\x00aX\x07\x00\x00\x00nocodecq\x01\x86R."
    path = _write(tmp_path, payload)
    with pytest.raises(UnsafePickleError, match="nocodec") as info:
        safe_load(path)
    assert str(path) in str(info.value)


def test_codecs_encode_latin1_still_loads(tmp_path):
    path = _write(tmp_path, _pickle(_call(_global("_codecs", "encode"), _text("\xe9a"), _text("latin1"))))
    assert safe_load(path) == b"\xe9a"


# -- safe_pickle: NumPy's BUILD on a dtype or an array, ndarray and _reconstruct ---------------------

def _u1_dtype(flags=0, name="u1", order="|"):
    """np.dtype(name, False, True) then BUILD (3, order, None, None, None, -1, -1, flags)."""
    return (_call(_global("numpy", "dtype"), _text(name), b"\x89\x88")
            + b"(K\x03" + _text(order) + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xff"
            + b"J" + struct.pack("<i", flags) + b"tb")


def _empty_array():
    return _call(_global("numpy.core.multiarray", "_reconstruct"), _global("numpy", "ndarray"),
                 b"K\x00\x85", b"C\x01b")


def _array(shape_opcodes, dtype, data):
    """_reconstruct(ndarray, (0,), b"b") then BUILD (1, shape, dtype, False, data)."""
    return _empty_array() + b"(K\x01" + shape_opcodes + dtype + b"\x89" + data + b"tb"


_N = 1 << 16
_FORGED = {
    # an object dtype whose flags say it holds no references: its bytes are read as pointers
    # (0x4141414141414141 here; reading the array was a segmentation fault)
    "object-dtype-without-references": _array(b"K\x02\x85", _u1_dtype(0, "O8"), b"C\x10" + b"A" * 16),
    # uint8 whose flags say it holds references: the list's pointers went into 1-byte items
    "uint8-dtype-with-references": _array(b"K\x02\x85", _u1_dtype(63), b"K\x01K\x02\x86"),
    # a second BUILD on an array frees the memory that the view made in between still reads
    "second-build-under-a-view": (
        _array(b"J" + struct.pack("<i", _N) + b"\x85", _u1_dtype(), b"B" + struct.pack("<I", _N)
               + b"A" * _N) + b"q\x00"
        + _call(_global("numpy", "ndarray"), b"J" + struct.pack("<i", _N) + b"\x85", _u1_dtype(), b"h\x00")
        + b"q\x01" + b"0" + b"h\x00" + b"(K\x01K\x01\x85" + _u1_dtype() + b"\x89C\x01Ztb" + b"0"
        + b"h\x01"),
    # ndarray(shape, dtype, buffer, offset, strides) with zero strides: 4000 bytes read from b""
    "ndarray-with-zero-strides": _call(_global("numpy", "ndarray"), b"K\x04\x85",
                                       _call(_global("numpy", "dtype"), _text("V1000")),
                                       b"C\x00", b"K\x00", b"K\x00\x85"),
    # an object array whose list is shorter than its shape: NumPy read past the list's end
    # (a segmentation fault, on the BUILD itself)
    "object-array-with-a-short-list": _array(
        b"K\x04\x85", _call(_global("numpy", "dtype"), _text("O"), b"\x89\x88"), b"]"),
    # a dtype of object sub-arrays: NumPy allocates shape x sub-array of references (10**8 of
    # them took 2.4 GB from a 112-byte file; 4 here, refused all the same)
    "object-sub-array-dtype": _array(
        b"K\x03\x85", _call(_global("numpy", "dtype"), _text("O") + b"K\x04\x85\x86"),
        b"](NNNe"),
    # an uninitialised array of any size, straight from the file's numbers
    "reconstruct-of-a-large-array": _call(_global("numpy.core.multiarray", "_reconstruct"),
                                          _global("numpy", "ndarray"), b"J\x00\x00\x00\x40\x85",
                                          b"C\x01b"),
}


@pytest.mark.parametrize("name", sorted(_FORGED))
def test_numpy_states_that_break_memory_safety_are_refused(tmp_path, name):
    """Before, each of these loaded (the C unpickler calls NumPy's __setstate__ on any state,
    and numpy.ndarray or _reconstruct with any arguments): an array whose use read or wrote
    memory it does not own; a CIFAR batch with such labels crashed the process (exit 139). The
    result is not touched here, so the old code fails with DID NOT RAISE, not a crash."""
    path = _write(tmp_path, _pickle(body=_FORGED[name]))
    with pytest.raises(UnsafePickleError, match=r"refused .*(state|numpy\.ndarray|_reconstruct)") as info:
        safe_load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, "py2"])
def test_numpy_arrays_of_every_plain_dtype_still_load(tmp_path, protocol):
    from test_data_cifar import dumps
    arrays = [np.arange(3 * 3072, dtype=np.uint8).reshape(3, 3072), np.arange(6, dtype=">u4"),
              np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.array(5), np.array([True, False]),
              np.arange(3, dtype=np.float16), np.array([1 + 2j]), np.array([b"ab", b"c"]),
              np.array(["xy", "z"]), np.array(["2020-01-01"], dtype="M8[D]"), np.zeros((0, 5)),
              np.array([1, b"a", None], dtype=object), np.zeros(2, dtype="V3")]
    for array in arrays:
        data = dumps(array, py2=True) if protocol == "py2" else pickle.dumps(array, protocol=protocol)
        loaded = safe_load(_write(tmp_path, data))
        assert loaded.shape == array.shape and loaded.dtype.newbyteorder("=") == array.dtype.newbyteorder("=")
        assert loaded.tolist() == array.tolist()
    dtype = pickle.dumps(np.dtype(">f8"), protocol=2 if protocol == "py2" else protocol)
    assert safe_load(_write(tmp_path, dtype)) == np.dtype(">f8")


class _Numpy1Datetime:
    """Pickles as NumPy 1.x pickles ``dtype("<M8[D]")``: its metadata is ``({}, ...)`` where
    NumPy 2 writes ``(None, ...)``."""

    def __reduce__(self):
        return np.dtype, ("M8", False, True), (4, "<", None, None, None, -1, -1, 0,
                                               ({}, (b"D", 1, 1, 1)))


def test_a_datetime64_dtype_written_by_numpy_1_loads_with_a_metadata_dict_of_its_own(tmp_path):
    data = pickle.dumps(_Numpy1Datetime(), protocol=2)
    assert safe_load(_write(tmp_path, data)) == np.dtype("<M8[D]")
    # The pickle's empty dict, fetched from its memo after the BUILD and filled, stays the pickle's.
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
    memo = ops[ops.index(("EMPTY_DICT", None)) + 1]
    assert memo[0] == "BINPUT" and ops[-2:] == [("BUILD", None), ("STOP", None)]
    filled = data[:-1] + b"h" + bytes([memo[1]]) + b"X\x01\x00\x00\x00kK\x01s0."
    assert pickle.loads(filled).metadata == {"k": 1}   # what NumPy itself would keep
    assert not safe_load(_write(tmp_path, filled)).metadata


# -- read_cifar_batch ----------------------------------------------------------------------------

_DATA = np.zeros((2, 3072), np.uint8)


@pytest.mark.parametrize("record, error, match", [
    ({b"data": _DATA, b"labels": [[1], [2, 3]]}, ValueError, "flat list of integers"),
    ({b"data": _DATA, b"labels": None}, ValueError, "b'labels' must be a list of integers, got NoneType"),
    ({b"data": None, b"labels": [1, 2]}, ValueError, r"b'data' must be a uint8 array .* got NoneType"),
    ({b"data": _DATA, b"labels": np.array([2**63, 1], np.uint64)}, ValueError,
     r"outside \[0, 9\] \(min 1, max 9223372036854775808\)"),
    ({b"data": _DATA, b"labels": np.array([2**64 - 1, 2**63], np.uint64)}, ValueError,
     r"min 9223372036854775808, max 18446744073709551615"),
    ({b"data": _DATA, b"labels": 7}, ValueError, "b'labels' must be a list of integers, got int"),
    ({b"data": _DATA}, ValueError, r"b'labels' missing \(found b'data'\)"),
    ({}, ValueError, r"b'data' and b'labels' missing \(found no keys\)"),
])
def test_read_cifar_batch_names_the_file_and_the_problem(tmp_path, record, error, match):
    path = _write(tmp_path, pickle.dumps(record, protocol=2))
    with pytest.raises(error, match=match) as info:
        read_cifar_batch(str(path))
    assert str(path) in str(info.value)


@pytest.mark.parametrize("num_classes, error, match", [
    ("a", TypeError, "num_classes must be an integer, got str"),
    (2.5, TypeError, "num_classes must be an integer, got float"),
    (0, ValueError, "num_classes must be >= 1"),
])
def test_read_cifar_batch_checks_num_classes(tmp_path, num_classes, error, match):
    path = _write(tmp_path, pickle.dumps({b"data": _DATA, b"labels": [1, 2]}, protocol=2))
    with pytest.raises(error, match=match):
        read_cifar_batch(str(path), num_classes=num_classes)


# -- read_idx ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dims", [(2**22, 2**21, 2**21), (2**32 - 1, 2**32 - 1, 2**32 - 1), (2**31, 2**31, 4)])
@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_huge_header_is_a_size_mismatch(tmp_path, dims, compress):
    # the product overflows int64 (2**64 wraps to 0 and matched an empty payload)
    raw = bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    path = tmp_path / ("huge-idx3-ubyte" + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(raw) if compress else raw)
    expected = math.prod(dims)
    with pytest.raises(ValueError, match=rf"header announces shape .* \({expected} bytes\) but 0 bytes follow"):
        read_idx(path, ndim=3)


# -- preprocess.standardize ----------------------------------------------------------------------

_X = np.random.default_rng(0).random((4, 1, 3, 3))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("eps, dtype, error, match", [
    (-1, np.float64, ValueError, r"eps must be a finite number > 0 .* got -1\.0"),
    (0, np.float64, ValueError, "eps must be a finite number > 0"),
    (float("nan"), np.float64, ValueError, "got nan"),
    (float("inf"), np.float64, ValueError, "got inf"),
    (1e-50, np.float32, ValueError, r"representable in float32\), got 1e-50"),
    (1e300, np.float32, ValueError, r"representable in float32\), got 1e\+300"),
    (10 ** 400, np.float64, ValueError, "got inf"),  # (was float()'s OverflowError)
    ("a", np.float64, TypeError, "eps must be a real number, got str"),
    (None, np.float64, TypeError, "eps must be a real number, got NoneType"),
    (True, np.float64, TypeError, "eps must be a real number, got bool"),
])
def test_standardize_checks_eps(eps, dtype, error, match):
    with pytest.raises(error, match=match):
        standardize(_X.astype(dtype), eps=eps)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("pixel_std, dtype, match", [
    (-np.ones((1, 3, 3)), np.float64, r"pixel_std must be >= 0 .* found -1\.0"),
    (np.where(np.eye(3) > 0, -0.5, 1.0)[None], np.float64, r"pixel_std must be >= 0 .* found -0\.5"),
    (np.full((1, 3, 3), np.nan), np.float64, "pixel_std contains NaN"),
    (np.full((1, 3, 3), np.inf), np.float64, "pixel_std contains infinite values"),
    (np.full((1, 3, 3), 1e300), np.float32, "pixel_std does not fit in x's dtype float32"),
])
def test_standardize_checks_pixel_std(pixel_std, dtype, match):
    with pytest.raises(ValueError, match=match):
        standardize(_X.astype(dtype), pixel_std)


@pytest.mark.filterwarnings("error")
def test_standardize_valid_eps_and_pixel_std_still_work():
    out, std = standardize(_X.astype(np.float32), eps=np.float32(1e-3))
    again, _ = standardize(_X.astype(np.float32), std, eps=1e-3)
    assert out.dtype == np.float32 and np.allclose(out, again)
    zero, _ = standardize(_X, np.zeros((1, 3, 3)), eps=0.5)   # a std of 0 is clamped to eps
    assert np.allclose(zero, (_X - _X.mean(axis=(1, 2, 3), keepdims=True)) / 0.5)


# -- select_classes -------------------------------------------------------------------------------

_IMAGES = np.arange(12.0).reshape(4, 3)


@pytest.mark.parametrize("x, y, classes, error, match", [
    (_IMAGES, [1, 3.5, 2, 1], (1, 2), TypeError, "y must hold integer class labels, got dtype float64"),
    (_IMAGES, np.array([1.0, 2.0, 3.0, 1.0]), (1,), TypeError, "integer class labels"),
    (_IMAGES, np.array([1, np.nan, 2, 1]), (1,), TypeError, "integer class labels"),
    (_IMAGES, np.array(["1", "2", "3", "1"]), (1,), TypeError, r"integer class labels, got dtype <U1"),
    (_IMAGES, [1, 2, 3, 1], None, TypeError, "classes must name the classes to keep"),
    (_IMAGES.tolist(), [1, 2, 3, 1], (1,), TypeError, r"x must be a NumPy array .* got list"),
    (np.array(1.0), [1], (1,), ValueError, "0-dimensional"),
    (_IMAGES, [1, 2, 3], (1,), ValueError, r"y must have shape \(4,\)"),
    (_IMAGES, [1, -2, 3, 1], (1,), ValueError, "outside"),
])
def test_select_classes_refuses_bad_input(x, y, classes, error, match):
    with pytest.raises(error, match=match):
        select_classes(x, y, classes)


def test_select_classes_valid_input():
    x, y = select_classes(_IMAGES, np.array([3, 7, 1, 3], np.uint8), (3, 7), binary=np.True_)
    assert y.dtype == np.int64 and y.tolist() == [1, 0, 1] and x.tolist() == _IMAGES[[0, 1, 3]].tolist()


# -- boolean flags --------------------------------------------------------------------------------

@pytest.fixture
def no_network(monkeypatch):
    """Any download attempt fails the test instead of touching the network."""
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download")
    for module in (mnist_module, cifar_module, svhn_module):
        monkeypatch.setattr(module, "fetch", refuse)


_FLAG_CALLS = {
    "load_mnist-download": (lambda root: load_mnist(root, download="no"), "download"),
    "load_fashion_mnist-download": (lambda root: load_fashion_mnist(root, download="False"), "download"),
    "load_cifar10-download": (lambda root: load_cifar10(root, download="no"), "download"),
    "load_svhn-download": (lambda root: load_svhn(root, download=0), "download"),
    "load_svhn-greyscale": (lambda root: load_svhn(root, greyscale="no", download=False), "greyscale"),
    "load_svhn-standardize": (lambda root: load_svhn(root, standardize="no", download=False), "standardize"),
    "load_dataset-download": (lambda root: load_dataset("mnist", root=root, download="no"), "download"),
    "load_dataset-greyscale": (lambda root: load_dataset("mini-mnist", greyscale="no"), "greyscale"),
    "load_dataset-standardize": (lambda root: load_dataset("svhn", root=root, standardize=None,
                                                           download=False), "standardize"),
    "load_mini_mnist-binary": (lambda root: load_mini_mnist(classes=(3, 7), binary="no"), "binary"),
    "load_mnist-binary": (lambda root: load_mnist(root, classes=(3, 7), binary=1, download=False), "binary"),
    "select_classes-binary": (lambda root: select_classes(_IMAGES, [3, 7, 1, 3], (3, 7), binary="yes"),
                              "binary"),
    "fetch-progress": (lambda root: fetch((), os.path.join(root, "f"), md5="0" * 32, progress="no"), "progress"),
    "write_idx-compress": (lambda root: write_idx(os.path.join(root, "f"), np.zeros(2, np.uint8),
                                                  compress="no"), "compress"),
}


@pytest.mark.parametrize("key", sorted(_FLAG_CALLS))
def test_boolean_flags_must_be_bools(tmp_path, no_network, key):
    # the MNIST files are in place, so only the flag check can fail (not a missing file)
    for name in ("train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        for sub in ("mnist", "fashion-mnist"):
            write_idx(tmp_path / sub / name, np.zeros((2, 28, 28), np.uint8))
            write_idx(tmp_path / sub / name.replace("images-idx3", "labels-idx1"),
                      np.array([3, 7], np.uint8))
    call, flag = _FLAG_CALLS[key]
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        call(str(tmp_path))
    assert not os.path.exists(os.path.join(tmp_path, "f"))


def test_numpy_bool_flags_are_accepted(tmp_path, no_network):
    x, y = load_mini_mnist(classes=(3, 7), binary=np.True_, limit=3)
    assert x.shape == (3, 1, 28, 28) and set(y.tolist()) <= {0, 1}
    write_idx(tmp_path / "a.gz", np.arange(3, dtype=np.uint8), compress=np.True_)
    assert read_idx(tmp_path / "a.gz").tolist() == [0, 1, 2]


# -- fetch: urls, path, md5 and timeout are checked before anything is fetched (no network) -----

_MD5_ABC = "900150983cd24fb0d6963f7d28e17f72"  # of b"abc"


@pytest.fixture
def abc_url(tmp_path):
    source = tmp_path / "source.bin"
    source.write_bytes(b"abc")
    return source.as_uri()


@pytest.mark.parametrize("change, error, match", [
    (dict(urls=[5]), TypeError, r"urls must hold URLs \(str\), got int at position 0: 5"),
    (dict(urls=None), TypeError, r"urls must be a URL \(str\) or a sequence of URLs, got NoneType"),
    (dict(urls=5), TypeError, "urls must be a URL .* got int"),
    (dict(urls=b"file:///x"), TypeError, "urls must be a URL .* got bytes"),
    (dict(urls=[]), ValueError, "urls must name at least one URL, got an empty sequence"),
    (dict(urls=("",)), ValueError, "urls must hold URLs, got an empty string at position 0"),
    (dict(path=None), TypeError, r"path must be a file path \(str or os.PathLike\), got NoneType"),
    (dict(md5=5), TypeError, "md5 must be a hexadecimal string, got int"),
    (dict(md5="0"), ValueError, "md5 must be the 32 hexadecimal digits of an MD5 checksum, got '0'"),
    (dict(md5="z" * 32), ValueError, "md5 must be the 32 hexadecimal digits"),
    (dict(timeout=-1), ValueError, "timeout must be a finite number > 0, got -1"),
    (dict(timeout=0), ValueError, "timeout must be > 0, got 0"),
    (dict(timeout=float("nan")), ValueError, "timeout must be a finite number > 0, got nan"),
    (dict(timeout=float("inf")), ValueError, "timeout must be a finite number > 0, got inf"),
    (dict(timeout="60"), TypeError, "timeout must be a real number, got str"),
    (dict(timeout=True), TypeError, "timeout must be a real number, got bool"),
])
def test_fetch_checks_its_arguments_before_fetching(tmp_path, abc_url, change, error, match):
    """Before: AttributeError from urllib ([5]), 'NoneType' object is not iterable, an empty
    'could not download' for no URL, a timeout never read for a file URL (or, for http, taken
    as a failed mirror), a download before md5 was looked at."""
    arguments = dict(urls=[abc_url], path=str(tmp_path / "out" / "a.bin"), md5=_MD5_ABC,
                     timeout=5)
    arguments.update(change)
    with pytest.raises(error, match=match):
        fetch(arguments.pop("urls"), arguments.pop("path"), progress=False, **arguments)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("path, error, match", [
    ("", ValueError, "path must name a file, got ''"),
    ("out/", ValueError, "path must name a file, got '.*out/'"),
    (".", IsADirectoryError, "is a folder; give the name of a file in it"),
    ("source.bin/a.bin", NotADirectoryError, "source.bin is a file, not a folder"),
])
def test_fetch_refuses_a_path_that_names_no_file_before_fetching(tmp_path, abc_url, monkeypatch,
                                                                 path, error, match):
    """Before: "" and "out/" were reported as a failed download of every mirror
    (DataNotFoundError "could not download ... Without internet, place the official file"), a
    folder too (IsADirectoryError inside it), and a path under a file was a bare FileExistsError."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=match):
        fetch(abc_url, path, md5=_MD5_ABC, progress=False)
    assert sorted(os.listdir(tmp_path)) == ["source.bin"]


@pytest.mark.parametrize("urls", [lambda url: url, lambda url: [url], lambda url: (url, url),
                                  lambda url: iter([url])], ids=["str", "list", "tuple", "iterator"])
@pytest.mark.parametrize("timeout", [5, 0.5, np.float64(2.0)])
def test_fetch_takes_a_url_or_a_sequence_of_them(tmp_path, abc_url, urls, timeout):
    target = tmp_path / "out" / "a.bin"
    assert fetch(urls(abc_url), target, md5=_MD5_ABC.upper(), progress=False,
                 timeout=timeout) == target
    assert target.read_bytes() == b"abc"


# -- a missing file is a FileNotFoundError for every reader ---------------------------------------

@pytest.mark.parametrize("read", [read_svhn_mat, read_idx, read_cifar_batch, safe_load],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", ["nope.mat", "nope"])
def test_every_reader_raises_file_not_found_for_a_missing_file(tmp_path, read, name):
    """read_svhn_mat used to raise "ValueError: ... is not a readable .mat file (truncated or
    corrupted?): [Errno 2] No such file", calling a missing file corrupted."""
    path = str(tmp_path / name)
    with pytest.raises(FileNotFoundError, match=re.escape(path)):
        read(path)


def _svhn_contents():
    return {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[10], [3]], np.uint8)}


def test_read_svhn_mat_names_a_folder_and_a_path_of_the_wrong_type(tmp_path):
    with pytest.raises(IsADirectoryError, match=re.escape(str(tmp_path))):
        read_svhn_mat(str(tmp_path))
    for path in (None, 5, 2.5):
        with pytest.raises(TypeError, match="path must be a file path .* got "):
            read_svhn_mat(path)


def test_read_svhn_mat_still_reads_a_path_an_open_file_and_the_name_without_mat(tmp_path):
    import scipy.io
    scipy.io.savemat(tmp_path / "digits.mat", _svhn_contents())
    for source in (str(tmp_path / "digits.mat"), tmp_path / "digits.mat",
                   str(tmp_path / "digits"),  # scipy.io.loadmat appends .mat
                   io.BytesIO((tmp_path / "digits.mat").read_bytes())):
        x, y = read_svhn_mat(source)
        assert x.shape == (2, 3, 32, 32) and y.tolist() == [0, 3]
    (tmp_path / "corrupted.mat").write_bytes(b"\x00\xff" * 100)  # a file there: ValueError still
    with pytest.raises(ValueError, match="is not a readable .mat file"):
        read_svhn_mat(str(tmp_path / "corrupted.mat"))


@pytest.mark.parametrize("read", [read_cifar_batch, safe_load], ids=lambda f: f.__name__)
def test_pickle_readers_refuse_a_path_of_the_wrong_type_and_leave_a_descriptor_open(tmp_path, read):
    # (an int went to open(), which read that open file descriptor as a batch, and closed it)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [1]}, protocol=2))
    fd = os.open(path, os.O_RDONLY)
    try:
        for bad in (fd, None, 2.5):
            with pytest.raises(TypeError, match="path must be a file path .* got "):
                read(bad)
        os.fstat(fd)  # still open
    finally:
        os.close(fd)
