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
    before the rename.
    """
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(name)[1] if suffix is None else suffix
    temporary = os.path.join(folder, f".tmp-{name}-{uuid.uuid4().hex[:12]}{suffix}")
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
