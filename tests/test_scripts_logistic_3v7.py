"""Tests of scripts/logistic_3v7.py: its helpers (expert weights, binarization, the reference
code's minibatch quirk, §7's L0 attack and how it relates to ta.pixel_attack) and a smoke run on
the bundled mini-MNIST."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyadv as ta

from script_loading import load_script


L = load_script("logistic_3v7")


def table_rows(text):
    """{model: [clean, fgsm, distance, w_norm, seconds]} from the printed main table."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) == 6 and cells[0] in L.MODELS:
            rows[cells[0]] = [float(c.split()[0]) for c in cells[1:]]
    return rows


def test_expert_weights_are_mean_three_minus_mean_seven():
    x = np.zeros((4, 1, 2, 2), dtype=np.float32)
    x[0, 0, 0, 0] = 1.0     # a "3" with the top-left pixel on
    x[1, 0, 0, 0] = 0.5     # a "3" with it half on
    x[2, 0, 1, 1] = 1.0     # a "7" with the bottom-right pixel on
    y = np.array([1, 1, 0, 0])
    np.testing.assert_allclose(L.expert_weights(x, y), [0.75, 0, 0, -0.5])


@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=50))
def test_binarize_keeps_signs_and_the_mean_magnitude(values):
    w = np.array(values)
    b = L.binarize(w)
    np.testing.assert_array_equal(np.sign(b), np.sign(w))
    np.testing.assert_allclose(np.abs(b[w != 0]), np.mean(np.abs(w)))


def test_paper_protocol_takes_every_step_in_training_mode(monkeypatch):
    """train_step wants the model in training mode; the adversarial hook attacks in evaluation
    mode, and fit switches back, so the paper protocol's own loop must do it too."""
    modes, step = [], ta.train_step

    def recording_step(model, *args, **kwargs):
        modes.append(model.training)
        return step(model, *args, **kwargs)

    monkeypatch.setattr(L.ta, "train_step", recording_step)
    args = L.parse_args(["--paper-protocol", "--paper-steps", "3"])
    x = np.random.default_rng(0).random((300, 1, 28, 28), dtype=np.float32)
    y = np.arange(300) % 2
    model = L.paper_model(784, 0)
    L.train(model, x, y, args, steps=3, adversarial=True)
    assert modes == [True, True, True] and not model.training


def test_paper_batches_only_ever_cover_the_first_214_images():
    """§7's quirk: s = (step·128) mod (⌊N/128⌋ − 1); for N = 11,300 (3s and 7s of TensorFlow's
    55k training split) that is at most 86, so images 0..213."""
    starts = L.paper_batch_starts(11_300, 128, 50_000)
    assert starts.min() == 0 and starts.max() + 128 == 214
    np.testing.assert_array_equal(np.unique(starts), np.arange(87))


def test_the_paper_protocols_table_names_the_digits_its_batches_covered(capsys):
    """Its heading said "≈214 images" whatever --paper-steps and --limit made of it."""
    args = L.parse_args(["--paper-protocol", "--paper-steps", "3"])
    args.paper_digits = 132  # (what main works out and prints on the line before)
    L.print_table({}, args)
    heading = capsys.readouterr().out.splitlines()[0]
    assert "the first 132 digits" in heading and "214" not in heading


@pytest.mark.parametrize("eps", ["0.25", "0.1"])
def test_the_tables_paper_fgsm_numbers_are_shown_only_at_their_eps(capsys, eps):
    """The papers' FGSM accuracies and distances (and the ε = 0.25-trained adversarial model's
    norm) were printed beside tinyadv's at any --eps."""
    row = dict(clean=0.98, fgsm=0.5, distance=1.0, w_norm=2.0, seconds=1.0)
    L.print_table({"natural": row, "expert": row, "adversarial": row}, L.parse_args(["--eps", eps]))
    lines = {line.split("|")[0].strip(): line for line in capsys.readouterr().out.splitlines()}
    shown = eps == "0.25"
    assert ("0.0100)" in lines["natural"]) == shown and ("4.92)" in lines["expert"]) == shown
    assert ("1.97)" in lines["adversarial"]) == shown
    assert "0.9840)" in lines["natural"] and "7.17)" in lines["natural"]  # clean acc, ‖w‖₂: any ε


