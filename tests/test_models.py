"""Models: the talk's architecture and its sizes, the model interface, state dicts and files."""

import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import tinyadv as ta
from tinyadv.gradcheck import central_difference_noise, numerical_gradient, rel_error
from tinyadv.layers.conv import conv2d_forward_naive


def test_cleverhans_cnn_has_exactly_184832_weights_on_cifar10():
    model = ta.cleverhans_cnn()
    assert model.num_parameters() == 184_832
    shapes = {key: v.shape for key, v in model.state_dict().items()}
    assert shapes == {"conv1.weight": (32, 3, 8, 8), "conv2.weight": (64, 32, 6, 6),
                      "conv3.weight": (64, 64, 5, 5), "fc.weight": (10, 256)}


def spatial_sizes(model, x):
    sizes = [x.shape[2]]
    for name, layer in model.layers:
        x, _ = layer.forward(x)
        if name.startswith("conv"):
            sizes.append(x.shape[2])
    return sizes


def test_cleverhans_cnn_spatial_sizes_on_cifar10_and_mnist():
    x = np.zeros((1, 3, 32, 32), np.float32)
    assert spatial_sizes(ta.cleverhans_cnn(), x) == [32, 16, 6, 2]
    mnist = ta.cleverhans_cnn(in_channels=1, image_size=28, nf=64)
    assert spatial_sizes(mnist, np.zeros((1, 1, 28, 28), np.float32)) == [28, 14, 5, 1]
    assert mnist.logits(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)



@pytest.mark.parametrize("size, sizes", [(27, [27, 14, 5, 1]), (31, [31, 16, 6, 2])])
def test_cleverhans_cnn_pads_odd_images_as_tensorflow_same(size, sizes):
    """SAME on an odd image pads 3 before and 4 after (the talk's padding 3 is for even sizes)."""
    model = ta.cleverhans_cnn(in_channels=1, image_size=size, nf=4, seed=0)
    x = np.random.default_rng(0).random((2, 1, size, size)).astype(np.float32)
    assert spatial_sizes(model, x) == sizes
    assert model.logits(x).shape == (2, 10)
    padded = np.pad(x, ((0, 0), (0, 0), (3, 4), (3, 4)))
    expected = conv2d_forward_naive(padded, model["conv1"].params["weight"].data, stride=2)
    np.testing.assert_allclose(model["conv1"].forward(x)[0], expected, rtol=1e-5, atol=1e-6)
    model64 = ta.cleverhans_cnn(in_channels=1, image_size=size, nf=2, seed=0, dtype=np.float64)
    x64, g = x[:1].astype(np.float64), np.random.default_rng(1).normal(size=(1, 10))
    numeric = numerical_gradient(lambda: model64.logits(x64), x64, g)  # the uneven pads' backward
    assert rel_error(model64.input_gradient(x64, g), numeric) < 1e-6

def test_cleverhans_cnn_initialisation_follows_the_reference_code():
    model = ta.cleverhans_cnn(binary="binary", seed=3)
    conv1 = model["conv1"].params["weight"].data
    np.testing.assert_allclose(np.sqrt(np.sum(conv1 ** 2, axis=(1, 2, 3))), 1, rtol=1e-5)
    conv2 = model["conv2"].params["weight"].data  # binary: truncated normal 0.2, not normalised
    assert np.abs(conv2).max() <= 0.4 and abs(conv2.std() - 0.2 * 0.88) < 0.01
    fc = model["fc"].params["weight"].data
    np.testing.assert_allclose(np.linalg.norm(fc, axis=1), 1, rtol=1e-5)
    same = ta.cleverhans_cnn(binary="binary", seed=3)
    np.testing.assert_array_equal(conv2, same["conv2"].params["weight"].data)


