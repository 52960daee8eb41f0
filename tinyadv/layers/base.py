"""What every layer is: parameters with gradients, and a forward/backward pair with a cache.

A layer does not remember its last input, nor write its gradients anywhere. ``forward`` returns
the output *and* a cache (what the backward pass needs); ``backward`` takes the upstream
gradient and that cache and returns the gradient with respect to the input together with a dict
of parameter gradients (``{"weight": dW, "bias": db}``). The model adds (``+=``) those into each
``Parameter.grad``. Keeping the cache and the gradients outside the layer is the CS231n pattern
(``affine_forward -> (out, cache)``, ``affine_backward -> (dx, dw, db)``): the same layer can
run on several chunks of a batch at once, on several threads, without any two of them writing
to the same array.

Two flags let a model skip work it does not need:
``need_input_grad=False`` (the first layer during training: nobody wants dL/dx) and
``need_param_grads=False`` (attacks: they want dL/dx only).
"""

import numpy as np

from ..checks import as_plain_ndarray, check_array, check_bool, check_float_dtype, native_byte_order

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # what the layers compute in


class Parameter:
    """A trainable array and its accumulated gradient.

    Attributes
    ----------
    data : ndarray
        The value, updated in place by the optimizers.
    grad : ndarray
        dL/d(data), same shape and dtype; layers add into it, ``zero_grad`` clears it.
    decay : bool
        Whether weight decay and L1 penalties apply (True for weights, False for biases and
        BatchNorm's scale and shift, as is usual).
    """

    def __init__(self, data, *, decay=True):
        self.data = np.ascontiguousarray(check_array(data, "a Parameter's data", finite=False))
        self.grad = np.zeros_like(self.data)
        self.decay = check_bool(decay, "decay")

    @property
    def shape(self):
        return self.data.shape

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


def check_dout(dout, shape, layer):
    """Return ``dout`` after checking it is a float32 or float64 array of ``shape``, the shape of
    the output that the cache belongs to (a wrong shape would broadcast into a wrong gradient,
    or fail deep in NumPy; another dtype would come back as complex, object or integer
    gradients). One in the other byte order (``'>f4'``, from a big-endian machine) is returned
    as a copy in this machine's, the same numbers, and a subclass as a plain array (a masked
    array as its data, or refused if it masks entries), as forward takes its input
    (:func:`tinyadv.checks.check_array`).

    The dtype need not be the layer's: as forward takes a float64 input into a float32 layer,
    and ``Sequential.backward`` any float32 or float64 dout, a float64 dout is the float64
    gradient. O(1): the dtype and the shape only, no pass over the values (it runs at every
    step of training), but for the copy of a dout in the other byte order."""
    if not isinstance(dout, np.ndarray):
        raise TypeError(f"dout of {layer} must be a NumPy array, got {type(dout).__name__}")
    if type(dout) is not np.ndarray:  # (a masked array: the kernels would read under the mask)
        dout = as_plain_ndarray(dout, "dout")
    if dout.dtype not in _FLOAT_DTYPES and dout.dtype.newbyteorder("=") not in _FLOAT_DTYPES:
        raise TypeError(f"dout of {layer} must be a float32 or float64 array, got dtype "
                        f"{dout.dtype}")
    if dout.shape != shape:
        raise ValueError(f"dout of {layer} must have the shape of its output {shape}, "
                         f"got {dout.shape}")
    return native_byte_order(dout)


def check_cache(cache, is_valid, source):
    """Return ``cache`` if ``is_valid`` (it has the form that ``source`` returns), else raise a
    ValueError: a cache from another layer would fail deep in NumPy, or give a wrong gradient."""
    if not is_valid:
        raise ValueError(f"cache must be the cache that {source} returned, "
                         f"got {type(cache).__name__}")
    return cache


def is_shape(cache):
    """Whether ``cache`` is an array shape: a tuple of ints >= 0 (the cache of a reshape)."""
    return isinstance(cache, tuple) and all(isinstance(n, int) and n >= 0 for n in cache)


def weight_and_bias_grads(layer, dw, db, need_param_grads):
    """The ``grads`` dict of a layer with a (possibly binarized) weight and an optional bias."""
    if not need_param_grads:
        return {}
    grads = {"weight": layer.weight_gradient(dw)}
    if db is not None:
        grads["bias"] = db
    return grads


class Layer:
    """Base class: a layer has named parameters, named buffers, a mode, and forward/backward.

    Subclasses set ``self.params`` (name -> Parameter) and ``self.buffers`` (name -> ndarray,
    state that is saved but not trained, such as BatchNorm's running statistics), implement
    ``forward(x) -> (out, cache)`` and ``backward(dout, cache, ...) -> (dx, grads)``, and return their
    constructor arguments from ``config()`` so that a saved model can be rebuilt.
    """

    def __init__(self):
        self.params = {}
        self.buffers = {}
        self.training = True

    @property
    def batch_dependent(self):
        """True when the output for one image depends on the rest of the batch (or on the order in
        which chunks are run): then the model must not cut the batch into chunks."""
        return False

    @property
    def param_grads_need_whole_batch(self):
        """True when a parameter's gradient is not the sum of the chunks' gradients (a
        straight-through estimator that clips the whole batch's dL/dW_b): then a model that
        computes parameter gradients runs the batch as one chunk."""
        return False

    def forward(self, x):
        raise NotImplementedError

    def hold_weights(self):
        """The weights will not change until :meth:`release_weights`: a model holds them while
        it runs the chunks of one batch, so that a layer may compute what depends on its
        weights alone once for all the chunks (Conv2D: Winograd's transformed filters, the
        weight in im2col's row order)."""

    def release_weights(self):
        """The weights may change again: forget what :meth:`hold_weights` let the layer keep."""

    def backward(self, dout, cache, *, need_input_grad=True, need_param_grads=True):
        raise NotImplementedError

    def config(self):
        """Constructor keyword arguments (JSON-serialisable) that rebuild this layer's architecture."""
        return {}

    def astype(self, dtype):
        """Convert parameters and buffers to ``dtype`` (float32 or float64) in place; returns
        self."""
        dtype = check_float_dtype(dtype)
        for p in self.params.values():
            p.data = p.data.astype(dtype)
            p.grad = np.zeros_like(p.data)
        for name, value in self.buffers.items():
            if np.issubdtype(value.dtype, np.floating):
                self.buffers[name] = value.astype(dtype)
        return self

    def __call__(self, x):
        return self.forward(x)[0]

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
