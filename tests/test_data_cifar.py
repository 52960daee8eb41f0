"""CIFAR-10: python batches read by a restricted unpickler, archive extraction, bad files.

The tiny batches are pickled both as Python 3 writes them (protocol 2, bytes through
``_codecs.encode``) and as the official files were written by Python 2's cPickle (strings as
``SHORT_BINSTRING``, arrays via ``numpy.core.multiarray._reconstruct``).
"""

import hashlib
import io
import os
import pickle
import stat
import struct
import tarfile

import numpy as np
import pytest

from tinyadv.data import ChecksumError, UnsafePickleError, load_cifar10, read_cifar_batch, safe_load
from tinyadv.data import cifar as cifar_module

CLASSES = cifar_module.CIFAR10_CLASSES


class Py2Pickler(pickle._Pickler):
    """Writes str and bytes the way Python 2's cPickle wrote its str (SHORT_BINSTRING/BINSTRING)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        if isinstance(obj, str):
            obj = obj.encode("latin1")
        n = len(obj)
        head = pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)
        self.write(head + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def dumps(record, py2=False):
    if not py2:
        return pickle.dumps(record, protocol=2)
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(record)
    return buf.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def batch_record(n, rng):
    return {b"batch_label": b"tiny", b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, size=n)],
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


def make_cifar(root, n=6, seed=0, py2=False):
    """Write cifar-10-batches-py/ with tiny batches; return {name: record}."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    records = {}
    for name in cifar_module.CIFAR10_MEMBERS:
        record = ({b"label_names": [c.encode() for c in CLASSES]} if name == "batches.meta"
                  else batch_record(n, rng))
        with open(os.path.join(folder, name), "wb") as f:
            f.write(dumps(record, py2=py2))
        records[name] = record
    return records


def make_archive(path, records, members=None):
    with tarfile.open(path, "w:gz") as tar:
        for name in members or records:
            data = dumps(records[name])
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.md5(open(path, "rb").read()).hexdigest()


@pytest.mark.parametrize("py2", [False, True])
def test_loads_batches_in_official_layout(tmp_path, py2):
    records = make_cifar(tmp_path, py2=py2)
    x, y = load_cifar10(str(tmp_path), "train", download=False, dtype=np.uint8)
    assert x.shape == (30, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    first = records["data_batch_1"]
    # rows are R, G, B planes of 32x32 in that order: pixel (c, h, w) is column c*1024 + h*32 + w
    assert x[0, 1, 2, 3] == first[b"data"][0, 1 * 1024 + 2 * 32 + 3]
    np.testing.assert_array_equal(x[:6].reshape(6, -1), first[b"data"])
    expected = sum((records[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    assert y.tolist() == expected
    xt, yt = load_cifar10(str(tmp_path), "test", download=False)
    assert xt.shape == (6, 3, 32, 32) and xt.dtype == np.float32 and 0 <= xt.min() and xt.max() <= 1
    assert yt.tolist() == records["test_batch"][b"labels"]


def test_options(tmp_path):
    make_cifar(tmp_path, n=40)
    _, y_all = load_cifar10(str(tmp_path), "test", download=False)
    x, y = load_cifar10(str(tmp_path), "test", classes=(3, 5), binary=True, limit=3, download=False)
    assert y.tolist() == (y_all[np.isin(y_all, (3, 5))][:3] == 3).astype(int).tolist()
    assert x.shape == (len(y), 3, 32, 32)


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    make_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(pickle.dumps({b"data": Exploit(), b"labels": []}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"refused to load global (posix|nt)\.system") as info:
        load_cifar10(str(tmp_path), "test", download=False)
    assert "test_batch" in str(info.value)
    assert isinstance(info.value, ValueError)  # (as every refused file: README, Data)
    assert not marker.exists()
    if os.name == "posix":
        # the same file through plain pickle does run the command: the test is not vacuous
        pickle.loads(path.read_bytes())
        assert marker.exists()


@pytest.mark.parametrize("target", ["builtins.eval", "subprocess.Popen", "numpy.load", "builtins.getattr"])
def test_other_dangerous_globals_are_refused(tmp_path, target):
    module, name = target.split(".")
    payload = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"X\x01\x00\x00\x00x\x85R."
    path = tmp_path / "evil"
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match=f"{module}.{name}"):
        safe_load(path)


def test_codecs_encode_only_for_latin1(tmp_path):
    # _codecs.encode is allowed only as the bytes constructor of protocol 2, never another codec
    payload = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x04\x00\x00\x00zlib\x86R."
    path = tmp_path / "evil"
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match="zlib"):
        safe_load(path)


@pytest.mark.parametrize("record, match", [
    ({b"labels": [1]}, "lacks the keys"),
    ([1, 2, 3], "not a CIFAR batch dict"),
    ({b"data": np.zeros((2, 3000), np.uint8), b"labels": [1, 2]}, r"shape \(N, 3072\)"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [1, 2]}, "uint8"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2, 3]}, "2 images but labels of shape"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 10]}, r"outside \[0, 9\]"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [b"cat", b"dog"]}, "list of integers"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1.5, 2.0]}, "list of integers"),
])
def test_wrong_structure_is_refused(tmp_path, record, match):
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps(record, protocol=2))
    with pytest.raises(ValueError, match=match):
        read_cifar_batch(str(path))


