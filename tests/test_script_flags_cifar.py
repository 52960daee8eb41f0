"""Bad flags of the CIFAR scripts, fooling_images, random_labels and fault_tolerance fail when read.

Each bad flag must end the script with argparse's usage error (exit code 2) naming the flag,
before any data is loaded or any model trained: every test replaces the script's data loader by
one that raises ``Parsed``, so a flag that is not checked at parse time fails the test at once
instead of starting a training run. The same stand-in shows that the default flags (and the
``--paper`` presets, where explicit flags win) pass every check.
"""

import json

import numpy as np
import pytest

import tinyadv as ta

from script_loading import load_script


class Parsed(Exception):
    """Raised by the stand-in data loader: the flags were read and accepted."""


def stand_in(*args, **kwargs):
    raise Parsed(args, kwargs)


@pytest.fixture
def script(monkeypatch, tmp_path):
    """load(name) -> the script's module, run in tmp_path, loading no data and no models."""
    monkeypatch.chdir(tmp_path)

    def load(name):
        module = load_script(name)
        for loader in ("load_dataset", "load_trained"):
            if hasattr(module, loader):
                monkeypatch.setattr(module, loader, stand_in)
        return module
    return load


def refused(module, flags, capsys):
    """The usage error that ``module.main(flags)`` ends with (its stderr); exit code 2."""
    with pytest.raises(SystemExit) as stop:
        module.main(flags)
    assert stop.value.code == 2
    return capsys.readouterr().err