def test_cleverhans_cnn_fc_at_unit_norm_by_rows_or_as_a_whole_matrix():
    """REFERENCES.md §3 (CleverHans code): each output unit; §4 (input faults): the matrix."""
    rows = ta.cleverhans_cnn(nf=4, seed=5)["fc"].params["weight"].data
    matrix = ta.cleverhans_cnn(nf=4, seed=5, fc_norm="matrix")["fc"].params["weight"].data
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1, rtol=1e-5)
    assert abs(np.linalg.norm(matrix) - 1) < 1e-5
    assert np.linalg.norm(matrix, axis=1).std() > 0.01  # rows of different norms: not rescaled rows
    directions = rows / np.linalg.norm(rows, axis=1, keepdims=True)  # the same normal matrix
    np.testing.assert_allclose(matrix / np.linalg.norm(matrix, axis=1, keepdims=True), directions,
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="fc_norm must be 'rows' or 'matrix', got 'frobenius'"):
        ta.cleverhans_cnn(fc_norm="frobenius")


def test_cleverhans_cnn_with_biases_and_binary_variants():
    with_bias = ta.cleverhans_cnn(bias=True)
    assert with_bias.num_parameters() == 184_832 + 32 + 64 + 64 + 10
    for variant in ("binary", "scaled", "stochastic"):
        model = ta.cleverhans_cnn(in_channels=1, image_size=28, binary=variant, nf=8)
        names = [name for name, _ in model.layers]
        assert names[:6] == ["conv1", "relu1", "bn2", "sign2", "conv2", "relu2"]
        assert model.logits(np.random.default_rng(0).random((3, 1, 28, 28))).shape == (3, 10)
    with pytest.raises(ValueError, match="binary must be one of"):
        ta.cleverhans_cnn(binary="ternary")
    for variant in (None, "binary"):  # (the full-precision model has no STE, but a typo is one)
        with pytest.raises(ValueError, match="unknown STE variant 'hubbara'"):
            ta.cleverhans_cnn(binary=variant, ste="hubbara")


def small_cnn(dtype=np.float64, binary=None):
    return ta.cleverhans_cnn(in_channels=1, nf=2, image_size=28, binary=binary, seed=1,
                             bias=True, dtype=dtype)


@settings(max_examples=5)
@given(seed=st.integers(0, 2**16))
def test_model_input_gradient_matches_finite_differences(seed):
    model = small_cnn().eval()
    rng = np.random.default_rng(seed)
    x = rng.random((1, 1, 28, 28))
    g = rng.normal(size=(1, 10))
    numeric = numerical_gradient(lambda: model.logits(x), x, g)
    assert rel_error(model.input_gradient(x, g), numeric) < 1e-6


@pytest.mark.parametrize("training", [True, False])
def test_the_talks_cnn_input_gradient_through_winograd_matches_directional_differences(
        training, monkeypatch):
    """The CIFAR CNN at nf = 8, where "auto" takes Winograd for conv2 (a spy says so), in
    float64, in chunks of one image: ⟨∇ₓ(g·z), v⟩ against the central difference of g·z(x + tv)
    along random directions v (a whole gradient by coordinates would take 6,144 passes)."""
    from tinyadv import winograd
    calls = []
    conv = winograd._conv2d
    monkeypatch.setattr(winograd, "_conv2d", lambda *a, **k: calls.append(1) or conv(*a, **k))
    model = ta.cleverhans_cnn(nf=8, seed=3, dtype=np.float64)
    model.training, model.chunk_size = training, 1
    rng = np.random.default_rng(4)
    x = rng.random((2, 3, 32, 32))
    g = rng.normal(size=(2, 10))
    gradient = model.input_gradient(x, g)
    assert calls  # (conv2 by Winograd)
    h = 1e-5
    for _ in range(4):
        v = rng.normal(size=x.shape)
        difference = np.sum(g * (model.logits(x + h * v) - model.logits(x - h * v))) / (2 * h)
        assert abs(np.vdot(gradient, v) - difference) < 1e-6 * np.linalg.norm(gradient) * np.linalg.norm(v)


def test_model_parameter_gradients_match_finite_differences():
    model = ta.mlp([6, 5, 3], seed=0, dtype=np.float64)
    rng = np.random.default_rng(0)
    x, dout = rng.normal(size=(4, 6)), rng.normal(size=(4, 3))
    logits, caches = model.forward(x)
    model.zero_grad()
    model.backward(dout, caches)
    for key, p in model.named_parameters():
        numeric = numerical_gradient(lambda: model.forward(x)[0], p.data, dout)
        assert rel_error(p.grad, numeric) < 1e-6, key


