"""Optional: the same state dict in an equivalent torch.nn model gives the same logits, input
gradients and weight gradients (float64, relative 1e-5). Skipped when PyTorch is not installed."""

from collections import OrderedDict

import numpy as np
import pytest

import tinyadv as ta

torch = pytest.importorskip("torch")


def torch_cleverhans_cnn(in_channels, nf, image_size, bias):
    nn = torch.nn
    side = ((-(-image_size // 2)) - 6) // 2 + 1 - 4
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, nf, 8, stride=2, padding=3, bias=bias)),
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(nf, 2 * nf, 6, stride=2, bias=bias)),
        ("relu2", nn.ReLU()),
        ("conv3", nn.Conv2d(2 * nf, 2 * nf, 5, stride=1, bias=bias)),
        ("relu3", nn.ReLU()),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(2 * nf * side * side, 10, bias=bias)),
    ])).double()


@pytest.mark.parametrize("in_channels, image_size, bias", [(3, 32, False), (1, 28, True)])
def test_cleverhans_cnn_matches_pytorch(in_channels, image_size, bias):
    ours = ta.cleverhans_cnn(in_channels=in_channels, image_size=image_size, nf=8, bias=bias,
                             seed=0, dtype=np.float64)
    if bias:
        for p in ours.parameters():
            if p.data.ndim == 1:
                p.data[...] = np.random.default_rng(1).normal(size=p.data.shape)
    theirs = torch_cleverhans_cnn(in_channels, 8, image_size, bias)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})

    rng = np.random.default_rng(0)
    x = rng.random((5, in_channels, image_size, image_size))
    g = rng.normal(size=(5, 10))
    x_torch = torch.from_numpy(x.copy()).requires_grad_(True)
    logits_torch = theirs(x_torch)
    (logits_torch * torch.from_numpy(g)).sum().backward()

    np.testing.assert_allclose(ours.logits(x), logits_torch.detach().numpy(), rtol=1e-5, atol=1e-12)
    ours_grad = ours.input_gradient(x, g)
    assert ta.rel_error(ours_grad, x_torch.grad.numpy()) < 1e-5

    # the weight gradients too, in training mode (the rows or tiles kept by the forward pass)
    ours.train()
    ours.zero_grad()
    logits, caches = ours.forward(x)
    ours.backward(g, caches, need_input_grad=False)
    named = dict(theirs.named_parameters())
    for (name, _), parameter in zip(ours.state_dict().items(), ours.parameters()):
        assert ta.rel_error(parameter.grad, named[name].grad.numpy()) < 1e-5, name
    # on 32×32 images conv2 (6×6 outputs) takes Winograd's products, on 28×28 (5×5) im2col's
    layers = dict(ours.layers)
    h = layers["relu1"].forward(layers["conv1"].forward(x)[0])[0]
    assert layers["conv2"].forward(h)[1][0] == ("winograd" if image_size == 32 else "im2col")


def test_batchnorm_matches_pytorch_in_training_and_evaluation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3, 4, 4)) * 2 + 1
    dout = rng.normal(size=x.shape)
    ours = ta.BatchNorm(3, dtype=np.float64)
    theirs = torch.nn.BatchNorm2d(3).double()
    for training in (True, False):
        ours.training = training
        theirs.train(training)
        x_torch = torch.from_numpy(x.copy()).requires_grad_(True)
        out_torch = theirs(x_torch)
        (out_torch * torch.from_numpy(dout)).sum().backward()
        out, cache = ours.forward(x)
        dx, _ = ours.backward(dout, cache, need_param_grads=False)
        np.testing.assert_allclose(out, out_torch.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dx, x_torch.grad.numpy(), rtol=1e-8, atol=1e-10)
    ours_state = ta.Sequential(("bn", ours)).state_dict()
    for key, value in theirs.state_dict().items():  # same keys, same running statistics
        np.testing.assert_allclose(ours_state[f"bn.{key}"], value.numpy(), rtol=1e-10)


