"""atomic_path: a destination is either the old file or the complete new one, never half-written,
and a new file gets the ordinary permissions of the user's umask."""

import os
import stat

import matplotlib.pyplot as plt
import pytest

from tinyadv.files import atomic_path
from tinyadv.plots import save_figure


def test_success_replaces_the_destination_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    with atomic_path(target) as temporary:
        assert temporary.endswith(".txt") and os.path.dirname(temporary) == str(target.parent)
        with open(temporary, "w") as f:
            f.write("new")
    assert target.read_text() == "new"
    assert os.listdir(target.parent) == ["out.txt"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            with open(temporary, "w") as f:
                f.write("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_new_files_get_the_umask_permissions_not_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_figure(plt.figure(), tmp_path / "figure.png")
    finally:
        os.umask(old)
        plt.close("all")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_a_long_name_of_multibyte_characters_still_has_a_temporary_name_that_fits(tmp_path):
    # (234 bytes is a valid name; shortened to 200 characters, not bytes, the temporary name had
    # 256 bytes: "File name too long")
    target = tmp_path / ("é" * 115 + ".txt")
    assert len(os.fsencode(target.name)) == 234
    with atomic_path(target) as temporary:
        assert len(os.fsencode(os.path.basename(temporary))) <= 255
        with open(temporary, "w") as f:
            f.write("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == [target.name]


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX symbolic links")
@pytest.mark.parametrize("existing", [True, False])
def test_a_symbolic_link_is_written_through_and_stays_a_link(tmp_path, existing):
    """As open(link, "w") does: the file the link names gets the new content (made if missing,
    in its own folder, with the temporary beside it), and the link is still a link to it."""
    (tmp_path / "models").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "models" / "model.npz"
    if existing:
        target.write_text("old")
    link = tmp_path / "links" / "latest.npz"
    os.symlink(os.path.join("..", "models", "model.npz"), link)
    with atomic_path(link) as temporary:
        assert os.path.dirname(temporary) == str(target.parent)
        with open(temporary, "w") as f:
            f.write("new")
    assert os.path.islink(link) and os.readlink(link) == os.path.join("..", "models", "model.npz")
    assert target.read_text() == "new" and link.read_text() == "new"
    assert sorted(os.listdir(tmp_path / "models")) == ["model.npz"]
    assert os.listdir(tmp_path / "links") == ["latest.npz"]
