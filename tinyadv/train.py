"""Training: minibatch gradient descent on the cross-entropy of the logits, with penalties.

One step on a batch (x, y):

    logits, caches = model.forward(x)
    L = CE(logits, y) + ½ λ₂ Σ ‖W‖² + λ₁ Σ mean|W|        (penalties over weights only)
    model.zero_grad();  model.backward(dL/dlogits, caches);  add λ₂ W + λ₁ sign(W)/size
    optimizer.step()

(``Sequential.forward_backward`` runs the first and third lines chunk by chunk, which gives
the same numbers, to the rounding of each chunk's compiled cross-entropy
(``losses._cross_entropy_part``, in float64), with one chunk's caches in memory at a time; the
loss is the sum of the chunks' parts, added in the chunks' order.)

``fit`` loops over epochs of shuffled minibatches (shuffled by its own seeded generator) and
returns the history of per-epoch metrics. A ``batch_hook`` may replace each batch before the
step: that is how adversarial training (Goodfellow et al. 2015; Madry et al. 2018) is built on
top of ``fit`` without changing it. For the papers'
½ CE(clean) + ½ CE(adversarial), return the clean and the adversarial batch stacked: the mean
cross-entropy over the doubled batch is exactly that. ``adversarial_hook`` builds that hook
from any attack. Random-label training needs no hook: ``permuted_labels(y, seed)`` gives the
random labels of Zhang et al. 2017, once, and ``fit`` trains on them.
"""

import json
import os
import time

import numpy as np
from tqdm.auto import tqdm

from .attacks.base import accepts_keyword
from .checks import (INT64_MAX, _int_text, check_array, check_bool, check_generator, check_labels,
                     check_nonnegative, check_positive_int, make_rng)
from .files import check_path
from .losses import (_cross_entropy_part, check_label_smoothing, cross_entropy, l1_penalty,
                     l2_penalty, logits_to_labels, sample_weights)
from .models import Sequential, read_npz_with_meta, write_npz_atomically
from .optim import Adam


def _num_logits(model, x):
    """The model's number of logits, from one forward pass on ``x`` in evaluation mode (in
    training mode a BatchNorm would update its running statistics, or refuse one sample)."""
    training = getattr(model, "training", True)
    model.eval()
    try:
        return model.logits(x).shape[1]
    finally:
        model.train(training)


def check_trainable(model, methods=("parameters", "zero_grad", "forward", "backward")):
    """Raise TypeError unless ``model`` has the callable ``methods`` that training calls (a
    Sequential, or a model of your own with them), naming the first one it lacks."""
    for method in methods:
        if not callable(getattr(model, method, None)):
            raise TypeError(f"model must have a method {method}() to be trained, as a "
                            f"ta.Sequential has (got {type(model).__name__})")


def check_optimizer(model, optimizer):
    """Raise unless ``optimizer`` has a ``step()`` and, when it lists its ``parameters`` (as
    tinyadv's do), they are the model's (a subset is fine: a frozen layer), so that training
    cannot silently update another model's weights. Your own optimizer needs ``step()`` only."""
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError(f"optimizer must have a step() method, such as ta.Adam(model.parameters()), "
                        f"got {type(optimizer).__name__}")
    own = {id(p) for p in model.parameters()}
    if not all(id(p) in own for p in getattr(optimizer, "parameters", ())):
        raise ValueError("the optimizer holds parameters that are not this model's: build it with "
                         "this model's parameters(), e.g. ta.Adam(model.parameters())")