def torch_binary_cleverhans_cnn(ours):
    """The binarized variants in torch: sign with sign(0) = +1 and a straight-through backward
    (the Galloway clip or Hubara's 1{|x| <= 1}), for activations and for conv2's and conv3's
    weights; the scalar of ScaledReLU as a parameter ``scale``."""
    nn, functional = torch.nn, torch.nn.functional

    class SignSTE(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, ste):
            ctx.save_for_backward(x)
            ctx.ste = ste
            return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return (grad * (x.abs() <= 1) if ctx.ste == "hubara" else grad.clamp(-1, 1)), None

    class Sign(nn.Module):
        def __init__(self, ste):
            super().__init__()
            self.ste = ste

        def forward(self, x):
            return SignSTE.apply(x, self.ste)

    class BinaryConv(nn.Conv2d):
        def forward(self, x):
            return functional.conv2d(x, SignSTE.apply(self.weight, self.ste), None, self.stride)

    class ScaledReLU(nn.Module):
        def __init__(self, init):
            super().__init__()
            self.scale = nn.Parameter(torch.tensor([init], dtype=torch.float64))

        def forward(self, x):
            return functional.relu(x) * self.scale[0]

    modules = OrderedDict()
    for name, layer in ours.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            modules[name] = nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                                      stride=layer.stride, padding=3, bias=False)
        elif kind == "BinaryConv2D":
            modules[name] = BinaryConv(layer.in_channels, layer.out_channels, layer.kernel_size,
                                       stride=layer.stride, bias=False)
            modules[name].ste = layer.ste
        else:
            modules[name] = {
                "ReLU": nn.ReLU, "Flatten": nn.Flatten,
                "BatchNorm": lambda: nn.BatchNorm2d(layer.num_features),
                "Sign": lambda: Sign(layer.ste),
                "ScaledReLU": lambda: ScaledReLU(layer.init),
                "Linear": lambda: nn.Linear(layer.in_features, layer.out_features, bias=False),
            }[kind]()
    return nn.Sequential(modules).double()


@pytest.mark.parametrize("binary", ["binary", "scaled"])
@pytest.mark.parametrize("ste", ["galloway", "hubara"])
@pytest.mark.parametrize("training", [True, False])
def test_binarized_cleverhans_cnn_matches_pytorch(binary, ste, training):
    """Logits, the mean cross-entropy's dL/dx and every parameter gradient (with the STE on
    conv2's and conv3's weights) and BatchNorm's running statistics, in float64, for a batch of
    40 (two chunks in evaluation mode). The state dict loads into torch with strict=True."""
    ours = ta.cleverhans_cnn(nf=4, binary=binary, ste=ste, seed=0, dtype=np.float64)
    theirs = torch_binary_cleverhans_cnn(ours)
    theirs.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in ours.state_dict().items()},
                           strict=True)
    ours.train(training)
    theirs.train(training)
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 3, 32, 32)), rng.integers(0, 10, 40)
    x_torch = torch.from_numpy(x.copy()).requires_grad_(True)
    logits_torch = theirs(x_torch)
    torch.nn.functional.cross_entropy(logits_torch, torch.from_numpy(y)).backward()

    ours.zero_grad()
    logits, caches = ours.forward(x)
    dx = ours.backward(ta.cross_entropy(logits, y)[1], caches)
    assert ta.rel_error(logits, logits_torch.detach().numpy()) < 1e-10
    assert ta.rel_error(dx, x_torch.grad.numpy()) < 1e-10
    named = dict(theirs.named_parameters())
    for name, parameter in ours.named_parameters():
        assert ta.rel_error(parameter.grad, named[name].grad.numpy()) < 1e-10, name
    their_state = theirs.state_dict()
    for name, value in ours.state_dict().items():
        np.testing.assert_allclose(value, their_state[name].numpy(), rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("attack", ["cw_l2", "deepfool"])
def test_bench_cnn_times_the_same_attacks_in_pytorch(attack):
    """bench_cnn's ratios for CW-L2 and DeepFool compare like with like: its PyTorch versions,
    on the same weights and images, fool the same images with perturbations of the same size
    and direction (not the same to the last bit: tinyadv keeps w and r_tot in float64, and a
    pixel at the box's edge may round to either side)."""
    from script_loading import load_script

    bench = load_script("bench_cnn")
    model = ta.cleverhans_cnn(seed=0).eval()
    theirs = bench.torch_cnn(torch.float32, model.state_dict()).eval()
    x = np.random.default_rng(0).random((24, 3, 32, 32), dtype=np.float32)
    if attack == "cw_l2":
        ours = ta.cw_l2(model, x, search_steps=1, steps=100)
        their_x = bench.torch_cw_l2(theirs, torch.from_numpy(x)).detach().numpy()
    else:
        ours = ta.deepfool(model, x)
        their_x = bench.torch_deepfool(theirs, torch.from_numpy(x)).detach().numpy()
    clean = model.predict(x)
    fooled = model.predict(ours) != clean
    assert 0 < fooled.sum()  # the comparison is not empty
    np.testing.assert_array_equal(model.predict(their_x) != clean, fooled)
    ours_l2, their_l2, apart = (np.linalg.norm((a - b).reshape(len(x), -1), axis=1)
                                for a, b in ((ours, x), (their_x, x), (their_x, ours)))
    np.testing.assert_allclose(their_l2, ours_l2, rtol=1e-2)  # measured: within 0.11%
    assert np.all(apart <= 0.05 * ours_l2)  # the same direction (measured: within 3.1%)


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}, {"reduction": "sum"},
                                     {"reduction": "none"}, {"class_weights": "drawn"}])
