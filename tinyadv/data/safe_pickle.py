"""Read the CIFAR-10 python batches without letting a pickle run code.

The official CIFAR-10 files are Python pickles. ``pickle.load`` on an untrusted file is remote
code execution: a pickle may name any importable callable (``os.system``, ``subprocess.Popen``)
and call it while loading. A CIFAR batch needs only a dict of bytes, ints and lists plus one
NumPy array, so :class:`RestrictedUnpickler` resolves exactly these globals and refuses every
other one before anything is called:

* ``numpy.core.multiarray._reconstruct`` (``numpy._core.multiarray._reconstruct`` in NumPy 2),
  ``numpy.ndarray`` and ``numpy.dtype``: how NumPy pickles an array;
* ``_codecs.encode``, restricted to the ``latin1`` codec: how Python 3 writes ``bytes`` in
  pickle protocol 2 (the files that ``../shared/data/install_offline_data.py`` writes).

Anything else raises :class:`UnsafePickleError` naming the global that was asked for.
"""

import codecs
import pickle

import numpy as np


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global that a data file never needs; nothing was executed."""


def _latin1_encode(text, encoding="latin1", errors="strict"):
    """Stand-in for ``_codecs.encode`` that only turns a str into bytes with latin1."""
    if not isinstance(text, str) or codecs.lookup(encoding).name != "iso8859-1":
        raise UnsafePickleError(f"refused _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode("latin1", errors)


def _allowed_globals():
    """Return the only (module, name) -> object pairs a CIFAR batch may reference."""
    reconstruct = np.ndarray.__reduce__(np.zeros(1))[0]   # numpy's _reconstruct, wherever it lives
    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
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


def safe_load(path):
    """Unpickle the file at ``path`` with :class:`RestrictedUnpickler` (``encoding="bytes"``).

    ``encoding="bytes"`` reads Python 2 strings (the official CIFAR files were written by
    Python 2's cPickle) as ``bytes``, so the keys are ``b"data"``, ``b"labels"``.

    Raises
    ------
    UnsafePickleError
        The pickle references a callable outside the allow-list (it is never called).
    ValueError
        The file is not a readable pickle (truncated or corrupted).
    """
    with open(path, "rb") as f:
        try:
            return RestrictedUnpickler(f, encoding="bytes").load()
        except UnsafePickleError as err:
            raise UnsafePickleError(f"{path}: {err}") from None
        except (pickle.UnpicklingError, EOFError, TypeError, ValueError, IndexError,
                AttributeError, KeyError, MemoryError) as err:
            raise ValueError(f"{path} is not a readable pickle (truncated or corrupted?): "
                             f"{type(err).__name__}: {err}") from None
