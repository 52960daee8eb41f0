"""Models: a ``Sequential`` stack of named layers, and the architectures of the talk.

Everything an attack needs from a model is two methods (DESIGN.md):

    logits(x)                     -> (N, K) scores, never probabilities
    input_gradient(x, grad_logits) -> dL/dx for the upstream gradient dL/dlogits (a
                                     vector-Jacobian product), shaped like x

``Sequential`` also has what training needs: ``forward``/``backward`` with explicit caches,
``parameters()`` with their gradients, ``train()``/``eval()``, ``state_dict()`` /
``load_state_dict()`` with PyTorch's keys and layouts, and ``save``/``load`` to a ``.npz`` that
rebuilds the architecture and is read with ``allow_pickle=False`` (nothing is unpickled).

The architectures:

- ``logistic_regression(n_features)``: one logit z = w·x + b, a binary classifier (label 1 when
  z > 0). Keys ``fc.weight`` (1, n_features), ``fc.bias`` (1,).
- ``mlp(sizes)``: Linear/ReLU layers, keys ``fc1``, ``fc2``, ...
- ``cleverhans_cnn(...)``: the CleverHans basic CNN that the talk uses (REFERENCES.md §3, §8):
  conv 8×8/2 SAME → conv 6×6/2 VALID → conv 5×5/1 VALID → linear, ReLU between, no biases;
  184,832 weights on CIFAR-10 with nf = 32; and the binarized variants of "Attacking Binarized
  Neural Networks".
"""

import io
import json
import math
import numbers
import os
import threading
import weakref
import zipfile
import zlib

import numpy as np

from .checks import (check_array, check_bool, check_fits, check_float_dtype, check_positive_int,
                     make_rng)
from .files import atomic_path, check_path
from .init import truncated_normal, unit_norm_filters
from .layers.activations import check_ste
from .layers import (BatchNorm, BinaryConv2D, BinaryLinear, Conv2D, Flatten, Layer, Linear, ReLU,
                     Scale, ScaledReLU, Sign, StochasticBinaryConv2D)
from .losses import logits_to_labels
from .plans import gradient_plan, inference_plan
from .threads import call_owner, chunk_slices, cores, map_chunks, working_for

#: The layer classes that ``load`` may rebuild from a file (nothing else is ever constructed).
LAYER_CLASSES = {cls.__name__: cls for cls in (
    BatchNorm, BinaryConv2D, BinaryLinear, Conv2D, Flatten, Linear, ReLU, Scale, ScaledReLU,
    Sign, StochasticBinaryConv2D,
)}

FORMAT = "tinyadv-sequential-1"

_holding = threading.Lock()  # guards Sequential._holds and _holders
_holders = weakref.WeakSet()  # the models whose layers hold their weights now (see _map)


def _forget_the_calls_of_other_threads():
    """In the child of ``os.fork``: the threads running the parent's calls are not there to
    release the weights at their end, so the child would keep its models' weights held for
    ever (and compute from what was transformed before its own weights changed). The child
    starts with no call running."""
    global _holding
    _holding = threading.Lock()  # (the parent's may have been held by a thread the child lacks)
    for model in list(_holders):
        model._holds = 0
        for _, layer in model.layers:
            layer.release_weights()
    _holders.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_the_calls_of_other_threads)


