"""SVHN cropped digits: 32x32 colour house numbers from Street View (Netzer et al. 2011).

The official "format 2" files are MATLAB ``.mat`` files read with ``scipy.io.loadmat``::

    <root>/svhn/train_32x32.mat   (73,257 digits)   test_32x32.mat  (26,032)   extra_32x32.mat

each holding ``X``, uint8 of shape (32, 32, 3, N) (rows, columns, colour, image), and ``y``,
shape (N, 1), digits 1..9 with **label 10 for digit 0**; tinyadv returns label 0 for it. A file
already in place is used after a structure check; a missing one is downloaded and verified
against its published MD5. ``greyscale``/``standardize`` apply the preprocessing of the
input-fault-tolerance paper (see :mod:`tinyadv.data.preprocess`). SVHN is for non-commercial use.
"""

import errno
import os
import zlib

import numpy as np

from tinyadv.checks import check_bool
from tinyadv.data.download import REPAIR_HINT, data_root, fetch, missing_file_message
from tinyadv.data.preprocess import standardize as standardize_images
from tinyadv.data.preprocess import to_greyscale
from tinyadv.data.select import check_dtype, check_split, finish

# URLs and MD5s as in torchvision's torchvision/datasets/svhn.py (SVHN.split_list), which
# copies http://ufldl.stanford.edu/housenumbers/.
SVHN_URL = "http://ufldl.stanford.edu/housenumbers/"
SVHN_MD5 = {
    "train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373",
    "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3",
    "extra_32x32.mat": "a93ce644f1a588dc4d68dda5feec44a7",
}
SVHN_SPLITS = ("train", "test", "extra")