def test_truncated_batch_and_missing_batch(tmp_path):
    make_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    data = (folder / "data_batch_3").read_bytes()
    (folder / "data_batch_3").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="data_batch_3 is not a readable pickle") as info:
        load_cifar10(str(tmp_path), download=False)
    assert f"Delete {folder}/" in str(info.value)
    os.remove(folder / "data_batch_3")
    with pytest.raises(FileNotFoundError, match="data_batch_3 is missing"):
        load_cifar10(str(tmp_path), download=False)


def test_placed_archive_is_verified_and_extracted(tmp_path, monkeypatch):
    records = make_cifar(tmp_path / "src")
    archive = tmp_path / "cifar-10-python.tar.gz"
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", make_archive(archive, records))
    x, y = load_cifar10(str(tmp_path), "test", download=False)
    assert x.shape == (6, 3, 32, 32) and y.tolist() == records["test_batch"][b"labels"]
    assert sorted(os.listdir(tmp_path)) == ["cifar-10-batches-py", "cifar-10-python.tar.gz", "src"]


def test_placed_archive_with_wrong_checksum(tmp_path):
    records = make_cifar(tmp_path / "src")
    make_archive(tmp_path / "cifar-10-python.tar.gz", records)   # the real MD5 cannot match
    with pytest.raises(ChecksumError, match="published checksum"):
        load_cifar10(str(tmp_path), download=False)
    assert not (tmp_path / "cifar-10-batches-py").exists()


def test_archive_missing_member_leaves_nothing(tmp_path, monkeypatch):
    records = make_cifar(tmp_path / "src")
    members = [m for m in records if m != "data_batch_4"]
    md5 = make_archive(tmp_path / "cifar-10-python.tar.gz", records, members=members)
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", md5)
    with pytest.raises(ValueError, match="lacks the member cifar-10-batches-py/data_batch_4"):
        load_cifar10(str(tmp_path), download=False)
    assert sorted(os.listdir(tmp_path)) == ["cifar-10-python.tar.gz", "src"]


def test_truncated_archive_leaves_nothing(tmp_path, monkeypatch):
    records = make_cifar(tmp_path / "src")
    archive = tmp_path / "cifar-10-python.tar.gz"
    make_archive(archive, records)
    archive.write_bytes(archive.read_bytes()[:-2000])
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match="not a readable tar.gz"):
        load_cifar10(str(tmp_path), download=False)
    assert sorted(os.listdir(tmp_path)) == ["cifar-10-python.tar.gz", "src"]


def test_two_processes_extracting_at_once_both_get_the_batches(tmp_path, monkeypatch):
    """Two scripts on a fresh data folder both extract; the second rename found the first
    one's folder and raised 'OSError: [Errno 39] Directory not empty' (its data was there)."""
    records = make_cifar(tmp_path / "src")
    archive = tmp_path / "cifar-10-python.tar.gz"
    make_archive(archive, records)
    first = cifar_module.extract_cifar10(str(archive), str(tmp_path))
    assert cifar_module.extract_cifar10(str(archive), str(tmp_path)) == first
    assert sorted(os.listdir(tmp_path)) == ["cifar-10-batches-py", "cifar-10-python.tar.gz", "src"]
    x, y = read_cifar_batch(os.path.join(first, "test_batch"))
    assert y.tolist() == records["test_batch"][b"labels"]


def test_archive_cannot_write_outside_its_folder(tmp_path, monkeypatch):
    records = make_cifar(tmp_path / "src")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in list(records) + ["../escaped"]:
            data = dumps(records.get(name, {b"x": 1}))
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    load_cifar10(str(tmp_path), "test", download=False)
    assert not (tmp_path / "escaped").exists()


def test_no_files_and_download_false(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_cifar10(str(tmp_path), download=False)
    assert str(tmp_path / "cifar-10-python.tar.gz") in str(info.value)
    assert "cifar-10-batches-py" in str(info.value)


def test_extracted_folder_gets_the_umask_permissions_not_owner_only(tmp_path, monkeypatch):
    # (it was made by tempfile.mkdtemp, mode 0o700: unreadable to others in a shared data folder)
    records = make_cifar(tmp_path / "src")
    monkeypatch.setattr(cifar_module, "CIFAR10_MD5",
                        make_archive(tmp_path / "cifar-10-python.tar.gz", records))
    old = os.umask(0o022)
    try:
        load_cifar10(str(tmp_path), "test", download=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "cifar-10-batches-py").st_mode) == 0o755
