"""Real data for tinyadv: the bundled mini-MNIST and loaders for MNIST, Fashion-MNIST, CIFAR-10, SVHN.

Every loader returns ``(x, y)``: ``x`` float32 NCHW images in [0, 1] (uint8 on request), ``y``
int64 labels, with the same options everywhere (``split``, ``classes``, ``binary``, ``limit``,
``dtype``; see :mod:`tinyadv.data.select`).
"""

from tinyadv.data.mini import load_mini_mnist
from tinyadv.data.select import select_classes

__all__ = ["load_mini_mnist", "select_classes"]
