"""A Numba kernel as the Python it is written in, for the tests that run a compiled loop where
NumPy checks every index (an index past an axis's end is an IndexError there, not garbage)."""


def plain_python(kernel):
    """The function that Numba compiles into ``kernel`` (its ``py_func``); the kernel itself under
    ``NUMBA_DISABLE_JIT=1``, where ``numba.njit`` returns the function as it is."""
    return getattr(kernel, "py_func", kernel)
