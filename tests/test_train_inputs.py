"""Bad arguments to training (fit, train_step, the hooks, checkpoints) and to the optimizers fail
before any weight moves, with a message naming them."""

import numpy as np
import pytest

import tinyadv as ta
from model_weights import assert_unchanged, weights


@pytest.fixture
def data():
    x = np.random.default_rng(0).random((8, 1, 4, 4), dtype=np.float32)
    return x, np.arange(8) % 3


def small_model():
    return ta.mlp([16, 3])


@pytest.mark.parametrize("change, error, message", [
    (dict(optimizer="other model"), ValueError, "the optimizer holds parameters that are not this model's"),
    (dict(optimizer="not an optimizer"), TypeError, "optimizer must have a step\\(\\) method"),
    (dict(validation_data="empty"), ValueError, "validation x must hold samples shaped like x's"),
    (dict(validation_data="narrow"), ValueError, "validation x must hold samples shaped like x's"),
    (dict(validation_data="x only"), TypeError, r"validation_data must be a pair \(x_val, y_val\)"),
    (dict(validation_data="three"), TypeError, r"validation_data must be a pair \(x_val, y_val\)"),
    (dict(class_weights=-np.ones(3)), ValueError, "class_weights must be >= 0 with at least one > 0"),
    (dict(class_weights=np.zeros(3)), ValueError, "class_weights must be >= 0 with at least one > 0"),
    (dict(batch_hook=5), TypeError, "batch_hook must be callable or None"),
    (dict(batch_hook=lambda m, x, y, **k: None), TypeError, r"batch_hook must return a pair \(x_batch, y_batch\)"),
    (dict(batch_hook=lambda m, x, y, **k: (x[:0], y[:0])), ValueError, "x holds no samples"),
    (dict(shuffle="no"), TypeError, "shuffle must be True or False"),
    (dict(resume="no"), TypeError, "resume must be True or False, got 'no'"),
    (dict(resume=None), TypeError, "resume must be True or False, got None"),
    (dict(label_smoothing="a"), TypeError, "label_smoothing must be a real number"),
    (dict(checkpoint=5), TypeError, "checkpoint must be a file path"),  # (not after an epoch)
    (dict(checkpoint="folder/"), ValueError, "checkpoint must name a file"),
])
def test_fit_refuses_bad_arguments_before_any_weight_moves(data, change, error, message):
    x, y = data
    model = small_model()
    before = weights(model)
    examples = {"other model": ta.SGD(small_model().parameters(), lr=0.5),
                "not an optimizer": "adam",
                "empty": (x[:0], y[:0]), "narrow": (x[:, :, :2], y), "x only": x,
                "three": (x, y, y)}
    change = {key: examples.get(value, value) if isinstance(value, str) else value
              for key, value in change.items()}
    with pytest.raises(error, match=message):
        ta.fit(model, x, y, epochs=2, batch_size=4, progress=False, **change)
    assert_unchanged(model, before)


@pytest.mark.parametrize("failure", ["hook raises", "labels beyond the logits", "interrupted"])
def test_fit_that_raises_mid_epoch_leaves_the_model_in_evaluation_mode(data, failure):
    """As a fit that returns does: a model left in training mode would be evaluated next with
    BatchNorm's batch statistics (and would move its running ones)."""
    x, y = data
    model = ta.Sequential(("flatten", ta.Flatten()), ("fc", ta.Linear(16, 3, seed=0)),
                          ("bn", ta.BatchNorm(3)))

    def hook(model, xb, yb, *, epoch, step, rng):
        if step == 1:
            if failure == "hook raises":
                raise RuntimeError("the attack failed")
            if failure == "interrupted":
                raise KeyboardInterrupt
            return xb, yb + 3
        return xb, yb

    error = {"hook raises": RuntimeError, "interrupted": KeyboardInterrupt}.get(failure, ValueError)
    with pytest.raises(error):
        ta.fit(model, x, y, epochs=2, batch_size=4, progress=False, batch_hook=hook)
    assert not model.training and not model["bn"].training
    state = model.state_dict()
    model.logits(x)  # in evaluation mode: the running statistics stay
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)


def test_fit_and_train_step_refuse_an_empty_batch(data):
    x, y = data
    model = small_model()
    optimizer = ta.Adam(model.parameters(), lr=0.01)
    ta.train_step(model, optimizer, x, y)
    before = weights(model)
    with pytest.raises(ValueError, match="x holds no samples"):
        ta.train_step(model, optimizer, x[:0], y[:0])  # Adam's momentum would still move them
    with pytest.raises(ValueError, match="x holds no samples"):
        ta.fit(model, x[:0], y[:0], progress=False)
    assert_unchanged(model, before)