# (flags, texts that the error must show: the flag's name, and the value as typed where it matters)
BAD = {
    "train_cifar_cnn": [
        (["--train-limit", "0"], ["--train-limit"]),
        (["--test-limit", "-5"], ["--test-limit"]),
        (["--clean-epochs", "-1"], ["--clean-epochs"]),
        (["--adv-epochs", "-1"], ["--adv-epochs"]),
        (["--clean-epochs", "0", "--adv-epochs", "0"], ["--clean-epochs", "--adv-epochs"]),
        (["--paper", "--clean-epochs", "0", "--adv-epochs", "0"], ["--clean-epochs"]),
        (["--batch-size", "0"], ["--batch-size"]),
        (["--lr", "0"], ["--lr"]),
        (["--lr", "nan"], ["--lr"]),
        (["--eps", "-0.1"], ["--eps", "'-0.1'"]),
        (["--eps", "8"], ["--eps", "'8'", "[0, 1]"]),  # pixels are in [0, 1]: 8/255 is 0.0314
        (["--alpha", "-1"], ["--alpha"]),
        (["--alpha", "0"], ["--alpha"]),
        (["--steps", "0"], ["--steps"]),
        (["--seed", "-1"], ["--seed"]),
        (["--checkpoints", "{file}/sub"], ["--checkpoints"]),
    ],
    "cifar_robustness": [
        (["--test-limit", "0"], ["--test-limit"]),
        (["--eps", "0", "-8"], ["--eps", "'-8'"]),
        (["--eps", "0", "300"], ["--eps", "'300'", "[0, 255]"]),
        (["--eps", "8", "16"], ["--eps", "start at 0"]),  # the "clean (ε = 0)" line
        (["--eps", "0", "8", "4"], ["--eps", "increasing"]),
        (["--eps", "0", "8", "8"], ["--eps", "increasing"]),
        (["--steps", "0"], ["--steps"]),
        (["--examples", "0"], ["--examples"]),
        (["--examples", "-1"], ["--examples"]),
        (["--examples", "600"], ["--examples", "--test-limit"]),
        (["--example-eps", "-8"], ["--example-eps", "'-8'"]),
        (["--example-eps", "nan"], ["--example-eps"]),
        (["--figures", "{file}"], ["--figures"]),
        (["--checkpoints", "{file}"], ["--checkpoints"]),
        (["--seed", "-1"], ["--seed"]),
    ],
    "noisy_examples": [
        (["--test-limit", "0"], ["--test-limit"]),
        (["--sigma", "-0.1"], ["--sigma"]),
        (["--sigma", "0", "nan"], ["--sigma"]),
        (["--sigma", "0", "0.5", "0.1"], ["--sigma", "increasing"]),
        (["--examples", "0"], ["--examples"]),
        (["--examples", "-1"], ["--examples"]),
        (["--examples", "3000"], ["--examples", "--test-limit"]),
        (["--example-sigma", "-0.3"], ["--example-sigma"]),
        (["--example-sigma", "nan"], ["--example-sigma"]),
        (["--figures", "{file}"], ["--figures"]),
        (["--checkpoints", "{file}"], ["--checkpoints"]),
        (["--seed", "-1"], ["--seed"]),
    ],
    "pixel_swap_tradeoff": [
        (["--test-limit", "0"], ["--test-limit"]),
        (["--fractions", "-0.1"], ["--fractions"]),
        (["--fractions", "0", "1.5"], ["--fractions"]),
        (["--fractions", "0", "0.5", "0.2"], ["--fractions", "increasing"]),
        (["--pgd-limit", "0"], ["--pgd-limit"]),
        (["--pgd-limit", "-5"], ["--pgd-limit"]),
        (["--pgd-limit", "2000"], ["--pgd-limit", "--test-limit"]),
        (["--eps", "0", "-8"], ["--eps", "'-8'"]),
        (["--eps", "0", "300"], ["--eps", "'300'"]),
        (["--eps", "0", "16", "8"], ["--eps", "increasing"]),
        (["--pgd-steps", "0"], ["--pgd-steps"]),
        (["--figures", "{file}"], ["--figures"]),
        (["--checkpoints", "{file}"], ["--checkpoints"]),
        (["--seed", "-1"], ["--seed"]),
    ],
    "cifar_filters": [
        (["--zero-tol", "-1"], ["--zero-tol"]),
        (["--zero-tol", "nan"], ["--zero-tol"]),
        (["--zero-tol", "5"], ["--zero-tol"]),
        (["--zero-tol", "inf"], ["--zero-tol"]),
        (["--zero-tol", "0"], ["--zero-tol"]),
        (["--figures", "{file}"], ["--figures"]),
        (["--checkpoints", "{file}"], ["--checkpoints"]),
        (["--seed", "-1"], ["--seed"]),
    ],
    "fooling_images": [
        (["--train-limit", "0"], ["--train-limit"]),
        (["--epochs", "0"], ["--epochs"]),
        (["--weight-decay", "-1"], ["--weight-decay"]),
        (["--name", ""], ["--name"]),
        (["--name", "."], ["--name"]),
        (["--name", "../escaped"], ["--name", "'../escaped'"]),
        (["--name", "sub/dir/x"], ["--name"]),
        (["--nf", "0"], ["--nf"]),
        (["--per-class", "0"], ["--per-class"]),
        (["--eps", "-8"], ["--eps", "'-8'"]),
        (["--eps", "300"], ["--eps", "'300'"]),
        (["--eps", "16", "8"], ["--eps", "increasing"]),
        (["--sweep-per-class", "0"], ["--sweep-per-class"]),
        (["--figures", "{file}"], ["--figures"]),
        (["--checkpoints", "{file}"], ["--checkpoints"]),
        (["--seed", "-1"], ["--seed"]),
    ],
    "random_labels": [
        (["--train-limit", "0"], ["--train-limit"]),
        (["--epochs", "0"], ["--epochs"]),
        (["--batch-size", "0"], ["--batch-size"]),
        (["--lr", "0"], ["--lr"]),
        (["--lr", "-1"], ["--lr"]),
        (["--weight-decay", "-1"], ["--weight-decay"]),
        (["--eps", "-0.1"], ["--eps", "'-0.1'"]),
        (["--eps", "8"], ["--eps", "'8'"]),
        (["--attack", "fgsm", "--alpha", "-5"], ["--alpha"]),
        (["--attack", "fgsm", "--steps", "-5"], ["--steps"]),
        (["--attack", "pgd", "--steps", "0"], ["--steps"]),
        (["--steps", "10"], ["--steps", "--attack pgd"]),  # FGSM, the default, has no steps
        (["--attack", "fgsm", "--alpha", "0.01"], ["--alpha", "--attack pgd"]),
        (["--nf", "0"], ["--nf"]),
        (["--figures", "{file}"], ["--figures"]),
        (["--seed", "-1"], ["--seed"]),
    ],
    "fault_tolerance": [
        (["--train-limit", "0"], ["--train-limit"]),
        (["--train-limit", "1"], ["--train-limit"]),  # the per-pixel std needs two images
        (["--test-limit", "-5"], ["--test-limit"]),
        (["--epochs", "0"], ["--epochs"]),
        (["--lr", "0"], ["--lr"]),
        (["--momentum", "-0.1"], ["--momentum"]),
        (["--momentum", "1"], ["--momentum"]),
        (["--nf", "0"], ["--nf"]),
        (["--steps", "0"], ["--steps"]),
        (["--steps", "-3"], ["--steps"]),
        (["--record-every", "0"], ["--record-every"]),
        (["--record-every", "-1"], ["--record-every"]),
        (["--record-every", "100"], ["--record-every", "--steps"]),
        (["--paper", "--steps", "2"], ["--record-every 25 (the --paper preset's"]),
        (["--paper", "--steps", "10"], ["--record-every", "--steps"]),  # 25 of --paper > 10
        (["--sigma", "0"], ["--sigma"]),
        (["--sigma", "0.1", "nan"], ["--sigma"]),
        (["--sigma", "1", "0.1"], ["--sigma", "increasing"]),
        (["--figures", "{file}"], ["--figures"]),
        (["--seed", "-1"], ["--seed"]),
    ],
}


