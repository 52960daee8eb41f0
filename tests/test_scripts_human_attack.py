"""Tests of scripts/human_attack.py: the window's logic without a window (toggle, automatic step,
click position, session keys), the window's event wiring under Agg, save/load of the model, and
headless demo runs on the bundled mini-MNIST."""

import argparse
import os
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.backend_bases import KeyEvent, MouseEvent

import tinyadv as ta

from script_loading import SCRIPTS, load_script


H = load_script("human_attack")


def linear_model(seed=0, size=4):
    """Logistic regression on (1, size, size) images with random weights, bias 0."""
    model = ta.logistic_regression(size * size, seed=seed)
    model["fc"].params["bias"].data[...] = 0
    return model.eval()


def session(seed=0):
    rng = np.random.default_rng(seed)
    images = (rng.random((3, 1, 4, 4)) > 0.5).astype(np.float32)
    return H.ToggleSession(linear_model(seed), images, np.array([1, 0, 1]), ("7", "3"))


def test_toggle_switches_one_pixel_in_a_copy():
    x = np.array([[[0.0, 0.75], [0.25, 1.0]]], dtype=np.float32)
    y = H.toggle(x, 0, 1)
    np.testing.assert_array_equal(y, [[[0.0, 0.0], [0.25, 1.0]]])
    np.testing.assert_array_equal(H.toggle(y, 1, 0), [[[0.0, 0.0], [1.0, 1.0]]])
    assert x[0, 0, 1] == np.float32(0.75) and y.dtype == x.dtype
    np.testing.assert_array_equal(H.toggle(H.toggle(y, 0, 0), 0, 0), y)    # 0/1 pixels: an involution


def test_toggle_rejects_a_pixel_outside_the_image():
    with pytest.raises(ValueError, match="outside the 2×2 image"):
        H.toggle(np.zeros((1, 2, 2)), 2, 0)


def test_pixel_at_rounds_to_the_pixel_centre_and_ignores_outside_clicks():
    assert H.pixel_at(2.4, 0.6, (28, 28)) == (1, 2)
    assert H.pixel_at(-0.49, 27.49, (28, 28)) == (27, 0)
    assert H.pixel_at(-0.51, 3, (28, 28)) is None
    assert H.pixel_at(3, 27.6, (28, 28)) is None
    assert H.pixel_at(None, 3, (28, 28)) is None


def test_auto_step_toggles_the_most_negative_weight_on_a_blank_three():
    """Label 3 (1) on a blank image: the gain of pixel j is (1 − σ)·max(−w_j, 0), so the step
    turns on the pixel with the most negative weight, and nothing else."""
    model = linear_model(3)
    w = model["fc"].params["weight"].data.ravel()
    x = np.zeros((1, 1, 4, 4), dtype=np.float32)
    x_new, moved = H.auto_step(model, x, np.array([1]))
    assert moved[0] and np.count_nonzero(x_new) == 1
    assert x_new.ravel()[np.argmin(w)] == 1


def test_auto_step_reports_no_move_when_no_pixel_helps():
    """A model with w = 0 has no gradient: no pixel has a positive gain."""
    model = linear_model()
    model["fc"].params["weight"].data[...] = 0
    x = np.full((2, 1, 4, 4), 0.5, dtype=np.float32)
    x_new, moved = H.auto_step(model, x, np.array([1, 0]))
    assert not moved.any()
    np.testing.assert_array_equal(x_new, x)