def train_step(model, optimizer, x, y, *, weight_decay=0.0, l1=0.0, label_smoothing=0.0,
               class_weights=None):
    """One gradient step on the batch ``(x, y)``; returns ``(loss, number correct)``.

    ``loss`` includes the penalties; the model must be in training mode (``fit`` sets it).
    ``x`` must be a floating array (N, ...) with N >= 1 and ``y`` N integer labels, as ``fit``
    asks (TypeError or ValueError naming them before anything runs; NaN in x is the model's to
    refuse, as a Sequential does chunk by chunk, so that the step makes no extra pass over x).
    A step that raises (labels beyond the number of logits are found only once the logits exist)
    leaves a Sequential's buffers as they were: BatchNorm's running statistics do not move.
    """
    x = check_array(x, "x", min_ndim=2, finite=False)
    if len(x) == 0:
        raise ValueError("x holds no samples: a training step needs at least one")
    y = check_labels(y, len(x), None)  # (cross_entropy checks the range against the logits)
    check_trainable(model)
    check_optimizer(model, optimizer)
    weight_decay = check_nonnegative(weight_decay, "weight_decay")
    l1 = check_nonnegative(l1, "l1")
    label_smoothing = check_label_smoothing(label_smoothing)
    options = dict(label_smoothing=label_smoothing, class_weights=class_weights)
    model.zero_grad()
    layers = model.layers if isinstance(model, Sequential) else ()  # (a model of your own: as it is)
    buffers = [layer.buffers for _, layer in layers]
    saved = [dict(b) for b in buffers]  # the layers replace their buffers, never write into them
    try:
        if hasattr(model, "forward_backward"):  # Sequential: one pass per chunk, the same
            # numbers to rounding (each chunk's loss is losses._cross_entropy_part, compiled)
            weights = {}  # the batch's sample weights and their Σ w_n, once per logits' dtype
            parts = {}  # each chunk's share of the batch's mean loss, by the chunk's first row

            def loss_gradient(logits, rows):  # rows of the whole batch's mean loss
                if logits.dtype not in weights:
                    w_n = sample_weights(y, class_weights, logits.dtype)
                    if class_weights is not None:  # one per class, as cross_entropy asks
                        sample_weights(y, class_weights, logits.dtype,  # (one logit: 2 classes)
                                       num_classes=max(logits.shape[1], 2))
                    weights[logits.dtype] = w_n, np.sum(w_n)
                w_n, total = weights[logits.dtype]
                parts[rows.start], dlogits = _cross_entropy_part(
                    logits, y[rows], w_n[rows], total, label_smoothing=label_smoothing)
                return dlogits

            logits, _ = model.forward_backward(x, loss_gradient, need_input_grad=False)
            loss = sum(parts[start] for start in sorted(parts))  # (in the chunks' order)
        else:
            logits, caches = model.forward(x)
            loss, dlogits = cross_entropy(logits, y, **options)
            model.backward(dlogits, caches, need_input_grad=False)
    except BaseException:
        for b, before in zip(buffers, saved):
            b.clear()
            b.update(before)
        raise
    decayed = [p for p in model.parameters() if p.decay]
    for lam, penalty in ((weight_decay, l2_penalty), (l1, l1_penalty)):
        if lam:
            value, grads = penalty([p.data for p in decayed], lam)
            loss += value
            for p, g in zip(decayed, grads):
                p.grad += g
    optimizer.step()
    return loss, int(np.sum(logits_to_labels(logits) == y))


