"""Hostile pickles that ran no code but crashed, hung or filled memory in safe_load and
read_cifar_batch (a probe of 2026-12-07): dict keys and set items that hashing walks, states
nested deeper than a dtype's, or sharing their halves through the memo, and labels nested the
same way. Each is refused with an error that names the file, without walking the structure."""

import pickle

import numpy as np
import pytest

from tinyadv.data.cifar import read_cifar_batch
from tinyadv.data.safe_pickle import UnsafePickleError, _plain, safe_load
from test_data_inputs import _call, _global, _pickle, _text, _write

def _nested_tuple(depth):
    """A 1 nested in ``depth`` one-tuples: (((1,),),)."""
    return b"K\x01" + b"\x85" * depth


def _shared_halves(depth):
    """t₀ = 1, t_{k+1} = (t_k, t_k) through the memo: 2**depth leaves from 4·depth bytes."""
    return b"K\x01" + b"q\x00h\x00\x86" * depth  # (BINPUT 0, BINGET 0, TUPLE2)


@pytest.mark.parametrize("body", [
    b"}" + _nested_tuple(10) + b"K\x01s",                       # SETITEM
    b"}(" + _text("k") + b"K\x01" + _nested_tuple(3) + b"K\x02u",  # SETITEMS, the second key
    b"(" + _nested_tuple(3) + b"K\x01d",                        # DICT (protocol 0's)
    b"\x8f(" + _nested_tuple(3) + b"\x90",                      # EMPTY_SET, ADDITEMS
    b"(" + _shared_halves(40) + b"\x91",                        # FROZENSET of 2**40 leaves
])
def test_dict_keys_and_set_items_that_hashing_would_walk_are_refused(tmp_path, body):
    """A key nested a million deep crashed the interpreter while it was hashed (exit 139), one
    of 2**40 leaves shared through the memo never ended; now only plain keys are taken."""
    path = _write(tmp_path, b"\x80\x04" + body + b".")
    with pytest.raises(UnsafePickleError, match="refused a dict key or set item of type tuple") as info:
        safe_load(path)
    assert str(path) in str(info.value)


def test_plain_keys_still_load(tmp_path):
    plain = {"a": 1, b"b": 2, 3: None, True: 4, 0.5: 5, None: 6}
    for protocol in (0, 2, 4):
        assert safe_load(_write(tmp_path, pickle.dumps(plain, protocol=protocol))) == plain
    sets = ({1, b"a"}, frozenset({2}))  # (protocol 4's own opcodes; before it, set() is a call)
    assert safe_load(_write(tmp_path, pickle.dumps(sets, protocol=4))) == sets


def test_a_dtype_state_nested_too_deep_is_refused_without_recursing(tmp_path):
    """A state tuple 100,000 deep: RecursionError escaped from the check (and from the message's
    repr), naming no file."""
    state = b"(K\x03" + _text("|") + _nested_tuple(100_000) + b"NNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    dtype = _call(_global("numpy", "dtype"), _text("u1"), b"\x89\x88")
    path = _write(tmp_path, _pickle(dtype + state))
    with pytest.raises(UnsafePickleError, match="refused to set the state of dtype uint8") as info:
        safe_load(path)
    assert str(path) in str(info.value) and len(str(info.value)) < 400


def test_reconstruct_arguments_nested_too_deep_are_shown_short(tmp_path):
    body = _call(_global("numpy.core.multiarray", "_reconstruct"), _global("numpy", "ndarray"),
                 _nested_tuple(100_000), b"C\x01b")
    path = _write(tmp_path, _pickle(body))
    with pytest.raises(UnsafePickleError, match="refused numpy._reconstruct") as info:
        safe_load(path)
    assert len(str(info.value)) < 400


def test_the_check_of_a_dtype_state_looks_a_few_levels_deep_only():
    """Shared halves 60 levels deep are 2**60 leaves: the check walked them all (it never
    ended); a tuple deeper than a dtype's state is not plain."""
    shared = 1
    for _ in range(60):
        shared = (shared, shared)
    assert not _plain(shared)
    assert _plain((3, "<", None, None, None, -1, -1, 0, (None, (b"D", 1, 1, 1))))
    assert not _plain(((((1,),),),))


def test_a_dtype_state_sharing_its_halves_is_refused_at_once(tmp_path):
    state = b"(K\x03" + _text("|") + _shared_halves(60) + b"NNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    dtype = _call(_global("numpy", "dtype"), _text("u1"), b"\x89\x88")
    with pytest.raises(UnsafePickleError, match="refused to set the state of dtype uint8"):
        safe_load(_write(tmp_path, _pickle(dtype + state)))


def _shared_lists(depth):
    """l₀ = [1], l_{k+1} = [l_k, l_k]: pickled once each through the memo."""
    labels = [1]
    for _ in range(depth):
        labels = [labels, labels]
    return labels


@pytest.mark.parametrize("labels", [[1, [2]], _shared_lists(16)])
def test_cifar_labels_nested_are_refused_before_numpy_walks_them(tmp_path, labels):
    """Labels nested 28 deep that share their halves (663 bytes) made np.asarray build 2**28
    values: 2.6 GB, then a bare MemoryError (16 deep here, 65,536 values)."""
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": labels}
    path = _write(tmp_path, pickle.dumps(batch, protocol=2))
    with pytest.raises(ValueError, match="flat list of integers, one per image, got nested lists"):
        read_cifar_batch(path)
