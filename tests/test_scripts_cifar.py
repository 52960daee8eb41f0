"""Smoke tests of the CIFAR-10 CNN scripts at a tiny size, on the bundled mini-MNIST.

train_cifar_cnn.py trains tiny CNN and CNN-L2 models once (module fixture); the four scripts
that read them run on a few hundred test images and must write their figures, print their
tables next to the paper's numbers, and show the directions that a tiny run already decides.
"""

import re
import shutil

import numpy as np
import pytest

import tinyadv as ta

from script_loading import load_script

TRAIN_ARGS = ["--train-limit", "256", "--test-limit", "200", "--clean-epochs", "1",
              "--adv-epochs", "1", "--steps", "2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Checkpoint folder with tiny trained models, and the rows train_cifar_cnn printed."""
    folder = tmp_path_factory.mktemp("checkpoints")
    rows = load_script("train_cifar_cnn").main(TRAIN_ARGS + ["--checkpoints", str(folder)])
    return folder, rows


def test_training_saves_both_models_and_resumes_from_its_checkpoints(trained, capsys):
    folder, rows = trained
    for stem in ("cifar_cnn", "cifar_cnn_l2"):
        assert (folder / f"{stem}.npz").exists()
        assert (folder / f"{stem}_clean.ckpt.npz").exists()
        assert (folder / f"{stem}_adv.ckpt.npz").exists()
        model = ta.load(folder / f"{stem}.npz")
        assert model.num_parameters() == 178_816  # 184,832 on CIFAR-10; fc has 64 inputs here
        assert "bias" not in dict(model.named_parameters())
    assert [r[0] for r in rows] == ["CNN", "CNN-L2"] and [r[1] for r in rows] == [0.0, 1e-3]
    assert all(0.15 < r[2] <= 1 for r in rows)  # one epoch of 256 digits is above chance
    # Running again finds every phase finished: nothing is retrained, the same models come back.
    again = load_script("train_cifar_cnn").main(TRAIN_ARGS + ["--checkpoints", str(folder)])
    assert [r[2] for r in again] == [r[2] for r in rows]
    printed = capsys.readouterr().out
    assert "clean test accuracy" in printed and "≈ 69–70%" in printed and "≈ 66–67%" in printed


@pytest.mark.parametrize("name", ["cifar_robustness", "cifar_filters", "noisy_examples",
                                  "pixel_swap_tradeoff"])
def test_missing_models_name_the_training_command(name, tmp_path):
    with pytest.raises(SystemExit, match="train_cifar_cnn.py --data mini-mnist"):
        load_script(name).main(["--checkpoints", str(tmp_path / "none"),
                                "--figures", str(tmp_path)])


def test_load_trained_reads_both_models_and_refuses_other_images(trained, tmp_path):
    folder, _ = trained
    load_trained = load_script("train_cifar_cnn").load_trained
    digits = np.zeros((2, 1, 28, 28), np.float32)
    models = load_trained(str(folder), "mini-mnist", digits, names=("CNN", "CNN-L2"))
    assert list(models) == ["CNN", "CNN-L2"] and not models["CNN"].training
    assert np.array_equal(models["CNN-L2"]["conv2"].params["weight"].data,
                          ta.load(folder / "cifar_cnn_l2.npz")["conv2"].params["weight"].data)
    # MNIST's images have mini-MNIST's shape: the settings recorded beside the models tell them
    # apart (the models were read without a word before)
    with pytest.raises(SystemExit, match=r"were trained on mini-mnist .*pass --data mini-mnist"):
        load_trained(str(folder), "mnist", digits)
    elsewhere = tmp_path / "elsewhere"  # (models without recorded settings: their shape decides)
    elsewhere.mkdir()
    for stem in ("cifar_cnn", "cifar_cnn_l2"):
        shutil.copy(folder / f"{stem}.npz", elsewhere)
    assert list(load_trained(str(elsewhere), "mnist", digits)) == ["CNN-L2", "CNN"]
    with pytest.raises(SystemExit, match=r"does not take cifar10 images \(3, 32, 32\).*"
                                         r"train_cifar_cnn.py --data cifar10"):
        load_trained(str(elsewhere), "cifar10", np.zeros((2, 3, 32, 32), np.float32))


def test_robustness_falls_with_eps(trained, tmp_path, capsys):
    folder, _ = trained
    curves = load_script("cifar_robustness").main([
        "--checkpoints", str(folder), "--figures", str(tmp_path), "--test-limit", "100",
        "--steps", "4", "--eps", "0", "8", "24", "64", "--example-eps", "64", "--examples", "4"])
    for figure in ("cifar_robustness.png", "cifar_adversarial_examples.png"):
        assert (tmp_path / figure).stat().st_size > 10_000
    for key in ("CNN-L2 PGD", "CNN-L2 FGSM", "CNN PGD", "CNN FGSM"):
        assert curves[key][-1] < curves[key][0]  # ε = 64/255 is below clean accuracy
    assert curves["CNN PGD"][0] == curves["CNN FGSM"][0]  # ε = 0: both are clean accuracy
    printed = capsys.readouterr().out  # the paper's ≈ 0.12 next to the ε nearest 25/255
    assert re.search(r"ε = 24/255 +\d\.\d{3}   ≈ 0\.12 at ε ≈ 25/255", printed)


def test_filters_report_frobenius_norms(trained, tmp_path, capsys):
    folder, _ = trained
    result = load_script("cifar_filters").main(["--checkpoints", str(folder),
                                                "--figures", str(tmp_path)])
    for figure in ("cifar_filters.png", "cifar_weight_norms.png"):
        assert (tmp_path / figure).stat().st_size > 10_000
    model = ta.load(folder / "cifar_cnn_l2.npz")
    weight = model["conv2"].params["weight"].data.astype(np.float64)
    assert result["norms"]["CNN-L2", "conv2"] == pytest.approx(np.sqrt(np.sum(weight ** 2)))
    assert all(0 <= count <= 32 for count in result["zero_filters"].values())
    printed = capsys.readouterr().out
    assert "59.0 / 8.1" in printed and "75.4 / 10.0" in printed


def test_noise_lowers_accuracy(trained, tmp_path):
    folder, _ = trained
    results = load_script("noisy_examples").main([
        "--checkpoints", str(folder), "--figures", str(tmp_path), "--test-limit", "200",
        "--sigma", "0", "0.3", "1.0", "--example-sigma", "1.0", "--examples", "4"])
    for figure in ("noisy_examples.png", "noisy_examples_grid.png"):
        assert (tmp_path / figure).stat().st_size > 10_000
    x, y = ta.data.load_dataset("mini-mnist", "test", limit=200)
    for name, stem in (("CNN", "cifar_cnn"), ("CNN-L2", "cifar_cnn_l2")):
        accuracy = results[name]["accuracy"]
        assert accuracy[0] == pytest.approx(ta.accuracy(ta.load(folder / f"{stem}.npz"), x, y))
        assert accuracy[-1] < accuracy[0]
        assert np.all((results[name]["confidence"] >= 0.1) & (results[name]["confidence"] <= 1))


def test_all_pixels_swapped_is_near_chance(trained, tmp_path, capsys):
    folder, _ = trained
    result = load_script("pixel_swap_tradeoff").main([
        "--checkpoints", str(folder), "--figures", str(tmp_path), "--test-limit", "300",
        "--fractions", "0", "0.2", "1.0", "--pgd-limit", "50", "--pgd-steps", "2",
        "--eps", "0", "32"])
    for figure in ("pixel_swap_tradeoff.png", "pixel_swap_examples.png"):
        assert (tmp_path / figure).stat().st_size > 10_000
    for name in ("CNN", "CNN-L2"):
        accuracy = result["swapped"][name]
        assert accuracy[0] > 0.2 and accuracy[-1] < 0.2 and accuracy[-1] < accuracy[0]
    printed = capsys.readouterr().out
    assert "≈ 0.64" in printed and "≈ 0.63" in printed
