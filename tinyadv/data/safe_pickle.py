"""Read the CIFAR-10 python batches without letting a pickle run code.

The official CIFAR-10 files are Python pickles. ``pickle.load`` on an untrusted file is remote
code execution: a pickle may name any importable callable (``os.system``, ``subprocess.Popen``)
and call it while loading. A CIFAR batch needs only a dict of bytes, ints and lists plus one
NumPy array, so :class:`RestrictedUnpickler` resolves exactly these globals and refuses every
other one before anything is called:

* ``numpy.core.multiarray._reconstruct`` (``numpy._core.multiarray._reconstruct`` in NumPy 2),
  restricted to ``_reconstruct(numpy.ndarray, (0,), b"b")``, ``numpy.ndarray`` (a stand-in that
  only that call takes, never called itself) and ``numpy.dtype``: how NumPy pickles an array;
* ``_codecs.encode``, restricted to ``encode(<str>, "latin1")``: how Python 3 writes non-empty
  ``bytes`` in pickle protocol 2 (the files that ``../shared/data/install_offline_data.py`` writes);
* ``bytes`` (``__builtin__.bytes`` as protocols 0-2 name it, or ``builtins.bytes``), restricted to
  ``bytes()``, ``bytes(<bytes>)`` and ``bytes(<list of ints in [0, 255]>)``: Python 3 writes an empty
  ``b""`` (a ``batch_label``, the buffer of an array with no elements) as ``bytes()``.

Anything else raises :class:`UnsafePickleError` naming the global that was asked for. The
stand-ins are checked on every call, before doing anything, and have no state that a pickle
could change (a ``BUILD`` on them is refused), so one file cannot loosen the rules for the next.

NumPy's own ``__setstate__`` methods, which a pickle's ``BUILD`` calls, are not safe on crafted
states: a ``BUILD`` on a ``numpy.dtype`` may set its flags and item size (an ``object`` dtype
whose flags say it holds no references reads the array's bytes as pointers: a segmentation
fault or worse), and a second ``BUILD`` on an array frees the memory that a view made in
between still reads (use after free). The unpickler is therefore Python's own pure-Python
one (``pickle._Unpickler``, as joblib's), whose ``BUILD`` is checked first:

* on a ``numpy.dtype``: only the state NumPy writes for that dtype (``dtype.__reduce__()``),
  with its byte order ``<``, ``>`` or ``=`` (and a datetime64's unit, whose metadata dict NumPy
  1.x writes empty: the dtype is given a new one); dtypes with fields or sub-arrays (which a
  data file's arrays never have) are refused;
* on a ``numpy.ndarray``: only on an array with no elements that owns its memory, as
  ``_reconstruct`` makes it, and only with the state NumPy writes: a dtype without fields or
  sub-arrays (an ``object`` sub-array of 10⁸ allocated 2.4 GB from a 112-byte file) and bytes,
  whose size NumPy checks against the shape, or for an ``object`` dtype a list of one value
  per element (NumPy does not count that list: a short one made it read past the list's end,
  a segmentation fault);
* on anything else: Python's rules (the stand-ins refuse it, a dict or list has no state).

Containers are checked as they are built where Python would walk them: a dict key or a set's
item must be None, a bool, an int, a float, a str or bytes (hashing a tuple nested a million
deep crashed the interpreter, and one nested 40 deep that shares its halves through the memo,
2⁴⁰ leaves from 800 bytes, never ended). The checks of a dtype's state look at most a few
levels deep, and the messages show values through ``reprlib``, so that neither walks such a
structure.
"""

import math
import os
import pickle
import reprlib
import struct

