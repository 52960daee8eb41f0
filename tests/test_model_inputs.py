"""Sequential's interface refuses malformed layers, states, files and gradients with a message
naming them, and a model that builds also saves."""

import json
import zipfile

import numpy as np
import pytest

import tinyadv as ta


@pytest.fixture
def model():
    return ta.mlp([4, 3])


def test_a_model_answers_in_and_iterates_over_its_layer_names(model):
    assert "fc1" in model and "fc9" not in model
    assert list(model) == ["flatten", "fc1"] == [name for name, _ in model.layers]
    with pytest.raises(KeyError, match=r"no layer named 'fc9'; the layers are \['flatten', 'fc1'\]"):
        model["fc9"]


@pytest.mark.parametrize("items, message", [
    ([(1, ta.ReLU())], "a layer name must be a str, got 1"),
    ([("a", ta.ReLU(), 1)], r"each layer must be a Layer or a \(name, Layer\) pair"),
    ([("a", 5)], "layer 'a' must be a tinyadv Layer"),
])
def test_malformed_layers_are_named(items, message):
    with pytest.raises(TypeError, match=message):
        ta.Sequential(*items)


@pytest.mark.parametrize("flag", ["mode", "need_input_grad", "need_param_grads"])
def test_flags_are_booleans(model, flag):
    x = np.zeros((2, 4), np.float32)
    with pytest.raises(TypeError, match=f"{flag} must be True or False"):
        if flag == "mode":
            model.train("False")
        else:
            model.forward_backward(x, lambda out, rows: out, **{flag: "no"})
    if flag != "mode":
        _, caches = model.forward(x)
        with pytest.raises(TypeError, match=f"{flag} must be True or False"):
            model.backward(np.zeros((2, 3), np.float32), caches, **{flag: "no"})


@pytest.mark.parametrize("dout, error, message", [
    (np.ones((12, 3), np.float32), ValueError, r"dout must have the logits' shape \(8, 3\), got \(12, 3\)"),
    (np.ones((8, 5), np.float32), ValueError, r"dout must have the logits' shape \(8, 3\)"),
    (np.full((8, 3), np.nan, np.float32), ValueError, "dout contains NaN"),
    (np.ones((8, 3), np.int64), TypeError, "dout must be a floating-point array"),
])
def test_backward_checks_dout_against_the_logits(model, dout, error, message):
    _, caches = model.forward(np.zeros((8, 4), np.float32))
    with pytest.raises(error, match=message):
        model.backward(dout, caches)


def test_a_grad_fn_returning_a_ragged_tuple_is_named(model):
    """A tuple such as (dlogits, 1) from grad_fn was NumPy's "inhomogeneous shape" error, not
    naming grad_fn; a list of Python numbers is read as float64, as check_array reads lists."""
    x = np.zeros((8, 4), np.float32)
    with pytest.raises(ValueError, match="the result of grad_fn"):
        model.forward_backward(x, lambda out, rows: (out, 1))
    with pytest.raises(ValueError, match="the result of grad_fn"):
        model.logits_and_input_gradients(x, lambda out, rows: (np.stack([out]), 1))
    logits, dx = model.forward_backward(x, lambda out, rows: np.ones(out.shape, int).tolist())
    assert np.array_equal(dx, model.input_gradient(x, np.ones_like(logits)))


def test_forward_checks_x(model):
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        model.forward(None)


def test_gradient_functions_that_return_nan_or_nothing_are_named(model):
    x = np.zeros((8, 4), np.float32)
    with pytest.raises(ValueError, match="the result of grad_fn contains NaN"):
        model.forward_backward(x, lambda out, rows: out * np.nan)
    with pytest.raises(ValueError, match="the result of grad_fn contains NaN"):
        model.logits_and_input_gradients(x, lambda out, rows: np.stack([out * np.nan]))
    with pytest.raises(ValueError, match="with M >= 1"):
        model.logits_and_input_gradients(x, lambda out, rows: np.zeros((0,) + out.shape, out.dtype))


@pytest.mark.parametrize("change, message", [
    ({"fc1.bias": np.array(["x", "y", "z"])}, "fc1.bias: the state dict holds <U1 values, not numbers"),
    ({"fc1.bias": np.array([np.nan, 0.0, 0.0])}, "fc1.bias: the state dict holds NaN"),
    ({"fc1.weight": np.full((3, 4), 1e300)}, "beyond float32's range"),
])
def test_load_state_dict_checks_every_value_before_copying_any(model, change, message):
    before = model.state_dict()
    state = dict(ta.mlp([4, 3], seed=5).state_dict(), **change)
    with pytest.raises(ValueError, match=message):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    with pytest.raises(TypeError, match="state must be a dict of arrays"):
        model.load_state_dict(None)


