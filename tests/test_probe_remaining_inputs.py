"""Bad input to the helpers no earlier probe ran: files (atomic_path), model files and state dicts,
checkpoints, BLAS threads and map_chunks, plots, and the data loaders' root. Each case fails
with a message naming the argument or the file, and changes nothing on disk or in the model."""

import json
import os
import zipfile

import matplotlib.pyplot as plt
import numpy as np
import pytest

import tinyadv as ta
from model_weights import assert_unchanged, weights
from tinyadv.data import load_cifar10, load_fashion_mnist, load_mnist, load_svhn
from tinyadv.files import atomic_path
from tinyadv.models import FORMAT, read_npz_with_meta, write_npz_atomically
from tinyadv.optim import Adam
from tinyadv.plots import image_grid, save_figure, signed_image_grid
from tinyadv.threads import blas_threads, chunk_slices, map_chunks, set_num_threads
from tinyadv.train import load_checkpoint, save_checkpoint

# ---- atomic_path: a path that names no file is refused before anything is written -------------

@pytest.mark.parametrize("path, error, message", [
    (None, TypeError, "path must be a file path"),
    (3, TypeError, "path must be a file path"),   # open(3) would take file descriptor 3
    ("", ValueError, "path must name a file"),
    ("{tmp}/new/", ValueError, "path must name a file"),   # would have written a file 'new'
    ("{tmp}", IsADirectoryError, "is a folder"),
    ("{tmp}/afile/x.txt", NotADirectoryError, "is a file, not a folder"),
])
def test_atomic_path_refuses_what_names_no_file(tmp_path, path, error, message):
    (tmp_path / "afile").write_text("kept")
    if isinstance(path, str):
        path = path.format(tmp=tmp_path)
    with pytest.raises(error, match=message):
        with atomic_path(path) as temporary:
            open(temporary, "w").write("x")
    assert sorted(os.listdir(tmp_path)) == ["afile"] and (tmp_path / "afile").read_text() == "kept"


def test_atomic_path_takes_bytes_paths_and_long_names(tmp_path):
    for path in (os.fsencode(tmp_path / "b.txt"), tmp_path / ("a" * 250 + ".txt")):
        with atomic_path(path) as temporary:
            open(temporary, "w").write("ok")
    assert sorted(os.listdir(tmp_path)) == ["a" * 250 + ".txt", "b.txt"]


def test_atomic_path_refuses_a_suffix_that_is_no_ending(tmp_path):
    for suffix in (3, "/../x"):
        with pytest.raises(ValueError, match="suffix must be a file ending"):
            with atomic_path(tmp_path / "x.npz", suffix=suffix):
                pass
    assert os.listdir(tmp_path) == []


def test_a_save_that_fails_midway_keeps_the_good_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    ta.mlp([4, 2]).save(path)
    good = path.read_bytes()

    def half_written(file, **arrays):
        open(file, "wb").write(b"PK\x03\x04 half")
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", half_written)
    with pytest.raises(OSError, match="disk full"):
        ta.mlp([4, 3, 2]).save(path)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["model.npz"]


# ---- model files: nothing is unpickled, damage and other kinds of file are named -----------------

class _Payload:
    def __init__(self, flag):
        self.flag = flag

    def __reduce__(self):
        return (open, (self.flag, "w"))   # would create the flag file if ever unpickled


def _model_file(tmp_path, name="m.npz", **changes):
    model = ta.mlp([4, 3, 2])
    arrays = dict(model.state_dict())
    arrays["__meta__"] = np.array(json.dumps(
        {"format": FORMAT, "architecture": model.architecture(), "chunk_size": None}))
    arrays.update(changes)
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


@pytest.mark.parametrize("entry", ["fc1.bias", "__meta__"])
def test_an_npz_with_an_object_array_is_refused_unexecuted(tmp_path, entry):
    flag = tmp_path / "executed"
    path = _model_file(tmp_path, **{entry: np.array([_Payload(str(flag))], dtype=object)})
    with pytest.raises(ValueError, match=f"its entry '{entry}' holds Python objects"):
        ta.load(path)
    assert not flag.exists()