@given(st.integers(0, 2**31 - 1))
def test_toggle_sequence_lowers_the_true_probability_at_every_step_of_a_linear_model(seed):
    """For logistic regression the gradient is (σ − y)·w: its sign pattern never changes, so
    every automatic toggle moves z against the label and p(label) never rises."""
    rng = np.random.default_rng(seed)
    model = linear_model(seed)
    x = rng.random((3, 1, 4, 4)).astype(np.float32)
    y = np.array([0, 1, 1])
    frames, probs = H.toggle_sequence(model, x, y, 5)
    assert frames.shape == (6, 3, 1, 4, 4) and probs.shape == (6, 3, 2)
    np.testing.assert_allclose(probs.sum(axis=2), 1.0)
    true = probs[:, np.arange(3), y]
    assert np.all(np.diff(true, axis=0) <= 1e-6)
    changed = np.count_nonzero((frames[1:] != frames[:-1]).reshape(5, 3, -1), axis=2)
    assert np.all(changed <= 1)


def test_toggles_to_flip():
    probs = np.array([[[0.2, 0.8], [0.9, 0.1]],
                      [[0.6, 0.4], [0.8, 0.2]],
                      [[0.7, 0.3], [0.6, 0.4]]])      # (steps + 1, N, K)
    np.testing.assert_array_equal(H.toggles_to_flip(probs, np.array([1, 0])), [1, -1])


def test_session_click_reset_next_and_keys():
    s = session()
    original = s.current.copy()
    s.click(1, 2)
    assert s.current[0, 1, 2] == 1 - original[0, 1, 2] and s.toggles == [("human", 1, 2)]
    assert s.key("r") == "redraw"
    np.testing.assert_array_equal(s.current, original)
    assert s.toggles == []
    before_logit = s.model.logits(s.current[None])[0, 0]
    assert s.key("a") == "redraw"
    assert len(s.toggles) == 1 and s.toggles[0][0] == "auto"
    assert np.count_nonzero(s.current != original) == 1
    assert s.model.logits(s.current[None])[0, 0] < before_logit      # label 3: z goes down
    predicted, confidence = s.prediction()
    assert predicted in (0, 1) and 0.5 <= confidence <= 1
    np.testing.assert_allclose(s.probabilities().sum(), 1.0)
    for expected in (1, 2, 0):
        assert s.key("n") == "redraw" and s.index == expected and s.toggles == []
    assert s.key("q") == "quit"
    assert s.key("x") is None


def test_window_events_reach_the_session():
    """Under Agg: a click on a pixel toggles it, 'a' steps, 'r' resets, 'q' closes the figure."""
    s = session(1)
    fig = H.build_window(s)
    ax = fig.axes[0]
    original = s.current.copy()
    x_px, y_px = ax.transData.transform((2.1, 3.2))        # column 2, row 3
    fig.canvas.callbacks.process("button_press_event",
                                 MouseEvent("button_press_event", fig.canvas, x_px, y_px, button=1))
    assert s.current[0, 3, 2] == 1 - original[0, 3, 2]
    assert "1 toggles" in ax.get_title()
    fig.canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", fig.canvas, "a"))
    assert len(s.toggles) == 2 and "2 toggles" in ax.get_title()
    fig.canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", fig.canvas, "r"))
    np.testing.assert_array_equal(s.current, original)
    fig.canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", fig.canvas, "q"))
    assert not plt.fignum_exists(fig.number)


def test_demo_smoke_run_with_save_and_load(tmp_path, capsys):
    """Headless demo on mini-MNIST 3 vs 7: figure written, table printed, toggles lower p(label);
    the saved model loads with --model and gives the same clean accuracy."""
    out, saved = tmp_path / "human_attack.png", tmp_path / "model.npz"
    common = ["--demo", "--limit", "300", "--steps", "12", "--digits", "2", "--eval-digits", "30"]
    summary = H.main(common + ["--epochs", "3", "--save", str(saved), "--out", str(out)])
    assert out.stat().st_size > 10_000 and saved.exists()
    text = capsys.readouterr().out
    assert "median toggles to flip" in text
    assert summary["digits"] > 10 and summary["confidence"] >= 0.5
    assert summary["accuracy"] < 1.0                # 12 toggles flip some correct digits
    loaded = H.main(common + ["--model", str(saved), "--out", str(tmp_path / "again.png")])
    assert loaded == summary
    first, second = (line for line in capsys.readouterr().out.splitlines() + text.splitlines()
                     if "clean test accuracy" in line)
    assert first == second