class Sequential:
    """Layers applied one after the other, each with a name (its prefix in the state dict).

    ``Sequential(Linear(4, 3), ReLU())`` names the layers "0", "1" as PyTorch does;
    ``Sequential(("fc1", Linear(4, 3)), ("relu1", ReLU()))`` names them.

    Parameters
    ----------
    *layers : Layer or (name, Layer)
        A name is a non-empty str without '.'. ``model["fc1"]`` is the layer of that name;
        like a dict's keys, ``"fc1" in model`` and ``for name in model`` see the names (the
        ``(name, layer)`` pairs are ``model.layers``).
    chunk_size : int or None
        Batches are processed in chunks of this many images, on several threads (see
        ``tinyadv/threads.py``). Batch-dependent layers (BatchNorm in training mode, stochastic
        layers) turn chunking off, so their statistics are those of the whole batch; so do
        binarized layers with the Galloway STE where parameter gradients are computed
        (``forward``, ``forward_backward``): it clips the whole batch's dL/dW_b. None (the
        default) takes 64 images of a float32 batch that has a chunk of 64 for every core the
        process may run on (``threads.cores``: a batch of at least 128 on 2 cores, 256 on 4),
        else 32 images: chunks of the same bytes in float32 as in float64, but no core left
        idle for want of a chunk (the cores, not the thread count: results stay the same for
        any ``set_num_threads``, and differ in their last bits between machines of other core
        counts, as they may with another OpenBLAS). On the talk's CNN, 2 cores, with conv2 by
        Winograd, 32 float64 images instead of 16 made the training step 1.12x faster,
        inference 1.06x and PGD 1.03x (the later layers' products have few rows per image).
        64 float32 images instead of 32 (an Intel Xeon, runs taking turns) made the training
        step at batch 128 1.09-1.10x faster (1.06x on one thread: half the Python per image),
        forward + input gradient at batch 512 1.07x, inference 1.02x; 64 float64 images were
        slower than 32 (0.96-0.98x), and 48 float32 images (three chunks of a batch of 128 on
        two threads) slower than both (``scripts/BENCHMARKS.md``, "Chunks on threads"). Another size
        changes results in their last bits (see ``tinyadv/threads.py``). A positive integer or
        None, else ValueError (also when set later: ``model.chunk_size = 64``).
    """

    def __init__(self, *layers, chunk_size=None):
        self.layers = []
        for index, item in enumerate(layers):
            if isinstance(item, tuple) and len(item) != 2:
                raise TypeError(f"each layer must be a Layer or a (name, Layer) pair, got a "
                                f"tuple of {len(item)} items")
            name, layer = item if isinstance(item, tuple) else (str(index), item)
            self.append(name, layer)
        self.chunk_size = chunk_size
        self.training = True
        self._holds = 0  # calls running chunks now (see _map)

    @property
    def chunk_size(self):
        """Images per chunk, or None for the default: 64 float32 images where the batch has a
        chunk of 64 for every core, else 32 (the class docstring)."""
        return self._chunk_size

    @chunk_size.setter
    def chunk_size(self, value):
        self._chunk_size = None if value is None else check_positive_int(value, "chunk_size")

    def append(self, name, layer):
        """Add ``layer`` at the end under ``name``; returns self. Added to a model built
        already, the layer takes the model's mode (a BatchNorm appended after ``eval()`` uses
        its running statistics, as the rest of the model does)."""
        if not isinstance(name, str):
            raise TypeError(f"a layer name must be a str, got {name!r}")
        if not isinstance(layer, Layer):
            raise TypeError(f"layer {name!r} must be a tinyadv Layer, got {type(layer).__name__}")
        if name in dict(self.layers) or "." in name or not name:
            raise ValueError(f"layer names must be unique, non-empty and without '.', got {name!r}")
        if hasattr(self, "training"):  # (not while __init__ adds its layers)
            layer.training = self.training
        self.layers.append((name, layer))
        return self

    def __getitem__(self, name):
        layers = dict(self.layers)
        if name not in layers:
            raise KeyError(f"no layer named {name!r}; the layers are {list(layers)}")
        return layers[name]

    def __contains__(self, name):
        return name in dict(self.layers)

    def __iter__(self):
        return iter([name for name, _ in self.layers])

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        inner = "\n".join(f"  ({name}): {layer!r}" for name, layer in self.layers)
        return f"Sequential(\n{inner}\n)"

    # ---- the forward and backward passes ------------------------------------------------
    #
    # The readable core is the pair _forward_chunk / _backward_chunk: every layer in order, then
    # every layer in reverse. forward/backward/logits/input_gradient cut the batch into chunks
    # and run the pair on each chunk, on several threads (tinyadv/threads.py); the results are
    # those of one chunk up to rounding (float32 products round differently with their number of
    # rows; weight gradients add the chunks' sums), and the same for any number of threads.
    # (logits runs its chunks through an inference plan where one covers the model, the
    # layers' compiled calls with their choices made once per batch, and forward_backward
    # through a gradient plan, the computing parts of the layers' forward and backward passes
    # without their checks: tinyadv/plans.py, the same numbers bit for bit.)

    def _forward_chunk(self, x):
        caches = []
        for _, layer in self.layers:
            x, cache = layer.forward(x)
            caches.append(cache)
        return x, caches

    def _backward_chunk(self, dout, caches, need_input_grad, need_param_grads):
        grads = [None] * len(self.layers)
        for index in range(len(self.layers) - 1, -1, -1):
            _, layer = self.layers[index]
            dout, grads[index] = layer.backward(
                dout, caches[index], need_input_grad=need_input_grad or index > 0,
                need_param_grads=need_param_grads)
        # dL/dx in C order, like x: the first convolution's is a view of channels-last memory.
        # Copied here, while the chunk is in this core's cache, it saves a transposing copy of
        # the whole batch later (an attack's step works on flat pixels).
        return (None if dout is None else np.ascontiguousarray(dout)), grads

    def _chunk_images(self, n, dtype):
        """``chunk_size``, or by default 64 float32 images where a batch of n has a chunk of
        64 for every core (``threads.cores``), else 32 images (``chunk_size`` in the class
        docstring)."""
        if self.chunk_size is not None:
            return self.chunk_size
        return 64 if dtype == np.float32 and n >= 64 * cores() else 32

    def _chunks(self, n, dtype, param_grads=False):
        """Fixed chunks of ``_chunk_images(n, dtype)``, or one chunk when a layer needs the whole
        batch (BatchNorm in training mode, a stochastic layer drawing from its generator) or, when
        ``param_grads`` are to be computed, a layer whose parameter gradient is not a sum over
        chunks (a binarized layer with the Galloway STE, which clips the whole batch's dL/dW_b)."""
        if any(layer.batch_dependent or (param_grads and layer.param_grads_need_whole_batch)
               for _, layer in self.layers):
            return chunk_slices(n, n)
        return chunk_slices(n, self._chunk_images(n, dtype))

    @staticmethod
    def _chunk_input(x, part):
        """``x[part]``, checked for NaN and infinite values. The door of ``logits`` and the
        others checks the type and shape of the whole batch; this check, a pass over the
        pixels, runs in the chunks, on their threads (in float32 at batch 512 it took 1 ms
        before the first chunk could start, 4% of an inference call on 2 cores)."""
        return check_array(x[part], "x")

    def _map(self, work, items, n, dtype):
        """``map_chunks`` for a batch of ``n`` samples of ``dtype``; a batch of at most one chunk
        is small (BLAS keeps to one thread for it, see ``threads.map_chunks``). Meanwhile the
        layers hold their weights (``Layer.hold_weights``): nothing changes them during one call. A
        call made from inside a chunk (a loss that runs the model again) does the outer call's
        work (``threads.working_for``): it finds the weights held already, uses what they keep,
        and leaves the releasing to the outermost call. A call from another Python thread while
        one runs holds nothing and uses nothing the running call keeps: a training step in one
        thread while another evaluates the same model computes with its new weights (until
        2026-12-08 it took the evaluation's forms of the old ones, Winograd's U and the weight
        rows)."""
        with _holding:
            outermost = self._holds == 0
            self._holds += 1
            _holders.add(self)
        owner = object() if outermost else call_owner()

        def chunk(item):
            with working_for(owner):
                return work(item)

        if outermost:
            with working_for(owner):
                for _, layer in self.layers:
                    layer.hold_weights()
        try:
            return map_chunks(chunk, items, small=n <= self._chunk_images(n, dtype))
        finally:
            with _holding:
                self._holds = max(self._holds - 1, 0)  # (0 already in a child forked meanwhile)
                if self._holds == 0:
                    _holders.discard(self)
            if outermost:
                for _, layer in self.layers:
                    layer.release_weights()

    def forward(self, x):
        """Run every layer; returns ``(logits, caches)`` for :meth:`backward`."""
        x = check_array(x, "x", min_ndim=2, finite=False)
        slices = self._chunks(len(x), x.dtype, param_grads=True)  # (backward may be asked for them)
        results = self._map(lambda part: self._forward_chunk(self._chunk_input(x, part)), slices,
                            len(x), x.dtype)
        logits = np.concatenate([out for out, _ in results])
        return logits, (slices, [caches for _, caches in results], logits.shape)

    def backward(self, dout, caches, *, need_input_grad=True, need_param_grads=True):
        """Backpropagate ``dout`` = dL/dlogits through the layers in reverse.

        Parameter gradients are *added* into each ``Parameter.grad`` (call ``zero_grad`` first):
        the chunks' gradients summed in chunk order (``_GradientSum``). Returns dL/dx, or None
        when ``need_input_grad`` is False (then the first layer skips computing it, which saves
        a whole col2im in training).
        ``dout`` must be finite and shaped like the logits that :meth:`forward` returned.
        """
        need_input_grad = check_bool(need_input_grad, "need_input_grad")
        need_param_grads = check_bool(need_param_grads, "need_param_grads")
        slices, chunk_caches, shape = self._check_caches(caches)
        dout = check_array(dout, "dout")
        if dout.shape != shape:
            raise ValueError(f"dout must have the logits' shape {shape}, got {dout.shape}")
        grads = _GradientSum(self)

        def chunk(i):
            dx, chunk_grads = self._backward_chunk(dout[slices[i]], chunk_caches[i],
                                                   need_input_grad, need_param_grads)
            grads.add(i, chunk_grads)
            return dx

        results = self._map(chunk, list(range(len(slices))), len(dout), dout.dtype)
        grads.into_parameters()
        return np.concatenate(results) if need_input_grad else None

    def _check_caches(self, caches):
        """``caches`` if it has the form that :meth:`forward` returns (its chunks' slices, one
        list of this model's layer caches per chunk, the logits' shape), else ValueError."""
        valid = (isinstance(caches, tuple) and len(caches) == 3
                 and isinstance(caches[0], list) and isinstance(caches[1], list)
                 and len(caches[0]) == len(caches[1])
                 and all(isinstance(part, slice) for part in caches[0])
                 and all(isinstance(c, list) and len(c) == len(self.layers) for c in caches[1])
                 and isinstance(caches[2], tuple))
        if not valid:
            raise ValueError(f"caches must be the caches that forward returned for this model "
                             f"(logits, caches = model.forward(x)), got {type(caches).__name__}")
        return caches

    def logits(self, x):
        """Scores (N, K) for a batch ``x``: the layers' forward passes, chunk by chunk, or, where
        the layers allow it, their compiled calls alone with the same numbers
        (``tinyadv/plans.py``)."""
        x = check_array(x, "x", min_ndim=2, finite=False)
        plan = inference_plan(self, x)  # (None: the layers one by one)

        def chunk(part):  # its caches are dropped as soon as its logits exist (forward keeps them)
            inputs = self._chunk_input(x, part)
            return self._forward_chunk(inputs)[0] if plan is None else plan(inputs)

        return np.concatenate(self._map(chunk, self._chunks(len(x), x.dtype), len(x), x.dtype))

    __call__ = logits

    def input_gradient(self, x, grad_logits):
        """dL/dx for the upstream gradient ``grad_logits`` = dL/dlogits (shape (N, K)).

        Parameter gradients are neither computed nor touched. Each chunk runs forward and
        backward in one go, so only one chunk's caches are alive per thread.
        """
        x = check_array(x, "x", min_ndim=2, finite=False)
        grad_logits = check_array(grad_logits, "grad_logits", ndim=2)
        if grad_logits.shape[0] != x.shape[0]:
            raise ValueError(f"grad_logits has {grad_logits.shape[0]} rows for a batch of {x.shape[0]}")

        def given(out, rows):
            if out.shape[1:] != grad_logits.shape[1:]:
                raise ValueError(f"grad_logits must have shape {(x.shape[0],) + out.shape[1:]}, "
                                 f"got {grad_logits.shape}")
            return grad_logits[rows]

        return self.logits_and_input_gradient(x, given)[1]

    def logits_and_input_gradient(self, x, grad_fn):
        """``(logits(x), input_gradient(x, grad_fn(logits, rows)))`` with one forward pass.

        An optional speed-up of the model interface that attacks use when a model has it: the
        gradient of a loss needs the logits first, and computing both in one pass per chunk
        saves the forward pass that ``logits`` followed by ``input_gradient`` would repeat.
        ``grad_fn`` is as in :meth:`forward_backward`; parameter gradients are not touched.
        The results equal the two separate calls bit for bit.
        """
        return self.forward_backward(x, grad_fn, need_param_grads=False)

    def forward_backward(self, x, grad_fn, *, need_input_grad=True, need_param_grads=True):
        """Forward and backward pass in one go per chunk; returns ``(logits, dL/dx or None)``.

        ``grad_fn(logits_chunk, rows) -> dL/dlogits_chunk`` gets the (n, K) logits of the
        samples ``x[rows]`` (``rows`` a slice) and returns the upstream gradient of those rows,
        so the loss must treat rows independently: a sum or mean of per-sample terms (for a
        mean the divisor must be the whole batch's, see ``cross_entropy(total_weight=...)``).
        Parameter gradients (``need_param_grads``) are *added* into each ``Parameter.grad``,
        the chunks' gradients summed in chunk order, exactly as :meth:`backward` after
        :meth:`forward` adds them, so the numbers are the same bit for bit (for a ``dout`` in
        the logits' dtype: ``grad_fn``'s result is cast to it, while :meth:`backward` takes a
        float64 ``dout`` of a float32 model as the float64 gradient it is). The difference is
        memory: only one chunk's caches are alive per thread, instead of the whole batch's.
        """
        x = check_array(x, "x", min_ndim=2, finite=False)
        _check_grad_fn(grad_fn)
        need_input_grad = check_bool(need_input_grad, "need_input_grad")
        need_param_grads = check_bool(need_param_grads, "need_param_grads")

        plan = gradient_plan(self, x, need_input_grad, need_param_grads)  # (None: the layers)
        slices = self._chunks(len(x), x.dtype, need_param_grads)
        grads = _GradientSum(self)

        def chunk(i):
            part = slices[i]
            inputs = self._chunk_input(x, part)
            out, caches = self._forward_chunk(inputs) if plan is None else plan[0](inputs)
            grad_logits = check_array(grad_fn(out, part), "the result of grad_fn")
            if grad_logits.shape != out.shape:
                raise ValueError(f"grad_fn must return the logits' shape {out.shape}, "
                                 f"got {grad_logits.shape}")
            grad_logits = grad_logits.astype(out.dtype, copy=False)
            dx, chunk_grads = (self._backward_chunk(grad_logits, caches, need_input_grad,
                                                    need_param_grads) if plan is None
                               else plan[1](grad_logits, caches))
            grads.add(i, chunk_grads)
            return out, (dx.astype(x.dtype, copy=False) if need_input_grad else None)

        results = self._map(chunk, list(range(len(slices))), len(x), x.dtype)
        grads.into_parameters()
        logits = np.concatenate([out for out, _ in results])
        return logits, (np.concatenate([dx for _, dx in results]) if need_input_grad else None)

    def logits_and_input_gradients(self, x, grad_fn):
        """Several vector-Jacobian products at the same point, with one forward pass.

        ``grad_fn(logits_chunk, rows)`` returns M upstream gradients for the samples ``x[rows]``,
        shape (M, n, K); the result is ``(logits (N, K), dx (M, N, ...))`` with ``dx[m]`` the
        input gradient for the m-th upstream gradient. Each chunk runs forward once and backward
        M times on the same caches: DeepFool needs the gradients of several logit differences at
        every step, and M separate ``input_gradient`` calls would repeat the forward pass M
        times. ``dx[m]`` equals ``input_gradient(x, g[m])`` bit for bit.
        """
        x = check_array(x, "x", min_ndim=2, finite=False)
        _check_grad_fn(grad_fn)

        def chunk(part):
            out, caches = self._forward_chunk(self._chunk_input(x, part))
            grad_logits = check_array(grad_fn(out, part), "the result of grad_fn")
            if grad_logits.ndim != 3 or grad_logits.shape[1:] != out.shape or len(grad_logits) == 0:
                raise ValueError(f"grad_fn must return shape (M,) + {out.shape} with M >= 1, "
                                 f"got {grad_logits.shape}")
            dx = [self._backward_chunk(g.astype(out.dtype, copy=False), caches, True, False)[0]
                  for g in grad_logits]
            return out, np.stack(dx).astype(x.dtype, copy=False)

        results = self._map(chunk, self._chunks(len(x), x.dtype), len(x), x.dtype)
        return (np.concatenate([out for out, _ in results]),
                np.concatenate([dx for _, dx in results], axis=1))

    def predict(self, x):
        """Predicted class ids (N,): argmax of the logits, or z > 0 for a single logit."""
        return logits_to_labels(self.logits(x))

    # ---- parameters, modes, dtype -------------------------------------------------------

    def named_parameters(self):
        """List of ``(key, Parameter)`` with PyTorch's keys, e.g. ``("conv1.weight", p)``.

        A layer (or a Parameter) used at two places of the model is listed once, under its
        first key, as in PyTorch: its gradient is the sum over its uses, and an optimizer or
        a penalty must see it once (``state_dict`` keeps both keys, as PyTorch's does)."""
        seen, named = set(), []
        for name, layer in self.layers:
            for key, p in layer.params.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    named.append((f"{name}.{key}", p))
        return named

    def parameters(self):
        """List of the trainable ``Parameter`` objects (each has ``.data`` and ``.grad``)."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self):
        """Total number of trainable values."""
        return sum(p.data.size for p in self.parameters())

    def zero_grad(self):
        for p in self.parameters():
            p.grad[...] = 0

    def train(self, mode=True):
        """Training mode (BatchNorm uses batch statistics); returns self."""
        self.training = check_bool(mode, "mode")
        for _, layer in self.layers:
            layer.training = self.training
        return self

    def eval(self):
        """Evaluation mode (BatchNorm uses running statistics); returns self."""
        return self.train(False)

    def astype(self, dtype):
        """Convert every parameter and buffer to ``dtype`` (e.g. np.float64 for gradient checks)."""
        for _, layer in self.layers:
            layer.astype(dtype)
        return self

    @property
    def dtype(self):
        params = self.parameters()
        return params[0].data.dtype if params else np.dtype(np.float32)

    # ---- state dict and files -----------------------------------------------------------

    def state_dict(self):
        """Copies of all parameters and buffers, keyed as in PyTorch (``conv1.weight``, ...)."""
        state = {}
        for name, layer in self.layers:
            for key, p in layer.params.items():
                state[f"{name}.{key}"] = p.data.copy()
            for key, value in layer.buffers.items():
                state[f"{name}.{key}"] = np.array(value, copy=True)
        return state

    def load_state_dict(self, state):
        """Copy arrays from ``state`` into the model (keys and shapes must match exactly).

        Every value is checked before any is copied: numbers of the right shape, finite, and
        within the range of the model's dtype (whole numbers for an integer buffer such as
        BatchNorm's count); otherwise ValueError and the model unchanged.
        """
        if not hasattr(state, "items"):
            raise TypeError(f"state must be a dict of arrays (model.state_dict()), got {type(state).__name__}")
        expected = self.state_dict()
        missing = sorted(set(expected) - set(state), key=str)
        unexpected = sorted(set(state) - set(expected), key=str)
        if missing or unexpected:
            raise ValueError(f"state dict does not match the model: missing keys {missing}, "
                             f"unexpected keys {unexpected}")
        for key, value in state.items():
            try:
                value = np.asarray(value)
            except (TypeError, ValueError) as error:  # (ragged lists)
                raise ValueError(f"{key}: the state dict holds a value that is not an array of "
                                 f"numbers ({error})") from None
            if value.shape != expected[key].shape:
                raise ValueError(f"{key}: shape {value.shape} in the state dict, "
                                 f"{expected[key].shape} in the model")
            if value.dtype.kind not in "biuf":
                raise ValueError(f"{key}: the state dict holds {value.dtype} values, not numbers")
            dtype = expected[key].dtype
            if value.size and np.issubdtype(dtype, np.floating) and not (
                    np.all(np.isfinite(value)) and np.max(np.abs(value)) <= np.finfo(dtype).max):
                raise ValueError(f"{key}: the state dict holds NaN, infinite values or values "
                                 f"beyond {dtype}'s range")
            if value.size and np.issubdtype(dtype, np.integer) and not (
                    np.all(value == np.round(value)) and value.min() >= np.iinfo(dtype).min
                    and value.max() <= np.iinfo(dtype).max):  # (a cast would cut 3.7 to 3)
                raise ValueError(f"{key}: the state dict holds values that are not whole "
                                 f"numbers within {dtype}'s range")
        for name, layer in self.layers:
            for key, p in layer.params.items():
                p.data = np.array(state[f"{name}.{key}"], dtype=p.data.dtype, copy=True)
                p.grad = np.zeros_like(p.data)
            for key, value in layer.buffers.items():
                layer.buffers[key] = np.array(state[f"{name}.{key}"], dtype=value.dtype, copy=True)
        return self

    def architecture(self):
        """JSON-able description ``[[name, class name, config], ...]`` that rebuilds the layers."""
        return [[name, type(layer).__name__, layer.config()] for name, layer in self.layers]

    def save(self, path):
        """Write the architecture and the state dict to ``path`` (``.npz``), atomically."""
        arrays = dict(self.state_dict())
        meta = {"format": FORMAT, "architecture": self.architecture(), "chunk_size": self.chunk_size}
        arrays["__meta__"] = np.array(json.dumps(meta))
        write_npz_atomically(path, arrays)

    @classmethod
    def load(cls, path):
        """Rebuild a model saved with :meth:`save` (read with ``allow_pickle=False``), in the
        dtype of its first parameter and in evaluation mode (the mode is not saved: call
        ``train()`` to train on). A file whose parameters are not float32 or float64, or do
        not fit the architecture it records, raises ValueError naming the file."""
        meta, state = read_npz_with_meta(path, "model file")
        if "format" not in meta:
            raise ValueError(f"{path} is not a tinyadv model file (its __meta__ names no format; "
                             f"a training checkpoint is read with tinyadv.train.load_checkpoint)")
        if meta["format"] != FORMAT:
            raise ValueError(f"{path}: unknown model format {meta['format']!r}")
        try:
            model = cls.from_architecture(meta.get("architecture"), chunk_size=meta.get("chunk_size"),
                                          most_values=sum(int(a.size) for a in state.values()))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path} holds an architecture tinyadv cannot build: {error}") from None
        names = [f"{name}.{key}" for name, layer in model.layers for key in layer.params]
        dtype = next((state[k].dtype for k in names if k in state), np.dtype(np.float32))
        dtype = dtype.newbyteorder("=")  # (a file from a big-endian machine holds '>f4': float32)
        try:
            check_float_dtype(dtype)
        except TypeError:
            raise ValueError(f"{path} holds {dtype} parameters; a tinyadv model is float32 or "
                             f"float64") from None
        try:
            return model.astype(dtype).load_state_dict(state).eval()
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from None

    @classmethod
    def from_architecture(cls, architecture, chunk_size=None, *, most_values=None):
        """Build the layers described by :meth:`architecture` (only tinyadv's own layer classes).

        With ``most_values`` (what a file holds), a layer whose weight would hold more values is
        refused before it is built: a file of a few hundred bytes could otherwise ask for
        ``Linear(10**7, 10**7)``, 400 TB of weights, which :meth:`load` only compares with the
        file's arrays once the layers exist."""
        if not isinstance(architecture, list):
            raise TypeError(f"the architecture must be a list of [name, class name, config], "
                            f"got {type(architecture).__name__}")
        layers = []
        for item in architecture:
            if not (isinstance(item, list) and len(item) == 3 and isinstance(item[2], dict)):
                raise TypeError(f"each layer of the architecture must be [name, class name, "
                                f"config], got {item!r}")
            name, class_name, config = item
            if class_name not in LAYER_CLASSES:
                raise ValueError(f"unknown layer class {class_name!r} in model file")
            declared = _declared_values(config)
            if most_values is not None and declared > most_values:
                raise ValueError(f"layer {name!r} declares a weight of {declared} values, more than "
                                 f"the {most_values} the file holds")
            layers.append((name, LAYER_CLASSES[class_name](**config)))
        return cls(*layers, chunk_size=chunk_size)


class _GradientSum:
    """The chunks' parameter gradients, summed in the chunks' order while the chunks still run.

    A chunk hands its gradients over as soon as it has them (``add``). The thread that hands
    over the next one in order adds it to the sums, and then any later ones that came before
    their turn, while the other threads go on with their chunks; a thread whose chunk came early
    leaves it to that one. When the last chunk ends, only its own gradients are left to add,
    not the whole batch's (on the talk's CNN, 2 cores, float64 training step of 128: the
    additions after the last chunk took 0.59 ms of 29, one pass per chunk over gradients a core
    had not written; the step's time after its last chunk went from 1.43 to 0.77 ms with this
    and SGD's compiled update, ``scripts/BENCHMARKS.md``). ``into_parameters`` then adds each sum
    into its ``Parameter.grad``: p.grad + (((g₀ + g₁) + g₂) + ...), in that order whatever the
    threads did, so the bits are the same for any number of threads, and nothing reaches
    ``Parameter.grad`` from a call in which a chunk raised. From p.grad = 0 (``zero_grad``) it
    is what adding the chunks into p.grad one after the other gives, bit for bit (0 + s = s
    but for the sign of a zero, which the next sum, or the last 0 + s, makes +0 either way).
    """

    def __init__(self, model):
        self._params = [layer.params for _, layer in model.layers]
        self._sums = [{} for _ in model.layers]
        self._owned = set()  # (layer index, name) of the sums that are arrays of their own
        self._waiting = {}  # chunk index -> its gradients, handed over before their turn
        self._next = 0
        self._adding = False
        self._lock = threading.Lock()

    def add(self, index, grads):
        """Take chunk ``index``'s gradients (one dict per layer); add those whose turn it is."""
        with self._lock:
            self._waiting[index] = grads
            if self._adding:
                return  # (the thread adding now will take them)
            self._adding = True
        while True:
            with self._lock:
                grads = self._waiting.pop(self._next, None)
                if grads is None:
                    self._adding = False
                    return
                self._next += 1
            for layer, layer_grads in enumerate(grads):
                sums = self._sums[layer]
                for name, g in layer_grads.items():
                    if name not in sums:  # the first chunk's own array, written into by no one
                        sums[name] = g
                    elif (layer, name) in self._owned:
                        sums[name] += g
                    else:  # the second chunk's: an array of its own, in the parameter's
                        # dtype, the first rounded to it as p.grad += g0 would round it
                        grad = self._params[layer][name].grad
                        first = sums[name].astype(grad.dtype, casting="same_kind", copy=False)
                        sums[name] = np.add(first, g, out=np.empty_like(grad),
                                            casting="same_kind")
                        self._owned.add((layer, name))

    def into_parameters(self):
        """Add the sums into the parameters' ``grad`` (after every chunk has been added)."""
        for params, sums in zip(self._params, self._sums):
            for name, total in sums.items():
                params[name].grad += total


def _check_grad_fn(grad_fn):
    if not callable(grad_fn):
        raise TypeError(f"grad_fn must be callable, grad_fn(logits_chunk, rows) -> "
                        f"dL/dlogits_chunk, got {type(grad_fn).__name__}")


def _declared_values(config):
    """The number of values of the weight a layer ``config`` declares, read off the config without
    building the layer: in_features·out_features (Linear), in_channels·out_channels·kernel area
    (the convolutions), num_features (BatchNorm's γ), else 0. Sizes that are not ints count 1 (the
    layer's constructor refuses them)."""
    sizes = [config.get(key) for key in ("in_features", "out_features", "in_channels",
                                          "out_channels", "num_features") if key in config]
    kernel = config.get("kernel_size")
    if kernel is not None:  # (a pair, or one int for a square kernel)
        sizes += kernel if isinstance(kernel, list) else [kernel, kernel]
    if not sizes:
        return 0
    return math.prod(size if type(size) is int and size > 0 else 1 for size in sizes)


def load(path):
    """Load a model written by ``Sequential.save`` (``tinyadv.load``)."""
    return Sequential.load(path)


def read_npz_with_meta(path, kind):
    """Read an ``.npz`` written with a JSON ``__meta__`` entry: returns ``(meta, arrays)``.

    Read with ``allow_pickle=False``. A file that is not an .npz archive, has no
    ``__meta__``, is damaged (a bad checksum, a broken entry or central directory) or holds an
    entry of Python objects (a pickle, never loaded) raises ValueError naming it as not a
    readable tinyadv ``kind`` ("model file", "checkpoint"); a missing file raises
    FileNotFoundError, a ``path`` that is not a path TypeError. Every entry is checked before
    any is read (``_check_entries``): one that is not what its header declares or would cost
    more memory than the file could hold (a header declaring more data than the entry holds,
    values of no bytes, a zip bomb) is a ValueError naming the file and the entry, and so is an
    entry that still does not fit in memory.
    """
    path = check_path(path)  # (an int would be opened as a file descriptor, and closed; ~ expanded)
    with open(path, "rb") as file:
        if not zipfile.is_zipfile(file):  # np.load would call it pickled data, or an array
            raise ValueError(f"{path} is not a tinyadv {kind} (not an .npz archive)")
        file.seek(0)
        try:
            data = np.load(file, allow_pickle=False)
        except _DAMAGED as error:  # (a broken central directory: zipfile's own exceptions)
            raise ValueError(f"{path} is a damaged .npz ({type(error).__name__}: {error}); it is "
                             f"not a readable tinyadv {kind}") from None
        with data:
            if "__meta__" not in data.files:
                raise ValueError(f"{path} is not a tinyadv {kind} (no __meta__ entry)")
            _check_entries(data.zip, path, kind, os.fstat(file.fileno()).st_size)
            arrays = {key: _read_entry(data, key, path, kind) for key in data.files}
    try:  # (ValueError: not JSON, or an integer of over 4300 digits, which Python refuses to
        # convert; RecursionError: lists nested too deep for the parser)
        meta = json.loads(str(arrays.pop("__meta__")))
    except (ValueError, RecursionError):
        meta = None
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is not a tinyadv {kind} (its __meta__ is not a JSON object)")
    return meta, arrays


#: What zipfile raises for a damaged archive: besides BadZipFile and zlib's errors, a flipped
#: byte in the central directory reads as an unsupported "zip file version" or compression
#: (NotImplementedError) or as an encrypted entry (RuntimeError).
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError)


