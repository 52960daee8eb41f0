"""Read the CIFAR-10 python batches without letting a pickle run code.

The official CIFAR-10 files are Python pickles. ``pickle.load`` on an untrusted file is remote
code execution: a pickle may name any importable callable (``os.system``, ``subprocess.Popen``)
and call it while loading. A CIFAR batch needs only a dict of bytes, ints and lists plus one
NumPy array, so :class:`RestrictedUnpickler` resolves exactly these globals and refuses every
other one before anything is called:

* ``numpy.core.multiarray._reconstruct`` (``numpy._core.multiarray._reconstruct`` in NumPy 2),
  ``numpy.ndarray`` and ``numpy.dtype``: how NumPy pickles an array;
* ``_codecs.encode``, restricted to ``encode(<str>, "latin1")``: how Python 3 writes non-empty
  ``bytes`` in pickle protocol 2 (the files that ``../shared/data/install_offline_data.py`` writes);
* ``bytes`` (``__builtin__.bytes`` as protocols 0-2 name it, or ``builtins.bytes``), restricted to
  ``bytes()``, ``bytes(<bytes>)`` and ``bytes(<list of ints in [0, 255]>)``: Python 3 writes an empty
  ``b""`` (a ``batch_label``, the buffer of an array with no elements) as ``bytes()``.

Anything else raises :class:`UnsafePickleError` naming the global that was asked for. The two
stand-ins are checked on every call, before doing anything, and have no state that a pickle
could change (a ``BUILD`` on them is refused), so one file cannot loosen the rules for the next.
"""

import os
import pickle

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global that a data file never needs; nothing was executed."""


class _Guarded:
    """Base of the stand-in callables: no attributes, and a pickle's BUILD on them is refused."""

    __slots__ = ()

    def __setstate__(self, state):
        raise UnsafePickleError(f"refused to set the state of {self}: a data file never does that")


class _Latin1Encode(_Guarded):
    """Stand-in for ``_codecs.encode`` that only turns a str into bytes with latin1."""

    __slots__ = ()

    def __repr__(self):
        return "_codecs.encode"

    def __call__(self, *args):
        # Python 3's pickle writes exactly _codecs.encode(<str>, 'latin1'); the name is compared,
        # never looked up, so an unknown codec is refused here and no codec module is imported
        strings = all(isinstance(a, str) for a in args)
        if strings and len(args) in (2, 3) and args[1] == "latin1" and args[2:] in ((), ("strict",)):
            return args[0].encode("latin1")
        shown = ", ".join(repr(a) if isinstance(a, str) and len(a) <= 40 else type(a).__name__
                          for a in args)
        raise UnsafePickleError(f"refused _codecs.encode({shown}): only _codecs.encode(<str>, "
                                f"'latin1'), how protocol 2 writes bytes, is allowed")


class _Bytes(_Guarded):
    """Stand-in for ``bytes``: only ``bytes()``, a copy of bytes, or a list of ints in [0, 255]."""

    __slots__ = ()

    def __repr__(self):
        return "bytes"

    def __call__(self, *args, **kwargs):
        if not args and not kwargs:
            return b""
        if len(args) == 1 and not kwargs:
            (value,) = args
            if isinstance(value, (bytes, bytearray)):
                return bytes(value)
            if isinstance(value, (list, tuple)) and all(
                    type(v) is int and 0 <= v <= 255 for v in value):
                return bytes(value)
        # bytes(n) would allocate n bytes from one number in the file; bytes(obj) may call obj's
        # methods; neither is ever needed to read data
        shown = ", ".join(type(a).__name__ for a in args)
        raise UnsafePickleError(f"refused bytes({shown}): only bytes(), bytes(<bytes>) and "
                                f"bytes(<list of ints in [0, 255]>) are allowed")


_LATIN1_ENCODE = _Latin1Encode()
_BYTES = _Bytes()


def _allowed_globals():
    """Return the only (module, name) -> object pairs a CIFAR batch may reference."""
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]   # numpy's _reconstruct, wherever it lives
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _LATIN1_ENCODE,
        ("__builtin__", "bytes"): _BYTES,     # protocol 2 names it in Python 2's module
        ("builtins", "bytes"): _BYTES,
    }


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals of :func:`_allowed_globals`."""

    def find_class(self, module, name):
        allowed = _allowed_globals()
        if (module, name) not in allowed:
            raise UnsafePickleError(
                f"refused to load global {module}.{name}: a data file never needs it "
                f"(only plain types and NumPy arrays are allowed)"
            )
        return allowed[(module, name)]


def check_path_type(path):
    """TypeError unless ``path`` is a str, bytes or os.PathLike: ``open(3)`` would read the open
    file descriptor 3, and close it, instead of refusing an int."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike), got {type(path).__name__}")


def safe_load(path):
    """Unpickle the file at ``path`` with :class:`RestrictedUnpickler` (``encoding="bytes"``).

    ``encoding="bytes"`` reads Python 2 strings (the official CIFAR files were written by
    Python 2's cPickle) as ``bytes``, so the keys are ``b"data"``, ``b"labels"``.

    Raises
    ------
    TypeError
        ``path`` is not a file path (an int would be read as an open file descriptor).
    UnsafePickleError
        The pickle references a callable outside the allow-list (it is never called), or calls
        an allowed stand-in with arguments it refuses (``bytes(10**9)``, another codec).
    ValueError
        The file is not a readable pickle (truncated or corrupted).
    """
    check_path_type(path)
    with open(path, "rb") as f:
        try:
            return RestrictedUnpickler(f, encoding="bytes").load()
        except UnsafePickleError as err:
            raise UnsafePickleError(f"{path}: {err}") from None
        except (pickle.UnpicklingError, EOFError, TypeError, ValueError, LookupError,
                AttributeError, OverflowError, MemoryError) as err:
            raise ValueError(f"{path} is not a readable pickle (truncated or corrupted?): "
                             f"{type(err).__name__}: {err}") from None
