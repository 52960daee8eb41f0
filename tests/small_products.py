"""``small_products(fast)``: OpenBLAS's small-matrix path taken as there (``fast=True``: its
AVX-512 kernels) or not, whatever this machine's OpenBLAS has, so that the compiled bands,
Winograd's pieces and blocks, and "auto"'s choice of Winograd for the talk's conv3 run (or not)
on every machine. Elsewhere the pieces are slower, not other numbers.

Two names hold the answer: ``kernels._small_products_fast`` (the bands, the pieces, the blocks)
and the copy that ``winograd`` imported (``_faster_than_im2col``, whose answers are cached: the
cache is emptied on entry and on exit, so that no test keeps another's).
"""

import contextlib
from unittest import mock

from tinyadv import kernels, winograd


@contextlib.contextmanager
def small_products(fast):
    with mock.patch.object(kernels, "_small_products_fast", lambda: fast), \
            mock.patch.object(winograd, "_small_products_fast", lambda: fast):
        winograd._faster_than_im2col.cache_clear()
        try:
            yield
        finally:
            winograd._faster_than_im2col.cache_clear()
