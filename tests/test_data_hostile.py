"""Damaged or hostile data files: a clear ValueError naming the file, in bounded memory and time.

A header is read first and only the number of bytes it announces (and one more) after it, so a
gzip bomb, an endless file or a header announcing an impossible array is refused without being
read to its end; a reader that runs out of memory (scipy.io.loadmat on an SVHN .mat file that
announces gigabytes) says which file could not be read instead of a bare MemoryError.
"""

import gzip
import io
import os
import re
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
import scipy.io

from tinyadv.data import load_mnist, load_svhn, read_idx, read_svhn_mat
from tinyadv.data import idx as idx_module
from tinyadv.data.idx import write_idx

MB = 1 << 20


def _header(shape, type_code=0x08):
    """The header of an idx file announcing ``shape`` (unsigned bytes by default)."""
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def _gzip_bomb(path, head, zeros):
    """Write ``head`` then ``zeros`` zero bytes, gzip-compressed chunk by chunk (about 1000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)   # (wbits 31: a gzip stream)
    with open(path, "wb") as f:
        f.write(compressor.compress(head))
        for _ in range(zeros // MB):
            f.write(compressor.compress(bytes(MB)))
        f.write(compressor.flush())


def _peak_memory_of(call):
    """Run ``call()``, which must raise ValueError; return (the error, the peak of the memory
    Python allocated meanwhile, in bytes)."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            call()
        return info.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- idx: more data than the header announces --------------------------------------------------

def test_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    # 10 labels announced, then 20 MB of zeros in a 20 KB .gz: read_idx inflated all of it
    # before comparing sizes (the audit's 3.5 GB version ended in a bare MemoryError after 7 s)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    _gzip_bomb(path, _header((10,)), 20 * MB)
    assert path.stat().st_size < MB
    error, peak = _peak_memory_of(lambda: read_idx(path, ndim=1))
    assert str(path) in str(error)
    assert "header announces shape (10,) (10 bytes) but more than 10 bytes follow" in str(error)
    assert peak < 4 * MB, f"read_idx held {peak / MB:.0f} MB of a 10-byte file's data"


def test_gzip_bomb_through_load_mnist_names_the_file(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((10, 28, 28), np.uint8))
    _gzip_bomb(folder / "train-labels-idx1-ubyte.gz", _header((10,)), 20 * MB)
    error, peak = _peak_memory_of(lambda: load_mnist(str(tmp_path), download=False))
    assert "train-labels-idx1-ubyte.gz is truncated or corrupted" in str(error)
    assert "more than 10 bytes follow" in str(error) and "Delete the damaged file" in str(error)
    assert peak < 4 * MB


def test_uncompressed_file_with_a_long_tail_is_not_read_to_its_end(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(_header((10,)) + bytes(20 * MB))
    error, peak = _peak_memory_of(lambda: read_idx(path))
    assert str(path) in str(error) and "but more than 10 bytes follow" in str(error)
    assert peak < 4 * MB


class _Endless(io.RawIOBase):
    """A file that starts with ``head`` and then gives zero bytes forever, as /dev/zero or a
    pipe that is never closed. Reading more than ``limit`` bytes of it fails the test (rather
    than filling the memory)."""

    def __init__(self, head, limit=64 * MB):
        self.head, self.given, self.limit = head, 0, limit

    def readable(self):
        return True

    def readinto(self, buffer):
        if self.given > self.limit:
            raise AssertionError(f"read more than {self.limit} bytes of an endless file")
        n = len(buffer)
        start = self.head[self.given:self.given + n]
        buffer[:len(start)] = start
        buffer[len(start):n] = bytes(n - len(start))
        self.given += n
        return n


def test_endless_file_is_refused_after_the_announced_size(tmp_path, monkeypatch):
    # f.read() of an endless source grew until MemoryError
    endless = _Endless(_header((10,)))
    monkeypatch.setattr(idx_module, "open", lambda path, mode="r": io.BufferedReader(endless),
                        raising=False)
    path = str(tmp_path / "endless-idx1-ubyte")
    with pytest.raises(ValueError, match=re.escape(path) + ".* but more than 10 bytes follow"):
        read_idx(path)
    assert endless.given <= MB


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
@pytest.mark.parametrize("name", ["train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"])
def test_dev_zero_in_place_of_a_file_is_refused_at_once(tmp_path, name):
    # (the audit's endless file: a symlink to /dev/zero, read with f.read() until MemoryError)
    folder = tmp_path / "mnist"
    folder.mkdir()
    os.symlink("/dev/zero", folder / name)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(10, np.uint8))
    with pytest.raises(ValueError, match=re.escape(str(folder / name))):
        load_mnist(str(tmp_path), download=False)