@settings(max_examples=10)
@given(n=st.integers(2, 5), c=st.integers(1, 2), k=st.integers(1, 3), stride=st.integers(1, 2),
       chunk_size=st.integers(1, 3), training=st.booleans(),
       need_input_grad=st.booleans(), seed=st.integers(0, 2**16))
@example(n=2, c=1, k=1, stride=1, chunk_size=1, training=False, need_input_grad=False, seed=11026)
def test_sequential_gradients_match_finite_differences_through_every_entry_point(
        n, c, k, stride, chunk_size, training, need_input_grad, seed):
    """The model as a whole, in float64, against central differences of its logits: dL/dx and
    every parameter's gradient from forward then backward and from forward_backward (which adds
    them chunk by chunk, also without dL/dx, as training asks), dL/dx from input_gradient and
    from each of logits_and_input_gradients' upstream gradients; BatchNorm in evaluation mode
    (in chunks of 1 to 3 images) or training mode (one chunk: batch statistics)."""
    rng = np.random.default_rng(seed)
    # (no convolution bias before BatchNorm in training mode: the batch mean cancels it, its
    # gradient is 0 up to rounding, which no relative error can judge)
    conv = ta.Conv2D(c, 3, 3, stride=stride, padding=1, bias=not training, seed=seed,
                     dtype=np.float64)
    side = (4 + 2 - 3) // stride + 1
    model = ta.Sequential(("conv", conv), ("bn", ta.BatchNorm(3, dtype=np.float64)),
                          ("relu", ta.ReLU()), ("flat", ta.Flatten()),
                          ("fc", ta.Linear(3 * side * side, k, seed=seed, dtype=np.float64)),
                          ("scale", ta.Scale(0.5)), chunk_size=chunk_size)
    bn = model["bn"]
    bn.params["weight"].data, bn.params["bias"].data = rng.normal(size=3), rng.normal(size=3)
    bn.buffers["running_mean"], bn.buffers["running_var"] = rng.normal(size=3), rng.random(3) + 0.5
    model.train(training)
    x = rng.normal(size=(n, c, 4, 4))
    g = rng.normal(size=(2, n, k))  # two upstream gradients dL/dlogits
    numeric_x = [numerical_gradient(lambda: model.logits(x), x, g[m]) for m in range(2)]
    numeric_params = {key: numerical_gradient(lambda: model.forward(x)[0], p.data, g[0])
                      for key, p in model.named_parameters()}

    # (differences within the rounding noise of central differences do not count). The logits
    # are rounded inside the model, not only at their own size: BatchNorm's output at the size
    # of its terms (x·s, μ·s and β, with s = γ/σ), which can be O(1) while a small γ makes
    # dL/dx small, and fc sums those outputs with its weights (seed 11026: γ₀ = 3.5e-5, dL/dx
    # about 1e-6, central differences off by 1.5e-11 against a noise of 5.9e-12 from the
    # logits' size alone).
    h, _ = conv.forward(x)
    mean, var = ((h.mean(axis=(0, 2, 3)), h.var(axis=(0, 2, 3))) if training
                 else (bn.buffers["running_mean"], bn.buffers["running_var"]))
    s = bn.params["weight"].data / np.sqrt(var + bn.eps)
    terms = (np.abs(h * s[:, None, None]) + np.abs(mean * s)[:, None, None]
             + np.abs(bn.params["bias"].data)[:, None, None])
    fc_weight = np.abs(model["fc"].params["weight"].data)  # (k, 3·side·side)
    noise = max(max(central_difference_noise(model.logits(x), g[m], 1e-6),
                    central_difference_noise(terms.reshape(n, -1),
                                             0.5 * np.abs(g[m]) @ fc_weight, 1e-6))
                for m in range(2))

    def assert_close(analytic, numeric, what):
        assert rel_error(analytic, numeric, noise=noise) < 1e-6, what

    assert_close(model.input_gradient(x, g[0]), numeric_x[0], "input_gradient")
    _, several = model.logits_and_input_gradients(x, lambda z, rows: g[:, rows])
    for m in range(2):
        assert_close(several[m], numeric_x[m], f"logits_and_input_gradients[{m}]")
    model.zero_grad()
    _, caches = model.forward(x)
    assert_close(model.backward(g[0], caches), numeric_x[0], "backward")
    for key, p in model.named_parameters():
        assert_close(p.grad, numeric_params[key], f"backward: {key}")
    model.zero_grad()
    _, dx = model.forward_backward(x, lambda z, rows: g[0][rows], need_input_grad=need_input_grad)
    if need_input_grad:
        assert_close(dx, numeric_x[0], "forward_backward")
    for key, p in model.named_parameters():
        assert_close(p.grad, numeric_params[key], f"forward_backward: {key}")


