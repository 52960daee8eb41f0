"""Smoke tests of fooling_images.py, fault_tolerance.py and random_labels.py on the bundled mini-MNIST.

Each script runs at a tiny size (a few hundred digits, one or two epochs, a narrow CNN) and must
write its figures, print its table next to the paper's numbers, and show the directions that a
tiny run already decides. (I(T;Y) and SNR are tested in
test_evaluate.py, the label permutation in test_train.py.)
"""


import numpy as np
import pytest

import tinyadv as ta

from script_loading import load_script


fault = load_script("fault_tolerance")
random_labels = load_script("random_labels")


# ---- fooling_images.py -------------------------------------------------------------------------

def test_fooling_images_writes_grid_and_table_and_succeeds_more_with_a_larger_bound(tmp_path, capsys):
    out = load_script("fooling_images").main([
        "--train-limit", "200", "--epochs", "1", "--nf", "4", "--per-class", "1",
        "--eps", "1", "64", "--sweep-per-class", "1", "--figures", str(tmp_path)])
    for figure in ("fooling_images.png", "fooling_images_eps.png"):
        assert (tmp_path / figure).stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "mean margin only 0.28" in printed and "≈ 0.98 near ε ≈ 25/255" in printed
    assert "no SVHN on this machine" not in printed or "mini-mnist" in printed
    for results in (out["cifar"], out["svhn"]):
        for result in results.values():
            assert result.images.shape == (10, 1, 28, 28)
            hit = result.success  # the target is top-1 there, so margin = p_t − p₍₂₎ ≤ p_t
            assert np.all(result.margin[hit] <= result.confidence[hit] + 1e-12)
            assert np.all((result.margin >= 0) & (result.margin <= 1) & (result.confidence <= 1))
    for result in out["cifar"].values():  # the CIFAR protocol clips to [0, 1]
        assert result.images.min() >= 0 and result.images.max() <= 1
    for name, rows in out["sweep"].items():
        # 50 steps of 0.005 go 0.25 at most: ε = 1/255 holds the images near grey, 64/255 does not.
        assert rows[1, 0] >= rows[0, 0] and rows[1, 2] > rows[0, 2], name


def test_fooling_images_reads_models_from_checkpoints(tmp_path, capsys):
    for stem in ("cifar_cnn", "cifar_cnn_l2"):
        ta.cleverhans_cnn(in_channels=1, nf=4, image_size=28, seed=1).save(tmp_path / f"{stem}.npz")
    load_script("fooling_images").main([
        "--checkpoints", str(tmp_path), "--per-class", "1", "--eps", "--figures", str(tmp_path)])
    printed = capsys.readouterr().out
    assert printed.count("read ") == 2 and "not used" not in printed
    assert (tmp_path / "fooling_images.png").exists()
    load_script("fooling_images").main([  # training flags given for models it reads: said so
        "--checkpoints", str(tmp_path), "--per-class", "1", "--eps", "--figures", str(tmp_path),
        "--epochs", "3", "--nf", "8"])
    assert capsys.readouterr().out.count("--epochs, --nf not used for it") == 2
    for stem in ("cifar_cnn", "cifar_cnn_l2"):  # models of CIFAR's images, given MNIST's: said so
        ta.cleverhans_cnn(in_channels=3, nf=4, seed=1).save(tmp_path / f"{stem}.npz")
    with pytest.raises(SystemExit, match=r"does not take mini-mnist images \(1, 28, 28\)"):
        load_script("fooling_images").main(["--checkpoints", str(tmp_path), "--per-class", "1",
                                            "--eps", "--figures", str(tmp_path)])


# ---- fault_tolerance.py ------------------------------------------------------------------------

def test_fault_tolerance_figure_table_and_directions(tmp_path, capsys):
    # enough training for accuracies well above chance (about 0.75), so that the directions mean
    # something: a model near chance may gain a digit or two under a one-target attack
    out = fault.main(["--train-limit", "2000", "--test-limit", "100", "--epochs", "4", "--nf", "8",
                      "--steps", "10", "--record-every", "5", "--sigma", "0.1", "10",
                      "--figures", str(tmp_path)])
    assert (tmp_path / "fault_tolerance.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "≈ 2.50 bits at 90%" in printed and "≈ 0.75" in printed and "greyscale" in printed
    assert 3.0 < out["entropy"] <= np.log2(10)  # ten digit classes, roughly balanced
    for name, result in out["results"].items():
        clean_mi, clean_acc = result["clean"]
        awgn = np.asarray(result["curves"]["AWGN"])
        assert awgn[0, 0] > awgn[-1, 0]            # larger σ, lower SNR
        assert awgn[-1, 2] < clean_acc            # σ = 10 on standardised digits hurts
        for attack in ("BIM-L2", "BIM-L∞", "BIM-L2 one-target", "BIM-L∞ one-target"):
            rows = np.asarray(result["curves"][attack])
            assert rows.shape == (2, 3) and rows[0, 0] > rows[1, 0], attack  # SNR falls
            assert rows[-1, 2] <= clean_acc, attack


# ---- random_labels.py --------------------------------------------------------------------------

def test_random_labels_figure_and_table(tmp_path, capsys):
    out = random_labels.main(["--train-limit", "128", "--epochs", "2", "--nf", "4",
                              "--batch-size", "64", "--figures", str(tmp_path)])
    assert (tmp_path / "random_labels.png").stat().st_size > 10_000
    printed = capsys.readouterr().out
    assert "chance" in printed and "does not learn random labels" in printed
    assert set(out["curves"]) == {"natural", "weight decay", "adversarial"}
    assert 0.1 <= out["chance"] < 0.3
    for curve in out["curves"].values():
        assert curve.shape == (2,) and np.all((curve >= 0) & (curve <= 1))
