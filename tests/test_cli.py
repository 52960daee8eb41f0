"""The command-line flag types refuse bad values with argparse's usage error (exit code 2)."""

import argparse
import os
import subprocess
import sys

import pytest

from tinyadv import cli
from tinyadv.data import ChecksumError, DataNotFoundError, UnsafePickleError

from script_loading import SCRIPTS


def parse(kind, text, nargs=None):
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--flag", type=kind, nargs=nargs)
    return parser, parser.parse_args(["--flag", *text.split()]).flag


@pytest.mark.parametrize("kind, text, message", [
    (cli.positive_int, "0", "must be >= 1, got 0"),
    (cli.positive_int, "-3", "must be >= 1, got -3"),
    (cli.positive_int, "2.5", "expected an integer, got '2.5'"),
    (cli.positive_int, str(2 ** 63), r"must be < 2\*\*63, got 9223372036854775808"),
    (cli.nonnegative_int, "-1", "must be >= 0, got -1"),
    (cli.nonnegative_float, "-0.1", "must be a finite number >= 0, got '-0.1'"),
    (cli.nonnegative_float, "nan", "must be a finite number >= 0"),
    (cli.nonnegative_float, "inf", "must be a finite number >= 0"),
    (cli.nonnegative_float, "abc", "expected a number, got 'abc'"),
    (cli.positive_float, "0", "must be > 0"),
    (cli.positive_float, "1e39", r"must be at most 3.403e\+38 \(float32's largest"),
    (cli.nonnegative_float, "1e308", "float32's largest"),
    (cli.fraction, "1.5", r"must be in \[0, 1\]"),
    (cli.figure_path, "out.xyz", "does not end in a figure format matplotlib writes"),
    (cli.figure_path, "out.pgf", "does not end in a figure format"),  # (it needs LaTeX)
    (cli.count, "-1", "must be >= 0, got -1"),
    (cli.count, str(2 ** 64), r"must be < 2\*\*63, got 18446744073709551616"),
])
def test_a_bad_value_is_a_usage_error_naming_the_flag(capsys, kind, text, message):
    with pytest.raises(SystemExit) as stop:
        parse(kind, text)
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert "argument --flag:" in error
    assert __import__("re").search(message, error)


def test_good_values_pass(tmp_path):
    assert parse(cli.positive_int, "3")[1] == 3 and parse(cli.nonnegative_int, "0")[1] == 0
    assert parse(cli.positive_int, str(2 ** 63 - 1))[1] == 2 ** 63 - 1
    assert parse(cli.nonnegative_int, str(10 ** 30))[1] == 10 ** 30  # (a seed may be any size)
    assert parse(cli.nonnegative_float, "0")[1] == 0.0 and parse(cli.fraction, "1")[1] == 1.0
    assert parse(cli.positive_float, "1e-3")[1] == 1e-3
    new = tmp_path / "new" / "deeper" / "fig.pdf"
    assert parse(cli.figure_path, str(new))[1] == str(new)
    assert parse(cli.folder, str(tmp_path / "made" / "later"))[1] == str(tmp_path / "made" / "later")