import numpy as np


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle asked for a global that a data file never needs; nothing was executed. Also a
    ValueError, as every other refusal of a damaged or hostile file (README, Data)."""


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


class _NDArrayClass(_Guarded):
    """Stand-in for ``numpy.ndarray``, which a pickle only ever passes to ``_reconstruct``: it
    cannot be called (``ndarray(shape, dtype, buffer, offset, strides)`` with zero strides reads
    past the end of its buffer; NumPy does not check it)."""

    __slots__ = ()

    def __repr__(self):
        return "numpy.ndarray"

    def __call__(self, *args, **kwargs):
        raise UnsafePickleError("refused to call numpy.ndarray: a data file only passes it to "
                                "_reconstruct")


class _Reconstruct(_Guarded):
    """Stand-in for NumPy's ``_reconstruct``: only ``_reconstruct(ndarray, (0,), b"b")``, the
    empty array that NumPy's pickles then fill with a ``BUILD``."""

    __slots__ = ()

    def __repr__(self):
        return "numpy._reconstruct"

    def __call__(self, *args):
        if (len(args) == 3 and args[0] is _NDARRAY and type(args[1]) is tuple
                and len(args[1]) == 1 and type(args[1][0]) is int and args[1][0] == 0
                and args[2] in (b"b", "b")):
            return _RECONSTRUCT_FUNCTION(np.ndarray, (0,), b"b")
        shown = ", ".join(_shown(a) if isinstance(a, (tuple, bytes, str, _Guarded))
                          else type(a).__name__ for a in args)
        raise UnsafePickleError(f"refused numpy._reconstruct({shown}): only "
                                f"_reconstruct(numpy.ndarray, (0,), b'b'), how NumPy pickles an "
                                f"array, is allowed")


_SHOWN = reprlib.Repr()  # (a few items of a few levels: a message never walks a whole structure)
_SHOWN.maxstring = _SHOWN.maxother = 60


def _shown(value):
    """``value`` for a message: ``reprlib``'s short form."""
    return _SHOWN.repr(value)


_LATIN1_ENCODE = _Latin1Encode()
_BYTES = _Bytes()
_NDARRAY = _NDArrayClass()
_RECONSTRUCT = _Reconstruct()
_RECONSTRUCT_FUNCTION = np.ndarray.__reduce__(np.zeros(1))[0]   # numpy's, wherever it lives


def _allowed_globals():
    """Return the only (module, name) -> object pairs a CIFAR batch may reference."""
    return {
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy", "ndarray"): _NDARRAY,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _LATIN1_ENCODE,
        ("__builtin__", "bytes"): _BYTES,     # protocol 2 names it in Python 2's module
        ("builtins", "bytes"): _BYTES,
    }


def _plain(value, depth=3):
    """Whether ``value`` is None, an int, a str, bytes, an empty dict or a tuple of these, at
    most ``depth`` tuples deep (the parts of the state of a dtype without fields:
    ``datetime64[D]`` has the metadata ``(None, (b'D', 1, 1, 1))``, which NumPy 1.x writes as
    ``({}, (b'D', 1, 1, 1))``). The depth bounds the walk: a tuple nested 100,000 deep, or 60
    deep sharing its halves, is not plain, and is not walked to find that out."""
    if type(value) is tuple:
        return depth > 0 and len(value) <= 16 and all(_plain(v, depth - 1) for v in value)
    return value is None or type(value) in (int, str, bytes) or (type(value) is dict and not value)


def _fresh(value):
    """``value`` (a :func:`_plain` one) with each empty dict replaced by a new one: the pickle's
    own could be filled after the ``BUILD`` (fetched again from the memo), and the dtype keeps it."""
    if type(value) is tuple:
        return tuple(_fresh(v) for v in value)
    return {} if type(value) is dict else value


def _same(a, b):
    """``a == b`` with the same types all the way down (for :func:`_plain` values)."""
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return a == b


def _check_dtype_build(dtype, state):
    """UnsafePickleError unless ``state`` is the state NumPy writes for ``dtype`` (byte order
    aside): ``(3, byteorder, None, None, None, -1, -1, flags)`` for a plain dtype, with the same
    item size and flags (a forged one makes NumPy read bytes as pointers). Returns the state to
    build with (:func:`_fresh`)."""
    expected = dtype.__reduce__()[2]
    order = state[1] if isinstance(state, tuple) and len(state) > 1 else None
    if isinstance(order, bytes):   # (a Python 2 str read with encoding="bytes")
        order = order.decode("latin1")
    orders = ("|",) if expected[1] == "|" else ("<", ">", "=")
    compared = 8 if dtype.kind in "mM" else len(expected)   # (datetime64's unit is its metadata)
    same = (isinstance(state, tuple) and len(state) == len(expected) and order in orders
            and _plain(state) and _plain(expected)
            and _same(state[:1] + state[2:compared], expected[:1] + expected[2:compared]))
    if not same:
        raise UnsafePickleError(f"refused to set the state of dtype {dtype} to {_shown(state)}: "
                                f"only the state NumPy writes for a plain dtype is allowed")
    return _fresh(state)


