"""Bad input gets a clear ValueError/TypeError that names the problem, one test per case."""

import numpy as np
import pytest

import tinyadv as ta
from tinyadv.checks import check_nonnegative


@pytest.fixture
def cnn():
    return ta.cleverhans_cnn(in_channels=1, image_size=28, nf=4)


def test_wrong_rank(cnn):
    with pytest.raises(ValueError, match="conv2d expects input of shape \\(N, C, H, W\\)"):
        cnn.logits(np.zeros((2, 28, 28), np.float32))


def test_channel_mismatch(cnn):
    with pytest.raises(ValueError, match="channel mismatch: input has 3 channels, weights expect 1"):
        cnn.logits(np.zeros((2, 3, 28, 28), np.float32))


def test_nan_in_input(cnn):
    x = np.zeros((2, 1, 28, 28), np.float32)
    x[1, 0, 3, 3] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        cnn.logits(x)


@pytest.mark.parametrize("bad, name", [(np.nan, "NaN"), (np.inf, "infinite values"),
                                       (-np.inf, "infinite values")])
@pytest.mark.parametrize("clip", [(0.0, 1.0), None])
def test_an_attack_refuses_nan_and_infinite_pixels_with_or_without_a_box(cnn, bad, name, clip):
    """With a box the attacks learn finiteness from the box check's min and max: the same
    message as without one."""
    x = np.full((2, 1, 28, 28), 0.5, np.float32)
    x[1, 0, 3, 3] = bad
    with pytest.raises(ValueError, match=f"x contains {name}"):
        ta.fgsm(cnn, x, np.array([0, 1]), eps=0.1, clip=clip)


@pytest.mark.parametrize("threads", [1, 2])
def test_nan_in_a_later_chunk_is_refused_by_every_pass(restore_threads, threads):
    """The finiteness check runs in the chunks, on their threads: a NaN in the last of four
    chunks still stops logits, forward, input_gradient, forward_backward and
    logits_and_input_gradients with the same message, and no parameter gradient is added."""
    ta.set_num_threads(threads)
    model = ta.cleverhans_cnn(in_channels=1, image_size=28, nf=4)
    model.chunk_size = 2
    x = np.random.default_rng(0).random((8, 1, 28, 28)).astype(np.float32)
    x[7, 0, 5, 5] = np.nan
    ones = lambda z, rows: np.ones_like(z)  # noqa: E731
    model.zero_grad()
    for call in (lambda: model.logits(x), lambda: model.forward(x),
                 lambda: model.input_gradient(x, np.ones((8, 10), np.float32)),
                 lambda: model.forward_backward(x, ones),
                 lambda: model.logits_and_input_gradients(x, lambda z, rows: ones(z, rows)[None])):
        with pytest.raises(ValueError, match="x contains NaN"):
            call()
    assert all(not np.any(p.grad) for p in model.parameters())


def test_half_precision_images_are_refused_at_the_door(cnn):
    # (they reached a compiled kernel, which raised NotImplementedError: float16)
    with pytest.raises(TypeError, match="x must be a float32 or float64 array, got dtype float16"):
        cnn.logits(np.zeros((2, 1, 28, 28), np.float16))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_big_endian_floats_are_read_as_the_same_numbers(cnn, dtype):
    """A big-endian array (from a file written on another machine) is float32 or float64 too:
    it gives the native array's results bit for bit, not "must be a float32 array"."""
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(3, 1, 28, 28)).astype(dtype)
    swapped = x.astype(x.dtype.newbyteorder("S"))  # ">f4" on a little-endian machine
    logits = cnn.logits(x)
    for result, expected in [(cnn.logits(swapped), logits),
                             (ta.fgsm(cnn, swapped, eps=0.1), ta.fgsm(cnn, x, eps=0.1)),
                             (ta.softmax(swapped[:, 0, 0, :5]), ta.softmax(x[:, 0, 0, :5])),
                             (ta.l2_penalty([swapped], 0.5)[1][0], ta.l2_penalty([x], 0.5)[1][0])]:
        assert result.dtype == expected.dtype and result.dtype.isnative
        assert result.tobytes() == expected.tobytes()
    assert not swapped.dtype.isnative  # the caller's array is left as it was
    scores = np.array([[1, 5, 2]], np.float16)
    np.testing.assert_array_equal(ta.softmax(scores.astype(">f2")), ta.softmax(scores))