def test_models_built_with_numpy_integers_save_and_load(tmp_path):
    model = ta.Sequential(("c", ta.Conv2D(1, 2, 3, padding=np.int64(1))),
                          ("s", ta.StochasticBinaryConv2D(2, 2, 3, padding=(np.int64(1), 1),
                                                          seed=np.int64(3))))
    assert "Conv2D" in repr(model)
    model.save(tmp_path / "m.npz")
    loaded = ta.load(tmp_path / "m.npz")
    assert loaded["c"].padding == 1 and loaded["s"].padding == (1, 1) and loaded["s"].seed == 3


@pytest.mark.parametrize("meta, message", [
    ("not json", "its __meta__ is not a JSON object"),
    ("[1]", "its __meta__ is not a JSON object"),
    (json.dumps({"format": "tinyadv-sequential-1", "architecture": "ab"}),
     "holds an architecture tinyadv cannot build: the architecture must be a list"),
    (json.dumps({"format": "tinyadv-sequential-1", "architecture": [["fc", "Linear", {"bogus": 1}]]}),
     "holds an architecture tinyadv cannot build: .*unexpected keyword argument 'bogus'"),
    (json.dumps({"format": "tinyadv-sequential-1", "architecture": [["fc", "Linear"]]}),
     r"each layer of the architecture must be \[name, class name, config\]"),
    pytest.param("[" * 100_000 + "]" * 100_000, "its __meta__ is not a JSON object",
                 id="lists-nested-too-deep"),  # (json raised RecursionError)
    pytest.param('{"format": ' + "[" * 100_000 + "]" * 100_000 + "}",
                 "its __meta__ is not a JSON object", id="a-value-nested-too-deep"),
])
def test_a_file_with_a_foreign_meta_is_not_a_model(tmp_path, meta, message):
    path = tmp_path / "bad.npz"
    np.savez(path, __meta__=np.array(meta))
    with pytest.raises(ValueError, match=message):
        ta.load(path)


@pytest.mark.parametrize("layer", [
    ["fc", "Linear", {"in_features": 10 ** 7, "out_features": 10 ** 7}],
    ["c", "Conv2D", {"in_channels": 4096, "out_channels": 4096, "kernel_size": [64, 64]}],
    ["c", "BinaryConv2D", {"in_channels": 4096, "out_channels": 4096, "kernel_size": 64}],
], ids=["Linear", "Conv2D", "BinaryConv2D"])
def test_a_file_that_declares_a_huge_layer_is_refused_before_it_is_built(tmp_path, layer):
    """A few hundred bytes can declare Linear(10**7, 10**7): 400 TB of weights, which load
    allocated (MemoryError) before it compared the layers with the file's few arrays; a size
    that fits in memory would have been allocated, gigabytes for a file of bytes."""
    path = tmp_path / "huge.npz"
    meta = {"format": "tinyadv-sequential-1", "architecture": [layer]}
    np.savez(path, __meta__=np.array(json.dumps(meta)), **{f"{layer[0]}.weight": np.zeros(4)})
    with pytest.raises(ValueError, match=rf"layer '{layer[0]}' declares a weight of \d+ values, "
                                         r"more than the 4 the file holds"):
        ta.load(path)


def test_an_entry_that_is_not_a_numpy_array_is_named(tmp_path):
    """``np.load`` hands an archive member without the .npy format over as raw bytes; a
    parameter stored that way raised AttributeError ('bytes' object has no attribute 'dtype')."""
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    ta.logistic_regression(3).save(good)
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(bad, "w") as target:
        for name in source.namelist():
            if name == "fc.weight.npy":
                target.writestr("fc.weight", b"not an array")
            else:
                target.writestr(name, source.read(name))
    with pytest.raises(ValueError, match="entry 'fc.weight' is not a NumPy array"):
        ta.load(bad)


@pytest.mark.parametrize("caches", [None, (1, 2), ([slice(0, 2)], [], (2, 3)), "caches"])
def test_backward_names_caches_that_forward_did_not_return(model, caches):
    with pytest.raises(ValueError, match="caches must be the caches that forward returned"):
        model.backward(np.zeros((2, 3), np.float32), caches)


@pytest.mark.parametrize("method", ["forward_backward", "logits_and_input_gradient",
                                    "logits_and_input_gradients"])
def test_a_grad_fn_that_is_not_callable_is_named(model, method):
    with pytest.raises(TypeError, match="grad_fn must be callable"):
        getattr(model, method)(np.zeros((2, 4), np.float32), np.ones((2, 3), np.float32))


def test_load_state_dict_names_a_value_that_is_no_array(model):
    state = dict(model.state_dict(), **{"fc1.weight": [[1.0, 2.0], [3.0]]})
    with pytest.raises(ValueError, match="fc1.weight: the state dict holds a value that is not "
                                         "an array of numbers"):
        model.load_state_dict(state)