def _read_entry(data, key, path, kind):
    """``data[key]`` of an open .npz, or the ValueError that names the file and the entry."""
    try:
        value = data[key]
    except ValueError as error:
        if "allow_pickle" in str(error):  # NumPy's refusal of an object array
            raise ValueError(f"{path}: its entry {key!r} holds Python objects (pickled data), "
                             f"which tinyadv never loads; it is not a tinyadv {kind}") from None
        raise ValueError(f"{path} is not a readable tinyadv {kind} (entry {key!r}: {error})") from None
    except _DAMAGED as error:
        raise ValueError(f"{path} is a damaged .npz (entry {key!r}: {error}); it is not a "
                         f"readable tinyadv {kind}") from None
    except MemoryError:  # (an entry as large as its file says, in a file larger than memory)
        raise ValueError(f"{path}: its entry {key!r} is too large to load into memory; it is "
                         f"not a readable tinyadv {kind}") from None
    if not isinstance(value, np.ndarray):  # (a member that is not in the .npy format: bytes)
        raise ValueError(f"{path}: its entry {key!r} is not a NumPy array (.npy); it is not a "
                         f"readable tinyadv {kind}")
    return value


#: NumPy's limit on the length of a .npy header (``np.load``'s ``max_header_size``), which
#: tinyadv never raises: a longer header is not read at all.
_LARGEST_NPY_HEADER = 10_000

