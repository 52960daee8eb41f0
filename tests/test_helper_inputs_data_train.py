"""Bad input to the data, training, loss, evaluation and checking helpers fails at the door
with a message that names the argument; valid edge input still works."""

import hashlib
import pathlib

import json

import numpy as np
import pytest

import tinyadv as ta
from tinyadv.attackcheck import AttackReport, LinearModel
from tinyadv.data.download import ChecksumError, fetch, md5_file, missing_file_message, verify_md5
from tinyadv.data.select import finish
from tinyadv.evaluate import RobustnessTable, vanishing_gradients
from tinyadv.gradcheck import central_difference_noise, diagnose
from tinyadv.losses import sample_weights
from tinyadv.train import evaluate_loss_accuracy

WEIGHTS = [1.0, 2.0, 3.0]


# --- losses.sample_weights ---------------------------------------------------------------------

@pytest.mark.parametrize("y, num_classes, error, match", [
    (np.array([-1, 0]), 3, ValueError, r"outside \[0, 2\]"),      # would wrap around to w[2]
    (np.array([-1, 0]), None, ValueError, "outside"),
    (np.array([[1, 0]]), None, ValueError, r"shape \(1,\)"),      # 2-D: would give [[2, 1]]
    (np.array([3]), None, ValueError, "3 entries, but y holds the label 3"),
    (np.array([3]), 3, ValueError, r"outside \[0, 2\]"),
    (np.array([1.7, 0.2]), None, TypeError, "integer class labels"),
    # timedelta: NumPy's issubdtype counts it as an integer type, but it holds no class labels
    (np.array([1, 0], dtype="m8[s]"), None, TypeError, "integer class labels"),
])
def test_sample_weights_refuses_bad_labels(y, num_classes, error, match):
    with pytest.raises(error, match=match):
        sample_weights(y, WEIGHTS, np.float64, num_classes=num_classes)


def test_sample_weights_refuses_negative_labels_without_class_weights():
    with pytest.raises(ValueError, match="outside"):
        sample_weights(np.array([-1, 0]), None, np.float32)


def test_sample_weights_keeps_valid_labels():
    assert sample_weights([2, 0, 1], WEIGHTS, np.float32).tolist() == [3.0, 1.0, 2.0]
    assert sample_weights(np.array([], dtype=np.int64), WEIGHTS, np.float64).shape == (0,)
    ones = sample_weights(np.array([0, 1], dtype=np.uint8), None, np.float32, num_classes=2)
    assert ones.dtype == np.float32 and ones.tolist() == [1.0, 1.0]