def test_a_damaged_npz_is_a_valueerror_naming_the_file(tmp_path):
    path = _model_file(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("fc1.weight.npy")
    data[info.header_offset + 30 + len(info.filename) + info.file_size - 1] ^= 0xFF  # CRC breaks
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="m.npz is a damaged .npz .entry 'fc1.weight'"):
        ta.load(path)


@pytest.mark.parametrize("path, error", [(None, TypeError), (3, TypeError), (3.5, TypeError)])
def test_load_refuses_what_is_not_a_path(path, error):
    with pytest.raises(error, match="path must be a file path"):
        read_npz_with_meta(path, "model file")


def test_a_checkpoint_given_to_load_says_what_it_is(tmp_path):
    model = ta.mlp([4, 2])
    save_checkpoint(tmp_path / "c.npz", model, Adam(model.parameters()), np.random.default_rng(0),
                    1, {"loss": [0.5]})
    with pytest.raises(ValueError, match="names no format; a training checkpoint is read with"):
        ta.load(tmp_path / "c.npz")


def test_a_model_without_weights_keeps_its_dtype_through_a_file(tmp_path):
    model = ta.Sequential(("s", ta.ScaledReLU(0.05, dtype=np.float64)))
    model.save(tmp_path / "s.npz")
    loaded = ta.load(tmp_path / "s.npz")
    assert loaded.dtype == np.float64
    assert loaded.state_dict()["s.scale"].tobytes() == model.state_dict()["s.scale"].tobytes()


@pytest.mark.parametrize("dtype", [np.int32, np.float16])
def test_a_model_file_of_other_numbers_is_a_valueerror_naming_it(tmp_path, dtype):
    model = ta.mlp([4, 3, 2])
    path = _model_file(tmp_path, **{k: v.astype(dtype) for k, v in model.state_dict().items()})
    with pytest.raises(ValueError, match=f"m.npz holds {np.dtype(dtype)} parameters"):
        ta.load(path)


def test_a_model_file_that_does_not_fit_its_architecture_names_the_file(tmp_path):
    path = _model_file(tmp_path, **{"fc1.weight": np.zeros((5, 4), np.float32)})
    with pytest.raises(ValueError, match=r"m.npz: fc1.weight: shape \(5, 4\)"):
        ta.load(path)


def test_load_state_dict_refuses_fractions_for_an_integer_buffer():
    model = ta.Sequential(("bn", ta.BatchNorm(3)))
    state = model.state_dict()
    before = model.state_dict()["bn.num_batches_tracked"].copy()
    with pytest.raises(ValueError, match="bn.num_batches_tracked: .* not whole numbers"):
        model.load_state_dict(dict(state, **{"bn.num_batches_tracked": np.array(3.7)}))
    np.testing.assert_array_equal(model.state_dict()["bn.num_batches_tracked"], before)
    model.load_state_dict(dict(state, **{"bn.num_batches_tracked": np.array(4.0)}))  # whole: fine
    assert model.state_dict()["bn.num_batches_tracked"] == 4


def test_load_state_dict_with_keys_of_several_types_names_them():
    model = ta.mlp([4, 2])
    with pytest.raises(ValueError, match=r"unexpected keys \[0, 'x'\]"):
        model.load_state_dict({0: 1, "x": 2, **model.state_dict()})


def test_write_npz_atomically_refuses_object_arrays(tmp_path):
    with pytest.raises(ValueError, match=r"arrays\['a'\] holds Python objects"):
        write_npz_atomically(tmp_path / "o.npz", {"a": np.array([{}], dtype=object)})
    with pytest.raises(TypeError, match="arrays must be a dict"):
        write_npz_atomically(tmp_path / "o.npz", [np.zeros(2)])
    assert os.listdir(tmp_path) == []


# ---- checkpoints: all of it fits, or nothing changes -----------------------------------------

@pytest.fixture
def checkpoint(tmp_path):
    model = ta.mlp([4, 3, 2])
    optimizer = Adam(model.parameters())
    save_checkpoint(tmp_path / "c.npz", model, optimizer, np.random.default_rng(0), 1, {"loss": [0.5]})
    return tmp_path / "c.npz"


