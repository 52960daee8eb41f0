"""One table runs every attack on tinyadv's own models: the contract holds for all of them.

Every attack must return a batch shaped like x, in x's dtype, inside the pixel box, and (for the
norm-bounded ones) inside the ε-ball; and on tinyadv's logistic regression the minimal-
perturbation attacks must agree with the closed form of ``tinyadv.theory``.
"""

import numpy as np
import pytest

from tinyadv.attacks import (cw_l2, deepfool, fgm, gaussian_noise, lp_norm, pgd, pixel_attack,
                             salt_and_pepper, spsa, swap_pixels, uniform_noise)
from tinyadv.models import cleverhans_cnn, logistic_regression, mlp
from tinyadv.theory import minimal_linear_distance

EPS = 0.1
# (name, call, norm of its ball or None, budget)
TABLE = [
    ("fgsm", lambda m, x, y: fgm(m, x, y, eps=EPS), np.inf),
    ("fgm_l2", lambda m, x, y: fgm(m, x, y, eps=EPS, norm=2), 2),
    ("fgm_l1", lambda m, x, y: fgm(m, x, y, eps=EPS, norm=1), 1),
    ("pgd_linf", lambda m, x, y: pgd(m, x, y, eps=EPS, alpha=0.03, steps=3, seed=0), np.inf),
    ("pgd_l2", lambda m, x, y: pgd(m, x, y, eps=EPS, alpha=0.03, steps=3, norm=2, seed=0), 2),
    ("pgd_l1", lambda m, x, y: pgd(m, x, y, eps=EPS, alpha=0.03, steps=3, norm=1, seed=0), 1),
    ("cw_l2", lambda m, x, y: cw_l2(m, x, y, steps=10, search_steps=2), None),
    ("deepfool", lambda m, x, y: deepfool(m, x, steps=3), None),
    ("spsa", lambda m, x, y: spsa(m, x, y, eps=EPS, steps=2, samples=8, seed=0), np.inf),
    ("pixels", lambda m, x, y: pixel_attack(m, x, y, k=5, pixels_per_step=2), 0),
    ("gaussian", lambda m, x, y: gaussian_noise(m, x, y, sigma=0.1, seed=0), None),
    ("uniform", lambda m, x, y: uniform_noise(m, x, y, eps=EPS, seed=0), np.inf),
    ("salt_pepper", lambda m, x, y: salt_and_pepper(m, x, y, fraction=0.1, seed=0), None),
    ("swap", lambda m, x, y: swap_pixels(m, x, y, fraction=0.1, seed=0), None),
]


@pytest.fixture(scope="module")
def models_and_data():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(4, 1, 28, 28)).astype(np.float32)
    cnn = cleverhans_cnn(in_channels=1, nf=4, image_size=28, num_classes=10, seed=0)
    cnn.eval()
    return {"cnn": (cnn, x, rng.integers(0, 10, size=4)),
            "mlp": (mlp([784, 16, 10], seed=0), x, rng.integers(0, 10, size=4)),
            "logistic": (logistic_regression(784, seed=0), x, rng.integers(0, 2, size=4))}


@pytest.mark.parametrize("name,attack,norm", TABLE, ids=[row[0] for row in TABLE])
@pytest.mark.parametrize("which", ["cnn", "mlp", "logistic"])
def test_every_attack_keeps_the_contract_on_tinyadv_models(models_and_data, which, name, attack, norm):
    model, x, y = models_and_data[which]
    x_adv = attack(model, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    if norm == 0:
        assert np.all(np.sum((x_adv != x).reshape(len(x), -1), axis=1) <= 5)
    elif norm is not None:
        # up to float32 rounding: each coordinate of x_adv − x may be off by one ulp of 1
        d = x[0].size
        ulps = {np.inf: 1.0, 2: np.sqrt(d), 1: float(d)}[norm] * np.finfo(np.float32).eps
        assert np.all(lp_norm(x_adv.astype(np.float64) - x, norm) <= EPS + ulps)


def test_minimal_attacks_match_the_closed_form_on_tinyadv_logistic_regression():
    model = logistic_regression(64, seed=1, dtype=np.float64)
    w, b = model["fc"].params["weight"].data[0], model["fc"].params["bias"].data[0]
    x = np.random.default_rng(1).uniform(0.3, 0.7, size=(8, 1, 8, 8))
    exact = minimal_linear_distance(w, b, x, 2)
    clean = model.logits(x)[:, 0] > 0
    x_df = deepfool(model, x, overshoot=0.0, clip=None)
    x_cw = cw_l2(model, x, clip=None, search_steps=8)
    for x_adv, tol in [(x_df, 0.01), (x_cw, 0.05)]:
        assert np.all((model.logits(x_adv)[:, 0] > 0) != clean)
        assert np.all(lp_norm(x_adv - x, 2) <= (1 + tol) * exact)