def _check_array_build(array, state):
    """UnsafePickleError unless ``array`` is fresh (no elements, owning its memory: no view) and
    ``state`` is ``(version, shape, dtype, is_fortran, data)`` with a dtype of no fields and no
    sub-array, an item size above 0, and its data as NumPy writes them: bytes (whose size
    NumPy checks against the shape), or for an ``object`` dtype a list of exactly one value per
    element (NumPy does not count that list: a shorter one made it read past the list's end)."""
    if array.size != 0 or not array.flags.owndata or array.base is not None:
        raise UnsafePickleError(f"refused to set the state of an array of shape {array.shape} "
                                f"that already holds data or views another: NumPy builds an "
                                f"array only once, from an empty one")
    fits = type(state) is tuple and len(state) == 5
    if fits:
        _, shape, dtype, _, data = state
        fits = (type(shape) is tuple and all(type(n) is int and n >= 0 for n in shape)
                and isinstance(dtype, np.dtype) and dtype.itemsize > 0
                and dtype.fields is None and dtype.subdtype is None)
        if fits and dtype.hasobject:
            fits = type(data) is list and len(data) == math.prod(shape)
        elif fits:
            fits = type(data) is bytes
    if not fits:
        raise UnsafePickleError(f"refused to build an array from the state {_shown(state)}: only "
                                f"the state NumPy writes (shape, a dtype without fields or "
                                f"sub-arrays, and bytes, or one Python value per element) is "
                                f"allowed")


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that resolves only the globals of :func:`_allowed_globals` and checks every
    ``BUILD`` on a NumPy dtype or array (:func:`_check_dtype_build`, :func:`_check_array_build`).

    It is Python's pure-Python unpickler (``pickle._Unpickler``): the C one cannot be told to
    check a ``BUILD``. A CIFAR batch of 10,000 images takes about 0.1 s longer to read (its
    labels and file names are some 50,000 opcodes; the pixels are one).
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def find_class(self, module, name):
        allowed = _allowed_globals()
        if (module, name) not in allowed:
            raise UnsafePickleError(
                f"refused to load global {module}.{name}: a data file never needs it "
                f"(only plain types and NumPy arrays are allowed)"
            )
        return allowed[(module, name)]

    def load_build(self):
        state, inst = self.stack[-1], self.stack[-2]
        if isinstance(inst, np.dtype):
            self.stack[-1] = _check_dtype_build(inst, state)
        elif isinstance(inst, np.ndarray):
            _check_array_build(inst, state)
        pickle._Unpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = load_build

    # The opcodes that hash what the file built (a dict's keys, a set's items) are checked
    # first. (After a MARK, pickle._Unpickler keeps the items since the MARK as self.stack, the
    # stack below it on self.metastack.)
    def load_setitem(self):
        _check_hashable(self.stack[-2])
        pickle._Unpickler.load_setitem(self)

    def load_setitems(self):
        _check_hashable(*self.stack[0::2])
        pickle._Unpickler.load_setitems(self)

    def load_dict(self):
        _check_hashable(*self.stack[0::2])
        pickle._Unpickler.load_dict(self)

    def load_additems(self):
        _check_hashable(*self.stack)
        pickle._Unpickler.load_additems(self)

    def load_frozenset(self):
        _check_hashable(*self.stack)
        pickle._Unpickler.load_frozenset(self)

    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.DICT[0]] = load_dict
    dispatch[pickle.ADDITEMS[0]] = load_additems
    dispatch[pickle.FROZENSET[0]] = load_frozenset


_HASHABLE = (type(None), bool, int, float, str, bytes)


def _check_hashable(*keys):
    """UnsafePickleError unless every key is None, a bool, an int, a float, a str or bytes: what
    a data file's dict keys are, and nothing that hashing walks."""
    for key in keys:
        if type(key) not in _HASHABLE:
            raise UnsafePickleError(f"refused a dict key or set item of type {type(key).__name__}: "
                                    f"a data file's are numbers, strings or bytes")


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
                AttributeError, OverflowError, MemoryError, RecursionError, struct.error) as err:
            raise ValueError(f"{path} is not a readable pickle (truncated or corrupted?): "
                             f"{type(err).__name__}: {err}") from None