def test_paths_inside_a_file_or_onto_a_folder_are_refused(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    a_folder = tmp_path / "looks_like.png"
    a_folder.mkdir()
    for kind, text in ((cli.folder, a_file / "sub"), (cli.figure_path, a_file / "fig.png"),
                       (cli.figure_path, a_folder)):
        with pytest.raises(SystemExit):
            parse(kind, str(text))
    errors = capsys.readouterr().err
    assert errors.count("a_file is a file, not a folder") == 2 and "looks_like.png is a folder" in errors


def test_increasing_lists(capsys):
    parser, values = parse(cli.nonnegative_float, "0 0.1 0.1", nargs="+")
    with pytest.raises(SystemExit):
        cli.increasing(parser, values, "--eps")
    assert "--eps must be increasing (each value once), got 0.0 0.1 0.1" in capsys.readouterr().err
    cli.increasing(parser, [0.0, 0.1], "--eps")


def test_changed_flags_names_the_flags_set_to_other_than_their_defaults():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-limit", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(["--train-limit", "50", "--epochs", "3"])
    assert cli.changed_flags(parser, args, ("train_limit", "epochs")) == ["--train-limit"]
    assert cli.changed_flags(parser, parser.parse_args([]), ("train_limit", "epochs")) == []


@pytest.mark.parametrize("kind, text, message", [
    (cli.file_path, "", "expected a file name, got ''"),
    (cli.file_path, "models/", "expected a file name, got 'models/'"),
    (cli.folder, "", "expected a folder, got an empty name"),
])
def test_names_of_no_file_or_folder_are_refused_when_read_not_when_written(capsys, kind, text,
                                                                         message):
    # (human_attack.py --save models/ used to train, then stop with check_path's traceback)
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--flag", type=kind)
    with pytest.raises(SystemExit) as stop:
        parser.parse_args(["--flag", text])
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_a_leading_tilde_is_the_home_folder_in_folder_and_file_flags(tmp_path, monkeypatch):
    # (a quoted "~/out" or --out=~/out reaches the script as it is: it made a folder named "~")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert parse(cli.folder, "~/runs")[1] == str(tmp_path / "runs")
    assert parse(cli.file_path, "~/models/m.npz")[1] == str(tmp_path / "models" / "m.npz")
    assert parse(cli.figure_path, "~/fig.png")[1] == str(tmp_path / "fig.png")


def test_a_folder_that_cannot_be_written_into_is_refused(tmp_path, capsys, monkeypatch):
    """It was found only when the figure was saved, after the training."""
    monkeypatch.setattr(cli.os, "access", lambda path, mode: path != str(tmp_path))
    for kind, text in ((cli.folder, f"{tmp_path}/new/figures"), (cli.figure_path, f"{tmp_path}/a.png")):
        with pytest.raises(SystemExit):
            parse(kind, text)
        assert f"cannot write into {tmp_path}" in capsys.readouterr().err
    assert parse(cli.count, "0")[1] == 0 and parse(cli.nonnegative_int, str(2 ** 70))[1] == 2 ** 70


OFFLINE_RUN = """
import runpy, sys
import tinyadv.data.download as download

def no_network(url, *args, **kwargs):  # (what urlopen raises without a network, and no request)
    raise OSError("no network in this test")

download._stream = no_network
sys.argv = [sys.argv[1]] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_a_script_missing_its_data_ends_with_the_message_alone(tmp_path):
    # it ended in a traceback through the loaders, the message only on its last lines
    done = subprocess.run([sys.executable, "-c", OFFLINE_RUN, str(SCRIPTS / "demo.py"),
                           "--data", "fashion-mnist", "--out", str(tmp_path / "demo.png")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TINYADV_DATA": str(tmp_path / "data"), "MPLBACKEND": "Agg"})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("demo.py: error: could not download train-images-idx3-ubyte.gz")
    assert "no network in this test" in done.stderr
    assert f"place the official file train-images-idx3-ubyte.gz at {tmp_path / 'data'}" in done.stderr


@pytest.mark.parametrize("error", [DataNotFoundError("place train_32x32.mat in svhn/"),
                                   ChecksumError("a mirror delivered another MD5"),
                                   UnsafePickleError("test_batch: refused to load global posix.system")])
def test_run_script_ends_with_the_message_of_a_data_file_it_cannot_read(error, monkeypatch):
    def main():
        raise error
    monkeypatch.setattr(sys, "argv", ["scripts/demo.py"])
    with pytest.raises(SystemExit) as stop:
        cli.run_script(main)
    assert stop.value.code == f"demo.py: error: {error}"


def test_run_script_lets_other_errors_through():
    def broken():
        raise ValueError("a bug, with its traceback")
    with pytest.raises(ValueError, match="a bug"):
        cli.run_script(broken)
    assert cli.run_script(lambda: 7) == 7


def test_every_script_that_loads_data_runs_its_main_through_run_script():
    # (run_all only asks whether data sets are there; it reports each experiment's errors itself)
    loaders = [path for path in sorted(SCRIPTS.glob("*.py"))
               if "load_dataset(" in path.read_text("utf-8") and path.name != "run_all.py"]
    assert len(loaders) >= 13
    for path in loaders:
        assert path.read_text("utf-8").endswith('if __name__ == "__main__":\n    run_script(main)\n'), path.name
