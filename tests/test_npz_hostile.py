"""Hostile .npz model files and checkpoints: entries whose .npy header declares more data than
they hold, values that take no bytes, zip bombs, headers NumPy refuses, and reads that run out of
memory. Each is a ValueError naming the file and the entry, raised before anything large is
allocated; none was before (a bare MemoryError after seconds and gigabytes, or another message).

The files are built by hand from a few bytes: nothing here allocates what they declare."""

import io
import json
import re
import struct
import zipfile
import zlib

import numpy as np
import pytest

import tinyadv as ta
import tinyadv.models
from tinyadv.models import FORMAT
from tinyadv.optim import Adam
from tinyadv.train import load_checkpoint, save_checkpoint


def _read_model_file(path):
    return ta.load(path)


def _read_checkpoint(path):
    model = ta.mlp([4, 3, 2])
    return load_checkpoint(path, model, Adam(model.parameters()), np.random.default_rng(0))


class _GoodFile:
    """A model file or a checkpoint of ``ta.mlp([4, 3, 2])`` as tinyadv writes it, the prefix of
    its model's entries ("model/" in a checkpoint) and the function that reads it."""

    def __init__(self, kind, folder):
        model = ta.mlp([4, 3, 2])
        self.kind, self.path = kind, folder / "good.npz"
        if kind == "model file":
            model.save(self.path)
            self.prefix, self.read = "", _read_model_file
        else:
            save_checkpoint(self.path, model, Adam(model.parameters()), np.random.default_rng(0),
                            1, {"loss": [0.5]})
            self.prefix, self.read = "model/", _read_checkpoint


@pytest.fixture(params=["model file", "checkpoint"])
def good(request, tmp_path):
    return _GoodFile(request.param, tmp_path)


def _npy_header(shape, descr, version=(1, 0)):
    """The .npy header of an array of ``shape`` and ``descr``, without any of its data."""
    header = io.BytesIO()
    write = (np.lib.format.write_array_header_1_0 if version == (1, 0)
             else np.lib.format.write_array_header_2_0)
    write(header, {"descr": descr, "fortran_order": False, "shape": shape})
    return header.getvalue()


def _npy(array):
    data = io.BytesIO()
    np.save(data, array, allow_pickle=False)
    return data.getvalue()


def _meta(architecture):
    return _npy(np.array(json.dumps({"format": FORMAT, "architecture": architecture,
                                     "chunk_size": None})))


