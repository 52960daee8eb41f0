"""Writing files so that nothing on disk is ever left half-written.

A figure, a model, a checkpoint or a download is written to a temporary file in the folder of
its destination and renamed over the destination only once it is complete (``os.replace`` is
atomic on one file system). A killed process leaves at most a hidden ``.tmp-*`` file, never a
file with the real name that looks complete but is not. The temporary file is created with
``open(..., "x")``, so it gets the permissions of any new file under the user's umask (not the
owner-only mode of ``tempfile.mkstemp``).
"""

import contextlib
import os
import uuid


def names_no_file(path):
    """Whether the str ``path`` names no file: empty, or ending in a path separator ("models/")."""
    return not path or path.endswith(os.sep) or bool(os.altsep and path.endswith(os.altsep))


def check_path(path, name="path"):
    """Return ``path`` (str, bytes or os.PathLike) as an absolute str path to a file, with a
    leading ``~`` or ``~user`` expanded to that home folder (``os.path.expanduser``), as the
    data folder ``root`` is: ``model.save("~/m.npz")`` writes to the home folder, where it used
    to make a folder named "~" in the working directory.

    Refuses what is not a path (TypeError: an int would be taken for an open file descriptor),
    and a path that names a folder (ValueError for an empty path or one ending in a separator,
    IsADirectoryError for an existing folder).
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {type(path).__name__}")
    path = os.path.expanduser(os.fsdecode(os.fspath(path)))
    if names_no_file(path):
        raise ValueError(f"{name} must name a file, got {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{name} {path} is a folder; give the name of a file in it")
    return os.path.abspath(path)


@contextlib.contextmanager
def atomic_path(path, *, suffix=None):
    """Yield a fresh temporary path next to ``path``; rename it to ``path`` if the block succeeds.

    Parameters
    ----------
    path : str or os.PathLike
        The destination. Its folder is created if needed.
    suffix : str, optional
        Ending of the temporary name (default: the destination's extension), for writers that
        choose the format by extension (matplotlib's ``savefig``).

    The block must write the temporary file (by its name). If it raises, the temporary file is
    removed and the destination is left as it was. The data is flushed to disk (``fsync``)
    before the rename. A symbolic link is written through, as ``open(path, "w")`` writes: the
    file it names is replaced (made if missing) and the link stays (renamed onto, the link
    would become a plain file and the file it names keep its old content). A path that is not a
    file name (see :func:`check_path`), or whose folder cannot be made because a file holds its
    name (NotADirectoryError), is refused first.
    """
    path = os.path.realpath(check_path(path))  # (through symbolic links, to the file they name)
    if suffix is not None and not (isinstance(suffix, str) and os.sep not in suffix
                                   and (not os.altsep or os.altsep not in suffix)):
        raise ValueError(f"suffix must be a file ending such as '.png', got {suffix!r}")
    folder, name = os.path.split(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # a file stands where a folder must be
        raise NotADirectoryError(f"cannot write {path}: a part of {folder} is a file, "
                                 f"not a folder") from None
    suffix = os.path.splitext(name)[1] if suffix is None else suffix
    # (the name is shortened to 200 bytes, not characters: é is two bytes in UTF-8, so that the
    # temporary one stays within the usual 255 bytes)
    short = name[:200]
    while len(os.fsencode(short)) > 200:
        short = short[:-1]
    temporary = os.path.join(folder, f".tmp-{short}-{uuid.uuid4().hex[:12]}{suffix}")
    with open(temporary, "xb"):
        pass
    try:
        yield temporary
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
