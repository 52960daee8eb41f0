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
