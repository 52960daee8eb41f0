"""Read the idx format of MNIST and Fashion-MNIST (LeCun et al. 1998), gzip-compressed or not.

An idx file is a 4-byte magic number ``0x00 0x00 type ndim``, then ``ndim`` big-endian uint32
sizes, then the values in C order. MNIST uses type ``0x08`` (unsigned byte): images are
``(N, 28, 28)`` (magic 2051), labels ``(N,)`` (magic 2049). The official files are gzipped
(``train-images-idx3-ubyte.gz``); a decompressed copy reads the same way.

A file that is not gzip, ends early, has a different magic or holds extra bytes raises
``ValueError`` naming the file and what is wrong, so a corrupted download never turns silently
into wrong pixels. The header is read and checked first, then exactly the number of bytes it
announces (and one more, to tell a file with extra bytes), decompressing as it reads: a damaged
or hostile file (a gzip bomb of a few MB that inflates to GB, an endless file, a header
announcing an array no machine can hold) is refused in memory bounded by what its header
announces, not read to its end.
"""

import gzip
import math
import os
import zlib

import numpy as np

from ..checks import check_bool, check_fits
from ..files import atomic_path

_TYPES = {0x08: np.dtype(np.uint8)}   # the only type MNIST and Fashion-MNIST use
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_NDIM = 64         # NumPy's limit; MNIST's files have 1 (labels) or 3 (images) dimensions
_CHUNK = 1 << 24       # the values are read 16 MiB at a time (see _read_at_most)


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

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        The file is not an idx file (or not gzip though named ``.gz``), or is damaged: its
        header announces an impossible array, or more or fewer bytes follow than it announces,
        or its gzip stream is corrupted. The message names the file.
    """
    path = os.fspath(path)
    with open(path, "rb") as file, _decompressed(file, path) as stream:
        try:
            shape, dtype = _read_header(stream, path, ndim)
            data = _read_values(stream, path, shape, dtype)
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:  # (only a gzip stream raises them)
            raise ValueError(f"{path} is a corrupted or truncated gzip file ({err})") from None
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _decompressed(file, path):
    """``file`` itself, or a stream of its decompressed bytes when it is gzip (it starts with the
    gzip magic bytes). The gzip stream decompresses as it is read, so only what is read is ever
    in memory. A file named ``.gz`` that is not gzip (e.g. an error page saved by a failed
    download) is refused with a ValueError naming it."""
    if file.peek(2)[:2] == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=file, mode="rb")
    if os.fsdecode(path).endswith(".gz"):
        raise ValueError(f"{path} is not a gzip file (it does not start with the gzip magic bytes)")
    return file


def _read_header(stream, path, ndim):
    """Read and check the header at the start of ``stream``; return ``(shape, dtype)``.

    Refuses a magic number that is not idx's, a type other than unsigned bytes, a number of
    dimensions other than ``ndim`` (when given) or beyond NumPy's 64 (a damaged byte), and a
    header cut short. Whether an array of ``shape`` can exist is checked by :func:`_read_values`.
    """
    magic = stream.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        raise ValueError(f"{path} is not an idx file (bad magic number {magic.hex() or 'empty'})")
    type_code, dims = magic[2], magic[3]
    if type_code not in _TYPES:
        raise ValueError(f"{path} has idx type 0x{type_code:02x}; only unsigned bytes (0x08) are supported")
    if ndim is not None and dims != ndim:
        raise ValueError(f"{path} holds a {dims}-dimensional array, expected {ndim} dimensions")
    if dims > _MAX_NDIM:
        raise ValueError(f"{path} is corrupted: its header announces {dims} dimensions, more than "
                         f"the {_MAX_NDIM} a NumPy array can have (MNIST's files have 1 or 3)")
    sizes = stream.read(4 * dims)
    if len(sizes) < 4 * dims:
        raise ValueError(f"{path} is truncated: it ends inside its header")
    shape = tuple(int(s) for s in np.frombuffer(sizes, dtype=">u4"))
    return shape, _TYPES[type_code]


def _read_values(stream, path, shape, dtype):
    """Read the values that follow the header: a bytearray of exactly the size it announces.

    An array of ``shape`` must be able to exist (else the header is damaged). Then at most the
    announced number of bytes and one more are read (the one more tells a file with extra
    bytes), so a gzip bomb or an endless file after a small header is refused after that many
    bytes instead of being read to its end, and memory never passes the announced size.
    """
    expected = math.prod(shape) * dtype.itemsize   # Python ints: np.prod would overflow int64
    _check_shape_can_exist(stream, path, shape, dtype)
    try:
        data = _read_at_most(stream, expected + 1)
    except MemoryError:  # (a header that announces more than this machine's memory)
        raise ValueError(f"{path} could not be read into memory: its header announces shape "
                         f"{shape} ({expected} bytes), more than the memory available (a damaged "
                         f"header, or a file larger than this machine can hold)") from None
    if len(data) != expected:
        follow = len(data) if len(data) < expected else f"more than {expected}"
        raise ValueError(f"{path} is truncated or corrupted: its header announces shape {shape} "
                         f"({expected} bytes) but {follow} bytes follow")
    return data


def _check_shape_can_exist(stream, path, shape, dtype):
    """Raise ValueError unless a NumPy array of ``shape`` can exist: at most 2**63 - 1 bytes,
    counting only the sizes other than 0, as NumPy does (it refuses (0, 2**32 - 1, 2**32 - 1)
    as "array is too big"). A larger one means a damaged header; if the file ends right after
    it, it is reported as truncated, like any file whose values are missing."""
    nonzero = [size for size in shape if size]
    try:
        check_fits(nonzero, dtype.itemsize,
                   f"{path} is corrupted: its header announces shape {shape}; an array of its "
                   f"nonzero sizes")
    except ValueError:
        expected = math.prod(shape) * dtype.itemsize
        if expected and not stream.read(1):
            raise ValueError(f"{path} is truncated or corrupted: its header announces shape "
                             f"{shape} ({expected} bytes) but 0 bytes follow") from None
        raise


def _read_at_most(stream, size):
    """Up to ``size`` bytes of ``stream``, fewer only where it ends. Read in chunks of 16 MiB, so
    that memory follows what the stream holds rather than ``size`` (a header may announce far
    more than a damaged file holds)."""
    data = bytearray()
    while len(data) < size:
        chunk = stream.read(min(size - len(data), _CHUNK))
        if not chunk:
            break
        data += chunk
    return data


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
