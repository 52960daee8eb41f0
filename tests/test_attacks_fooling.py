"""Fooling images from both start distributions: targets reached, reports computed right."""

import numpy as np
import pytest

from attack_models import LinearModel, TwoLayerMLP
from fresh_process import outcome
from tinyadv.attacks import fooling_images
from tinyadv.losses import softmax


def _model(seed=0, k=4):
    return TwoLayerMLP(3 * 4 * 4, 16, k, seed=seed, scale=3.0)


def test_uniform_start_reaches_every_class_with_high_confidence():
    model = _model()
    result = fooling_images(model, (3, 4, 4), alpha=0.02, steps=50, per_class=2, seed=0)
    assert result.images.shape == (8, 3, 4, 4) and result.images.dtype == np.float32
    np.testing.assert_array_equal(result.targets, [0, 0, 1, 1, 2, 2, 3, 3])
    assert result.images.min() >= 0 and result.images.max() <= 1
    assert result.success.mean() >= 0.75
    p = softmax(model.logits(result.images).astype(np.float64))
    np.testing.assert_allclose(result.confidence, p[np.arange(8), result.targets], rtol=1e-6)
    top = np.sort(p, axis=1)
    np.testing.assert_allclose(result.margin, top[:, -1] - top[:, -2], rtol=1e-6)
    assert np.all(result.margin[result.success] > 0)


def test_uniform_start_distribution_and_zero_steps():
    result = fooling_images(_model(1), (3, 4, 4), steps=0, per_class=50, classes=[1], seed=3)
    assert result.images.min() >= 0.5 and result.images.max() <= 0.6
    assert abs(result.images.mean() - 0.55) < 0.005


def test_gaussian_start_with_l2_steps_and_no_box():
    model = _model(2)
    start_only = fooling_images(model, (3, 4, 4), start="gaussian", steps=0, per_class=100,
                                classes=[0], clip=None, seed=1)
    assert abs(start_only.images.std() - 0.1) < 0.005 and abs(start_only.images.mean()) < 0.005
    result = fooling_images(model, (3, 4, 4), start="gaussian", norm=2, alpha=0.1, steps=100,
                            clip=None, dtype=np.float64, seed=1)
    assert result.images.dtype == np.float64
    assert result.success.all() and np.all(result.confidence > 0.5)


def test_eps_bounds_the_distance_from_the_start_and_seed_repeats():
    model = _model(3)
    a = fooling_images(model, (3, 4, 4), alpha=0.01, steps=20, eps=0.03, seed=5)
    start = fooling_images(model, (3, 4, 4), steps=0, seed=5)
    assert np.all(np.abs(a.images - start.images) <= 0.03 + 1e-6)
    np.testing.assert_array_equal(a.images, fooling_images(model, (3, 4, 4), alpha=0.01, steps=20,
                                                           eps=0.03, seed=5).images)


def test_binary_model_has_two_classes():
    model = LinearModel(np.random.default_rng(0).normal(size=(1, 9)), [0.0])
    result = fooling_images(model, (1, 3, 3), alpha=0.05, steps=40)
    np.testing.assert_array_equal(result.targets, [0, 1])
    assert result.success.all()


def test_fooling_bad_input():
    model = _model()
    with pytest.raises(ValueError, match="start"):
        fooling_images(model, (3, 4, 4), start="pink")
    with pytest.raises(ValueError, match="classes"):
        fooling_images(model, (3, 4, 4), classes=[7])
    with pytest.raises(ValueError, match="start must have shape"):
        fooling_images(model, (3, 4, 4), start=np.zeros((2, 3, 4, 4)))


@pytest.mark.parametrize("options, message", [
    (dict(per_class=10 ** 30), "per_class must be < 2\\*\\*63, got 10{30}"),
    (dict(classes=[0, 1, 2], per_class=2 ** 62),
     r"per_class=4611686018427387904 for 3 classes of shape \(3, 4, 4\): the images would have "
     r"shape \(13835058055282163712, 3, 4, 4\), more than the 2\*\*63 - 1 bytes"),
    (dict(classes=[1], per_class=2 ** 58), r"per_class=288230376151711744 for 1 classes"),
])
def test_fooling_refuses_more_images_than_an_array_holds(options, message):
    """Before: OverflowError (10**30), "negative dimensions are not allowed" (3 · 2**62
    wrapped round in int64), "array is too big" (2**58 images of 48 values)."""
    with pytest.raises(ValueError, match=message):
        fooling_images(_model(), (3, 4, 4), **options)


def test_fooling_refuses_a_count_that_wraps_round_to_zero_in_a_fresh_process():
    """4 · 2**62 images wrap round to 0 in int64, and np.repeat crashed the process on them
    (a segmentation fault, NumPy 2.4): run where a crash fails this test, not the test run."""
    message = outcome("ta.fooling_images(ta.mlp([48, 4]), (3, 4, 4), per_class=2 ** 62)")
    assert message.startswith("ValueError: per_class=4611686018427387904 for 4 classes of shape "
                              "(3, 4, 4): the images would have shape "
                              "(18446744073709551616, 3, 4, 4)"), message


def test_a_model_in_training_mode_with_batchnorm_on_vectors():
    """"Used in whatever mode it is in": the class count was probed with one grey image, which
    a BatchNorm on vectors in training mode refuses ("needs more than one value per feature")."""
    from tinyadv import layers
    from tinyadv.models import Sequential
    model = Sequential(layers.Flatten(), layers.Linear(16, 8, seed=0), layers.BatchNorm(8),
                       layers.ReLU(), layers.Linear(8, 3, seed=1))
    assert model.training
    result = fooling_images(model, (1, 4, 4), steps=3, seed=0)
    np.testing.assert_array_equal(result.targets, [0, 1, 2])
    assert np.all(np.isfinite(result.images)) and np.all(np.isfinite(result.confidence))