def _rewritten(source, target, members, compress_type=zipfile.ZIP_STORED):
    """Copy the archive ``source`` to ``target`` with ``members`` (name -> bytes) in place of
    those of the same name, or added after them, written with ``compress_type``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", compress_type) as new:
        for name in old.namelist():
            if name not in members:
                new.writestr(name, old.read(name))
        for name, data in members.items():
            new.writestr(name, data)
    return target


def _naming(path, message):
    """The pattern of a ValueError that names the file: its path, then ``message`` (a regex)."""
    return re.escape(str(path)) + message


# ---- an entry's header declares what the entry holds -------------------------------------------

@pytest.mark.parametrize("shape, held, version", [
    ((10 ** 12,), 0, (1, 0)),  # np.load allocated 3.64 TiB for it
    ((10 ** 12,), 400, (1, 0)),
    ((10 ** 12,), 0, (2, 0)),
    ((2,), 400, (1, 0)),  # np.load read 8 bytes of the 400 and left the rest
], ids=["nothing", "400-bytes", "version-2", "more-than-declared"])
def test_an_entry_that_declares_other_than_it_holds_is_refused_unallocated(
        good, tmp_path, shape, held, version):
    key = f"{good.prefix}fc1.weight"
    member = _npy_header(shape, "<f4", version) + bytes(held)
    path = _rewritten(good.path, tmp_path / "bad.npz", {f"{key}.npy": member})
    expected = _naming(path, rf": its entry '{key}' declares a {re.escape(str(shape))} array of "
                       rf"float32, {4 * shape[0]} bytes, but holds {held}: it is damaged or "
                       rf"crafted; it is not a readable tinyadv {good.kind}")
    with pytest.raises(ValueError, match=expected):
        good.read(path)


def test_values_that_take_no_bytes_do_not_count_as_the_values_a_model_file_holds(tmp_path):
    """An entry of dtype '|V0' declares 10**15 values in no bytes; Sequential.load counted them
    as what the file holds, and so built Linear(10**7, 10**6): MemoryError (72.8 TiB)."""
    ta.mlp([4, 3, 2]).save(tmp_path / "m.npz")
    huge = [["fc", "Linear", {"in_features": 10 ** 7, "out_features": 10 ** 6, "bias": False}]]
    path = _rewritten(tmp_path / "m.npz", tmp_path / "bad.npz",
                      {"__meta__.npy": _meta(huge), "pad.npy": _npy_header((10 ** 15,), "|V0")})
    with pytest.raises(ValueError, match=re.escape(f"{path}: its entry 'pad' holds |V0 values, "
                                                   f"not numbers; it is not a readable tinyadv")):
        ta.load(path)


@pytest.mark.parametrize("entry, descr, message", [
    ("{prefix}fc1.weight", "|V0", "holds |V0 values, not numbers"),
    ("{prefix}fc1.weight", "<U3", "holds <U3 values, not numbers"),
    ("{prefix}fc1.weight", "<c8", "holds complex64 values, not numbers"),
    ("{prefix}fc1.weight", "|S4", "holds |S4 values, not numbers"),
    ("__meta__", "<U0", "holds <U0 values, which take no bytes"),
    ("__meta__", "<c16", "holds complex128 values, not numbers or text"),
], ids=["void", "text", "complex", "bytes", "empty-text-meta", "complex-meta"])
def test_an_entry_of_values_that_are_not_numbers_is_refused_by_name(
        good, tmp_path, entry, descr, message):
    key = entry.format(prefix=good.prefix)
    itemsize = np.dtype(descr).itemsize
    member = _npy_header((3,) if itemsize else (10 ** 15,), descr) + bytes(3 * itemsize)
    path = _rewritten(good.path, tmp_path / "bad.npz", {f"{key}.npy": member})
    expected = _naming(path, re.escape(f": its entry '{key}' {message}; it is not a readable "
                       f"tinyadv {good.kind}"))
    with pytest.raises(ValueError, match=expected):
        good.read(path)


# ---- headers that NumPy refuses -----------------------------------------------------------------

def _raw_npy(version, header):
    """A .npy member of format ``version`` (major number) whose header is the text ``header``,
    its length as it says."""
    size = "<H" if version == 1 else "<I"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(size, len(header)) + header


def test_a_header_longer_than_numpy_reads_is_named_as_such(good, tmp_path):
    """NumPy refuses a header of over 10,000 bytes with a message about allow_pickle, which
    load reported as an entry of Python objects (pickled data)."""
    key = f"{good.prefix}fc1.weight"
    member = _raw_npy(2, b"{" + b" " * 199_998 + b"\n")
    path = _rewritten(good.path, tmp_path / "bad.npz", {f"{key}.npy": member})
    expected = _naming(path, rf": its entry '{key}' has a .npy header NumPy refuses to read "
                       rf"\(200000 bytes long, more than its limit of 10000\); it is not a "
                       rf"readable")
    with pytest.raises(ValueError, match=expected):
        good.read(path)


@pytest.mark.parametrize("member, message", [
    (_raw_npy(1, b"['not a dict']   \n"), "Header is not a dictionary"),
    (_raw_npy(9, b"{}\n"), r"format version \(9, 0\)"),
    (_raw_npy(1, b"{" + b" " * 255)[:20], "EOF: reading array header"),  # (cut short)
], ids=["not-a-dict", "version-9", "cut-short"])
def test_a_header_numpy_cannot_read_names_the_entry(good, tmp_path, member, message):
    key = f"{good.prefix}fc1.weight"
    path = _rewritten(good.path, tmp_path / "bad.npz", {f"{key}.npy": member})
    expected = _naming(path, rf": its entry '{key}' has a .npy header NumPy refuses to read \(.*"
                       rf"{message}")
    with pytest.raises(ValueError, match=expected):
        good.read(path)


# ---- zip bombs and compression -------------------------------------------------------------------

def _deflated_zeros(header, mebibytes):
    """A raw deflate stream of ``header`` then ``mebibytes`` MiB of zeros, made without
    compressing them: after a full flush deflate starts afresh, so one MiB's blocks repeat."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    mebibyte = compressor.compress(bytes(2 ** 20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return start + mebibyte * mebibytes + compressor.flush()


def _with_bomb(source, target, name, header, mebibytes):
    """Copy ``source`` with one more member ``name``: ``header`` then ``mebibytes`` MiB of zeros,
    deflated. zipfile writes no data compressed beforehand, so the stream is written as a stored
    member, then marked deflated, with the size it inflates to, in the member's local header and
    in the central directory (the last record). Its CRC is not the data's: nothing that checks
    the sizes first reads that far."""
    _rewritten(source, target, {name: _deflated_zeros(header, mebibytes)})
    raw = bytearray(target.read_bytes())
    with zipfile.ZipFile(target) as archive:
        local = archive.getinfo(name).header_offset
    central = raw.rindex(b"PK\x01\x02")
    size = len(header) + mebibytes * 2 ** 20
    for record, method_at, size_at in ((local, 8, 22), (central, 10, 24)):
        struct.pack_into("<H", raw, record + method_at, zipfile.ZIP_DEFLATED)
        struct.pack_into("<I", raw, record + size_at, size)
    target.write_bytes(bytes(raw))
    return target