def evaluate_loss_accuracy(model, x, y, *, batch_size=512):
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)`` (in the model's current mode).

    Refuses an empty ``x``, a ``batch_size`` below 1 and labels that do not match ``x``.
    """
    x = check_array(x, "x", min_ndim=2, finite=False)  # (no pass over x: the model reads it)
    if len(x) == 0:
        raise ValueError("x holds no samples: the loss and accuracy need at least one")
    batch_size = check_positive_int(batch_size, "batch_size")
    y = check_labels(y, len(x), None)  # (cross_entropy checks the range against the logits)
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        logits = model.logits(x[start:start + batch_size])
        yb = y[start:start + batch_size]
        loss, _ = cross_entropy(logits, yb, reduction="sum")
        total_loss += loss
        correct += int(np.sum(logits_to_labels(logits) == yb))
    return total_loss / len(x), correct / len(x)


def fit(model, x, y, *, epochs=1, batch_size=128, optimizer=None, weight_decay=0.0, l1=0.0,
        label_smoothing=0.0, class_weights=None, validation_data=None, batch_hook=None,
        shuffle=True, seed=0, progress=None, checkpoint=None, resume=False):
    """Train ``model`` on ``(x, y)`` by minibatch gradient descent; returns the history.

    Parameters
    ----------
    model : Sequential (or any model with forward/backward/parameters/train/eval)
    x : ndarray, shape (N, ...), floating
    y : ndarray of int, shape (N,)
    epochs, batch_size : int
        The last batch of an epoch holds what is left (N mod batch_size samples when that is not
        0): a model with BatchNorm refuses a batch of one in training mode, as PyTorch does.
    optimizer : Optimizer, optional
        Default ``Adam(model.parameters(), lr=1e-3)``, the papers' choice.
    weight_decay : float
        λ₂ of the loss term ½ λ₂ Σ ‖W‖² (weights only).
    l1 : float
        λ₁ of the penalty λ₁ Σ mean|W| (REFERENCES.md §7).
    label_smoothing, class_weights
        Passed to :func:`tinyadv.losses.cross_entropy`.
    validation_data : (x_val, y_val), optional
        Evaluated in evaluation mode after every epoch.
    batch_hook : callable, optional
        ``batch_hook(model, x_batch, y_batch, *, epoch, step, rng) -> (x_batch, y_batch)``,
        called before every step (epoch counts from 0, step within the epoch). The model is in
        training mode when the hook is called; a hook that attacks the model may switch it to
        evaluation mode and must switch it back.
    shuffle : bool
    seed : int, numpy.random.Generator or None
        The only source of randomness (shuffling and the hook's ``rng``); None draws fresh
        entropy, so the run is not repeatable.
    progress : bool or None
        Show a tqdm bar per epoch; None shows it for runs of 200 steps or more. Flags that are
        not bools (``progress="no"``, ``resume="yes"``) are refused with TypeError.
    checkpoint : path, optional
        After every epoch, write model, optimizer, history and generator state there (an
        ``.npz``, atomically). One that is not a path to a file is refused before any step.
    resume : bool
        If ``checkpoint`` exists, load it and continue after its last epoch (with ``epochs`` no
        more than the checkpoint's, nothing trains: its model and whole history are returned).
        The other arguments (batch size, hooks, data) are not checked against the stopped run's.

    The model trains in training mode and is left in evaluation mode, whether fit returns or
    raises (a failing hook, Ctrl-C): as it would be evaluated next.

    Returns
    -------
    history : dict of lists, one entry per epoch: "epoch", "loss", "accuracy", "seconds", and
        "val_loss", "val_accuracy" when ``validation_data`` is given. Loss and accuracy are the
        running means over the epoch's (possibly hooked) batches.
    """
    check_trainable(model, ("parameters", "zero_grad", "forward", "backward", "logits", "train",
                            "eval"))
    x = check_array(x, "x", min_ndim=2)
    if len(x) == 0:
        raise ValueError("x holds no samples")
    epochs = check_positive_int(epochs, "epochs", minimum=0)
    batch_size = check_positive_int(batch_size, "batch_size")
    weight_decay = check_nonnegative(weight_decay, "weight_decay")
    l1 = check_nonnegative(l1, "l1")
    shuffle = check_bool(shuffle, "shuffle")
    resume = check_bool(resume, "resume")  # (resume="no" would resume)
    if progress is not None:
        progress = check_bool(progress, "progress")
    if batch_hook is not None and not callable(batch_hook):
        raise TypeError(f"batch_hook must be callable or None, got {type(batch_hook).__name__}")
    num_logits = _num_logits(model, x[:1])
    y = check_labels(y, len(x), num_logits)
    if validation_data is not None:
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise TypeError("validation_data must be a pair (x_val, y_val)")
        x_val = check_array(validation_data[0], "validation x", min_ndim=2)
        if len(x_val) == 0 or x_val.shape[1:] != x.shape[1:]:
            raise ValueError(f"validation x must hold samples shaped like x's {x.shape[1:]}, "
                             f"got shape {x_val.shape}")
        y_val = check_labels(validation_data[1], len(x_val), num_logits, name="validation y")
    optimizer = optimizer if optimizer is not None else Adam(model.parameters(), lr=1e-3)
    check_optimizer(model, optimizer)
    if checkpoint is not None:  # (not only when the first epoch's end writes it)
        checkpoint = check_path(checkpoint, "checkpoint")
    rng = make_rng(seed)
    steps_per_epoch = -(-len(x) // batch_size)
    if progress is None:
        progress = epochs * steps_per_epoch >= 200

    history = {"epoch": [], "loss": [], "accuracy": [], "seconds": []}
    if validation_data is not None:
        history.update(val_loss=[], val_accuracy=[])
    start_epoch = 0
    if checkpoint is not None and resume and os.path.exists(checkpoint):
        start_epoch, history = load_checkpoint(checkpoint, model, optimizer, rng, history)

    try:  # (an error or Ctrl-C mid-epoch leaves the model in evaluation mode too)
        for epoch in range(start_epoch, epochs):
            began = time.perf_counter()
            model.train()
            order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
            total_loss, correct, seen = 0.0, 0, 0
            bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}",
                       disable=not progress, leave=False)
            for step in range(steps_per_epoch):
                batch = order[step * batch_size:(step + 1) * batch_size]
                xb, yb = x[batch], y[batch]
                if batch_hook is not None:
                    hooked = batch_hook(model, xb, yb, epoch=epoch, step=step, rng=rng)
                    if not (isinstance(hooked, (tuple, list)) and len(hooked) == 2):
                        raise TypeError(f"batch_hook must return a pair (x_batch, y_batch), got "
                                        f"{type(hooked).__name__}")
                    xb, yb = hooked
                    model.train()
                loss, right = train_step(model, optimizer, xb, yb, weight_decay=weight_decay,
                                         l1=l1, label_smoothing=label_smoothing,
                                         class_weights=class_weights)
                total_loss += loss * len(yb)
                correct += right
                seen += len(yb)
                bar.update(1)
                bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
            bar.close()
            history["epoch"].append(epoch + 1)
            history["loss"].append(total_loss / max(seen, 1))
            history["accuracy"].append(correct / max(seen, 1))
            if validation_data is not None:
                model.eval()
                val_loss, val_accuracy = evaluate_loss_accuracy(model, x_val, y_val)
                history["val_loss"].append(val_loss)
                history["val_accuracy"].append(val_accuracy)
            history["seconds"].append(time.perf_counter() - began)
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, optimizer, rng, epoch + 1, history)
    finally:
        model.eval()
    return history


def save_checkpoint(path, model, optimizer, rng, epoch, history):
    """Write everything needed to resume training after ``epoch`` epochs, atomically.

    ``rng`` must be a ``numpy.random.Generator`` (of any bit generator), ``epoch`` an integer
    >= 0 and ``history`` a dict of what JSON can write (NumPy numbers and arrays are written as
    Python numbers and lists, tuples as lists); else TypeError or ValueError before anything is
    written.
    """
    check_generator(rng)
    epoch = check_positive_int(epoch, "epoch", minimum=0)
    _check_history(history, "history", TypeError)
    for name, value in (("model", model), ("optimizer", optimizer)):
        if not callable(getattr(value, "state_dict", None)):
            raise TypeError(f"{name} must have a state_dict() (a tinyadv {name}), got "
                            f"{type(value).__name__}")
    arrays = {f"model/{k}": v for k, v in model.state_dict().items()}
    arrays.update({f"optimizer/{k}": np.asarray(v) for k, v in optimizer.state_dict().items()})
    layer_rngs = {name: g.bit_generator.state for name, g in _layer_generators(model).items()}
    meta = {"epoch": epoch, "history": history, "rng": rng.bit_generator.state,
            "layer_rngs": layer_rngs}
    try:
        arrays["__meta__"] = np.array(json.dumps(meta, default=_json_value))
    except TypeError as error:
        raise TypeError(f"history must hold numbers, text and lists (it is written as JSON): "
                        f"{error}") from None
    write_npz_atomically(path, arrays)


def _layer_generators(model):
    """The generators that a model's layers draw from at every pass (``StochasticBinaryConv2D``'s
    resampled weights), by layer name: a checkpoint keeps their states, so that a resumed run
    samples as the uninterrupted one would (the model's own file keeps only their seeds)."""
    return {name: layer.rng for name, layer in getattr(model, "layers", ())
            if isinstance(getattr(layer, "rng", None), np.random.Generator)}


def _check_generator_state(generator, state, message):
    """Raise ValueError(``message`` and why) unless ``state`` is one that ``generator`` can take,
    tried on a fresh generator of its kind, so that nothing changes before all is checked."""
    try:
        type(generator.bit_generator)().state = state
    except (TypeError, ValueError, KeyError, OverflowError) as error:  # (Overflow: 2**200)
        raise ValueError(f"{message}, a {type(generator.bit_generator).__name__} generator "
                         f"({error!s:.80})") from None


def _json_value(value):
    """A NumPy number or array as the Python number or list JSON can write (``json.dumps``'s
    ``default``; the states of MT19937, Philox and SFC64 generators hold arrays)."""
    if isinstance(value, (np.generic, np.ndarray)) and value.dtype.kind in "biuf":
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _check_history(history, what, error, lists=()):
    """Raise ``error`` unless ``history`` is a dict whose entries ``lists`` are lists (the
    per-epoch metrics that fit appends to; other entries may be anything JSON can hold)."""
    if not (isinstance(history, dict) and all(isinstance(history.get(key), list) for key in lists)):
        raise error(f"{what} must be a dict (such as fit's history, of per-epoch lists), got "
                    f"{history!r:.80}")


def load_checkpoint(path, model, optimizer, rng, history_keys=None):
    """Restore model, optimizer and generators (``rng``, and those of the model's stochastic
    layers) from ``path``; returns ``(epoch, history)``.

    Nothing changes unless all of it fits: a file that is not a checkpoint (or not a readable
    one: a bad epoch, history or generator state, entries of no model or optimizer), a history
    with other entries than ``history_keys`` (a run with validation resumed without it, or the
    reverse), a model of another architecture or dtype, an optimizer state of another kind or
    for other parameters, or a generator of another kind raises ValueError (TypeError when
    ``rng`` is not a Generator), the model as it was.
    """
    check_generator(rng)
    meta, arrays = read_npz_with_meta(path, "checkpoint")
    if not {"epoch", "history", "rng"} <= set(meta):
        raise ValueError(f"{path} is not a tinyadv checkpoint (its __meta__ lacks epoch, history or rng)")
    epoch, history = meta["epoch"], meta["history"]
    if isinstance(epoch, float) and epoch.is_integer():  # (2.0: a float epoch written as such)
        epoch = int(epoch)
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= INT64_MAX:
        epoch = _int_text(epoch) if type(epoch) is int else repr(epoch)  # (4,000 digits: short)
        raise ValueError(f"{path} is not a readable tinyadv checkpoint (its epoch is {epoch}, "
                         f"not an integer >= 0 below 2**63)")
    _check_history(history, f"{path} is not a readable tinyadv checkpoint: its history", ValueError)
    if history_keys is not None and set(history) != set(history_keys):
        raise ValueError(f"{path} records {sorted(history)} but this run records "
                         f"{sorted(history_keys)}: resume with the same validation_data")
    _check_history(history, f"{path}: its history", ValueError, lists=history_keys or ())
    _check_generator_state(rng, meta["rng"], f"{path}: its generator state does not fit rng")
    layer_generators = _layer_generators(model)
    layer_states = meta.get("layer_rngs", {})  # (none in checkpoints written before them)
    if not isinstance(layer_states, dict):
        raise ValueError(f"{path} is not a readable tinyadv checkpoint (its layer_rngs are "
                         f"{layer_states!r:.80}, not a dict)")
    if layer_states and set(layer_states) != set(layer_generators):
        raise ValueError(f"{path} holds the sampling generators of the layers "
                         f"{sorted(layer_states)}, the model has them in {sorted(layer_generators)}")
    for name, state in layer_states.items():
        _check_generator_state(layer_generators[name], state,
                               f"{path}: the generator state of layer {name!r} does not fit it")
    model_state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    optimizer_state = {k[len("optimizer/"):]: v for k, v in arrays.items() if k.startswith("optimizer/")}
    others = sorted(k for k in arrays if not k.startswith(("model/", "optimizer/")))
    if others:
        raise ValueError(f"{path} is not a readable tinyadv checkpoint (entries {others[:4]} "
                         f"belong to no model or optimizer)")
    previous = model.state_dict()
    for key, value in model_state.items():  # (resuming in another dtype would not be exact)
        # (a checkpoint written on a big-endian machine holds '>f4': float32 all the same)
        if key in previous and value.dtype.newbyteorder("=") != previous[key].dtype:
            raise ValueError(f"{path} holds {key} as {value.dtype}, the model has it as "
                             f"{previous[key].dtype}: resume with a model of the checkpoint's "
                             f"dtype (model.astype(np.{value.dtype}))")
    try:  # (the model first: a model of another architecture is named as such)
        model.load_state_dict(model_state)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    own = set(optimizer.state_dict())  # (a state that lacks some of them is refused below)
    extra = sorted(set(optimizer_state) - own)
    try:
        if extra and own <= set(optimizer_state):
            raise ValueError(f"the optimizer state has entries {extra[:4]} that this "
                             f"{type(optimizer).__name__} does not: it was saved by another "
                             f"optimizer or for other parameters")
        optimizer.load_state_dict(optimizer_state)
    except ValueError as error:
        model.load_state_dict(previous)
        raise ValueError(f"{path}: {error}") from None
    rng.bit_generator.state = meta["rng"]
    for name, state in layer_states.items():
        layer_generators[name].bit_generator.state = state
    return epoch, history


def adversarial_hook(attack, *, mix=True, true_labels=False, **attack_kwargs):
    """A ``batch_hook`` for ``fit`` that trains on adversarial examples of each batch.

    Parameters
    ----------
    attack : callable
        ``attack(model, x, y, **attack_kwargs) -> x_adv``, e.g. ``tinyadv.fgsm`` or
        ``tinyadv.pgd``. If its signature has a ``seed`` argument or ``**kwargs`` (a wrapper,
        as :func:`tinyadv.check_attack` assumes too), it receives the training generator as
        ``seed``, so the whole run is reproducible from ``fit``'s seed.
    mix : bool
        True (default): the step sees the clean and the adversarial batch stacked, (2B, ...), so
        its mean loss is ½ CE(x, y) + ½ CE(x_adv, y) (Goodfellow et al. 2015; Madry et al. 2018,
        the talk's CNN recipe, REFERENCES.md §8). False: the adversarial batch only (B, ...), as in
        the logistic-regression reference code (§7).
    true_labels : bool
        False (default): the attack is untargeted against the model's own predictions (y=None),
        so the true label cannot leak into x_adv (Kurakin et al. 2017; the reference code of §8).
        True: against the true labels y.
    **attack_kwargs
        Passed to the attack (``eps=8/255, alpha=2/255, steps=7``, ...).

    Notes
    -----
    The model is attacked in evaluation mode (BatchNorm with running statistics: the function a
    user will attack at test time; a stochastic layer resamples in both modes) and ``fit``
    switches it back to training mode before the step. Returns
    ``hook(model, xb, yb, *, epoch, step, rng) -> (x', y')``.
    """
    if not callable(attack):
        raise TypeError(f"attack must be callable, got {type(attack).__name__}")
    mix, true_labels = check_bool(mix, "mix"), check_bool(true_labels, "true_labels")
    if "seed" in attack_kwargs:
        raise ValueError("the hook passes fit's generator as the attack's seed; do not give one")
    takes_seed = accepts_keyword(attack, "seed")

    def hook(model, xb, yb, *, epoch, step, rng):
        model.eval()
        kwargs = dict(attack_kwargs, seed=rng) if takes_seed else attack_kwargs
        x_adv = attack(model, xb, yb if true_labels else None, **kwargs)
        if not mix:
            return x_adv, yb
        return np.concatenate([xb, x_adv]), np.concatenate([yb, yb])
    return hook


def permuted_labels(y, seed):
    """Random labels that keep the class frequencies: y_rand = y[π], π a seeded permutation.

    The labels of "Understanding deep learning requires rethinking generalization" (Zhang et al.
    2017) and the talk's last slide: the link between image and label is destroyed, the label
    distribution is not. y (N,) int -> (N,) int64. ``seed``: an int or a Generator (the same
    seed, the same π), or None for fresh entropy.
    """
    y = check_labels(y, None, None)
    return y[make_rng(seed).permutation(len(y))]