@pytest.mark.parametrize("name, flags, shown", [
    pytest.param(name, flags, shown, id=f"{name} {' '.join(flags)}")
    for name, cases in BAD.items() for flags, shown in cases])
def test_a_bad_flag_is_refused_when_read(name, flags, shown, script, tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    flags = [flag.replace("{file}", str(tmp_path / "a_file")) for flag in flags]
    err = refused(script(name), flags, capsys)
    assert "usage:" in err
    for text in shown:
        assert text in err


@pytest.mark.parametrize("name", list(BAD))
def test_the_default_flags_pass_every_check(name, script, capsys):
    with pytest.raises(Parsed):  # reached the data (or the models): nothing refused
        script(name).main([])
    with pytest.raises(SystemExit) as stop:
        script(name).main(["--help"])
    assert stop.value.code == 0 and "usage:" in capsys.readouterr().out


@pytest.mark.parametrize("name, flags, limits", [
    ("train_cifar_cnn", ["--paper"], [None, None]),
    ("train_cifar_cnn", ["--paper", "--train-limit", "100"], [100, None]),
    ("cifar_robustness", [], [500]),
    ("cifar_robustness", ["--paper"], [1000]),
    ("cifar_robustness", ["--paper", "--test-limit", "50"], [50]),
    ("fault_tolerance", ["--paper"], [None]),
    ("fault_tolerance", ["--paper", "--train-limit", "70", "--steps", "40"], [70]),
])
def test_paper_sizes_are_defaults_that_explicit_flags_override(name, flags, limits, script):
    with pytest.raises(Parsed) as parsed:
        script(name).main(flags)
    assert parsed.value.args[1]["limit"] == limits[0]


@pytest.mark.parametrize("flags", [[], ["--labels", "true", "--step", "quarter"]])
def test_robustness_evaluation_defaults_to_the_papers_pgd(monkeypatch, tmp_path, flags):
    """REFERENCES.md §8 and the paper's code (cifar10_attack.py --sweep): FGSM, and PGD of 20
    steps of 2/255 at every ε from a random start, both aimed at the model's own predictions
    (CleverHans called without labels), accuracy against the true labels; ``--labels true
    --step quarter``: the true labels and α = ε/4. Every attack call is recorded, the sweep's
    and the example grid's."""
    module = load_script("cifar_robustness")
    model = ta.mlp([784, 10], seed=0).eval()
    monkeypatch.setattr(module, "load_trained", lambda *args: {"CNN-L2": model, "CNN": model})
    calls = []
    for name in ("fgsm", "pgd"):
        monkeypatch.setattr(module.ta, name, lambda model, x, y, name=name, **kwargs:
                            calls.append((name, y, kwargs)) or x)
    module.main(["--test-limit", "8", "--examples", "2", "--eps", "0", "8", "24",
                 "--example-eps", "24", "--figures", str(tmp_path)] + flags)
    true_labels = bool(flags)
    assert {name for name, _, _ in calls} == {"fgsm", "pgd"}
    assert all((y is not None) == true_labels for _, y, _ in calls)
    for name, _, kwargs in calls:
        if name == "pgd":
            expected = kwargs["eps"] / 4 if true_labels else 2 / 255
            assert kwargs["steps"] == 20 and kwargs["alpha"] == pytest.approx(expected)
            assert kwargs.get("random_start", True)
    assert {kwargs["eps"] for name, _, kwargs in calls if name == "pgd"} >= {8 / 255, 24 / 255}


# ---- train_cifar_cnn: checkpoints are resumed only with the settings they were trained with --

@pytest.fixture
def recorded(monkeypatch, tmp_path):
    """train_cifar_cnn run up to its first training step (data loaded, settings recorded)."""
    module = load_script("train_cifar_cnn")
    tiny = lambda data, split, limit=None: ta.data.load_dataset(data, split, limit=8)  # noqa: E731
    monkeypatch.setattr(module, "load_dataset", tiny)
    monkeypatch.setattr(module, "train_one", stand_in)
    folder = tmp_path / "checkpoints"
    with pytest.raises(Parsed):
        module.main(["--checkpoints", str(folder)])
    (folder / "cifar_cnn_clean.ckpt.npz").write_bytes(b"")  # (a first epoch's checkpoint)
    return module, folder


def test_adversarial_training_defaults_to_madry_cifar_pgd(recorded):
    """REFERENCES.md §8 and §9 (Madry et al. 2018 on CIFAR-10): the training PGD is L∞ with
    ε = 8/255, step 2/255 and 7 iterations by default."""
    _, folder = recorded
    settings = json.loads((folder / "cifar_cnn_settings.json").read_text())
    assert (settings["eps"], settings["alpha"], settings["steps"]) == (8 / 255, 2 / 255, 7)


def test_training_records_its_settings_beside_the_checkpoints(recorded):
    module, folder = recorded
    settings = json.loads((folder / "cifar_cnn_settings.json").read_text())
    assert settings["eps"] == 8 / 255 and settings["lr"] == 1e-3 and settings["seed"] == 0
    assert settings["adv_epochs"] == 3 and settings["train_limit"] == 20000
    with pytest.raises(Parsed):  # the same command resumes
        module.main(["--checkpoints", str(folder)])
    with pytest.raises(Parsed):  # more adversarial epochs train on
        module.main(["--checkpoints", str(folder), "--adv-epochs", "5"])
    assert json.loads((folder / "cifar_cnn_settings.json").read_text())["adv_epochs"] == 5


@pytest.mark.parametrize("flags, shown", [
    (["--eps", "0.05"], ["--eps 0.03137254901960784", "--eps 0.05"]),
    (["--lr", "0.01"], ["--lr 0.001", "--lr 0.01"]),
    (["--seed", "1"], ["--seed 0", "--seed 1"]),
    (["--seed", "1", "--alpha", "0.1"], ["--alpha", "--seed 1"]),
    (["--clean-epochs", "4"], ["--clean-epochs 10", "--clean-epochs 4"]),
    (["--adv-epochs", "1"], ["--adv-epochs 3", "--adv-epochs 1"]),
    (["--data", "mnist"], ["--data mini-mnist", "--data mnist"]),
])
def test_resuming_with_other_settings_is_refused(recorded, flags, shown, capsys):
    module, folder = recorded
    err = refused(module, ["--checkpoints", str(folder)] + flags, capsys)
    assert "cifar_cnn_settings.json" in err and "another --checkpoints folder" in err
    for text in shown:
        assert text in err


def test_settings_of_a_run_that_saved_nothing_bind_nothing(recorded, capsys):
    """A run that failed before its first checkpoint (--lr 1e39 is beyond float32) had recorded
    its settings, and the corrected command was refused, the folder holding no checkpoint."""
    module, folder = recorded
    (folder / "cifar_cnn_clean.ckpt.npz").unlink()
    with pytest.raises(Parsed):
        module.main(["--checkpoints", str(folder), "--lr", "0.01"])
    assert json.loads((folder / "cifar_cnn_settings.json").read_text())["lr"] == 0.01
    for name in ("cifar_cnn_l2_adv.ckpt.npz", "cifar_cnn.npz"):  # any of its files binds them
        (folder / name).write_bytes(b"")
        assert "another --checkpoints folder" in refused(module, ["--checkpoints", str(folder)],
                                                         capsys)
        (folder / name).unlink()


# ---- fooling_images: no ε sweep, no ε figure ---------------------------------------------------

def test_fooling_images_without_eps_writes_no_eps_figure(tmp_path, capsys):
    for stem in ("cifar_cnn", "cifar_cnn_l2"):
        ta.cleverhans_cnn(in_channels=1, nf=4, image_size=28, seed=1).save(tmp_path / f"{stem}.npz")
    out = load_script("fooling_images").main([
        "--checkpoints", str(tmp_path), "--per-class", "1", "--eps", "--figures", str(tmp_path),
        "--name", "fool"])
    assert (tmp_path / "fool.png").exists() and not (tmp_path / "fool_eps.png").exists()
    assert out["sweep"] == {} and np.isfinite(out["cross_margin"])
    assert "so no fool_eps.png" in capsys.readouterr().out
