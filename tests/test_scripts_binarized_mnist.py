"""Tests of scripts/binarized_mnist.py: its helpers, and a smoke run on the bundled mini-MNIST."""

import contextlib
import io
from types import SimpleNamespace

import numpy as np
import pytest

import tinyadv as ta

from script_loading import load_script


bnn = load_script("binarized_mnist")

TINY = ["--variants", "A", "B", "--adv-models", "A", "B", "--train-limit", "2000", "--epochs", "2",
        "--adv-after", "1", "--adv-steps", "1", "--nf", "16", "--test-limit", "100", "--pgd-limit", "40",
        "--pgd-steps", "4", "--pgd-alpha", "0.1", "--sweep-limit", "30", "--sweep-steps", "2",
        "--cw-limit", "10", "--cw-steps", "5", "--spsa-limit", "10", "--spsa-steps", "2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures") / "binarized_mnist.png"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        results = bnn.main(TINY + ["--out", str(out)])
    return out, results, printed.getvalue()


def test_smoke_run_writes_the_figure_and_prints_every_table(run):
    out, results, printed = run
    assert out.stat().st_size > 20_000
    assert list(results) == ["A", "A adv", "B", "B adv"]
    for text in ("Accuracy (ε = 0.3", "The paper's qualitative claims", "Gradient-masking report",
                 "B >= A under white-box FGSM with T", "unscaled B needs T to be attacked",
                 "adv. trained B comparable"):
        assert text in printed
    for name in results:
        assert sum(line.startswith(f"  {name}: ") for line in printed.splitlines()) == 1  # a verdict each
    sizes = {k: len(v) for k, v in results["A"].items() if isinstance(v, np.ndarray)}
    assert sizes == {"clean": 100, "FGSM": 100, "FGSM+T": 100, "PGD": 40, "PGD+T": 40, "CW": 10,
                     "CW+T": 10, "SPSA": 10, "transfer FGSM": 100, "transfer PGD": 40}


def test_smoke_run_full_precision_model_falls_to_fgsm(run):
    _, results, _ = run
    a = results["A"]
    assert np.mean(a["clean"]) > 0.6
    assert np.mean(a["FGSM"]) < np.mean(a["clean"]) / 2      # ε = 0.3 is decisive even at this size
    assert np.mean(a["transfer PGD"]) == np.mean(a["PGD"])   # crafted on A itself: the same examples


@pytest.mark.parametrize("binary", [None, "binary"])
def test_temperature_view_shares_the_layers_and_scales_logits(binary):
    model = ta.cleverhans_cnn(in_channels=1, image_size=28, nf=4, binary=binary, seed=1).eval()
    x = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    tempered = bnn.with_temperature(model, 0.25)
    np.testing.assert_allclose(tempered.logits(x), 0.25 * model.logits(x), rtol=1e-5, atol=1e-6)
    assert tempered.parameters()[0] is model.parameters()[0]   # a view, not a copy
    g = np.ones((3, 10), dtype=np.float32)
    scaled = np.allclose(tempered.input_gradient(x, g), 0.25 * model.input_gradient(x, g),
                         rtol=1e-4, atol=1e-6)
    # Full precision: the gradient just scales. The reference STE clip(grad, -1, 1) is not
    # homogeneous, so through the sign layers T changes the direction too, not only the size.
    assert scaled == (binary is None)


def fake_results(spsa, pgd, transfer_pgd, vanishing=0.0, top=0.0):
    ones = lambda n, acc: np.arange(n) % 10 < round(10 * acc)  # noqa: E731  (acc in every 10)
    return {"clean": ones(100, 0.99), "FGSM": ones(100, 0.5), "FGSM+T": ones(100, 0.5),
            "PGD": ones(40, pgd), "PGD+T": ones(40, pgd), "CW": ones(10, 0.0), "CW+T": ones(10, 0.0),
            "SPSA": ones(10, spsa), "transfer FGSM": ones(100, 0.6), "transfer PGD": ones(40, transfer_pgd),
            "sweep": {"": np.array([0.5, top]), "+T": np.array([0.5, top])},
            "vanishing": {"": vanishing, "+T": 0.0}}