@pytest.mark.parametrize("option", ["weight_decay", "l1"])
def test_train_step_names_its_penalties(data, option):
    x, y = data
    model = small_model()
    with pytest.raises(ValueError, match=f"{option} must be a finite number >= 0"):
        ta.train_step(model, ta.SGD(model.parameters()), x, y, **{option: -1.0})


@pytest.mark.parametrize("bad_labels", ["beyond the logits", "beyond class_weights"])
def test_a_refused_train_step_leaves_batchnorm_statistics_where_they_were(data, bad_labels):
    """The labels' upper end is known only once the logits exist, after BatchNorm has seen the
    batch; the step puts the running statistics back before it raises."""
    x, y = data
    model = ta.Sequential(("flatten", ta.Flatten()), ("fc", ta.Linear(16, 3, seed=0)),
                          ("bn", ta.BatchNorm(3)))
    optimizer = ta.SGD(model.parameters(), lr=0.1)
    ta.train_step(model, optimizer, x, y)  # statistics away from their start
    state = model.state_dict()
    change = ({"y": np.where(y == 2, 3, y)} if bad_labels == "beyond the logits"
              else {"class_weights": np.ones(2)})
    with pytest.raises(ValueError, match="label"):
        ta.train_step(model, optimizer, x, change.get("y", y),
                      class_weights=change.get("class_weights"))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)
    ta.train_step(model, optimizer, x, y)  # and it trains on
    assert int(model["bn"].buffers["num_batches_tracked"]) == 2


class OwnModel:
    """A model of one's own, with the interface fit needs and a list called ``layers``."""

    def __init__(self):
        self.layers = [ta.Flatten(), ta.Linear(16, 3, seed=0)]
        self.training = True

    def forward(self, x):
        caches = []
        for layer in self.layers:
            x, cache = layer.forward(x)
            caches.append(cache)
        return x, caches

    def backward(self, dout, caches, need_input_grad=True):
        for layer, cache in zip(reversed(self.layers), reversed(caches)):
            dout, grads = layer.backward(dout, cache)
            for name, grad in grads.items():
                layer.params[name].grad += grad
        return dout

    def logits(self, x):
        return self.forward(x)[0]

    def parameters(self):
        return [p for layer in self.layers for p in layer.params.values()]

    def zero_grad(self):
        for p in self.parameters():
            p.grad[...] = 0

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)


def test_a_model_of_ones_own_with_a_list_of_layers_trains(data):
    """train_step puts back the buffers of a Sequential only; it once unpacked any ``layers``
    attribute as Sequential's (name, layer) pairs ('cannot unpack non-iterable Flatten')."""
    x, y = data
    model = OwnModel()
    before = weights(model)
    history = ta.fit(model, x, y, epochs=2, batch_size=4, progress=False)
    assert len(history["loss"]) == 2
    assert any(not np.array_equal(p.data, w) for p, w in zip(model.parameters(), before))


@pytest.mark.parametrize("model, method", [("a model", "parameters"), (None, "parameters"),
                                           (ta.Linear(16, 3), "parameters")])
def test_fit_and_train_step_refuse_what_is_not_a_model_by_name(data, model, method):
    """(An AttributeError from deep inside once: "'str' object has no attribute 'eval'".)"""
    x, y = data
    with pytest.raises(TypeError, match=f"model must have a method {method}\\(\\) to be trained"):
        ta.fit(model, x, y, progress=False)
    with pytest.raises(TypeError, match=f"model must have a method {method}\\(\\) to be trained"):
        ta.train_step(model, ta.SGD(small_model().parameters()), x, y)
    without_eval = OwnModel()
    without_eval.eval = None
    with pytest.raises(TypeError, match="model must have a method eval\\(\\) to be trained"):
        ta.fit(without_eval, x, y, progress=False)


def test_train_step_refuses_an_optimizer_of_another_model(data):
    x, y = data
    model = small_model()
    with pytest.raises(ValueError, match="not this model's"):
        ta.train_step(model, ta.SGD(small_model().parameters()), x, y)


