"""Experiment-sized checks of the attacks on the bundled mini-MNIST (``pytest -m slow``).

They train small tinyadv models (no network: the digits ship with the package) and check the
papers' qualitative numbers: FGSM at ε = 0.25 breaks MNIST 3-vs-7 logistic regression
(Goodfellow et al. 2015: 99% error), the minimal-perturbation attacks meet the closed form on a
trained logistic model, and the practical black-box attack transfers (Papernot et al. 2017:
84.24% misclassified) far better than noise of the same size.
"""

import numpy as np
import pytest

from tinyadv.attacks import cw_l2, deepfool, fgsm, lp_norm, papernot_blackbox, uniform_noise
from tinyadv.data import load_mini_mnist
from tinyadv.evaluate import robust_accuracy
from tinyadv.models import cleverhans_cnn, logistic_regression, mlp
from tinyadv.optim import Adam
from tinyadv.theory import minimal_linear_distance
from tinyadv.train import fit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def logistic_3v7():
    x, y = load_mini_mnist("train", classes=(3, 7), binary=True)
    xt, yt = load_mini_mnist("test", classes=(3, 7), binary=True)
    model = logistic_regression(784, seed=0)
    fit(model, x, y, epochs=20, batch_size=128, optimizer=Adam(model.parameters(), lr=1e-2),
        seed=0, progress=False)
    model.eval()
    return model, xt, yt


def test_fgsm_breaks_logistic_regression_on_3_vs_7(logistic_3v7):
    model, xt, yt = logistic_3v7
    assert robust_accuracy(model, xt, yt, progress=False) > 0.95
    assert robust_accuracy(model, xt, yt, fgsm, eps=0.25, progress=False) < 0.05


def test_minimal_attacks_meet_the_closed_form_on_trained_logistic_regression(logistic_3v7):
    model, xt, _ = logistic_3v7
    model64 = logistic_regression(784, seed=0, dtype=np.float64)
    model64.load_state_dict({k: v.astype(np.float64) for k, v in model.state_dict().items()})
    model64.eval()
    w = model64["fc"].params["weight"].data[0]
    b = model64["fc"].params["bias"].data[0]
    x = xt[:50].astype(np.float64)
    exact = minimal_linear_distance(w, b, x, 2)
    clean = model64.logits(x)[:, 0] > 0
    for attack, tol in [(lambda: deepfool(model64, x, overshoot=0.0, clip=None), 0.01),
                        (lambda: cw_l2(model64, x, clip=None), 0.05)]:
        x_adv = attack()
        assert np.all((model64.logits(x_adv)[:, 0] > 0) != clean)
        assert np.all(lp_norm(x_adv - x, 2) <= (1 + tol) * exact)


def test_practical_blackbox_attack_transfers_on_mini_mnist():
    x, y = load_mini_mnist("train")
    xt, yt = load_mini_mnist("test")
    oracle = cleverhans_cnn(in_channels=1, nf=16, image_size=28, num_classes=10, seed=0)
    fit(oracle, x, y, epochs=5, batch_size=128, label_smoothing=0.1, seed=0, progress=False)
    oracle.eval()
    substitute = mlp([784, 200, 200, 10], seed=1)

    def train_substitute(model, xs, ys):
        model.train()
        fit(model, xs, ys, epochs=10, batch_size=128, seed=0, progress=False)
        model.eval()

    result = papernot_blackbox(oracle, substitute, train_substitute, xt[:150], xt[150:1150],
                               yt[150:1150], rounds=6, lmbda=0.1, tau=3, eps=0.3)
    assert result.oracle_queries == 150 * 2 ** 5
    assert result.oracle_accuracy_clean > 0.9
    noise = uniform_noise(None, xt[150:1150], eps=0.3, seed=0)
    noise_accuracy = np.mean(oracle.logits(noise).argmax(1) == yt[150:1150])
    assert result.transfer_success > 0.5
    assert result.oracle_accuracy_adv < noise_accuracy - 0.4