@pytest.mark.parametrize("npy", [True, False], ids=["npy-member", "raw-member"])
def test_a_zip_bomb_is_refused_before_it_inflates(good, tmp_path, npy):
    """3.6 MB that inflate to 3.5 GB (3,500 MiB of zeros): np.load inflated them, and load
    raised a bare MemoryError after seconds and gigabytes (a member without the .npy format it
    read whole, as bytes)."""
    key = f"{good.prefix}fc1.weight"
    mebibytes = 3500
    header = _npy_header((mebibytes * 2 ** 20,), "|u1") if npy else b""
    name = f"{key}.npy" if npy else key
    path = _with_bomb(good.path, tmp_path / "bomb.npz", name, header, mebibytes)
    assert path.stat().st_size < 4 * 10 ** 6
    if npy:
        message = (rf": its entries up to '{key}' inflate to \d+ bytes, more than 100 times the "
                   rf"file's {path.stat().st_size}, as a zip bomb's do; it is not a readable")
    else:
        message = rf": its entry '{key}' is not a NumPy array \(.npy\); it is not a readable"
    expected = _naming(path, message)
    with pytest.raises(ValueError, match=expected):
        good.read(path)


def test_entries_inflating_past_the_documented_bound_are_refused(good, tmp_path, monkeypatch):
    """The bound is ``_MOST_INFLATION`` times the file's size plus ``_INFLATION_ALLOWANCE``
    (64 MiB); with no allowance, 1 MiB of deflated zeros (about 1000 to 1) goes past it, while
    the file's own entries deflated as np.savez_compressed does them (1.5 to 1) still load."""
    monkeypatch.setattr(tinyadv.models, "_INFLATION_ALLOWANCE", 0)
    key = f"{good.prefix}fc1.weight"
    with zipfile.ZipFile(good.path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    compressed = _rewritten(good.path, tmp_path / "compressed.npz", entries, zipfile.ZIP_DEFLATED)
    good.read(compressed)
    zeros = _npy(np.zeros(2 ** 18, np.float32))
    path = _rewritten(good.path, tmp_path / "bad.npz", {f"{key}.npy": zeros}, zipfile.ZIP_DEFLATED)
    expected = _naming(path, rf": its entries up to '{key}' inflate to \d+ bytes, more than 100 "
                       rf"times the file's")
    with pytest.raises(ValueError, match=expected):
        good.read(path)


@pytest.mark.parametrize("compress_type", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
                         ids=["bzip2", "lzma"])
def test_an_entry_compressed_otherwise_than_numpy_does_is_refused(good, tmp_path, compress_type):
    """zipfile inflates each read of bzip2 or LZMA data whole, whatever it inflates to (4 KB of
    bzip2 can hold gigabytes of zeros); np.savez stores the entries and np.savez_compressed
    deflates them, so a file that does neither was not written by NumPy."""
    with zipfile.ZipFile(good.path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    path = _rewritten(good.path, tmp_path / "bad.npz", entries, compress_type)
    method = "bzip2" if compress_type == zipfile.ZIP_BZIP2 else "lzma"
    expected = _naming(path, rf": its entry '.*' is compressed with {method}, which tinyadv does "
                       rf"not read")
    with pytest.raises(ValueError, match=expected):
        good.read(path)


# ---- what still does not fit in memory, and __meta__ -------------------------------------------

def test_an_entry_too_large_for_memory_is_a_valueerror_naming_it(good, monkeypatch):
    """A file whose entries are as large as it says can still be larger than memory."""
    def out_of_memory(self, key):
        raise MemoryError("Unable to allocate 3.64 TiB")
    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__", out_of_memory)
    expected = _naming(good.path, ": its entry '.*' is too large to load into memory")
    with pytest.raises(ValueError, match=expected):
        good.read(good.path)


def test_a_meta_holding_an_integer_python_refuses_to_convert_names_the_file(good, tmp_path):
    """json.loads raised a ValueError of its own (over 4300 digits) that named no file."""
    meta = '{"format": "tinyadv-sequential-1", "chunk_size": ' + "9" * 5000 + "}"
    path = _rewritten(good.path, tmp_path / "bad.npz", {"__meta__.npy": _npy(np.array(meta))})
    expected = _naming(path, r" is not a tinyadv .* \(its __meta__ is not a JSON object\)")
    with pytest.raises(ValueError, match=expected):
        good.read(path)
