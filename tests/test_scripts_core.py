"""Smoke tests of the core scripts at a tiny size: they run, print their table, write their figure."""

import importlib.util
import pathlib

import pytest

SCRIPTS = pathlib.Path(__file__).resolve().parent.parent / "scripts"


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_trains_attacks_and_writes_its_figure(tmp_path, capsys):
    out = tmp_path / "demo.png"
    load_script("demo").main(["--epochs", "2", "--train-limit", "1500", "--test-limit", "300",
                              "--eps", "0", "0.3", "--out", str(out)])
    printed = capsys.readouterr().out
    assert out.exists() and out.stat().st_size > 10_000
    rows = [line.split() for line in printed.splitlines() if line.strip().startswith(("0.00", "0.30"))]
    clean, attacked = float(rows[0][1]), float(rows[1][1])
    assert clean > 0.8 and attacked < clean / 2  # FGSM at ε = 0.3 is decisive even at this size


def test_bench_cnn_prints_a_row_per_workload(capsys):
    pytest.importorskip("numba")
    module = load_script("bench_cnn")
    module.main(["--repeats", "1", "--dtypes", "float64", "--no-compile"])
    printed = capsys.readouterr().out
    for workload in ("train step (128)", "inference (512)", "forward + input gradient (512)",
                     "FGSM (512)", "PGD-10 (512)", "peak memory of a training step"):
        assert workload in printed


def test_theory_figures_writes_both_theory_slides(tmp_path, capsys):
    load_script("theory_figures").main(["--figures", str(tmp_path)])
    assert (tmp_path / "linearity.png").exists() and (tmp_path / "boundary_tilting.png").exists()
    printed = capsys.readouterr().out
    assert "== linearity ==" in printed and "== boundary_tilting ==" in printed


def test_homework_example_checks_mi_fgsm_and_catches_the_bug(capsys):
    report = load_script("homework_example").main(["--epochs", "1", "--train-limit", "600",
                                                    "--test-limit", "100"])
    printed = capsys.readouterr().out
    assert report.passed, str(report)
    assert "the attack breaks the contract: inside the L∞ ball" in printed
    rows = dict(line.split() for line in printed.splitlines()
                if line.startswith("  ") and len(line.split()) == 2)
    assert float(rows["MI-FGSM"]) <= float(rows["FGSM"]) + 0.02  # iterating does not hurt


def test_bench_train_cifar_reports_time_to_target(capsys):
    results = load_script("bench_train_cifar").main(
        ["--data", "mini-mnist", "--train-limit", "400", "--test-limit", "200", "--target", "0.3",
         "--epochs", "3"])
    seconds, accuracies = results["tinyadv"]
    assert seconds is not None and max(accuracies) >= 0.3
    assert "seconds to 30%" in capsys.readouterr().out