ARGS = SimpleNamespace(sweep_eps=(0.3, 0.5), spsa_limit=10, tolerance=0.05)


def test_masking_verdict_is_clean_when_white_box_is_strongest():
    masked, flags, lines = bnn.masking_verdict("B", fake_results(spsa=0.5, pgd=0.5, transfer_pgd=0.6), ARGS)
    assert not masked and flags == []
    assert any("SPSA 0.500 vs white-box PGD 0.500" in line for line in lines)


@pytest.mark.parametrize("kwargs, flag", [
    (dict(spsa=0.1, pgd=0.5, transfer_pgd=0.6), "gradient-free SPSA beats white-box PGD"),
    (dict(spsa=0.5, pgd=0.5, transfer_pgd=0.2), "transfer from A beats the white-box attack"),
    (dict(spsa=0.5, pgd=0.5, transfer_pgd=0.6, vanishing=0.5), "many input gradients are zero or not finite"),
    (dict(spsa=0.5, pgd=0.5, transfer_pgd=0.6, top=0.6), "does not reach chance as ε grows"),
])
def test_masking_verdict_flags_each_kind_of_evidence(kwargs, flag):
    masked, flags, _ = bnn.masking_verdict("B", fake_results(**kwargs), ARGS)
    assert masked and flags == [flag]


def test_masking_verdict_compares_spsa_and_pgd_on_the_digits_both_attacked():
    # --spsa-limit 10 with --pgd-limit 4: PGD leaves all 4 correct, SPSA too on those 4 and
    # breaks the 6 digits PGD never saw. On the same 4 digits SPSA is not stronger.
    r = fake_results(spsa=0.5, pgd=1.0, transfer_pgd=1.0)
    r.update({"PGD": np.ones(4, dtype=bool), "PGD+T": np.ones(4, dtype=bool),
              "transfer PGD": np.ones(4, dtype=bool), "SPSA": np.arange(10) < 4})
    masked, flags, lines = bnn.masking_verdict("B", r, ARGS)
    assert "gradient-free SPSA beats white-box PGD" not in flags
    assert any("SPSA 1.000 vs white-box PGD 1.000 on the same 4 digits" in line for line in lines)


@pytest.mark.parametrize("argv", [["--epochs", "2", "--adv-after", "3"], ["--variants", "B", "C"],
                                  ["--variants", "D"]])
def test_bad_arguments_are_refused(argv):
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        bnn.parse_args(argv)


@pytest.mark.parametrize("flags", [[], ["--labels", "predicted"]])
def test_the_attacks_aim_at_the_true_labels_or_as_the_papers_code_at_the_predictions(monkeypatch,
                                                                                      flags):
    """Every white-box and gradient-free attack of ``evaluate`` gets the true labels, or with
    --labels predicted None (the attacked model's predictions: the paper's mnist_attack.py calls
    CleverHans without labels); accuracy is the true labels' either way."""
    args = bnn.parse_args(TINY + flags)
    args.sweep_eps = (0.1, 0.3)  # (main sets them)
    seen = []

    def recorder(name):
        def attack(model, x, y=None, **kwargs):
            seen.append((name, y))
            return x
        return attack

    for name in ("fgsm", "pgd", "cw_l2"):
        monkeypatch.setattr(bnn.ta, name, recorder(name))
    monkeypatch.setattr(bnn, "spsa", recorder("spsa"))
    model = ta.mlp([784, 10], seed=0).eval()
    rng = np.random.default_rng(0)
    x, y = rng.random((12, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 12)
    result = bnn.evaluate(model, x, y, {"FGSM": x, "PGD": x[:args.pgd_limit]}, args)
    assert {name for name, _ in seen} == {"fgsm", "pgd", "cw_l2", "spsa"}
    assert all((labels is None) == bool(flags) for _, labels in seen)
    np.testing.assert_array_equal(result["clean"], model.predict(x) == y)