def read_svhn_mat(path):
    """Read an SVHN ``*_32x32.mat`` file and check its structure.

    Returns
    -------
    x : ndarray of uint8, shape (N, 3, 32, 32)
    y : ndarray of int64, shape (N,), digits 0..9 (the file's label 10 becomes 0)

    Raises
    ------
    FileNotFoundError
        No file at ``path`` (nor, as ``scipy.io.loadmat`` also tries it, at ``path + ".mat"``).
    ValueError
        The file is not a readable .mat file, or not SVHN's structure, or could not be read
        into memory (a damaged size, a zlib bomb, or a file larger than the memory).

    ``scipy.io.loadmat`` is not hardened against damaged files: one changed byte in the type
    code of a data element (e.g. 2 -> 210 in ``y``'s tag) crashes the process with a
    segmentation fault instead of an error (scipy reads its table of types past its end).
    Downloaded files are verified by MD5; a file placed by hand is only read.
    """
    import scipy.io  # here, not at the top: it takes 0.2 s to import and only SVHN needs it

    if not isinstance(path, (str, bytes, os.PathLike)) and not hasattr(path, "read"):
        raise TypeError(f"path must be a file path (str or os.PathLike) or an open binary file, "
                        f"got {type(path).__name__}")
    if not hasattr(path, "read") and os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "Is a folder, not an SVHN .mat file", path)
    try:
        mat = scipy.io.loadmat(path)
    except FileNotFoundError:  # as read_idx, read_cifar_batch and safe_load raise it
        raise FileNotFoundError(errno.ENOENT, "No such file (an SVHN *_32x32.mat file)",
                                path) from None
    except NotImplementedError as err:  # scipy's answer to a MATLAB v7.3 (HDF5) file
        raise ValueError(f"{path} is not a .mat file that scipy.io.loadmat reads ({err}); the "
                         f"official SVHN files are MATLAB v5 files") from None
    except (ValueError, TypeError, OSError, EOFError, zlib.error, scipy.io.matlab.MatReadError,
            IndexError) as err:   # (IndexError: scipy's answer to a file cut inside its header)
        raise ValueError(f"{path} is not a readable .mat file (truncated or corrupted?): {err}") from None
    except MemoryError:  # scipy allocates what a size in the file announces, or inflates it all
        raise ValueError(f"{path} could not be read into memory: the file is damaged (a size in "
                         f"it announces more than it holds, or it inflates to gigabytes) or larger "
                         f"than the memory available") from None
    if "X" not in mat or "y" not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path} lacks the variables 'X' and 'y' of SVHN (found {found})")
    X, y = mat["X"], mat["y"]
    if X.dtype != np.uint8 or X.ndim != 4 or X.shape[:3] != (32, 32, 3):
        raise ValueError(f"{path}: X must be uint8 of shape (32, 32, 3, N), got {X.dtype} {X.shape}")
    n = X.shape[3]
    if y.size != n or (y.ndim == 2 and y.shape[1] != 1) or y.ndim > 2:
        raise ValueError(f"{path}: y must have shape ({n}, 1) to match X, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) and not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"{path}: y must hold numbers, got dtype {y.dtype}")
    y = y.reshape(-1)
    if y.size and (y.min() < 1 or y.max() > 10 or np.any(y != np.round(y))):
        raise ValueError(f"{path}: labels must be integers 1..10 (10 means digit 0), "
                         f"found min {y.min()}, max {y.max()}")
    return X.transpose(3, 2, 0, 1), y.astype(np.int64) % 10


def load_svhn(root=None, split="train", *, classes=None, binary=False, limit=None,
              dtype=np.float32, greyscale=False, standardize=False, download=True):
    """Load SVHN cropped digits (Netzer et al. 2011) from ``<root>/svhn/``.

    Parameters
    ----------
    root : str, optional
        Data folder; default ``$TINYADV_DATA`` or ``~/.cache/tinyadv`` (a split's name is
        refused: :func:`tinyadv.data.data_root`).
    split : {"train", "test", "extra"}
        ``train_32x32.mat``, ``test_32x32.mat`` or ``extra_32x32.mat``.
    classes : sequence of int, optional
        Keep only these digits (0..9, after 10 -> 0), labels unchanged.
    binary : bool
        With ``classes=(a, b)``: relabel a -> 1, b -> 0.
    limit : int, optional
        Keep the first ``limit`` examples after filtering (before standardising).
    dtype : {np.float32, np.float64, np.uint8}
        Floats are pixels / 255 in [0, 1]; uint8 (raw pixels) is refused with ``greyscale`` or
        ``standardize``, which produce floats.
    greyscale : bool
        Return one luma channel, 0.299 R + 0.587 G + 0.114 B (shape (N, 1, 32, 32)).
    standardize : bool
        Subtract each image's mean and divide by the per-pixel std of the returned images
        (Galloway et al. 2018, REFERENCES §4). The std comes from the split being loaded; to
        normalise the test set with training statistics, call
        :func:`tinyadv.data.preprocess.standardize` yourself. The values leave [0, 1].
        The paper uses ``greyscale=True, standardize=True``.
    download : bool
        Download a missing file from the official site (default).

    Returns
    -------
    x : ndarray, shape (N, 3, 32, 32), or (N, 1, 32, 32) with ``greyscale``; ``dtype``
    y : ndarray of int64, shape (N,)
    """
    split = check_split(split, SVHN_SPLITS)
    greyscale = check_bool(greyscale, "greyscale")
    standardize = check_bool(standardize, "standardize")
    download = check_bool(download, "download")
    if check_dtype(dtype) == np.uint8 and (greyscale or standardize):
        raise ValueError("greyscale and standardize produce floats: use dtype=np.float32 or np.float64")
    name = f"{split}_32x32.mat"
    path = os.path.join(data_root(root), "svhn", name)
    if not os.path.exists(path):
        if not download:
            raise FileNotFoundError(missing_file_message(path, SVHN_URL + name))
        fetch(SVHN_URL + name, path, md5=SVHN_MD5[name])
    try:
        x, y = read_svhn_mat(path)
    except ValueError as err:
        raise ValueError(f"{err}. {REPAIR_HINT}") from None
    x, y = finish(x, y, num_classes=10, classes=classes, binary=binary, limit=limit, dtype=dtype)
    if greyscale:
        x = to_greyscale(x)
    if standardize:
        x, _ = standardize_images(x)
    return x, y
