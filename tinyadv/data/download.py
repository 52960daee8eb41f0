"""Where data lives, and how an official file gets there: the cache folder and a verified download.

The data folder ("root") is, in order: the ``root`` argument of a loader, the environment variable
``TINYADV_DATA``, or ``~/.cache/tinyadv``. It holds one sub-folder per data set in the official
layout (``mnist/``, ``fashion-mnist/``, ``cifar-10-batches-py/``, ``svhn/``).

:func:`fetch` downloads one official file:

1. stream it into a temporary ``.tmp-<name>-<random>.part`` file in the target folder
   (``tinyadv.files.atomic_path``), with a tqdm progress bar, computing its MD5 on the way;
2. compare the MD5 with the published one (the checksums are those that torchvision's dataset
   classes carry, which copy the data sets' own pages);
3. only then rename the temporary file to its real name with ``os.replace`` (atomic on one file
   system). A failed, interrupted or wrong download deletes its temporary file; a download killed
   outright leaves at most a ``.part`` file, never one under the real name.

Verification policy. What tinyadv downloads is verified byte for byte against the published
checksum. A data file that is already in the folder is used as it is and checked for structure
(magic numbers, shapes, dtypes, label range) by the loader that reads it, not by checksum: copies
made on other machines may be re-compressed (the offline MNIST copies in ``../shared/data`` are)
and still hold exactly the official images. Official archives that tinyadv must extract (CIFAR-10's
``cifar-10-python.tar.gz``) are verified by checksum whether downloaded or placed by hand.
"""

import hashlib
import http.client
import os
import string
import urllib.request
from collections.abc import Iterable

from tqdm import tqdm

from ..checks import check_bool, check_positive, check_positive_int
from ..files import atomic_path, check_path

ENV_VAR = "TINYADV_DATA"
DEFAULT_ROOT = os.path.join("~", ".cache", "tinyadv")


class DataNotFoundError(FileNotFoundError):
    """A data file is neither in the data folder nor downloadable; the message says where to put it."""


class ChecksumError(ValueError):
    """A downloaded or placed archive does not have its published MD5 checksum."""


class ChecksumMismatch(Exception):
    """One mirror delivered a file with the wrong checksum (internal: the next mirror is tried)."""


def data_root(root=None):
    """Return the data folder: ``root`` if given, else ``$TINYADV_DATA``, else ``~/.cache/tinyadv``.

    The folder is not created here; :func:`fetch` creates what it writes into. A ``root`` given
    as a split's name ("train", "test", "extra") that is no folder here is refused (ValueError):
    the loaders take ``root`` first, and ``load_mnist("test")`` would otherwise download the
    training set into ./test/ and return it. (``$TINYADV_DATA`` is taken as it is.)
    """
    if isinstance(root, str) and root in ("train", "test", "extra") and not os.path.isdir(root):
        raise ValueError(f"root={root!r} is a split's name, not a data folder: the first argument "
                         f"of the loader is root; pass split={root!r}")
    if root is None:
        root = os.environ.get(ENV_VAR) or DEFAULT_ROOT
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path (str or os.PathLike), got {type(root).__name__}")
    return os.path.abspath(os.path.expanduser(os.fspath(root)))


def md5_file(path, chunk_size=1 << 20):
    """Return the hexadecimal MD5 digest of a file, read in chunks of ``chunk_size`` >= 1 bytes."""
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _same_md5(actual, md5):
    """Whether the hex digest ``actual`` is the published checksum ``md5``, in either case."""
    if not isinstance(md5, str):
        raise TypeError(f"md5 must be a hexadecimal string, got {type(md5).__name__}")
    return actual.lower() == md5.lower()


def verify_md5(path, md5):
    """Raise :class:`ChecksumError` if the file at ``path`` does not have MD5 ``md5`` (hex
    digits in either case)."""
    actual = md5_file(path)
    if not _same_md5(actual, md5):
        raise ChecksumError(
            f"{path} has MD5 {actual}, but the published checksum is {md5}: the file is corrupted, "
            f"truncated or not the official one. Delete it and load again to re-download it."
        )


def _stream(url, tmp, *, progress, timeout, desc):
    """Copy ``url`` into the open file ``tmp`` chunk by chunk; return the MD5 of what was written."""
    digest = hashlib.md5()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        total = int(length) if length and length.isascii() and length.isdigit() else None
        written = 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not progress) as bar:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                tmp.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    if total is not None and written != total:
        raise OSError(f"connection closed after {written} of {total} bytes")
    return digest.hexdigest()


