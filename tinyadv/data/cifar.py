"""CIFAR-10: 60,000 32x32 colour images in ten classes (Krizhevsky 2009), official python layout.

The official archive ``cifar-10-python.tar.gz`` unpacks to::

    <root>/cifar-10-batches-py/data_batch_1 ... data_batch_5   (training, 10,000 images each)
                               test_batch                      (10,000 test images)
                               batches.meta                    (class names)

Each batch is a pickled dict with ``b"data"``, a uint8 array of shape (N, 3072) whose rows are
the red, green and blue 32x32 planes in that order (so ``reshape(N, 3, 32, 32)`` is NCHW), and
``b"labels"``, a list of N ints in [0, 9]. Batches are read with the restricted unpickler of
:mod:`tinyadv.data.safe_pickle`, which cannot execute code.

If ``cifar-10-batches-py/`` is absent, the archive is downloaded (or taken from
``<root>/cifar-10-python.tar.gz`` if placed there by hand), verified against its published MD5
in both cases, and its expected members only (never ``extractall``, so no path in the archive
can write outside the folder) are extracted into a temporary folder that is renamed into place
when complete.
"""

import gzip
import os
import shutil
import tarfile
import uuid
import zlib

import numpy as np

from tinyadv.checks import check_bool, check_positive_int
from tinyadv.data.download import data_root, fetch, missing_file_message, verify_md5
from tinyadv.data.safe_pickle import UnsafePickleError, check_path_type, safe_load
from tinyadv.data.select import check_split, finish

# URL and MD5 as published on https://www.cs.toronto.edu/~kriz/cifar.html; the same values are
# in torchvision's torchvision/datasets/cifar.py (class CIFAR10: url, tgz_md5).
CIFAR10_URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CIFAR10_MEMBERS = CIFAR10_BATCHES["train"] + CIFAR10_BATCHES["test"] + ("batches.meta",)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


def extract_cifar10(archive, root):
    """Extract the CIFAR-10 batches from ``archive`` into ``<root>/cifar-10-batches-py/``, atomically.

    Only the members named in ``CIFAR10_MEMBERS`` are read, by name, into a temporary folder that
    is renamed into place once all are written. Raises ``ValueError`` if the archive is not a
    readable tar.gz or lacks a member. If the folder is already there (another process that
    loads CIFAR-10 at the same time extracted it first), that one is kept.
    """
    target = os.path.join(root, CIFAR10_FOLDER)
    # (os.mkdir, not tempfile.mkdtemp: the folder that is renamed into place gets the permissions
    # of the user's umask, not mkdtemp's owner-only 0o700, as every file tinyadv writes)
    tmp = os.path.join(root, f".{CIFAR10_FOLDER}.{uuid.uuid4().hex[:12]}")
    os.mkdir(tmp)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            names = {member.name: member for member in tar.getmembers() if member.isfile()}
            for name in CIFAR10_MEMBERS:
                member = names.get(f"{CIFAR10_FOLDER}/{name}")
                if member is None:
                    raise ValueError(f"{archive} lacks the member {CIFAR10_FOLDER}/{name}; "
                                     f"it is not the official CIFAR-10 archive")
                with tar.extractfile(member) as src, open(os.path.join(tmp, name), "wb") as dst:
                    shutil.copyfileobj(src, dst)
        try:
            os.replace(tmp, target)
        except OSError:   # (ENOTEMPTY: another process extracted it meanwhile; keep theirs)
            if not os.path.isdir(target):
                raise
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(f"{archive} is not a readable tar.gz archive (truncated or corrupted?): {err}") from None
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)
    return target


def _ensure_batches(root, *, download):
    """Return the batches folder, extracting (and if needed downloading) the archive first."""
    folder = os.path.join(root, CIFAR10_FOLDER)
    if os.path.isdir(folder):
        return folder
    if os.path.exists(folder):
        raise ValueError(f"{folder} is a file, not the folder of CIFAR-10's batches: delete it "
                         f"and load again to extract the official archive")
    archive = os.path.join(root, CIFAR10_ARCHIVE)
    if not os.path.exists(archive):
        if not download:
            raise FileNotFoundError(missing_file_message(
                archive, CIFAR10_URLS, extra=f" or its extracted folder {folder}/"))
        fetch(CIFAR10_URLS, archive, md5=CIFAR10_MD5)
    else:
        verify_md5(archive, CIFAR10_MD5)
    return extract_cifar10(archive, root)