#: The entries of an .npz may inflate to at most ``_MOST_INFLATION`` times the file's size on
#: disk, plus ``_INFLATION_ALLOWANCE`` bytes. tinyadv writes its files uncompressed (np.savez:
#: the entries hold what the file holds); np.savez_compressed deflates a model's weights about
#: 1.1 to 1 (the talk's CNN), weights of ±1 17 to 1, weights 95% zeros 13 to 1. Only an array
#: of one repeated value comes near deflate's limit of 1032 to 1, as the 3.5 MB of a zip bomb
#: that inflate to 3.5 GB do; the allowance lets a small compressed file hold such arrays.
_MOST_INFLATION = 100
_INFLATION_ALLOWANCE = 64 * 2**20


def _check_entries(archive, path, kind, file_size):
    """Refuse (ValueError naming the file and the entry) an .npz whose entries would cost more
    memory than the file could hold, before any entry is read.

    ``np.load`` allocates the whole array that an entry's .npy header declares before it reads
    the data, and inflates a compressed entry to whatever size it holds: a 1 KB file can
    declare 10**12 float32 values (4 TB), a dtype of no bytes (``|V0``) can declare 10**15
    values for nothing (which ``Sequential.load`` counts as the values the file holds), and
    3.5 MB of deflated zeros inflate to 3.5 GB. So each entry is checked from the archive's
    directory and its first few KB alone: a .npy member (``np.load`` hands any other over as
    raw bytes), stored or deflated (zipfile inflates bzip2 and LZMA reads with no limit on their
    size), the entries so far inflating to no more than the bound of ``_MOST_INFLATION``, a
    header NumPy reads, of numbers (or text for ``__meta__``) whose values take bytes and hold
    no Python objects, and exactly as many bytes of data as that header declares.
    """
    end = f"it is not a readable tinyadv {kind}"
    inflated = 0
    for info in archive.infolist():
        key = info.filename.removesuffix(".npy")
        if key == info.filename:
            raise ValueError(f"{path}: its entry {key!r} is not a NumPy array (.npy); {end}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            method = zipfile.compressor_names.get(info.compress_type, info.compress_type)
            raise ValueError(f"{path}: its entry {key!r} is compressed with {method}, which "
                             f"tinyadv does not read (np.savez stores the entries, "
                             f"np.savez_compressed deflates them); {end}")
        inflated += info.file_size
        if inflated > _MOST_INFLATION * file_size + _INFLATION_ALLOWANCE:
            raise ValueError(f"{path}: its entries up to {key!r} inflate to {inflated} bytes, "
                             f"more than {_MOST_INFLATION} times the file's {file_size}, as a zip "
                             f"bomb's do; {end}")
        try:
            shape, dtype, header_size = _npy_header(archive, info)
        except _DAMAGED as error:
            raise ValueError(f"{path} is a damaged .npz (entry {key!r}: {error}); {end}") from None
        except ValueError as error:
            raise ValueError(f"{path}: its entry {key!r} {error}; {end}") from None
        if dtype.hasobject:
            raise ValueError(f"{path}: its entry {key!r} holds Python objects (pickled data), "
                             f"which tinyadv never loads; it is not a tinyadv {kind}")
        if dtype.kind not in ("biufU" if key == "__meta__" else "biuf"):
            what = "numbers or text" if key == "__meta__" else "numbers"
            raise ValueError(f"{path}: its entry {key!r} holds {dtype} values, not {what}; {end}")
        if dtype.itemsize == 0:
            raise ValueError(f"{path}: its entry {key!r} holds {dtype} values, which take no "
                             f"bytes; {end}")
        declared = math.prod(shape) * dtype.itemsize
        if declared != info.file_size - header_size:
            raise ValueError(f"{path}: its entry {key!r} declares a {shape} array of {dtype}, "
                             f"{declared} bytes, but holds {info.file_size - header_size}: it is "
                             f"damaged or crafted; {end}")


def _npy_header(archive, info):
    """``(shape, dtype, header size in bytes)`` of the .npy member ``info`` of ``archive``,
    read from its first bytes only (the header, at most ``_LARGEST_NPY_HEADER`` long).

    ValueError when the member is no .npy array or its header one that NumPy refuses to read,
    said as the end of a sentence that begins with the entry."""
    with archive.open(info) as member:
        head = io.BytesIO(member.read(12 + _LARGEST_NPY_HEADER))  # magic, version, length, header
    try:
        version = np.lib.format.read_magic(head)
    except ValueError:
        raise ValueError("is not a NumPy array (.npy)") from None
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise ValueError(f"has a .npy header NumPy refuses to read (format version {version})")
    length_size = 2 if version == (1, 0) else 4  # (2.0 and 3.0 allow headers of up to 4 GB)
    length = int.from_bytes(head.getvalue()[8:8 + length_size], "little")
    if length > _LARGEST_NPY_HEADER:
        raise ValueError(f"has a .npy header NumPy refuses to read ({length} bytes long, more "
                         f"than its limit of {_LARGEST_NPY_HEADER})")
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)  # (3.0 is 2.0 in UTF-8)
    try:
        shape, _, dtype = read_header(head, max_header_size=_LARGEST_NPY_HEADER)
    except ValueError as error:
        raise ValueError(f"has a .npy header NumPy refuses to read ({error!s:.200})") from None
    return shape, dtype, 8 + length_size + length