def test_an_optimizer_of_some_of_the_models_parameters_trains_those_only(data):
    """A frozen layer is a subset of the parameters, which is allowed."""
    x, y = data
    model = ta.mlp([16, 5, 3])
    first, last = model.parameters()[:2], model.parameters()[2:]
    before = weights(model)
    ta.fit(model, x, y, epochs=1, optimizer=ta.SGD(last, lr=0.5), progress=False)
    assert_unchanged(model, before[:2])
    assert not np.array_equal(last[0].data, before[2]) and first[0] is model.parameters()[0]


def test_adversarial_hook_flags_are_booleans():
    for flag in ("mix", "true_labels"):
        with pytest.raises(TypeError, match=f"{flag} must be True or False"):
            ta.adversarial_hook(ta.fgsm, eps=0.1, **{flag: "no"})


def test_resuming_from_a_file_that_is_not_a_checkpoint(data, tmp_path):
    x, y = data
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="is not a tinyadv checkpoint .not an .npz archive"):
        ta.fit(small_model(), x, y, checkpoint=garbage, resume=True, progress=False)
    no_meta = tmp_path / "no_meta.npz"
    np.savez(no_meta, a=np.zeros(2))
    with pytest.raises(ValueError, match="is not a tinyadv checkpoint .no __meta__ entry"):
        ta.fit(small_model(), x, y, checkpoint=no_meta, resume=True, progress=False)


def test_resuming_with_another_optimizer_or_without_validation_changes_nothing(data, tmp_path):
    x, y = data
    path = tmp_path / "run.npz"
    ta.fit(small_model(), x, y, epochs=1, checkpoint=path, progress=False)  # Adam, no validation
    model = small_model()
    before = weights(model)
    with pytest.raises(ValueError, match="the optimizer state lacks 'velocity.0'"):
        ta.fit(model, x, y, epochs=2, optimizer=ta.SGD(model.parameters(), momentum=0.9),
               checkpoint=path, resume=True, progress=False)
    assert_unchanged(model, before)
    with pytest.raises(ValueError, match="resume with the same validation_data"):
        ta.fit(model, x, y, epochs=2, validation_data=(x, y), checkpoint=path, resume=True,
               progress=False)
    assert_unchanged(model, before)


def test_resuming_a_model_of_another_architecture_names_the_model_not_the_optimizer(data, tmp_path):
    """A checkpoint of a model with more parameters also holds more optimizer entries; the error
    names the layers that differ (it blamed "another optimizer or other parameters"). An
    optimizer of only some of the parameters is still refused by name, the model as it was."""
    x, y = data
    path = tmp_path / "run.npz"
    with_batchnorm = ta.Sequential(("flatten", ta.Flatten()), ("fc1", ta.Linear(16, 3, seed=0)),
                                   ("bn", ta.BatchNorm(3)))
    ta.fit(with_batchnorm, x, y, epochs=1, checkpoint=path, progress=False)
    model = small_model()
    before = weights(model)
    match = r"does not match the model: .*unexpected keys \['bn\.bias'"
    with pytest.raises(ValueError, match=match):
        ta.fit(model, x, y, epochs=2, checkpoint=path, resume=True, progress=False)
    assert_unchanged(model, before)
    path = tmp_path / "same.npz"
    ta.fit(small_model(), x, y, epochs=1, checkpoint=path, progress=False)
    with pytest.raises(ValueError, match=r"the optimizer state has entries \['m\.1'"):
        ta.fit(model, x, y, epochs=2, optimizer=ta.Adam(model.parameters()[:1]),
               checkpoint=path, resume=True, progress=False)
    assert_unchanged(model, before)


def test_permuted_labels_refuses_labels_that_do_not_fit_int64():
    with pytest.raises(ValueError, match="too large for int64"):
        ta.permuted_labels(np.array([2**63 + 1], np.uint64), 0)
    with pytest.raises(ValueError, match="labels outside"):
        ta.permuted_labels(np.array([1, -1]), 0)


