"""Read the idx format of MNIST and Fashion-MNIST (LeCun et al. 1998), gzip-compressed or not.

An idx file is a 4-byte magic number ``0x00 0x00 type ndim``, then ``ndim`` big-endian uint32
sizes, then the values in C order. MNIST uses type ``0x08`` (unsigned byte): images are
``(N, 28, 28)`` (magic 2051), labels ``(N,)`` (magic 2049). The official files are gzipped
(``train-images-idx3-ubyte.gz``); a decompressed copy reads the same way.

A file that is not gzip, ends early, has a different magic or holds extra bytes raises
``ValueError`` naming the file and what is wrong, so a corrupted download never turns silently
into wrong pixels.
"""

import gzip
import math
import os
import zlib

import numpy as np

from ..checks import check_bool
from ..files import atomic_path

_TYPES = {0x08: np.dtype(np.uint8)}   # the only type MNIST and Fashion-MNIST use


def read_idx_bytes(path):
    """Return the raw bytes of an idx file, decompressing it when it is gzip (``.gz``).

    Raises ``ValueError`` if a ``.gz`` file is not valid gzip or is truncated.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        if str(path).endswith(".gz"):
            raise ValueError(f"{path} is not a gzip file (it does not start with the gzip magic bytes)")
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise ValueError(f"{path} is a corrupted or truncated gzip file ({err})") from None


def read_idx(path, *, ndim=None):
    """Read an idx file into a NumPy array of its stored shape and dtype.

    Parameters
    ----------
    path : str or os.PathLike
        An idx file, gzip-compressed or not.
    ndim : int, optional
        Expected number of dimensions (3 for images, 1 for labels).

    Returns
    -------
    ndarray, e.g. uint8 of shape (N, 28, 28) for images or (N,) for labels.
    """
    path = os.fspath(path)
    data = read_idx_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an idx file (bad magic number {data[:4].hex() or 'empty'})")
    type_code, dims = data[2], data[3]
    if type_code not in _TYPES:
        raise ValueError(f"{path} has idx type 0x{type_code:02x}; only unsigned bytes (0x08) are supported")
    if ndim is not None and dims != ndim:
        raise ValueError(f"{path} holds a {dims}-dimensional array, expected {ndim} dimensions")
    header = 4 + 4 * dims
    if len(data) < header:
        raise ValueError(f"{path} is truncated: it ends inside its header")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=dims, offset=4))
    dtype = _TYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize   # Python ints: np.prod would overflow int64
    if len(data) - header != expected:
        raise ValueError(
            f"{path} is truncated or corrupted: its header announces shape {shape} "
            f"({expected} bytes) but {len(data) - header} bytes follow"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).copy()


def write_idx(path, array, *, compress=True):
    """Write a uint8 array as an idx file (gzip-compressed by default), atomically.

    The inverse of :func:`read_idx`; tests use it to build tiny MNIST-format files.
    """
    compress = check_bool(compress, "compress")
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"write_idx writes uint8 arrays, got dtype {array.dtype}")
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + array.tobytes()
    if compress:
        payload = gzip.compress(payload, mtime=0)
    with atomic_path(path) as temporary, open(temporary, "wb") as f:
        f.write(payload)