def _check_urls(urls):
    """Return ``urls`` (a URL or an iterable of them) as a non-empty tuple of non-empty strings;
    TypeError or ValueError naming what is wrong otherwise."""
    if isinstance(urls, str):
        urls = (urls,)
    elif isinstance(urls, (bytes, bytearray)) or not isinstance(urls, Iterable):
        raise TypeError(f"urls must be a URL (str) or a sequence of URLs, got {type(urls).__name__}")
    urls = tuple(urls)
    if not urls:
        raise ValueError("urls must name at least one URL, got an empty sequence")
    for i, url in enumerate(urls):
        if not isinstance(url, str):
            raise TypeError(f"urls must hold URLs (str), got {type(url).__name__} at position {i}: "
                            f"{url!r}")
        if not url:
            raise ValueError(f"urls must hold URLs, got an empty string at position {i}")
    return urls


def fetch(urls, path, *, md5, progress=True, timeout=60):
    """Download an official file to ``path``, verified, atomically; try each URL in turn.

    Parameters
    ----------
    urls : str or sequence of str
        Mirrors of the same file (http, https or file URLs), tried in order.
    path : str
        Where the file goes. Its folder is created if needed.
    md5 : str
        The published MD5 checksum of the file.
    progress : bool
        Show a tqdm progress bar on stderr.
    timeout : float > 0
        Seconds to wait for the server before giving up on a mirror.

    Returns
    -------
    path : str

    Raises
    ------
    ValueError, IsADirectoryError, NotADirectoryError
        ``path`` names no file (empty, ending in a separator), names a folder, or lies under a
        file; before anything is downloaded.
    ChecksumError
        A mirror delivered a file with another checksum (and no mirror delivered the right one).
    DataNotFoundError
        No mirror could be reached; the message says which file to place where.
    """
    progress = check_bool(progress, "progress")
    urls = _check_urls(urls)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike), got {type(path).__name__}")
    if not isinstance(md5, str):
        raise TypeError(f"md5 must be a hexadecimal string, got {type(md5).__name__}")
    if len(md5) != 32 or not all(c in string.hexdigits for c in md5):
        raise ValueError(f"md5 must be the 32 hexadecimal digits of an MD5 checksum, got {md5!r}")
    check_positive(timeout, "timeout")  # (checked, not converted: urlopen gets it as it is)
    # (here, not per mirror: "out/" or a folder is no failed download; ~ expanded as atomic_path does)
    folder, name = os.path.split(check_path(path))
    created = [] if os.path.isdir(folder) else _new_folders(folder)
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # a file stands where a folder must be
        raise NotADirectoryError(f"cannot write {path}: a part of {folder} is a file, "
                                 f"not a folder") from None
    failures, bad_checksum = [], None
    for url in urls:
        try:
            with atomic_path(path, suffix=".part") as tmp_path:
                with open(tmp_path, "wb") as tmp:
                    actual = _stream(url, tmp, progress=progress, timeout=timeout, desc=name)
                if not _same_md5(actual, md5):
                    raise ChecksumMismatch(f"{url} delivered a file with MD5 {actual}, expected {md5}")
            return path
        except ChecksumMismatch as err:
            bad_checksum = str(err)
            failures.append(bad_checksum)
        except (OSError, http.client.HTTPException, ValueError) as err:
            failures.append(f"{url}: {type(err).__name__}: {err}")
    for new in created:  # (no file came: leave no empty folder behind)
        if os.path.isdir(new) and not os.listdir(new):
            os.rmdir(new)
    tried = "\n  ".join(failures)
    if bad_checksum is not None:
        raise ChecksumError(f"could not download a verified copy of {name}:\n  {tried}\n"
                            f"Place the official file {name} at {path} by hand, or try again later.")
    raise DataNotFoundError(
        f"could not download {name}:\n  {tried}\n"
        f"Without internet, place the official file {name} at {path} "
        f"(or set {ENV_VAR} to a folder that holds it)."
    )


def _new_folders(folder):
    """The folders that ``os.makedirs(folder)`` would create, deepest first."""
    new = []
    while folder and not os.path.isdir(folder):
        new.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return new


REPAIR_HINT = ("Delete the damaged file and load again (download=True) to fetch the official one, "
               "or put the official file in its place.")


def missing_file_message(path, urls, extra=""):
    """Return the message for a file that is absent and that the caller may not download.

    ``urls`` is the file's URL or its mirrors, the first of which the message names; with none
    (an empty sequence) the message names no source.
    """
    urls = (urls,) if isinstance(urls, str) else tuple(urls)
    source = f" (from {urls[0]})" if urls else ""
    return (f"{path} does not exist and download=False. Place the official file there"
            f"{source}{extra}, or set {ENV_VAR} to a folder that holds it.")