def test_weight_pixel_attack_sets_the_extreme_weight_pixels_to_one():
    w = np.array([0.5, -2.0, 0.1, 3.0, -0.2, 0.0])
    x = np.full((2, 1, 2, 3), 0.3, dtype=np.float32)
    x_adv = L.weight_pixel_attack(w, x, 2)
    assert x_adv.dtype == x.dtype and x.max() == np.float32(0.3)      # input untouched
    expected = np.array([1, 1, 0.3, 1, 1, 0.3], dtype=np.float32)    # 3.0, 0.5 and -2.0, -0.2
    np.testing.assert_array_equal(x_adv.reshape(2, -1), np.tile(expected, (2, 1)))
    np.testing.assert_array_equal(L.weight_pixel_attack(w, x, 0), x)


def test_weight_pixel_attack_rejects_bad_i():
    w, x = np.arange(4.0), np.zeros((1, 1, 2, 2))
    with pytest.raises(ValueError, match="only 4"):
        L.weight_pixel_attack(w, x, 3)
    with pytest.raises(ValueError, match="i must be >= 0"):
        L.weight_pixel_attack(w, x, -1)
    with pytest.raises(TypeError, match="i must be an integer"):
        L.weight_pixel_attack(w, x, 1.5)


@given(st.integers(0, 2**31 - 1), st.integers(1, 8))
def test_pixel_attack_on_a_blank_three_is_the_negative_half_of_the_weight_attack(seed, i):
    """On a blank image labelled 3 every gain is w_j < 0 times (1 − 0): ta.pixel_attack with
    k = i turns on the i most negative weight pixels, the "7" half of §7's attack (the other
    half, the most positive pixels, would help the 3)."""
    model = L.paper_model(16, seed)
    w = L.weights_of(model)
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)
    greedy = ta.pixel_attack(model, x, np.array([1]), k=i).ravel()
    order = np.argsort(w, kind="stable")
    expected = np.zeros(16)
    expected[order[:i][w[order[:i]] < 0]] = 1
    np.testing.assert_array_equal(greedy, expected)


def test_smoke_run_on_mini_mnist(tmp_path, capsys):
    """Tiny run: every figure written, every model in the table, and the directions that are
    already decisive: the expert template resists FGSM better than the natural model and weight
    decay shrinks ‖w‖₂."""
    results = L.main(["--limit", "400", "--epochs", "3", "--max-pixels", "3", "--sweep-points", "6",
                      "--seed", "1", "--figures", str(tmp_path)])
    for kind in ("weights", "sweep", "candidates", "l0"):
        assert (tmp_path / f"logistic_3v7_{kind}.png").stat().st_size > 10_000
    rows = table_rows(capsys.readouterr().out)
    assert set(rows) == set(L.MODELS)
    for name, (clean, robust, distance, w_norm, _) in rows.items():
        assert 0.0 <= robust <= clean <= 1.0 and distance > 0 and w_norm > 0
        assert abs(clean - results[name]["clean"]) < 1e-4
    assert rows["expert"][0] > 0.8
    assert rows["expert"][1] > rows["natural"][1]
    assert rows["l2"][3] < rows["natural"][3]


def test_a_training_subset_of_one_class_is_refused_by_name(tmp_path):
    """The first training 3s and 7s of mini-MNIST are 7s: the expert initialisation, the mean
    3 minus the mean 7, needs both (it gave NaN weights and a traceback deep in fit)."""
    with pytest.raises(SystemExit, match="all 7s: the expert initialisation needs both classes"):
        L.main(["--limit", "1", "--epochs", "1", "--max-pixels", "1",
                "--sweep-points", "2", "--figures", str(tmp_path)])