@pytest.mark.parametrize("make, error, message", [
    (lambda p: ta.SGD(p, momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
    (lambda p: ta.SGD(p, momentum=1.5), ValueError, r"momentum must be in \[0, 1\)"),
    (lambda p: ta.SGD(p, momentum=0.9, nesterov="no"), TypeError, "nesterov must be True or False"),
    (lambda p: ta.SGD(p + p), ValueError, "a parameter appears twice"),
    (lambda p: ta.Adam(p, eps=0.0), ValueError, "eps must be > 0"),
    (lambda p: ta.Adam(p, eps=1e-50), ValueError, "eps must be > 0 in the parameters' float32, "
     "got 1e-50, which rounds to 0 there"),  # (it gave NaN weights where the gradient is 0)
    (lambda p: ta.Adam(p, betas=(0.9, 0.99, 0.5)), TypeError, r"betas must be a pair .*got \(0.9, 0.99, 0.5\)"),
    (lambda p: ta.Adam(p, betas=0.9), TypeError, r"betas must be a pair \(beta1, beta2\), got 0.9"),
    (lambda p: ta.Adam(p, betas=np.array(0.9)), TypeError, r"betas must be a pair .*got array\(0.9\)"),
    (lambda p: ta.Adam(p, betas=("0.9", "0.99")), TypeError, "betas must be a real number"),
    (lambda p: ta.Adam(p, betas=(0.9, 1.0)), ValueError, r"betas must be in \[0, 1\)"),
])
def test_optimizer_settings_are_checked(make, error, message):
    with pytest.raises(error, match=message):
        make(small_model().parameters())


@pytest.mark.parametrize("state, message", [
    ({}, "needs a step count t"),
    ({"t": np.array(-5)}, "needs a step count t"),
    ({"t": np.array(1)}, "the optimizer state lacks 'm.0'"),
    ("wrong shape", r"m.0 has shape \(3,\) in the state, \(3, 16\) in the parameter"),
])
def test_adam_state_is_checked_before_it_is_loaded(state, message):
    optimizer = ta.Adam(small_model().parameters())
    if state == "wrong shape":
        state = dict(optimizer.state_dict(), **{"m.0": np.zeros(3)})
    before = [m.copy() for m in optimizer.m]
    with pytest.raises(ValueError, match=message):
        optimizer.load_state_dict(state)
    assert optimizer.t == 0 and all(np.array_equal(a, b) for a, b in zip(optimizer.m, before))


def test_sgd_state_round_trips_and_is_checked():
    model = small_model()
    optimizer = ta.SGD(model.parameters(), momentum=0.9)
    for p in model.parameters():
        p.grad[...] = 1.0
    optimizer.step()
    other = ta.SGD(model.parameters(), momentum=0.9)
    other.load_state_dict(optimizer.state_dict())
    assert all(np.array_equal(a, b) for a, b in zip(other.velocity, optimizer.velocity))
    with pytest.raises(ValueError, match="lacks 'velocity.0'"):
        other.load_state_dict({})


def test_fit_reads_the_number_of_logits_without_touching_batchnorm_statistics():
    """fit's probe of one sample runs in evaluation mode: in training mode a vector BatchNorm
    refused one sample, and an image BatchNorm counted one batch too many."""
    x = np.random.default_rng(0).random((8, 4), dtype=np.float32)
    model = ta.Sequential(("fc", ta.Linear(4, 3, seed=0)), ("bn", ta.BatchNorm(3)))
    ta.fit(model, x, np.arange(8) % 3, epochs=1, batch_size=4, progress=False)
    assert int(model["bn"].buffers["num_batches_tracked"]) == 2


def test_an_optimizer_of_your_own_needs_only_step(data):
    x, y = data
    model = small_model()

    class Plain:
        def __init__(self, params):
            self.params = params

        def step(self):
            for p in self.params:
                p.data -= 0.1 * p.grad

    before = weights(model)
    ta.fit(model, x, y, epochs=1, optimizer=Plain(model.parameters()), progress=False,
           batch_hook=lambda m, xb, yb, **k: [xb, yb])
    assert not np.array_equal(model.parameters()[0].data, before[0])


def test_adam_takes_betas_as_any_pair():
    optimizer = ta.Adam(small_model().parameters(), betas=np.array([0.8, 0.99]))
    assert (optimizer.beta1, optimizer.beta2) == (0.8, 0.99)


def _stepped(optimizer):
    """``optimizer`` after one step on gradients of 1 (so that its state is not all zero)."""
    for p in optimizer.parameters:
        p.grad[...] = 1.0
    optimizer.step()
    return optimizer


@pytest.mark.parametrize("make", [lambda p: ta.SGD(p, momentum=0.9), lambda p: ta.Adam(p)],
                         ids=["SGD", "Adam"])
@pytest.mark.parametrize("state", [None, [], "state", 5])
def test_an_optimizer_state_that_is_not_a_dict_is_refused_by_type(make, state):
    """It was AttributeError ('NoneType' object has no attribute 'get') for Adam, and TypeError
    'argument of type NoneType is not iterable' for SGD."""
    optimizer = make(small_model().parameters())
    with pytest.raises(TypeError, match=r"state must be a dict of arrays \(optimizer.state_dict\(\)\), "
                                        f"got {type(state).__name__}"):
        optimizer.load_state_dict(state)


@pytest.mark.parametrize("key, change, message", [
    ("velocity.0", lambda a: a + np.nan, "velocity.0: the optimizer state holds NaN, infinite"),
    ("velocity.1", lambda a: a - np.inf, "velocity.1: the optimizer state holds NaN, infinite"),
    ("velocity.0", lambda a: a + 1j, "velocity.0: the optimizer state holds complex64 values, "
                                     "not real numbers"),
    ("velocity.0", lambda a: np.full(a.shape, 1e300), "values beyond float32's range"),
    ("velocity.0", lambda a: a.astype(object), "velocity.0: the optimizer state holds object"),
    ("velocity.1", lambda a: [[0.0], [0.0, 1.0], []], "velocity.1: the optimizer state holds "
                                                      r"\[\[0.0\], .*not an array of numbers"),
    ("m.0", lambda a: a + np.nan, "m.0: the optimizer state holds NaN, infinite"),
    ("m.1", lambda a: a + np.inf, "m.1: the optimizer state holds NaN, infinite"),
    ("v.0", lambda a: a * np.inf, "v.0: the optimizer state holds NaN, infinite"),
    ("m.0", lambda a: a + 1j, "m.0: the optimizer state holds complex64 values, not real numbers"),
    ("v.1", lambda a: a - 1j, "v.1: the optimizer state holds complex64 values, not real numbers"),
    ("v.0", lambda a: a - 1, "v.0: the optimizer state holds negative values"),
    ("v.1", lambda a: -a, "v.1: the optimizer state holds negative values"),
    ("t", lambda t: np.array(1.0), "needs a step count t, an integer >= 0"),
    ("t", lambda t: np.array(True), "needs a step count t, an integer >= 0"),
    ("t", lambda t: np.array([1]), "needs a step count t, an integer >= 0"),
    ("t", lambda t: "1", "needs a step count t, an integer >= 0"),
])
def test_an_optimizer_state_that_would_turn_the_weights_into_nan_is_refused(key, change, message):
    """NaN, infinite, complex (cut to its real part with a ComplexWarning) or negative second
    moments were loaded, and the next step turned every weight into NaN; now ValueError naming
    the key, with the optimizer as it was."""
    model = small_model()
    optimizer = _stepped(ta.SGD(model.parameters(), momentum=0.9) if key.startswith("velocity")
                         else ta.Adam(model.parameters()))
    state = {k: np.array(v) for k, v in optimizer.state_dict().items()}
    state[key] = change(state[key])
    before = {k: np.array(v) for k, v in optimizer.state_dict().items()}
    with pytest.raises(ValueError, match=message):
        optimizer.load_state_dict(state)
    for k, v in optimizer.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    optimizer.step()
    assert all(np.all(np.isfinite(p.data)) for p in model.parameters())


@pytest.mark.parametrize("make", [lambda p: ta.SGD(p, momentum=0.9, nesterov=True),
                                  lambda p: ta.Adam(p)], ids=["SGD", "Adam"])
def test_a_loaded_optimizer_state_steps_as_the_original(make):
    """The checks refuse nothing that state_dict() gives, velocities < 0 included, and change
    no bit of it: the two optimizers take the same steps."""
    first, second = small_model(), small_model()
    one = _stepped(make(first.parameters()))
    for p in first.parameters():
        p.grad[...] = -3.0  # a step back: SGD's velocity goes negative
    one.step()
    assert any(np.any(v < 0) for v in one.state_dict().values())
    two = make(second.parameters())
    second.load_state_dict(first.state_dict())
    two.load_state_dict({k: v.tolist() if k.endswith(".1") else v  # (lists too)
                         for k, v in one.state_dict().items()})
    for model in (first, second):
        for p in model.parameters():
            p.grad[...] = 0.5
    one.step()
    two.step()
    for a, b in zip(first.parameters(), second.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_resuming_from_a_checkpoint_with_negative_second_moments_changes_nothing(data, tmp_path):
    x, y = data
    path = tmp_path / "run.npz"
    ta.fit(small_model(), x, y, epochs=1, checkpoint=path, progress=False)  # Adam
    with np.load(path) as archive:
        arrays = dict(archive)
    arrays["optimizer/v.0"] = -arrays["optimizer/v.0"] - 1
    np.savez(path, **arrays)
    model = small_model()
    before = weights(model)
    with pytest.raises(ValueError, match="run.npz: v.0: the optimizer state holds negative values"):
        ta.fit(model, x, y, epochs=2, checkpoint=path, resume=True, progress=False)
    assert_unchanged(model, before)


@pytest.mark.parametrize("progress", ["no", 0, np.array(False)])
def test_fit_refuses_a_progress_flag_that_is_not_a_bool(data, progress, capsys):
    """progress="no" showed the bar (a non-empty string is true); None means "by the run's
    length", and NumPy's bool is a bool."""
    x, y = data
    model = small_model()
    before = weights(model)
    with pytest.raises(TypeError, match="progress must be True or False"):
        ta.fit(model, x, y, epochs=1, batch_size=4, progress=progress)
    assert_unchanged(model, before)
    assert "epoch 1/1" not in capsys.readouterr().err
    for fine in (None, np.False_):
        ta.fit(model, x, y, epochs=1, batch_size=4, progress=fine)
    assert "epoch 1/1" not in capsys.readouterr().err  # (2 steps: None shows no bar)


@pytest.mark.parametrize("make", [small_model, OwnModel], ids=["Sequential", "own model"])
@pytest.mark.parametrize("x, y, error, message", [
    (None, "y", TypeError, "x must be a NumPy array, got NoneType"),
    (np.float64(1.0), "y", TypeError, "x must be a NumPy array, got float64"),
    ("abc", "y", TypeError, "x must be a NumPy array, got str"),
    ("x as uint8", "y", TypeError, "x must be a floating-point array"),
    ("one row", "y", ValueError, r"x must have at least 2 dimensions, got shape \(4,\)"),
    ("x", None, TypeError, "y must be a NumPy array of integer labels, got NoneType"),
    ("x", "y as float", TypeError, "y must hold integer class labels, got dtype float64"),
    ("x", "y of 7", ValueError, r"y must have shape \(8,\) to match the batch, got \(7,\)"),
    ("x", "y of -1", ValueError, r"y holds labels outside"),
])
def test_train_step_checks_x_and_y_as_fit_does_before_anything_moves(data, make, x, y, error, message):
    """train_step(m, opt, None, y) raised "object of type 'NoneType' has no len()": len(x) came
    before any check of x."""
    xs, ys = data
    examples = {"x": xs, "x as uint8": (xs * 255).astype(np.uint8), "one row": xs[0, 0, 0],
                "y": ys, "y as float": ys.astype(np.float64), "y of 7": ys[:7], "y of -1": ys - 1}
    x, y = (examples.get(v, v) if isinstance(v, str) and v != "abc" else v for v in (x, y))
    model = make()
    optimizer = ta.Adam(model.parameters(), lr=0.1)
    before = weights(model)
    with pytest.raises(error, match=message):
        ta.train_step(model, optimizer, x, y)
    assert_unchanged(model, before)
    assert optimizer.t == 0


def test_train_step_takes_a_list_and_boolean_labels_as_before(data):
    x, y = data
    y = (y > 0)
    first, second = small_model(), small_model()
    one = ta.train_step(first, ta.SGD(first.parameters(), lr=0.1), x.astype(np.float64), y)
    two = ta.train_step(second, ta.SGD(second.parameters(), lr=0.1), x.astype(np.float64).tolist(),
                        y.tolist())
    assert one == two
    for a, b in zip(first.parameters(), second.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("make", [lambda p: ta.SGD(p, lr=0.1), lambda p: ta.SGD(p, momentum=0.5),
                                  lambda p: ta.Adam(p)])
@pytest.mark.parametrize("grad, error, message", [
    (None, TypeError, "the gradient of parameter 1 must be a float array, got NoneType"),
    (np.zeros((1, 16), np.float32), ValueError,
     r"the gradient of parameter 1 has shape \(1, 16\), the parameter \(3, 16\)"),
    (np.zeros((3, 16), np.complex64), TypeError, "must be a float array, got dtype complex64"),
])
def test_optimizer_step_refuses_a_gradient_that_does_not_fit_before_any_weight_moves(
        make, grad, error, message):
    # SGD without momentum broadcast a (1, 16) gradient over the (3, 16) weight, and gave
    # "unsupported operand type(s)" for None; Adam counted the step and moved parameter 0
    # before it refused parameter 1.
    model = small_model()
    weight, bias = model.parameters()
    bias.grad[...] = 1
    weight.grad = grad
    optimizer = make([bias, weight])
    before = weights(model)
    with pytest.raises(error, match=message):
        optimizer.step()
    assert_unchanged(model, before)
    assert getattr(optimizer, "t", 0) == 0