def test_running_out_of_memory_while_reading_names_the_file(tmp_path, monkeypatch):
    # a header may announce a legitimate size that this machine cannot hold
    class OutOfMemory(_Endless):
        def readinto(self, buffer):
            if self.given >= len(self.head):
                raise MemoryError
            return super().readinto(buffer[:len(self.head) - self.given])

    source = OutOfMemory(_header((1000, 28, 28)))
    monkeypatch.setattr(idx_module, "open", lambda path, mode="r": io.BufferedReader(source),
                        raising=False)
    path = str(tmp_path / "train-images-idx3-ubyte")
    with pytest.raises(ValueError, match=re.escape(path) + " could not be read into memory: .*"
                                         r"shape \(1000, 28, 28\) \(784000 bytes\)"):
        read_idx(path)


# -- idx: headers no array can have ----------------------------------------------------------

@pytest.mark.parametrize("shape, tail", [
    ((0, 2**32 - 1, 2**32 - 1), b""),
    ((0, 2**32 - 1, 2**32 - 1, 2**32 - 1), b""),
    ((0, 2**32 - 1, 2**32 - 1), b"\x00" * 5),
    ((2**32 - 1, 2**32 - 1, 2**32 - 1), b"\x00" * 5),
])
def test_impossible_shape_is_named_with_the_file(tmp_path, shape, tail):
    # (0, 2**32 - 1, 2**32 - 1) announces 0 bytes, but NumPy refuses the shape ("array is too
    # big", naming no file). (A header-only file with no size 0 is still "truncated or
    # corrupted ... but 0 bytes follow": test_read_idx_huge_header_is_a_size_mismatch.)
    path = tmp_path / "damaged-idx-ubyte"
    path.write_bytes(_header(shape) + tail)
    with pytest.raises(ValueError, match=re.escape(str(path)) + " is corrupted: its header "
                                         r"announces shape .*more than the 2\*\*63 - 1 bytes"):
        read_idx(path)


@pytest.mark.parametrize("compress", [False, True])
def test_ndim_beyond_numpy_s_limit_is_named_with_the_file(tmp_path, compress):
    # 255 dimensions of size 1 and one value: NumPy's "maximum supported dimension ... 64,
    # found 255", naming no file
    payload = _header((1,) * 255) + b"\x07"
    path = tmp_path / ("ndim255-idx" + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(payload) if compress else payload)
    with pytest.raises(ValueError, match=re.escape(str(path)) + " is corrupted: its header "
                                         "announces 255 dimensions, more than the 64"):
        read_idx(path)


# -- SVHN: scipy.io.loadmat running out of memory ------------------------------------------------

def _raise_memory_error(*args, **kwargs):
    raise MemoryError("Unable to allocate 3.66 GiB for an array with shape (32, 32, 3, 1200000)")


def test_svhn_memory_error_is_a_value_error_naming_the_file(tmp_path, monkeypatch):
    # a 3 KB .mat declaring a 4 GB element, or a 3.6 MB zlib bomb: a bare MemoryError
    path = tmp_path / "train_32x32.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file".ljust(128))
    monkeypatch.setattr(scipy.io, "loadmat", _raise_memory_error)
    with pytest.raises(ValueError, match=re.escape(str(path)) + " could not be read into memory"):
        read_svhn_mat(str(path))


def test_svhn_memory_error_through_load_svhn_says_how_to_repair(tmp_path, monkeypatch):
    (tmp_path / "svhn").mkdir()
    path = tmp_path / "svhn" / "test_32x32.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file".ljust(128))
    monkeypatch.setattr(scipy.io, "loadmat", _raise_memory_error)
    with pytest.raises(ValueError, match="test_32x32.mat could not be read into memory") as info:
        load_svhn(str(tmp_path), "test", download=False)
    assert "Delete the damaged file" in str(info.value)