def test_cross_entropy_matches_pytorch_and_departs_only_where_its_gradient_rounds(options):
    """Value and gradient equal torch.nn.functional.cross_entropy's in float64 for each option
    used alone (with class weights and smoothing together the two weight differently, see the
    docstring). For a float32 label leading by 20, PyTorch's gradient entry of the label is
    exp(log p_y) − 1 = 0 beside the others' e^−20, tinyadv's is −s/(1 + s) (the row sums to 0)."""
    functional = torch.nn.functional
    rng = np.random.default_rng(0)
    logits, y = rng.normal(size=(6, 4)) * 3, rng.integers(0, 4, size=6)
    options = dict(options)
    torch_options = {k: v for k, v in options.items() if k != "class_weights"}
    if "class_weights" in options:
        options["class_weights"] = rng.random(4) + 0.1
        torch_options["weight"] = torch.from_numpy(options["class_weights"])
    loss, dlogits = ta.cross_entropy(logits, y, **options)
    z = torch.tensor(logits, requires_grad=True)
    expected = functional.cross_entropy(z, torch.from_numpy(y), **torch_options)
    expected.sum().backward()
    np.testing.assert_allclose(loss, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dlogits, z.grad.numpy(), rtol=1e-10, atol=1e-15)

    confident = np.array([[20.0, 0.0, 0.0]], dtype=np.float32)
    _, ours = ta.cross_entropy(confident, np.array([0]))
    z = torch.tensor(confident, requires_grad=True)
    functional.cross_entropy(z, torch.tensor([0])).backward()
    theirs = z.grad.numpy()
    assert theirs[0, 0] == 0 and theirs[0, 1] > 0  # PyTorch: the label's part rounds away
    np.testing.assert_allclose(ours[0, 1:], theirs[0, 1:], rtol=1e-6)
    np.testing.assert_allclose(ours[0, 0], -2 * np.exp(-20.0) / (1 + 2 * np.exp(-20.0)), rtol=1e-6)