def test_gradients_accumulate_when_one_weight_is_used_twice():
    """The same layer twice in a row: its weight gradient is the sum of both uses (+=)."""
    layer = ta.Linear(3, 3, seed=0, dtype=np.float64)
    model = ta.Sequential(("a", layer))
    model.layers.append(("b", layer))  # share the layer (append() refuses duplicate names only)
    rng = np.random.default_rng(0)
    x, dout = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    _, caches = model.forward(x)
    model.zero_grad()
    model.backward(dout, caches)
    numeric = numerical_gradient(lambda: model.forward(x)[0], layer.params["weight"].data, dout)
    assert rel_error(layer.params["weight"].grad, numeric) < 1e-6


def test_chunked_logits_and_gradients_equal_whole_batch():
    model = small_cnn().eval()
    x = np.random.default_rng(0).random((7, 1, 28, 28))
    g = np.random.default_rng(1).normal(size=(7, 10))
    whole_logits, whole_grad = model.logits(x), model.input_gradient(x, g)
    model.chunk_size = 3
    np.testing.assert_allclose(model.logits(x), whole_logits, rtol=1e-12)
    np.testing.assert_allclose(model.input_gradient(x, g), whole_grad, rtol=1e-12)


@given(n=st.integers(2, 7), chunk_size=st.integers(1, 6), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_chunks_give_the_logits_and_gradients_of_one_chunk_in_both_dtypes(n, chunk_size, dtype, seed):
    """The chunked runner (forward, backward, logits, input_gradient) against the whole batch
    as one chunk: logits, dL/dx and the parameter gradients (summed over the chunks) agree to
    1e-5 in float32 and 1e-12 in float64, relative to the largest entry (float32 products
    round differently with their number of rows)."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 28, 28)).astype(dtype)
    g = rng.normal(size=(n, 10)).astype(dtype)
    results = []
    for size in (n, chunk_size):
        model = small_cnn(dtype)
        model.chunk_size = size
        logits, caches = model.forward(x)
        model.zero_grad()
        dx = model.backward(g, caches)
        results.append([model.logits(x), model.input_gradient(x, g), logits, dx]
                       + [p.grad.copy() for p in model.parameters()])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for whole, chunked in zip(*results):
        assert chunked.dtype == dtype and chunked.shape == whole.shape
        np.testing.assert_allclose(chunked, whole, rtol=tol, atol=tol * np.abs(whole).max())


@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("run", ["forward_backward", "forward_then_backward"])
def test_a_clipping_straight_through_weight_gradient_sees_the_whole_batch(scale, run):
    """The Galloway STE clips dL/dW_b, the gradient of the whole batch's loss (the reference
    code clips the gradient that reaches tf.sign(W)): the chunks' dW_b are summed first, then
    clipped once. Clipping each chunk's share and adding (as the chunked runner did) gave
    another gradient, which changed with chunk_size (here 4 chunks of 8 rows)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6))
    dout = rng.normal(size=(32, 3))
    model = ta.Sequential(("fc", ta.BinaryLinear(6, 3, scale=scale, seed=1, dtype=np.float64)),
                          chunk_size=8)
    layer = model["fc"]
    w = layer.params["weight"].data
    sign_w = np.where(w >= 0, 1.0, -1.0)
    dw_binary = dout.T @ x  # dL/dW_b of the whole batch, W_b = (α) sign(W)
    alpha = np.mean(np.abs(w))
    expected = (np.clip(alpha * dw_binary, -1, 1) + sign_w * np.mean(dw_binary * sign_w)
                if scale else np.clip(dw_binary, -1, 1))
    assert np.abs(dw_binary).max() > 1  # the clip bites on the sum
    model.zero_grad()
    if run == "forward_backward":
        model.forward_backward(x, lambda out, rows: dout[rows])
    else:
        _, caches = model.forward(x)
        model.backward(dout, caches)
    np.testing.assert_allclose(layer.params["weight"].grad, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("chunk_size", [None, 3])
def test_input_gradients_are_c_ordered_in_the_dtype_of_x(chunk_size):
    """Inside, the first convolution's dL/dx is a view of channels-last memory; the model hands
    it back laid out as x is (attacks then step on it without a transposing copy)."""
    model = ta.cleverhans_cnn(in_channels=3, nf=2, image_size=28, seed=1, dtype=np.float64).eval()
    model.chunk_size = chunk_size
    x = np.random.default_rng(0).random((7, 3, 28, 28))  # 3 channels: with 1, NHWC is NCHW
    g = np.random.default_rng(1).normal(size=(2, 7, 10))
    single = model.input_gradient(x, g[0])
    _, several = model.logits_and_input_gradients(x, lambda z, rows: g[:, rows])
    _, caches = model.forward(x)
    after_forward = model.backward(g[0], caches, need_param_grads=False)
    for dx in (single, several, after_forward):
        assert dx.flags.c_contiguous and dx.dtype == x.dtype
    assert np.array_equal(several[0], single) and np.array_equal(after_forward, single)


def test_input_gradient_leaves_parameter_gradients_untouched():
    model = small_cnn()
    x = np.random.default_rng(0).random((2, 1, 28, 28))
    model.input_gradient(x, np.ones((2, 10)))
    assert all(np.all(p.grad == 0) for p in model.parameters())


def test_mlp_takes_every_seed_the_other_builders_take():
    """mlp seeded layer i with [seed, i] whatever the seed was: a Generator or None (which
    logistic_regression and cleverhans_cnn take) raised TypeError naming a list the user never
    wrote, and seed=-1 was reported as "got [-1, 1]". An int's numbers are unchanged."""
    weights = [p.data for p in ta.mlp([4, 5, 3], seed=7).parameters()]
    expected = [ta.Linear(4, 5, seed=[7, 1]), ta.Linear(5, 3, seed=[7, 2])]
    for got, want in zip(weights, [p.data for layer in expected for p in layer.params.values()]):
        np.testing.assert_array_equal(got, want)
    from_generator = [ta.mlp([4, 5, 3], seed=np.random.default_rng(3)).state_dict()
                      for _ in range(2)]
    for key, value in from_generator[0].items():
        np.testing.assert_array_equal(from_generator[1][key], value)
    assert ta.mlp([4, 3], seed=None).num_parameters() == 15
    with pytest.raises(ValueError, match="non-negative int, got -1$"):
        ta.mlp([4, 3], seed=-1)


@pytest.mark.parametrize("binary", [None, "binary", "scaled", "stochastic"])
def test_save_and_load_round_trip(tmp_path, binary):
    model = small_cnn(np.float32, binary=binary)
    model.train().forward(np.random.default_rng(0).random((4, 1, 28, 28), dtype=np.float32))
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = ta.load(path)
    assert loaded.architecture() == model.architecture()
    assert loaded.chunk_size == model.chunk_size
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value)
    if binary != "stochastic":
        x = np.random.default_rng(1).random((3, 1, 28, 28), dtype=np.float32)
        np.testing.assert_array_equal(loaded.logits(x), model.eval().logits(x))
    assert [f.name for f in tmp_path.iterdir()] == ["model.npz"]  # no temporary left behind


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_model_file_written_on_a_big_endian_machine_loads_with_the_same_numbers(tmp_path, dtype):
    """NumPy on a big-endian machine (s390x) saves '>f4' and '>f8' arrays; they are float32 and
    float64 in the other byte order (``check_array`` takes them too), not a foreign dtype."""
    model = small_cnn(dtype, binary="scaled")
    model.train().forward(np.random.default_rng(0).random((4, 1, 28, 28)).astype(dtype))
    path = tmp_path / "model.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    swapped = {key: value if key == "__meta__" else value.astype(value.dtype.newbyteorder(">"))
               for key, value in arrays.items()}
    np.savez(path, **swapped)
    loaded = ta.load(path)
    assert loaded.dtype == dtype
    for key, value in model.state_dict().items():
        assert loaded.state_dict()[key].dtype == value.dtype
        np.testing.assert_array_equal(loaded.state_dict()[key], value)