def test_demo_smoke_run_with_a_small_cnn(tmp_path, capsys):
    out = tmp_path / "cnn.png"
    summary = H.main(["--demo", "--model-kind", "cnn", "--nf", "4", "--limit", "300", "--epochs", "1",
                      "--steps", "3", "--digits", "2", "--eval-digits", "10", "--out", str(out)])
    assert out.stat().st_size > 10_000
    assert 0.0 <= summary["accuracy"] <= 1.0 and summary["digits"] >= 2
    # §7's number is the 3-vs-7 logistic model's: the CNN's table sets chance beside its own
    text = capsys.readouterr().out
    assert str(H.PAPER_L0_ACCURACY) not in text and "no paper number: chance" in text
    assert text.splitlines()[-2].endswith("| accuracy 0.100")


def test_the_demo_with_no_correctly_classified_digit_says_so():
    """It crashed in auto_step on an empty batch (a weak model, or one of other data)."""
    model = ta.logistic_regression(784, seed=0)
    x = np.zeros((3, 1, 28, 28), np.float32)
    y = 1 - model.predict(x)  # every digit misclassified
    args = argparse.Namespace(digits=2, eval_digits=3, steps=2, model_kind="logistic", nf=4,
                              data="mini-mnist", out="unused.png")
    with pytest.raises(SystemExit, match="classifies none of the 3 test digits correctly"):
        H.run_demo(model, x, y, ["7", "3"], args)


def test_a_model_of_other_images_is_refused_by_name(tmp_path):
    """A CNN of CIFAR's images given for MNIST's digits (the logit counts agree) failed deep in
    accuracy() with a channel mismatch."""
    path = tmp_path / "cifar.npz"
    ta.cleverhans_cnn(in_channels=3, nf=2, seed=0).save(path)
    with pytest.raises(SystemExit, match=r"--model does not take mini-mnist images \(1, 28, 28\)"):
        H.main(["--demo", "--model-kind", "cnn", "--model", str(path), "--limit", "50",
                "--out", str(tmp_path / "h.png")])


def test_the_demo_figure_names_the_filters_of_a_loaded_cnn(tmp_path, monkeypatch):
    """The title read --nf's default (8) for a --model CNN of 4 filters ('CNN nf=8')."""
    path = tmp_path / "cnn4.npz"
    ta.cleverhans_cnn(in_channels=1, image_size=28, nf=4, bias=True, seed=0).save(path)
    titles = []
    monkeypatch.setattr(H, "plot_demo", lambda *args: titles.append(args[-1]))
    model = ta.load(path)
    x = np.zeros((2, 1, 28, 28), np.float32)
    args = argparse.Namespace(digits=1, eval_digits=1, steps=1, model_kind="cnn", nf=8,
                              data="mini-mnist", out=str(tmp_path / "h.png"))
    H.run_demo(model, x, model.predict(x), [str(k) for k in range(10)], args)
    assert "CNN nf=4," in titles[0] and "nf=8" not in titles[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="a display is found without DISPLAY off Linux: the window would open")
def test_the_window_without_a_display_stops_before_training_even_when_a_backend_was_asked_for():
    # MPLBACKEND=TkAgg without a display: pyplot falls back to Agg, so the script used to train,
    # open no window and exit 0; it names the missing display at once now
    env = {name: value for name, value in os.environ.items() if name not in ("DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run([sys.executable, str(SCRIPTS / "human_attack.py"), "--limit", "100"],
                          capture_output=True, text=True, timeout=300, env={**env, "MPLBACKEND": "TkAgg"})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no display for the window" in done.stderr and "use --demo" in done.stderr
    assert "accuracy" not in done.stdout  # (nothing was trained)