def write_npz_atomically(path, arrays):
    """Write ``arrays`` to ``path`` through a temporary file in the same folder and ``os.replace``,
    so that an interrupted write never leaves a file that looks complete. Refuses entries of
    Python objects (ValueError): they would be pickled, and the readers never unpickle."""
    if not hasattr(arrays, "items"):
        raise TypeError(f"arrays must be a dict of arrays, got {type(arrays).__name__}")
    for key, value in arrays.items():
        if not isinstance(key, str):
            raise TypeError(f"arrays must have str keys, got {key!r}")
        if np.asarray(value).dtype.kind == "O":
            raise ValueError(f"arrays[{key!r}] holds Python objects, not numbers or text")
    with atomic_path(path, suffix=".npz") as temporary:
        np.savez(temporary, **arrays)


# ---- the architectures --------------------------------------------------------------------


def logistic_regression(n_features, *, bias=True, seed=0, dtype=np.float32):
    """Logistic regression on flattened inputs: one logit z = w·x + b (label 1 when z > 0).

    Keys ``fc.weight`` (1, n_features) and ``fc.bias`` (1,). Initialisation: PyTorch's default
    for a Linear layer; REFERENCES.md §7 uses a truncated normal 0.1 (set it with
    ``model["fc"].params["weight"].data``).
    """
    return Sequential(("flatten", Flatten()),
                      ("fc", Linear(n_features, 1, bias=bias, seed=seed, dtype=dtype)))


