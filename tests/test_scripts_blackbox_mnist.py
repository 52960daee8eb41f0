"""Smoke test of scripts/blackbox_mnist.py on the bundled mini-MNIST at a tiny size."""

import contextlib
import io

import numpy as np
import pytest

from script_loading import load_script


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures") / "blackbox_mnist.png"
    module = load_script("blackbox_mnist")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result, log = module.main(["--oracle-epochs", "2", "--train-limit", "1500", "--test-limit", "650",
                                   "--rounds", "3", "--sub-epochs", "4", "--out", str(out)])
    return out, result, log, printed.getvalue()


def test_writes_both_figures(run):
    out, _, _, _ = run
    assert out.stat().st_size > 10_000
    assert out.with_name("blackbox_mnist_examples.png").stat().st_size > 5_000


def test_counts_queries_and_evaluates_without_the_seed_digits(run):
    _, result, log, _ = run
    assert log["queries"] == [150, 300, 600]           # the seed set doubles every round
    assert result.oracle_queries == 600
    assert result.x_adv.shape == (500, 1, 28, 28)       # 650 test digits minus the 150 seeds
    assert len(result.x_substitute) == 600


def test_augmentation_helps_the_substitute_and_fgsm_transfers(run):
    _, result, log, _ = run
    assert log["substitute_accuracy"][-1] > log["substitute_accuracy"][0] + 0.1
    assert result.oracle_accuracy_adv < result.oracle_accuracy_clean - 0.1
    assert np.isclose(result.transfer_success, 1 - result.oracle_accuracy_adv)
    assert np.isclose(log["oracle_accuracy_adv"][-1], result.oracle_accuracy_adv)


def test_prints_the_table_next_to_the_paper(run):
    printed = run[3]
    for row in ("oracle queries to train the substitute", "oracle misclassification (transfer success)",
                "0.8424", "substitute acc"):
        assert row in printed


def test_a_seed_set_as_large_as_the_test_set_is_refused_before_training(tmp_path):
    """The seed set is taken off the test images; it must leave some to attack (with no
    --test-limit the parse-time check cannot see how many there are)."""
    with pytest.raises(SystemExit, match="--seed-size .2000. must be smaller than the 2000 test"):
        load_script("blackbox_mnist").main(["--seed-size", "2000", "--out", str(tmp_path / "b.png")])


def test_the_same_command_again_gives_the_same_attack_bit_for_bit(run, tmp_path):
    # the oracle's training, the Jacobian augmentation and the substitute's training all draw
    # from the one --seed (default 0): nothing from global state
    out, result, log, _ = run
    with contextlib.redirect_stdout(io.StringIO()):
        again, log_again = load_script("blackbox_mnist").main([
            "--oracle-epochs", "2", "--train-limit", "1500", "--test-limit", "650", "--rounds", "3",
            "--sub-epochs", "4", "--out", str(tmp_path / "again.png")])
    assert again.x_adv.tobytes() == result.x_adv.tobytes()
    assert again.x_substitute.tobytes() == result.x_substitute.tobytes()
    assert log_again == log and again.transfer_success == result.transfer_success