def test_integer_images_are_refused(cnn):
    with pytest.raises(TypeError, match="floating-point array.*uint8"):
        cnn.logits(np.zeros((2, 1, 28, 28), np.uint8))


def test_non_integer_labels():
    with pytest.raises(TypeError, match="integer class labels, got dtype float64"):
        ta.cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))


def test_labels_out_of_range():
    with pytest.raises(ValueError, match="labels outside \\[0, 2\\]"):
        ta.cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="labels outside \\[0, 1\\]"):
        ta.cross_entropy(np.zeros((2, 1)), np.array([-1, 1]))


def test_labels_of_the_wrong_length():
    with pytest.raises(ValueError, match="shape \\(2,\\) to match the batch"):
        ta.cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))


def test_negative_or_zero_stride():
    with pytest.raises(ValueError, match="stride must be >= 1"):
        ta.Conv2D(1, 1, 3, stride=-1)
    for stride in (2.0, "2", True):  # (not an integer: TypeError, as for the kernel's size)
        with pytest.raises(TypeError, match="stride must be an integer"):
            ta.Conv2D(1, 1, 3, stride=stride)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        ta.layers.conv2d_forward(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=0)


@pytest.mark.parametrize("make, error, message", [
    (lambda: ta.Conv2D(3, 0, 3), ValueError, "out_channels must be >= 1, got 0"),
    (lambda: ta.Conv2D(0, 4, 3), ValueError, "in_channels must be >= 1, got 0"),
    (lambda: ta.Conv2D(3.5, 4, 3), TypeError, "in_channels must be an integer, got float"),
    (lambda: ta.Linear(0, 5), ValueError, "in_features must be >= 1, got 0"),
    (lambda: ta.Linear(4, 2.7), TypeError, "out_features must be an integer, got float"),
    (lambda: ta.cleverhans_cnn(nf=0), ValueError, "nf must be >= 1, got 0"),
    (lambda: ta.cleverhans_cnn(image_size=27.5), TypeError, "image_size must be an integer"),
    (lambda: ta.cleverhans_cnn(num_classes=0), ValueError, "num_classes must be >= 1, got 0"),
    (lambda: ta.cleverhans_cnn(image_size=2 ** 40), ValueError,  # (np.sqrt's TypeError before)
     r"nf=32, image_size=1099511627776, num_classes=10: the weight of fc would have shape"),
    (lambda: ta.mlp("784,10"), TypeError, "sizes must be a list of layer widths"),
    (lambda: ta.mlp([784, 2.5, 10]), TypeError, "sizes\\[1\\] must be an integer, got float"),
    (lambda: ta.Conv2D(3, 4, 3, dtype=np.int32), TypeError,
     "dtype must be np.float32 or np.float64"),
    (lambda: ta.Linear(3, 4, dtype="nope"), TypeError, "dtype must be np.float32 or np.float64"),
    (lambda: ta.BatchNorm(4, dtype=None), TypeError, "dtype must be np.float32 or np.float64"),
    (lambda: ta.ScaledReLU(dtype=np.float16), TypeError, "dtype must be np.float32 or np.float64"),
    (lambda: ta.mlp([4, 3]).astype(np.int32), TypeError, "dtype must be np.float32 or np.float64"),
    (lambda: ta.SGD(ta.mlp([4, 3]), lr=0.1), TypeError,
     "pass model.parameters\\(\\) to the optimizer"),
    (lambda: ta.Adam([np.zeros(3)], lr=0.1), TypeError, "parameters with .data and .grad"),
    (lambda: ta.BatchNorm(0), ValueError, "num_features must be >= 1, got 0"),
    (lambda: ta.BatchNorm(4, eps=0), ValueError, "eps > 0"),
    (lambda: ta.BatchNorm(4, momentum=2), ValueError, "momentum <= 1"),
])
def test_layer_sizes_and_settings_are_checked_when_built(make, error, message):
    """Before, a zero-channel Conv2D was built without a word (or failed deep in NumPy's
    random generator), a float size was truncated, and BatchNorm(0) was accepted."""
    with pytest.raises(error, match=message):
        make()
    assert ta.Conv2D(np.int64(3), 4, 3).in_channels == 3  # NumPy integers are integers