def mlp(sizes, *, bias=True, seed=0, dtype=np.float32):
    """A ReLU network on flattened inputs: ``mlp([784, 200, 200, 10])`` is 784 → 200 → 200 → 10.

    Layers ``fc1``, ``relu1``, ``fc2``, ... (no ReLU after the last); PyTorch-default init, each
    layer's generator derived from ``seed``: for an int (or a list of ints) the i-th layer's is
    seeded with ``[seed, i]`` (the seed's list plus i), for a Generator (or None, fresh
    entropy) the layers draw from it one after the other. Any seed that the other builders
    take (``make_rng``) is taken.
    """
    if isinstance(sizes, str) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes must be a list of layer widths such as [784, 100, 10], "
                        f"got {sizes!r}")
    if len(sizes) < 2:
        raise ValueError(f"mlp needs at least two sizes, got {list(sizes)}")
    sizes = [check_positive_int(s, f"sizes[{i}]") for i, s in enumerate(sizes)]
    rng = make_rng(seed)  # (checks the seed as the user gave it)
    if isinstance(seed, np.ndarray):
        seed = seed.tolist()
    entropy = ([int(seed)] if isinstance(seed, numbers.Integral)
               else [int(s) for s in seed] if isinstance(seed, (list, tuple)) and len(seed)
               else None)
    layers = [("flatten", Flatten())]
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        layer_seed = rng if entropy is None else entropy + [i]
        layers.append((f"fc{i}", Linear(fan_in, fan_out, bias=bias, seed=layer_seed, dtype=dtype)))
        if i < len(sizes) - 1:
            layers.append((f"relu{i}", ReLU()))
    return Sequential(*layers)