def _resumer(dtype=np.float32):
    model = ta.mlp([4, 3, 2], seed=7, dtype=dtype)
    return model, Adam(model.parameters()), weights(model)


def test_a_generator_of_another_kind_changes_nothing(checkpoint):
    model, optimizer, before = _resumer()
    rng = np.random.Generator(np.random.MT19937(1))
    expected = np.random.Generator(np.random.MT19937(1)).random(3)
    with pytest.raises(ValueError, match="its generator state does not fit rng, a MT19937"):
        load_checkpoint(checkpoint, model, optimizer, rng)
    assert_unchanged(model, before)
    np.testing.assert_array_equal(rng.random(3), expected)


@pytest.mark.parametrize("rng", [None, 0, np.random.RandomState(0)])
def test_load_checkpoint_needs_a_generator(checkpoint, rng):
    model, optimizer, before = _resumer()
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        load_checkpoint(checkpoint, model, optimizer, rng)
    assert_unchanged(model, before)


def test_a_checkpoint_of_another_dtype_is_refused(checkpoint):
    model, optimizer, before = _resumer(np.float64)
    with pytest.raises(ValueError, match="holds fc1.weight as float32, the model has it as float64"):
        load_checkpoint(checkpoint, model, optimizer, np.random.default_rng(1))
    assert_unchanged(model, before)


def test_a_checkpoint_written_on_a_big_endian_machine_resumes_with_the_same_numbers(checkpoint):
    """Its arrays are '>f4' (and '>i8'): the same float32 numbers, which were refused as "fc1.weight
    as >f4, the model has it as float32"."""
    with np.load(checkpoint) as data:
        arrays = {k: data[k] for k in data.files}
    swapped = {k: (v.astype(v.dtype.newbyteorder(">")) if k != "__meta__" else v)
               for k, v in arrays.items()}
    np.savez(checkpoint, **swapped)
    model, optimizer, _ = _resumer()
    epoch, _ = load_checkpoint(checkpoint, model, optimizer, np.random.default_rng(1))
    assert epoch == 1
    for key, value in model.state_dict().items():
        assert value.dtype == arrays[f"model/{key}"].dtype
        np.testing.assert_array_equal(value, arrays[f"model/{key}"])
    for key, value in optimizer.state_dict().items():
        assert value.dtype == arrays[f"optimizer/{key}"].dtype
        np.testing.assert_array_equal(value, arrays[f"optimizer/{key}"])


def _crafted(checkpoint, meta_changes=(), extra=()):
    with np.load(checkpoint) as data:
        arrays = {k: data[k] for k in data.files}
    meta = dict(json.loads(str(arrays["__meta__"])), **dict(meta_changes))
    arrays.update(extra, __meta__=np.array(json.dumps(meta)))
    np.savez(checkpoint, **arrays)
    return checkpoint


@pytest.mark.parametrize("meta, extra, message", [
    ({"epoch": -3}, {}, "its epoch is -3, not an integer >= 0"),
    ({"epoch": "x"}, {}, "its epoch is 'x'"),
    ({"epoch": True}, {}, "its epoch is True"),
    ({"epoch": 2 ** 63}, {}, "its epoch is 9223372036854775808, not an integer >= 0 below 2"),
    ({"epoch": 10 ** 400}, {}, "its epoch is an integer of 1329 bits"),  # (no 400 digits shown)
    ({"history": [1]}, {}, "its history must be a dict"),
    ({"history": {"loss": 3}}, {}, "its history must be a dict"),  # fit appends to "loss"
    ({"rng": {"bit_generator": "PCG64"}}, {}, "its generator state does not fit rng"),
    # (numbers beyond the generator's uint64/uint128: OverflowError escaped, naming no file)
    *[({"rng": {"bit_generator": "PCG64", "state": {"state": state, "inc": inc},
                "has_uint32": 0, "uinteger": 0}}, {}, "its generator state does not fit rng")
      for state, inc in ((2 ** 200, 1), (-1, 1), (1, 2 ** 130))],
    ({}, {"junk": np.zeros(2)}, r"entries \['junk'\] belong to no model or optimizer"),
    ({}, {"optimizer/m.99": np.zeros(2)}, r"entries \['m.99'\] that this Adam does not"),
])
def test_a_crafted_checkpoint_changes_nothing(checkpoint, meta, extra, message):
    model, optimizer, before = _resumer()
    with pytest.raises(ValueError, match=message):
        load_checkpoint(_crafted(checkpoint, meta, extra), model, optimizer, np.random.default_rng(1),
                        history_keys=["loss"])
    assert_unchanged(model, before)
    assert optimizer.t == 0