def test_a_path_starting_with_a_tilde_is_in_the_home_folder(tmp_path, monkeypatch):
    """``model.save("~/m.npz")`` made a folder named "~" in the working directory and wrote
    there (the data folder ``root`` has always expanded ~); now "~" is the home folder, for
    save and load alike, as str or pathlib.Path."""
    import pathlib
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(), work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    model = ta.logistic_regression(3)
    model.save("~/models/m.npz")
    assert (home / "models" / "m.npz").is_file() and list(work.iterdir()) == []
    for path in ("~/models/m.npz", pathlib.Path("~/models/m.npz")):
        np.testing.assert_array_equal(ta.load(path).state_dict()["fc.weight"],
                                      model.state_dict()["fc.weight"])


@pytest.mark.parametrize("offset, value, zipfile_raised", [
    (0, 0, "BadZipFile"), (6, 64, "NotImplementedError"), (8, 1, "RuntimeError")])
def test_a_model_file_with_a_damaged_central_directory_is_refused_by_name(
        tmp_path, offset, value, zipfile_raised):
    """One byte changed in the .npz's central directory (its magic number, the "version
    needed", the flags): zipfile raised BadZipFile, NotImplementedError ("zip file version
    6.4") or RuntimeError ("is encrypted") through load, instead of the ValueError that names
    the file as damaged. From Python 3.14 on, zipfile.is_zipfile reads the central directory's
    magic number too, and a file without it is not an .npz archive at all."""
    path = tmp_path / "model.npz"
    ta.logistic_regression(3).save(path)
    raw = bytearray(path.read_bytes())
    raw[raw.index(b"PK\x01\x02") + offset] = value  # the first entry's central directory record
    path.write_bytes(bytes(raw))
    if offset == 0 and sys.version_info >= (3, 14):
        expected = r"is not a tinyadv model file \(not an .npz archive\)"
    else:
        expected = "is a damaged .npz.*not a readable tinyadv model file"
    with pytest.raises(ValueError, match=f"{path} {expected}"):
        ta.load(path)