BINARY_VARIANTS = (None, "binary", "scaled", "stochastic")


def cleverhans_cnn(in_channels=3, nf=32, bias=False, binary=None, image_size=32, *,
                   num_classes=10, ste="galloway", fc_norm="rows", seed=0, dtype=np.float32):
    """The CleverHans basic CNN of the talk and of "Attacking Binarized Neural Networks".

    ::

        conv1  8×8 stride 2, TensorFlow SAME padding      in_channels → nf     ReLU
        conv2  6×6 stride 2, no padding (VALID)           nf → 2nf             ReLU
        conv3  5×5 stride 1, no padding (VALID)           2nf → 2nf            ReLU
        flatten, fc (linear)                              2nf·s² → num_classes

    Spatial sizes: 32 → 16 → 6 → 2 on CIFAR-10 (fc has 256 inputs with nf = 32, and the model
    exactly 184,832 weights), 28 → 14 → 5 → 1 on MNIST. SAME pads 3 rows and columns on each
    side of an even-sized image (the talk's padding 3) and 3 before and 4 after an odd-sized one.

    Parameters
    ----------
    in_channels, nf, image_size, num_classes : int
    bias : bool
        Add biases (initialised at 0) to every layer; the talk's model has none.
    binary : None, "binary", "scaled" or "stochastic"
        The variants of Galloway et al. 2018 (REFERENCES.md §3). conv1 and fc stay full
        precision; conv2 and conv3 get their input through BatchNorm → Sign and compute with
        sign(W):

        - None: variant A, full precision;
        - "binary": variant B, binary weights and activations with ReLU;
        - "scaled": variant C, as B with ReLU times a learned scalar (init 0.05);
        - "stochastic": as C with conv3's weights resampled as 2·Bernoulli(hardsigmoid(W)) − 1
          at every forward pass.
    ste : "galloway" or "hubara"
        Straight-through estimator of the binarized layers (see ``layers/activations.py``).
    fc_norm : "rows" or "matrix"
        fc's initial weight is a standard normal matrix scaled to unit L2 norm row by row (each
        output unit: the CleverHans reference code, REFERENCES.md §3) or as a whole (unit
        Frobenius norm: the input-fault model of REFERENCES.md §4, whose initial logits are
        then √num_classes times smaller).
    seed : int or None
        Seed of the initialisation (None: fresh entropy, other weights at every call): truncated
        normal σ = 0.1 with each filter at unit L2 norm for full-precision convolutions,
        truncated normal σ = 0.2 for binary ones, the normal matrix of fc (the CleverHans
        reference code).
    dtype : np.float32 or np.float64
        Of the parameters, and so of the logits and gradients (float64 for gradient checks).
    """
    if binary not in BINARY_VARIANTS:
        raise ValueError(f"binary must be one of {BINARY_VARIANTS}, got {binary!r}")
    if fc_norm not in ("rows", "matrix"):
        raise ValueError(f"fc_norm must be 'rows' or 'matrix', got {fc_norm!r}")
    check_ste(ste)  # (also when binary is None, where it is unused: an unknown name is a mistake)
    for value, name in ((in_channels, "in_channels"), (nf, "nf"), (image_size, "image_size"),
                        (num_classes, "num_classes")):
        check_positive_int(value, name)
    size1 = -(-image_size // 2)
    size2 = (size1 - 6) // 2 + 1
    size3 = size2 - 5 + 1
    if size3 < 1:
        raise ValueError(f"image_size {image_size} is too small for cleverhans_cnn (needs >= 27)")
    check_fits((num_classes, 2 * nf * size3 * size3), 8,  # (the largest weight, drawn in float64)
               f"nf={nf}, image_size={image_size}, num_classes={num_classes}: the weight of fc")
    rng = make_rng(seed)
    options = dict(bias=bias, dtype=dtype)

    def full_precision_conv(cin, cout, k, stride, padding):
        layer = Conv2D(cin, cout, k, stride=stride, padding=padding, **options)
        layer.params["weight"].data = unit_norm_filters(
            truncated_normal(rng, layer.params["weight"].shape, 0.1)).astype(dtype)
        return layer

    def binary_conv(cin, cout, k, stride, stochastic):
        if stochastic:
            layer = StochasticBinaryConv2D(cin, cout, k, stride=stride, ste=ste,
                                           seed=int(rng.integers(2**31)), **options)
        else:
            layer = BinaryConv2D(cin, cout, k, stride=stride, ste=ste, **options)
        layer.params["weight"].data = truncated_normal(
            rng, layer.params["weight"].shape, 0.2).astype(dtype)
        return layer

    layers = [("conv1", full_precision_conv(in_channels, nf, 8, 2, "same")), ("relu1", ReLU())]
    if binary is None:
        layers += [("conv2", full_precision_conv(nf, 2 * nf, 6, 2, 0)), ("relu2", ReLU()),
                   ("conv3", full_precision_conv(2 * nf, 2 * nf, 5, 1, 0)), ("relu3", ReLU())]
    else:
        def activation():
            return ScaledReLU(0.05, dtype=dtype) if binary in ("scaled", "stochastic") else ReLU()
        layers += [("bn2", BatchNorm(nf, dtype=dtype)), ("sign2", Sign(ste)),
                   ("conv2", binary_conv(nf, 2 * nf, 6, 2, False)), ("relu2", activation()),
                   ("bn3", BatchNorm(2 * nf, dtype=dtype)), ("sign3", Sign(ste)),
                   ("conv3", binary_conv(2 * nf, 2 * nf, 5, 1, binary == "stochastic")),
                   ("relu3", activation())]
    fc = Linear(2 * nf * size3 * size3, num_classes, **options)
    normal = rng.normal(size=fc.params["weight"].shape)
    fc.params["weight"].data = (unit_norm_filters(normal) if fc_norm == "rows"
                                else normal / np.linalg.norm(normal)).astype(dtype)
    if bias:
        for _, layer in layers + [("fc", fc)]:
            if "bias" in layer.params:
                layer.params["bias"].data[...] = 0
    layers += [("flatten", Flatten()), ("fc", fc)]
    return Sequential(*layers)