CONV_SHAPES = [  # N, C, H, W, F, kernel, stride, padding
    (1, 1, 5, 5, 1, (3, 3), 1, 0),         # one image, one channel, one filter
    (2, 3, 7, 4, 2, (2, 3), 2, "same"),    # non-square image and kernel, asymmetric SAME pads
    (2, 2, 9, 6, 3, (2, 2), 3, 0),         # stride > kernel: pixels no output reads
    (2, 2, 5, 4, 2, (5, 4), 1, 0),         # the kernel is the whole image: 1x1 outputs
    (2, 2, 4, 3, 2, (6, 5), 1, (1, 1)),    # the kernel is the whole padded image
    (3, 2, 7, 7, 2, (3, 3), 1, 0),         # 5x5 outputs: no whole tiles of 2 or 3
    (3, 4, 8, 9, 2, (6, 6), 2, 1),         # Winograd on the phases, rectangular output
    (2, 3, 10, 10, 2, (5, 5), 1, "same"),  # F(2x2, 5x5)
    (2, 3, 11, 8, 2, (4, 4), 2, "same"),   # F(m, 2) on the phases, asymmetric SAME pads
    (5, 32, 8, 8, 4, (3, 3), 1, 1),        # where "auto" takes Winograd
    (40, 16, 12, 12, 3, (3, 3), 1, 1),     # four blocks of im2col rows, the last one short
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", CONV_SHAPES)
def test_conv2d_layer_matches_pytorch_on_edge_shapes(shape, dtype):
    """Conv2D's output, input gradient and weight and bias gradients equal
    torch.nn.functional.conv2d's (float64) on the input padded by the same pads, by im2col and
    by Winograd wherever it applies, with the rows (tiles) kept (training) and formed again
    (evaluation): to 1e-10 of the largest entry in float64, 1e-5 in float32 (5e-5 by Winograd,
    whose transforms round more: winograd.py; measured at most 4e-6 here)."""
    from tinyadv import winograd
    from tinyadv.layers.conv import resolve_padding

    N, C, H, W, F, kernel, stride, padding = shape
    rng = np.random.default_rng(CONV_SHAPES.index(shape))
    x = rng.normal(size=(N, C, H, W)).astype(dtype)
    dout = None
    top, bottom, left, right = resolve_padding(padding, H, W, *kernel, stride)
    methods = ["auto", "im2col"] + ["winograd"] * winograd.applies(*kernel, stride)
    for method in methods:
        for training in (True, False):
            layer = ta.Conv2D(C, F, kernel, stride=stride, padding=padding, seed=1, dtype=dtype)
            layer.params["bias"].data[...] = rng.normal(size=F)
            layer.method, layer.training = method, training
            out, cache = layer.forward(x)
            if dout is None:
                dout = rng.normal(size=out.shape).astype(dtype)
            dx, grads = layer.backward(dout, cache)
            x_torch = torch.from_numpy(np.pad(x.astype(np.float64), ((0, 0), (0, 0), (top, bottom),
                                                                     (left, right))))
            x_torch.requires_grad_(True)
            w_torch = torch.from_numpy(layer.params["weight"].data.astype(np.float64))
            b_torch = torch.from_numpy(layer.params["bias"].data.astype(np.float64))
            w_torch.requires_grad_(True)
            b_torch.requires_grad_(True)
            out_torch = torch.nn.functional.conv2d(x_torch, w_torch, b_torch, stride=stride)
            out_torch.backward(torch.from_numpy(dout.astype(np.float64)))
            by_winograd = cache[0] == "winograd"
            tolerance = 1e-10 if dtype == np.float64 else 5e-5 if by_winograd else 1e-5
            pairs = [("out", out, out_torch.detach().numpy()),
                     ("dx", dx, x_torch.grad.numpy()[:, :, top:top + H, left:left + W]),
                     ("dw", grads["weight"], w_torch.grad.numpy()),
                     ("db", grads["bias"], b_torch.grad.numpy())]
            for name, ours, theirs in pairs:
                assert ours.dtype == dtype and ours.shape == theirs.shape, name
                np.testing.assert_allclose(ours, theirs, rtol=tolerance,
                                           atol=tolerance * np.abs(theirs).max(),
                                           err_msg=f"{name} by {cache[0]} ({method}), "
                                                   f"training={training}")


def test_bench_cnn_pytorch_attacks_compute_no_weight_gradients():
    """bench_cnn's PyTorch CW-L2 and DeepFool do the work of tinyadv's and no more: tinyadv's
    attacks compute input gradients only, so PyTorch's must not run (and accumulate) the model's
    weight gradients, which a plain ``loss.backward()`` does (1.20-1.29x the time of CW-L2)."""
    from script_loading import load_script

    bench = load_script("bench_cnn")
    model = ta.cleverhans_cnn(seed=0).eval()
    theirs = bench.torch_cnn(torch.float32, model.state_dict()).eval()
    x = torch.from_numpy(np.random.default_rng(0).random((4, 3, 32, 32), dtype=np.float32))
    bench.torch_cw_l2(theirs, x, steps=3, abort_early=False)
    bench.torch_deepfool(theirs, x, steps=3)
    assert all(p.requires_grad and p.grad is None for p in theirs.parameters())


def test_bench_cnn_pytorch_deepfool_makes_no_forward_pass_of_its_own_for_the_candidates():
    """tinyadv's deepfool reads the clean logits' top-k candidates off its first step's pass (at
    x); bench_cnn's PyTorch DeepFool does the same, so that every forward pass it makes is a
    step's, through which its backward passes go, and none is spent under no_grad."""
    from script_loading import load_script

    bench = load_script("bench_cnn")
    model = ta.cleverhans_cnn(seed=0).eval()
    theirs = bench.torch_cnn(torch.float32, model.state_dict()).eval()
    x = torch.from_numpy(np.random.default_rng(0).random((6, 3, 32, 32), dtype=np.float32))
    passes = []
    theirs.register_forward_pre_hook(lambda module, inputs: passes.append(
        (len(inputs[0]), inputs[0].requires_grad)))
    bench.torch_deepfool(theirs, x)
    assert passes and passes[0][0] == len(x) and all(needs_grad for _, needs_grad in passes)


def test_bench_cnn_pytorch_channels_last_is_the_same_network_in_another_memory_order():
    """--torch-channels-last changes where PyTorch keeps the numbers, not the numbers: the same
    weights and inputs in channels-last order give the contiguous network's logits."""
    from script_loading import load_script

    bench = load_script("bench_cnn")
    state = ta.cleverhans_cnn(seed=0).state_dict()
    x = np.random.default_rng(0).random((4, 3, 32, 32), dtype=np.float32)
    plain = bench.torch_cnn(torch.float32, state).eval()
    last = bench.torch_cnn(torch.float32, state, channels_last=True).eval()
    x_last = bench.torch_input(x, torch.float32, channels_last=True)
    assert x_last.is_contiguous(memory_format=torch.channels_last) and not x_last.is_contiguous()
    assert last[0].weight.is_contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        np.testing.assert_allclose(last(x_last).numpy(), plain(torch.from_numpy(x)).numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_bench_cnn_attack_ratio_is_the_median_of_the_rounds_ratios(monkeypatch):
    """The attacks' ratio is taken as the table's is: one per round (both timed within it), then
    the median; not the ratio of the two medians (here 2.0 against 1.0)."""
    from script_loading import load_script

    bench = load_script("bench_cnn")
    monkeypatch.setattr(bench, "round_seconds", lambda *works, repeats: (
        np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 9.0])))
    rates = bench.attack_rates(2, 3)
    for rate, _, (their_rate, _, ratio) in rates.values():
        assert (rate, their_rate, ratio) == (1.0, 1.0, 2.0)