def read_cifar_batch(path, *, num_classes=10):
    """Read one CIFAR-10 python batch safely and check its structure.

    Parameters
    ----------
    path : str or os.PathLike
        A pickled batch (``data_batch_1``, ``test_batch``, ...).
    num_classes : int
        Labels must lie in ``[0, num_classes)``.

    Returns
    -------
    x : ndarray of uint8, shape (N, 3, 32, 32)
    y : ndarray of int64, shape (N,)
    """
    num_classes = check_positive_int(num_classes, "num_classes")
    check_path_type(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path} is missing: the folder {os.path.dirname(path)}/ must hold the official "
            f"{', '.join(CIFAR10_MEMBERS)} (delete the folder to extract the archive again)")
    batch = safe_load(path)
    if not isinstance(batch, dict):
        raise ValueError(f"{path} holds a {type(batch).__name__}, not a CIFAR batch dict")
    missing = [key for key in (b"data", b"labels") if key not in batch and key.decode() not in batch]
    if missing:   # (a key that is present but None is reported below, as a wrong value)
        raise ValueError(f"{path} lacks the keys a CIFAR batch needs: "
                         f"{' and '.join(map(repr, missing))} missing "
                         f"(found {', '.join(sorted(map(repr, batch))) or 'no keys'})")
    data = batch[b"data"] if b"data" in batch else batch["data"]
    labels = batch[b"labels"] if b"labels" in batch else batch["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path}: b'data' must be a uint8 array of shape (N, 3072), got {desc}")
    if not isinstance(labels, (list, tuple, np.ndarray)):
        raise ValueError(f"{path}: b'labels' must be a list of integers, got {type(labels).__name__}")
    if not isinstance(labels, np.ndarray) and any(isinstance(v, (list, tuple)) for v in labels):
        # (before NumPy walks them: lists nested 28 deep that share their halves, 663 bytes in
        # the file, would be 2**28 values)
        raise ValueError(f"{path}: b'labels' must be a flat list of integers, one per image, "
                         f"got nested lists")
    try:
        y = np.asarray(labels)
    except (ValueError, TypeError):   # e.g. ragged [[1], [2, 3]]
        raise ValueError(f"{path}: b'labels' must be a flat list of integers, one per image, "
                         f"got nested lists of different lengths") from None
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{path}: b'labels' must be a list of integers, got {y.dtype} values")
    if y.shape != (len(data),):
        raise ValueError(f"{path} holds {len(data)} images but labels of shape {y.shape}")
    if y.size:
        low, high = int(y.min()), int(y.max())   # Python ints: exact for uint64 and int64 alike
        if low < 0 or high >= num_classes:
            raise ValueError(f"{path} holds labels outside [0, {num_classes - 1}] (min {low}, max {high})")
    return data.reshape(-1, 3, 32, 32), y.astype(np.int64)


def load_cifar10(root=None, split="train", *, classes=None, binary=False, limit=None,
                 dtype=np.float32, download=True):
    """Load CIFAR-10 (Krizhevsky 2009) from ``<root>/cifar-10-batches-py/``.

    Parameters
    ----------
    root : str, optional
        Data folder; default ``$TINYADV_DATA`` or ``~/.cache/tinyadv`` (a split's name is
        refused: :func:`tinyadv.data.data_root`).
    split : {"train", "test"}
        ``data_batch_1..5`` (50,000 images) or ``test_batch`` (10,000).
    classes : sequence of int, optional
        Keep only these classes (0 airplane, 1 automobile, 2 bird, 3 cat, 4 deer, 5 dog,
        6 frog, 7 horse, 8 ship, 9 truck), labels unchanged.
    binary : bool
        With ``classes=(a, b)``: relabel a -> 1, b -> 0.
    limit : int, optional
        Keep the first ``limit`` examples after filtering.
    dtype : {np.float32, np.float64, np.uint8}
        Floats are pixels / 255 in [0, 1]; uint8 returns the raw pixels.
    download : bool
        Download and extract the official archive if the batches are absent (default).

    Returns
    -------
    x : ndarray, shape (N, 3, 32, 32), ``dtype``
    y : ndarray of int64, shape (N,)
    """
    split = check_split(split)
    download = check_bool(download, "download")
    root = data_root(root)
    folder = _ensure_batches(root, download=download)
    try:
        parts = [read_cifar_batch(os.path.join(folder, name)) for name in CIFAR10_BATCHES[split]]
    except ValueError as err:  # (UnsafePickleError kept as it is, for a pickle that asks for code)
        kind = UnsafePickleError if isinstance(err, UnsafePickleError) else ValueError
        raise kind(f"{err}. Delete {folder}/ and load again to extract the official archive "
                   f"(downloading it if needed), or put the official batches there.") from None
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    del parts  # the batches are copied into x: free them before the float copy is made
    return finish(x, y, num_classes=10, classes=classes, binary=binary, limit=limit, dtype=dtype)