def test_save_checkpoint_writes_numpy_numbers_and_reads_them_back(tmp_path):
    model = ta.mlp([4, 2])
    optimizer = Adam(model.parameters())
    history = {"loss": [np.float32(0.5)], "accuracy": [np.float64(0.25)], "epoch": [np.int64(1)]}
    save_checkpoint(tmp_path / "c.npz", model, optimizer, np.random.default_rng(0), np.int64(1), history)
    epoch, read = load_checkpoint(tmp_path / "c.npz", model, optimizer, np.random.default_rng(5))
    assert (epoch, read) == (1, {"loss": [0.5], "accuracy": [0.25], "epoch": [1]})


@pytest.mark.parametrize("change, error, message", [
    (dict(rng=None), TypeError, "rng must be a numpy.random.Generator"),
    (dict(epoch=-1), ValueError, "epoch must be >= 0"),
    (dict(epoch="1"), TypeError, "epoch must be an integer"),
    (dict(history=[0.5]), TypeError, "history must be a dict"),
    (dict(history={"loss": [object()]}), TypeError, "history must hold numbers"),
    (dict(model=None), TypeError, "model must have a state_dict"),
])
def test_save_checkpoint_refuses_bad_arguments_before_writing(tmp_path, change, error, message):
    model = ta.mlp([4, 2])
    args = dict(model=model, optimizer=Adam(model.parameters()), rng=np.random.default_rng(0),
                epoch=1, history={"loss": [0.5]})
    args.update(change)
    with pytest.raises(error, match=message):
        save_checkpoint(tmp_path / "c.npz", **args)
    assert os.listdir(tmp_path) == []


# ---- threads -----------------------------------------------------------------------------------

@pytest.mark.parametrize("n, error", [(0, ValueError), (-1, ValueError), ("2", TypeError),
                                      (None, TypeError), (True, TypeError), (1.5, TypeError)])
def test_blas_threads_refuses_counts_openblas_would_misread(n, error):
    with pytest.raises(error, match="n must be"):
        with blas_threads(n):
            pass


def test_blas_threads_takes_numpy_ints_and_huge_counts():
    """np.int64(1) sets one thread (it crashed in ctypes); 10**20 is capped, not wrapped around
    to a C int of 0 or less (which OpenBLAS reads as "all cores"); both are undone after."""
    from tinyadv import threads

    with blas_threads(1):  # (finds OpenBLAS on the first call)
        pass
    getters = [getter for _, getter in threads._blas["setters"]]
    if not getters:
        pytest.skip("no OpenBLAS found in this process")
    before = [getter() for getter in getters]
    with blas_threads(np.int64(1)):
        assert [getter() for getter in getters] == [1] * len(getters)
    with blas_threads(10**20):
        assert all(getter() >= 1 for getter in getters)
    assert [getter() for getter in getters] == before


def test_map_chunks_takes_any_iterable_in_order_and_checks_its_arguments(restore_threads):
    set_num_threads(2)
    slices = chunk_slices(10, 3)
    assert map_chunks(lambda s: s.start, (s for s in slices)) == [0, 3, 6, 9]
    with pytest.raises(TypeError, match="work must be callable"):
        map_chunks(None, slices)
    with pytest.raises(TypeError, match="slices must be a list of chunks"):
        map_chunks(len, None)
    with pytest.raises(TypeError, match="small must be True or False"):
        map_chunks(len, slices, small="no")


# ---- plots -------------------------------------------------------------------------------------