def test_bench_train_cifar_pytorch_channels_last_trains_in_that_memory_format():
    """--torch-channels-last in bench_train_cifar: conv1 and every batch it trains on are in
    channels-last order, and the training moves the weights as the default one does."""
    from script_loading import load_script

    bench = load_script("bench_train_cifar")
    rng = np.random.default_rng(0)
    x = rng.random((8, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, 8)
    weights = {}
    for channels_last in (False, True):
        train_epoch, test_accuracy = bench.torch_trainer(ta.cleverhans_cnn(seed=0), 3, 32,
                                                         channels_last)
        seen = []  # (conv1, whether its input was channels-last) at every training step

        def conv1_input(module, inputs):
            if isinstance(module, torch.nn.Conv2d) and module.in_channels == 3:
                seen.append((module, inputs[0].is_contiguous(memory_format=torch.channels_last)))

        hook = torch.nn.modules.module.register_module_forward_pre_hook(conv1_input)
        try:
            train_epoch(x, y, np.arange(8), 4)
        finally:
            hook.remove()
        conv1 = seen[0][0]
        assert [last for _, last in seen] == [channels_last] * 2
        assert conv1.weight.is_contiguous(memory_format=torch.channels_last) == channels_last
        weights[channels_last] = conv1.weight.detach().numpy().copy()
        assert 0.0 <= test_accuracy(x, y) <= 1.0
    np.testing.assert_allclose(weights[True], weights[False], atol=1e-5)
    assert not np.allclose(weights[True], ta.cleverhans_cnn(seed=0).state_dict()["conv1.weight"])