def test_model_file_is_read_without_pickle(tmp_path):
    path = tmp_path / "model.npz"
    small_cnn().save(path)
    with np.load(path, allow_pickle=False) as data:
        assert all(data[key].dtype != object for key in data.files)


def test_load_state_dict_names_missing_unexpected_and_misshaped_keys():
    model = ta.logistic_regression(4)
    state = model.state_dict()
    assert set(state) == {"fc.weight", "fc.bias"} and state["fc.weight"].shape == (1, 4)
    with pytest.raises(ValueError, match="missing keys \\['fc.bias'\\]"):
        model.load_state_dict({"fc.weight": state["fc.weight"]})
    with pytest.raises(ValueError, match="unexpected keys \\['extra'\\]"):
        model.load_state_dict(dict(state, extra=np.zeros(1)))
    with pytest.raises(ValueError, match="fc.weight: shape \\(1, 5\\)"):
        model.load_state_dict(dict(state, **{"fc.weight": np.zeros((1, 5))}))


def test_logistic_regression_is_a_binary_classifier_on_one_logit():
    model = ta.logistic_regression(3, dtype=np.float64)
    model["fc"].params["weight"].data = np.array([[1.0, -1.0, 0.0]])
    model["fc"].params["bias"].data = np.array([0.0])
    x = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 5.0]])
    assert model.logits(x).shape == (2, 1)
    np.testing.assert_array_equal(model.predict(x), [1, 0])