def test_save_figure_refuses_a_folder_and_what_is_no_figure(tmp_path):
    fig = plt.figure()
    try:
        with pytest.raises(IsADirectoryError, match="is a folder"):
            save_figure(fig, tmp_path)
        with pytest.raises(TypeError, match="path must be a file path"):
            save_figure(fig, None)
        with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
            save_figure(None, tmp_path / "f.png")
        assert os.listdir(tmp_path) == []
        assert save_figure(fig, tmp_path / "f.png") == str(tmp_path / "f.png")  # valid: as before
    finally:
        plt.close("all")


def test_image_grid_says_how_to_pass_a_single_row():
    with pytest.raises(ValueError, match=r"for a single row pass \[x\]"):
        image_grid(np.zeros((3, 1, 4, 4)))


def test_signed_image_grid_refuses_values_it_cannot_scale():
    with pytest.raises(ValueError, match=r"images\[0\] holds values too large to draw"):
        signed_image_grid([np.array([[1e308, -1e308]])])
    plt.close("all")


# ---- loaders: a split's name given as root -----------------------------------------------------

@pytest.mark.parametrize("loader", [load_mnist, load_fashion_mnist, load_cifar10, load_svhn])
def test_a_split_name_as_root_is_refused_not_downloaded_into(tmp_path, monkeypatch, loader):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="root='test' is a split's name"):
        loader("test", download=False)
    assert os.listdir(tmp_path) == []


def test_a_folder_named_like_a_split_is_still_a_root(tmp_path, monkeypatch):
    (tmp_path / "test").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="test/mnist/"):
        load_mnist("test", download=False)


def test_a_file_where_the_cifar_folder_belongs_is_named(tmp_path):
    (tmp_path / "cifar-10-batches-py").write_text("x")
    with pytest.raises(ValueError, match="is a file, not the folder of CIFAR-10's batches"):
        load_cifar10(tmp_path, download=False)



@pytest.mark.parametrize("classes", [{3, 7}, frozenset({3, 7})])
def test_binary_classes_must_be_ordered(classes):
    """With binary=True the order of classes names the positive class; a set has none, so which
    digit became 1 depended on hashing. Without binary the labels keep their ids: any order."""
    with pytest.raises(TypeError, match=r"binary=True needs classes in order"):
        ta.data.load_mini_mnist(classes=classes, binary=True)
    _, y = ta.data.load_mini_mnist(classes=classes)
    assert set(np.unique(y)) == {3, 7}
    _, y = ta.data.load_mini_mnist(classes={3: "positive", 7: "negative"}, binary=True)
    assert set(np.unique(y)) == {0, 1}  # a dict keeps its order


def test_old_checkpoints_with_other_history_entries_and_generators_resume(tmp_path):
    """Checkpoints the code before 7dd901a wrote and read: entries beside fit's lists (a number,
    text), an epoch written as 2.0; and generators other than PCG64 (their state holds arrays)."""
    model, optimizer, _ = _resumer()
    history = {"loss": [0.5, 0.4], "best_epoch": 2, "note": "run A", "lr": (1e-3, 1e-4)}
    for bit_generator in (np.random.PCG64(1), np.random.MT19937(1), np.random.Philox(1)):
        rng = np.random.Generator(bit_generator)
        save_checkpoint(tmp_path / "c.npz", model, optimizer, rng, 2, history)
        _crafted(tmp_path / "c.npz", {"epoch": 2.0})
        resumed = np.random.Generator(type(bit_generator)())
        epoch, read = load_checkpoint(tmp_path / "c.npz", model, optimizer, resumed)
        assert epoch == 2 and read == dict(history, lr=[1e-3, 1e-4])
        assert resumed.random() == rng.random()


def test_a_data_folder_named_like_a_split_from_the_environment_is_taken(tmp_path, monkeypatch):
    """Only a root passed to a loader is read as a mistaken split; $TINYADV_DATA is taken as set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINYADV_DATA", "test")
    assert ta.data.data_root() == str(tmp_path / "test")
    with pytest.raises(ValueError, match="is a split's name"):
        ta.data.data_root("test")