def test_kernel_larger_than_padded_input():
    layer = ta.Conv2D(1, 1, 5, padding=1)
    with pytest.raises(ValueError, match="kernel 5x5 is larger than the padded input 4x4"):
        layer.forward(np.zeros((1, 1, 2, 2), np.float32))


def test_unknown_padding():
    with pytest.raises(ValueError, match="padding must be an int, a pair, 'same' or 'valid'"):
        ta.Conv2D(1, 1, 3, padding="full")


def test_linear_feature_mismatch():
    with pytest.raises(ValueError, match="linear input has 5 features"):
        ta.Linear(4, 2).forward(np.zeros((3, 5), np.float32))


def test_input_gradient_with_wrong_upstream_shape(cnn):
    with pytest.raises(ValueError, match="grad_logits must have shape \\(2, 10\\)"):
        cnn.input_gradient(np.zeros((2, 1, 28, 28), np.float32), np.zeros((2, 3), np.float32))


def test_fit_refuses_bad_labels_and_settings(cnn):
    x = np.zeros((4, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match="labels outside \\[0, 9\\]"):
        ta.fit(cnn, x, np.array([0, 1, 2, 10]), progress=False)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        ta.fit(cnn, x, np.zeros(4, np.int64), batch_size=0, progress=False)
    with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0"):
        ta.fit(cnn, x, np.zeros(4, np.int64), weight_decay=-1.0, progress=False)
    with pytest.raises(ValueError, match="class_weights has 3 entries, but y holds the label 3"):
        ta.fit(cnn, x, np.arange(4), class_weights=np.ones(3), progress=False)
    with pytest.raises(ValueError, match="class_weights must have 10 entries"):
        ta.fit(cnn, x, np.arange(4), class_weights=np.ones(12), progress=False)


def test_model_file_that_is_not_a_model(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a tinyadv model file"):
        ta.load(path)
    np.save(tmp_path / "one.npy", np.zeros(3))  # np.load gives an array, not an archive
    (tmp_path / "notes.txt").write_text("hello")  # np.load would call this pickled data
    for name in ("one.npy", "notes.txt"):
        with pytest.raises(ValueError, match="not a tinyadv model file \\(not an .npz archive\\)"):
            ta.load(tmp_path / name)
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        ta.load(tmp_path / "missing.npz")


def test_evaluation_refuses_a_zero_batch_size_and_an_attack_that_is_not_callable(cnn):
    x, y = np.zeros((4, 1, 28, 28), np.float32), np.zeros(4, np.int64)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        ta.accuracy(cnn, x, y, batch_size=0)  # was: "range() arg 3 must not be zero"
    with pytest.raises(TypeError, match="attack must be callable or None, got str"):
        ta.robust_accuracy(cnn, x, y, attack="fgsm", progress=False)


def test_bad_seed_type():
    from tinyadv.checks import make_rng
    with pytest.raises(TypeError, match="seed must be an int, a numpy.random.Generator or None"):
        make_rng(1.5)


@pytest.mark.parametrize("seed, error, message", [
    (-1, ValueError, "seed must be a non-negative int, got -1"),
    ([3, -1], ValueError, "seed must be a non-negative int"),
    (2.5, TypeError, "seed must be an int"),
    ([], TypeError, "seed must be an int"),
])
def test_bad_seeds_are_named_by_layers_models_and_attacks(seed, error, message):
    x = np.full((2, 4), 0.5, np.float32)
    for make in (lambda: ta.Linear(4, 2, seed=seed), lambda: ta.Conv2D(1, 2, 3, seed=seed),
                 lambda: ta.cleverhans_cnn(seed=seed), lambda: ta.gaussian_noise(None, x, sigma=0.1, seed=seed)):
        with pytest.raises(error, match=message):
            make()


def test_a_list_of_ints_seeds_independent_streams_as_in_numpy():
    assert np.array_equal(ta.checks.make_rng([3, 1]).random(3), np.random.default_rng([3, 1]).random(3))
    for seed in (np.array([3, 1]), np.random.SeedSequence([3, 1]), np.random.PCG64([3, 1])):
        assert np.array_equal(ta.checks.make_rng(seed).random(3), np.random.default_rng([3, 1]).random(3))


def test_a_clip_box_is_a_pair_and_may_be_open_on_a_side_except_where_its_ends_are_values(cnn):
    x = np.full((2, 1, 28, 28), 0.5, np.float32)
    y = np.array([0, 1])
    with pytest.raises(TypeError, match=r"clip must be a pair \(low, high\) or None"):
        ta.fgsm(cnn, x, y, eps=0.1, clip="01")
    assert ta.fgsm(cnn, x, y, eps=0.6, clip=(0.0, np.inf)).min() >= 0.0  # non-negative features
    for attack in (lambda: ta.pixel_attack(cnn, x, y, k=2, clip=(0.0, np.inf)),
                   lambda: ta.salt_and_pepper(None, x, fraction=0.1, clip=(-np.inf, 1.0), seed=0),
                   lambda: ta.cw_l2(cnn, x, y, clip=(0.0, np.inf), steps=1, search_steps=1)):
        with pytest.raises(ValueError, match="needs a box with finite ends"):
            attack()


def test_a_stochastic_layer_needs_a_seed_it_can_save():
    with pytest.raises(TypeError, match="seed must be an int or None here"):
        ta.StochasticBinaryConv2D(1, 2, 3, seed=np.random.default_rng(0))


def test_an_int_too_large_for_a_float_is_refused_as_not_finite(cnn):
    x = np.zeros((2, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match="eps must be a finite number >= 0, got inf"):
        ta.fgsm(cnn, x, eps=10 ** 400)
    with pytest.raises(ValueError, match="lr must be a finite number >= 0, got inf"):
        ta.SGD(cnn.parameters(), lr=10 ** 400)
    with pytest.raises(ValueError, match="factor must be finite, got inf"):
        ta.Scale(10 ** 400)


@pytest.mark.parametrize("attack, options", [
    (ta.pgd, dict(alpha=0.1, steps=1)),  # L∞ with a random start: rng.uniform(-eps, eps)
    (ta.pgd, dict(alpha=0.1, steps=1, norm=2)),
    (ta.spsa, dict(steps=1, samples=4)),
    (ta.uniform_noise, {}),
])
def test_eps_minus_zero_is_eps_zero(attack, options):
    """-0.0 passes the check eps >= 0: every attack must then treat it as 0, not hand it to
    NumPy's uniform(-eps, eps), which refuses it ("high - low < 0")."""
    model = ta.mlp([4, 8, 3], seed=0)
    x = np.full((2, 4), 0.5, np.float32)
    at_minus_zero = attack(model, x, eps=-0.0, seed=0, **options)
    np.testing.assert_array_equal(at_minus_zero, attack(model, x, eps=0.0, seed=0, **options))
    np.testing.assert_array_equal(at_minus_zero, x)
    assert check_nonnegative(-0.0, "eps") == 0.0
    assert not np.signbit(check_nonnegative(-0.0, "eps"))


def test_a_masked_array_is_refused_when_it_masks_entries_and_read_as_its_data_when_not():
    """Before, a masked array passed check_array (np.isfinite ignores masked NaN) and failed
    deep in numpy.ma ("operands could not be broadcast together with shapes (5,4) (4,8)");
    masked labels were read with their mask ignored."""
    model = ta.mlp([4, 8, 3], seed=0, dtype=np.float64)
    x = np.random.default_rng(0).uniform(0, 1, (5, 4))
    y = np.array([0, 1, 2, 0, 1])
    masked = np.ma.array(x.copy(), mask=np.zeros(x.shape, bool))
    masked[0, 0] = np.ma.masked
    for call in (lambda: model.logits(masked), lambda: ta.predict(model, masked),
                 lambda: ta.fgsm(model, masked, y, eps=0.1)):
        with pytest.raises(ValueError, match=r"x is a masked array with 1 masked entries"):
            call()
    with pytest.raises(ValueError, match=r"y is a masked array with 1 masked entries"):
        ta.accuracy(model, x, np.ma.array(y, mask=[1, 0, 0, 0, 0]))
    unmasked = np.ma.array(x)
    np.testing.assert_array_equal(model.logits(unmasked), model.logits(x))
    assert ta.accuracy(model, unmasked, np.ma.array(y)) == ta.accuracy(model, x, y)


def test_ndarray_subclasses_are_read_as_plain_arrays():
    """Before, np.matrix passed check_array and failed in Numba ("Cannot unify array(float64,
    1d, C) and Literal[int](0)"), in softmax ("could not be broadcast together with shapes (5,3)
    (5,1,5)") or in perturbation_stats ("matrix.sum() got an unexpected keyword argument
    'keepdims'")."""
    import warnings
    model = ta.mlp([4, 8, 3], seed=0, dtype=np.float64)
    x = np.random.default_rng(0).uniform(0, 1, (5, 4))
    y = np.array([0, 1, 2, 0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        xm, logits_m = np.matrix(x), np.matrix(model.logits(x))
    np.testing.assert_array_equal(model.logits(xm), model.logits(x))
    np.testing.assert_array_equal(ta.fgsm(model, xm, y, eps=0.1), ta.fgsm(model, x, y, eps=0.1))
    np.testing.assert_array_equal(ta.softmax(logits_m), ta.softmax(model.logits(x)))
    stats = ta.perturbation_stats(xm, xm + 0.01)
    np.testing.assert_allclose(stats[np.inf]["per_sample"], 0.01)
    assert type(ta.checks.check_array(xm)) is np.ndarray


@pytest.mark.parametrize("values, error, message", [
    ([[0.1, 0.2], [0.3]], ValueError, r"x is a ragged list \(rows of different lengths\)"),
    ([["0.1", "0.2"]], TypeError, "x must be an array or a list of real numbers, got a list of dtype <U3"),
    ([[None, 0.2]], TypeError, "x must be an array or a list of real numbers, got a list of NoneType"),
    ([1j, 0.5], TypeError, "x must be an array or a list of real numbers, got a list of dtype complex128"),
    ([10 ** 400, 0.5], ValueError, "x contains infinite values"),
])
def test_a_list_that_is_not_of_real_numbers_is_refused_by_name(values, error, message):
    """Before: NumPy's "setting an array element with a sequence", the strings read as numbers,
    None read as NaN ("x contains NaN"), float()'s own TypeError, and an OverflowError."""
    from tinyadv.checks import check_array
    with pytest.raises(error, match=message):
        check_array(values, "x")


def test_lists_of_numbers_are_still_float64_arrays():
    from tinyadv.checks import check_array
    from fractions import Fraction
    for values, expected in (([[1, 2], [3, 4]], [[1.0, 2.0], [3.0, 4.0]]), ([True, False], [1.0, 0.0]),
                             ([2 ** 70, 1], [2.0 ** 70, 1.0]), ([Fraction(1, 2)], [0.5]), ([], []),
                             ([np.float32(0.5)], [0.5])):
        out = check_array(values, "x")
        assert type(out) is np.ndarray and out.dtype == np.float64
        np.testing.assert_array_equal(out, expected)


def test_label_lists_empty_or_ragged():
    """Before, an empty list of labels for an empty batch was refused ("y must hold integer
    class labels, got dtype float64": np.asarray([]) is float64), and a ragged list failed with
    NumPy's "setting an array element with a sequence"."""
    from tinyadv.checks import check_labels
    model = ta.mlp([4, 8, 3], seed=0, dtype=np.float64)
    assert ta.fgsm(model, np.zeros((0, 4)), [], eps=0.1).shape == (0, 4)
    assert check_labels([], 0, 3).dtype == np.int64
    with pytest.raises(ValueError, match="y is a ragged list, not a vector of labels"):
        check_labels([[1], 0], 2, 3)


def test_a_clip_bound_too_large_for_a_float_is_an_open_end():
    """Before, float(10**400) escaped check_clip as OverflowError."""
    from tinyadv.checks import check_clip
    assert check_clip((0, 10 ** 400)) == (0.0, np.inf)
    assert check_clip((-10 ** 400, 1)) == (-np.inf, 1.0)
    with pytest.raises(ValueError, match="clip must satisfy low < high"):
        check_clip((10 ** 400, 10 ** 401))


HUGE = 10 ** 30  # (beyond int64: NumPy's sizes and Numba's integers)


@pytest.mark.parametrize("call, name", [
    (lambda: ta.layers.conv2d_forward(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), stride=HUGE),
     "stride"),
    (lambda: ta.layers.conv2d_forward(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding=HUGE),
     "padding"),
    (lambda: ta.layers.conv2d_forward(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)),
                                      padding=(1, HUGE)), "padding"),
    (lambda: ta.Conv2D(3, 4, HUGE), "kernel_size"),
    (lambda: ta.Conv2D(3, 4, (3, HUGE)), "kernel_size"),
    (lambda: ta.Conv2D(3, 4, 3, stride=HUGE), "stride"),
    (lambda: ta.Conv2D(3, 4, 3, padding=HUGE), "padding"),
    (lambda: ta.Conv2D(HUGE, 4, 3), "in_channels"),
    (lambda: ta.Linear(3, HUGE), "out_features"),
    (lambda: ta.BatchNorm(HUGE), "num_features"),
    (lambda: ta.cleverhans_cnn(nf=HUGE), "nf"),
    (lambda: ta.cleverhans_cnn(image_size=HUGE), "image_size"),
    (lambda: ta.cleverhans_cnn(num_classes=HUGE), "num_classes"),
    (lambda: ta.mlp([4, HUGE, 3]), r"sizes\[1\]"),
    (lambda: ta.fooling_images(ta.mlp([4, 3]), (4,), per_class=HUGE), "per_class"),
    (lambda: ta.fooling_images(ta.mlp([4, 3]), (HUGE,)), "shape must hold sizes"),
    (lambda: ta.deepfool(ta.mlp([4, 3]), np.ones((2, 4)), steps=HUGE), "steps"),
    (lambda: ta.deepfool(ta.mlp([4, 3]), np.ones((2, 4)), candidates=HUGE), "candidates"),
    (lambda: ta.spsa(ta.mlp([4, 3]), np.ones((2, 4)), eps=0.1, steps=1, batch_size=HUGE),
     "batch_size"),
    (lambda: ta.accuracy(ta.mlp([4, 3]), np.ones((2, 4)), np.zeros(2, int), batch_size=HUGE),
     "batch_size"),
    (lambda: ta.Sequential(ta.Linear(4, 3), chunk_size=HUGE), "chunk_size"),
    (lambda: ta.set_num_threads(HUGE), "the number of threads"),
])
def test_a_count_or_size_beyond_int64_is_refused_by_name(restore_threads, call, name):
    """Before: a Numba TypingError (stride), NumPy's "Maximum allowed dimension exceeded"
    (padding), np.sqrt's TypeError on a Python int (kernel_size), an OverflowError
    (per_class), or no error at all (a count of steps, of threads; pgd, which does not stop
    early, looped for ever)."""
    with pytest.raises(ValueError, match=f"{name} .*< 2\\*\\*63, got {HUGE}"):
        call()


def test_check_positive_int_takes_int64_and_names_larger_integers():
    from tinyadv.checks import check_positive_int
    assert check_positive_int(2 ** 63 - 1, "n") == 2 ** 63 - 1
    assert check_positive_int(np.uint64(2 ** 63 - 1), "n") == 2 ** 63 - 1
    with pytest.raises(ValueError, match=f"n must be < 2\\*\\*63, got {2 ** 63}"):
        check_positive_int(np.uint64(2 ** 63), "n")
    with pytest.raises(ValueError, match="n must be < 2\\*\\*63, got an integer of 16610 bits"):
        check_positive_int(10 ** 5000, "n")  # (str() of its 5001 digits raises ValueError)
    assert check_positive_int(HUGE, "n", maximum=np.inf) == HUGE  # (no bound)