def test_float64_model_keeps_float64():
    model = small_cnn(np.float64)
    x = np.random.default_rng(0).random((2, 1, 28, 28))
    assert model.logits(x).dtype == np.float64
    assert model.input_gradient(x, np.ones((2, 10))).dtype == np.float64
    model32 = small_cnn(np.float32)
    assert model32.input_gradient(x.astype(np.float32), np.ones((2, 10), np.float32)).dtype == np.float32


@pytest.mark.parametrize("in_channels, image_size", [(3, 32), (1, 28)])  # conv2 by Winograd, im2col
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_empty_batch_gives_empty_results(in_channels, image_size, dtype):
    """Zero images in, zero rows out: the passes, the weight gradients (zero) and the attacks."""
    model = ta.cleverhans_cnn(in_channels=in_channels, image_size=image_size, seed=0, dtype=dtype)
    x = np.zeros((0, in_channels, image_size, image_size), dtype)
    logits, caches = model.forward(x)
    assert logits.shape == (0, 10) and logits.dtype == dtype
    model.zero_grad()
    assert model.backward(np.zeros((0, 10), dtype), caches).shape == x.shape
    assert all(p.grad.shape == p.data.shape and not np.any(p.grad) for p in model.parameters())
    model.eval()
    assert model.logits(x).shape == (0, 10)
    assert model.input_gradient(x, np.zeros((0, 10), dtype)).shape == x.shape
    for attack in (lambda: ta.fgsm(model, x, eps=0.1),
                   lambda: ta.pgd(model, x, eps=0.1, alpha=0.05, steps=2, seed=0),
                   lambda: ta.deepfool(model, x),
                   lambda: ta.cw_l2(model, x, search_steps=1, steps=2)):
        x_adv = attack()
        assert x_adv.shape == x.shape and x_adv.dtype == dtype


def test_a_layer_used_twice_is_one_parameter_set_trained_with_the_sum_of_its_gradients():
    # parameters() listed the shared weight twice: Adam(model.parameters()) and fit refused it
    # ("a parameter appears twice"), and weight decay would have counted it twice.
    shared = ta.Linear(3, 3, seed=0, dtype=np.float64)
    model = ta.Sequential(("a", shared), ("relu", ta.ReLU()), ("b", shared))
    assert [key for key, _ in model.named_parameters()] == ["a.weight", "a.bias"]
    assert model.num_parameters() == 12
    assert list(model.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    x = np.random.default_rng(0).normal(size=(4, 3))
    model.zero_grad()
    out, caches = model.forward(x)
    model.backward(np.ones_like(out), caches)
    weight = shared.params["weight"]
    numeric = ta.gradcheck.numerical_gradient(lambda: model.forward(x)[0], weight.data, 1.0)
    np.testing.assert_allclose(weight.grad, numeric, rtol=1e-6, atol=1e-8)
    y, before = np.array([0, 1, 2, 0]), weight.data.copy()
    model.zero_grad()
    out, caches = model.forward(x)
    model.backward(ta.cross_entropy(out, y)[1], caches)
    expected = before - 0.5 * (weight.grad + 0.1 * before)  # λ W once, not twice
    ta.train_step(model, ta.SGD(model.parameters(), lr=0.5), x, y, weight_decay=0.1)
    np.testing.assert_allclose(weight.data, expected, rtol=1e-12)


def test_a_layer_appended_after_eval_takes_the_models_mode():
    # It stayed in training mode: a BatchNorm appended after eval() normalised with the batch's
    # statistics and updated its running ones in what model.training said was evaluation.
    model = ta.mlp([4, 3]).eval()
    model.append("bn", ta.BatchNorm(3))
    assert model["bn"].training is False
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    out = model.logits(x)
    np.testing.assert_array_equal(model["bn"].buffers["num_batches_tracked"], 0)
    np.testing.assert_allclose(out, model["fc1"](x) / np.sqrt(1 + 1e-5), rtol=1e-6)
    assert model.train().append("relu", ta.ReLU())["relu"].training is True