def test_train_step_still_names_too_few_class_weights():
    model = ta.mlp([4, 3], seed=0)
    x = np.random.default_rng(0).uniform(size=(5, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="give one weight per class"):
        ta.train_step(model, ta.SGD(model.parameters()), x, np.array([0, 1, 2, 2, 0]),
                      class_weights=[1.0, 1.0])


# --- data.select.finish ------------------------------------------------------------------------

PIXELS = np.arange(8, dtype=np.uint8).reshape(2, 1, 2, 2)


@pytest.mark.parametrize("x, y, error, match", [
    (PIXELS / 255.0, np.array([0, 1]), TypeError, "uint8"),       # would be divided by 255 again
    (PIXELS.astype(np.int16) * 100, np.array([0, 1]), TypeError, "int16"),
    (PIXELS.tolist(), np.array([0, 1]), TypeError, "list"),
    (PIXELS[:, 0], np.array([0, 1]), ValueError, r"\(N, C, H, W\)"),
    (PIXELS, np.array([-1, 12]), ValueError, r"outside \[0, 9\]"),
    (PIXELS, np.array([1.7, 0.2]), TypeError, "integer class labels"),
    (PIXELS, np.array([0, 1, 2]), ValueError, r"shape \(2,\)"),
])
def test_finish_refuses_what_is_not_raw_pixels_and_labels(x, y, error, match):
    with pytest.raises(error, match=match):
        finish(x, y, num_classes=10)


def test_finish_keeps_valid_input():
    y = np.array([3, 7], dtype=np.uint8)
    x_out, y_out = finish(PIXELS, y, num_classes=10)
    assert x_out.dtype == np.float32 and np.array_equal(x_out, PIXELS.astype(np.float32) / 255)
    assert y_out.dtype == np.int64 and y_out.tolist() == [3, 7]
    x_bin, y_bin = finish(PIXELS, y, num_classes=10, classes=(3, 7), binary=True, dtype=np.uint8)
    assert np.array_equal(x_bin, PIXELS) and y_bin.tolist() == [1, 0]
    empty_x, empty_y = finish(PIXELS[:0], np.array([], dtype=np.int64), num_classes=10)
    assert empty_x.shape == (0, 1, 2, 2) and empty_y.shape == (0,)
    labels = np.array([1, 2])
    finish(PIXELS, labels, num_classes=10)[1][0] = 9
    assert labels.tolist() == [1, 2]                               # the result never aliases y


# --- train.evaluate_loss_accuracy --------------------------------------------------------------

@pytest.fixture
def small_model_and_data():
    x = np.random.default_rng(0).uniform(size=(3, 4)).astype(np.float32)
    return ta.mlp([4, 3], seed=0).eval(), x, np.array([0, 1, 2])


@pytest.mark.parametrize("batch_size", [-1, 0])
def test_evaluate_loss_accuracy_refuses_a_batch_size_below_one(small_model_and_data, batch_size):
    model, x, y = small_model_and_data
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        evaluate_loss_accuracy(model, x, y, batch_size=batch_size)


def test_evaluate_loss_accuracy_refuses_empty_x_and_extra_labels(small_model_and_data):
    model, x, y = small_model_and_data
    with pytest.raises(ValueError, match="x holds no samples"):
        evaluate_loss_accuracy(model, x[:0], y[:0])
    with pytest.raises(ValueError, match=r"y must have shape \(3,\)"):
        evaluate_loss_accuracy(model, x, np.array([0, 1, 2, 1]), batch_size=1)


def test_evaluate_loss_accuracy_one_sample_batches_match_one_batch(small_model_and_data):
    model, x, y = small_model_and_data
    loss_1, accuracy_1 = evaluate_loss_accuracy(model, x, y, batch_size=1)
    loss_all, accuracy_all = evaluate_loss_accuracy(model, x, y)
    assert loss_1 == pytest.approx(loss_all, rel=1e-6) and accuracy_1 == accuracy_all


# --- data.download -----------------------------------------------------------------------------

@pytest.fixture
def small_file(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"tinyadv" * 100)
    return path, hashlib.md5(b"tinyadv" * 100).hexdigest()


@pytest.mark.parametrize("chunk_size, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError)])
def test_md5_file_refuses_a_chunk_size_below_one(small_file, chunk_size, error):
    with pytest.raises(error, match="chunk_size"):
        md5_file(small_file[0], chunk_size=chunk_size)


def test_md5_file_and_verify_md5_read_checksums_in_either_case(small_file, tmp_path):
    path, digest = small_file
    assert md5_file(path, chunk_size=1) == digest
    verify_md5(path, digest.upper())
    with pytest.raises(ChecksumError):
        verify_md5(path, "0" * 32)
    copy = tmp_path / "copy" / "data.bin"
    assert fetch(pathlib.Path(path).as_uri(), str(copy), md5=digest.upper(), progress=False)
    assert copy.read_bytes() == path.read_bytes()


def test_missing_file_message_without_urls_names_no_source():
    message = missing_file_message("/data/x.gz", [])
    assert "from" not in message and "/data/x.gz" in message
    assert "(from http://a/x.gz)" in missing_file_message("/data/x.gz", "http://a/x.gz")


# --- evaluate.RobustnessTable and vanishing_gradients ------------------------------------------

@pytest.mark.parametrize("eps, correct, error, match", [
    ([0.1, 0.2, 0.3], {"a": np.ones((2, 3), bool)}, ValueError, r"one row per eps \(L = 3\)"),
    ([0.1, 0.2], {"a": np.ones(2, bool)}, ValueError, r"shape \(L, N\)"),
    ([0.1, 0.2], {"a": [[True], [True, False]]}, TypeError, "bool array"),
    ([0.1, 0.2], {"a": np.ones((2, 3), bool), "b": np.ones((2, 4), bool)}, ValueError, "same N"),
    ([0.1, 0.2], {"a": np.ones((2, 3))}, TypeError, "bool array"),
    ([0.1, 0.2], {"a": np.full((2, 3), 2)}, TypeError, "bool array"),  # not an outcome
    ([[0.1, 0.2]], {"a": np.ones((2, 3), bool)}, ValueError, "1-D"),
    ([0.1], {}, ValueError, "at least one"),
    ([0.1], [("a", np.ones((1, 3), bool))], TypeError, "dict"),
    # as robustness_table refuses them (before, NaN, inf and -0.1 made a table; N = 0 a table of
    # NaN accuracies with RuntimeWarnings)
    ([np.nan], {"a": np.ones((1, 3), bool)}, ValueError,
     r"every eps must be a finite number ≥ 0, got \[nan\]"),
    ([0.1, np.inf], {"a": np.ones((2, 3), bool)}, ValueError, "every eps must be a finite number"),
    ([-0.1], {"a": np.ones((1, 3), bool)}, ValueError, "every eps must be a finite number ≥ 0"),
    ([], {"a": np.ones((0, 3), bool)}, ValueError,
     r"eps must be a non-empty 1-D sequence of real numbers, got \[\]"),
    (["0.1"], {"a": np.ones((1, 3), bool)}, ValueError, "eps must be a non-empty 1-D sequence"),
    ([0.1], {"a": np.ones((1, 0), bool)}, ValueError,
     r"correct\['a'\] has no samples \(shape \(1, 0\)\): an accuracy over N = 0 samples"),
])
def test_robustness_table_refuses_misaligned_outcomes(eps, correct, error, match):
    with pytest.raises(error, match=match):
        RobustnessTable(eps, correct)


def test_robustness_table_of_one_eps_and_one_sample_prints():
    table = RobustnessTable([0.1], {"a": np.array([[True]]), "b": np.array([[False]])})
    assert table.accuracy["worst case"].tolist() == [0.0]
    assert len(str(table).splitlines()) == 4
    as_integers = RobustnessTable([0.1, 0.2], {"a": np.array([[1, 0], [0, 0]])})  # 0/1 outcomes
    assert as_integers.accuracy["a"].tolist() == [0.5, 0.0]
    assert as_integers.correct["a"].dtype == bool


def test_vanishing_gradients_checks_model_x_and_y():
    model = LinearModel(np.eye(3))
    x = np.array([[1.0, 2.0, 3.0]])
    assert vanishing_gradients(model, x.tolist(), [0]).tolist() == [False]   # a list, as arrays
    with pytest.raises(TypeError, match="model must have a method logits"):
        vanishing_gradients(object(), x, np.array([0]))
    with pytest.raises(ValueError, match="x is empty"):
        vanishing_gradients(model, x[:0], np.array([], dtype=int))
    with pytest.raises(ValueError, match="outside"):
        vanishing_gradients(model, x, np.array([-1]))


# --- attackcheck.LinearModel and AttackReport --------------------------------------------------

@pytest.mark.parametrize("w, b, error, match", [
    (np.ones((3, 4)), [1.0, 2.0], ValueError, r"b must have shape \(K,\) = \(3,\)"),
    (np.full((3, 4), np.nan), None, ValueError, "w contains NaN"),
    (np.ones((3, 4)), [0.0, np.inf, 0.0], ValueError, "b contains infinite"),
    (np.ones((2, 3, 4)), None, ValueError, "w must have 1 or 2 dimensions"),
    ("weights", None, TypeError, "w must be an array of numbers"),
])
def test_linear_model_refuses_bad_weights(w, b, error, match):
    with pytest.raises(error, match=match):
        LinearModel(w, b)


def test_linear_model_refuses_inputs_with_another_feature_count():
    model = LinearModel(np.ones((3, 4)))
    with pytest.raises(ValueError, match="4 features per sample"):
        model.logits(np.ones((2, 5)))
    with pytest.raises(ValueError, match="4 features per sample"):
        model.input_gradient(np.ones((2, 5)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"grad_logits must have shape \(N, K\) = \(2, 3\)"):
        model.input_gradient(np.ones((2, 4)), np.ones((2, 2)))


def test_linear_model_keeps_valid_shapes():
    binary = LinearModel(np.arange(4.0), 0.5)                     # w (D,), a number as b
    assert binary.logits(np.ones((2, 1, 2, 2))).tolist() == [[6.5], [6.5]]
    for b in (0.5, [0.5], np.float32(0.5)):  # one number: every class's bias (as before)
        assert LinearModel(np.ones((3, 4)), b).logits(np.zeros((1, 4))).tolist() == [[0.5] * 3]
    model = LinearModel(np.array([[1, 0], [0, 2]]), np.array([0, 1]))   # integer weights
    assert model.logits(np.ones((1, 2), np.float32)).dtype == np.float32
    assert model.input_gradient(np.ones((1, 2)), np.ones((1, 2))).tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize("results", [[("a",)], [("a", "yes", "")], [("a", 2, "")], [(1, True, "")],
                                     "abc"])
def test_attack_report_refuses_results_that_are_not_triples(results):
    with pytest.raises(TypeError, match="results"):
        AttackReport(results)


def test_attack_report_keeps_valid_results():
    assert AttackReport().passed and AttackReport([]).passed
    report = AttackReport([("runs", True, ""), ("ball", np.bool_(False), "too far")])
    assert not report.passed and report.failures == {"ball": "too far"}
    read_back = AttackReport(json.loads(json.dumps(report.results)))  # lists, as JSON gives them
    assert read_back.results == report.results
    assert AttackReport([("runs", 1, ""), ("ball", 0, "too far")]).results == report.results


# --- gradcheck.diagnose and central_difference_noise ------------------------------------------

@pytest.mark.parametrize("analytic, numeric", [(np.ones(3), np.ones(2)),
                                               (np.ones((2, 1)), np.ones(3))])
def test_diagnose_refuses_gradients_of_different_sizes(analytic, numeric):
    with pytest.raises(ValueError, match="same number of entries"):
        diagnose(analytic, numeric)


def test_diagnose_compares_a_flat_gradient_with_a_shaped_one():
    assert "wrong sign" in diagnose(-np.ones((2, 1)), np.ones(2))


def test_diagnose_still_names_a_sign_error():
    assert "wrong sign" in diagnose(-np.arange(1.0, 4.0), np.arange(1.0, 4.0))


@pytest.mark.parametrize("h", [0.0, -1e-6])
def test_central_difference_noise_refuses_a_step_that_is_not_positive(h):
    with pytest.raises(ValueError, match="h must be"):
        central_difference_noise(np.ones(3), np.ones(3), h)


def test_central_difference_noise_refuses_a_dout_of_another_shape():
    with pytest.raises(ValueError, match=r"dout must have the shape of out, \(3,\)"):
        central_difference_noise(np.ones(3), np.ones((2, 3)), 1e-6)


def test_central_difference_noise_takes_a_scalar_dout():
    eps = np.finfo(np.float64).eps
    assert central_difference_noise(np.ones(3), 2.0, 1e-6) == pytest.approx(eps * 6 / 1e-6)
