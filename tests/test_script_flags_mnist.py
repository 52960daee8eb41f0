"""The MNIST scripts refuse a bad flag when they read it: argparse's usage error naming the flag
(exit code 2), before any data is loaded or any model trained; their default flags still parse.

Each script's data loaders are replaced by a function that fails the test, so a flag that is
accepted by mistake shows at once instead of after minutes of training. In the flag lists,
``{file}`` stands for an existing file, ``{folder}`` for an existing folder and ``{missing}``
for a path that does not exist.
"""

import functools

import pytest
import script_loading

import tinyadv as ta

LOADERS = ("load_dataset", "load_mini_mnist", "build", "check_split")
load_script = functools.cache(script_loading.load_script)  # each script once: faster


def went_on(*args, **kwargs):
    raise AssertionError("the flags were accepted: the script went on to load data")


@pytest.fixture
def paths(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    return {"file": str(a_file), "folder": str(tmp_path), "missing": str(tmp_path / "missing")}


def refuse(monkeypatch, capsys, paths, script, argv):
    """Run ``script``'s main(argv); return its usage error (stderr) after checking exit code 2."""
    module = load_script(script)
    for name in LOADERS:
        if hasattr(module, name):
            monkeypatch.setattr(module, name, went_on)
    with pytest.raises(SystemExit) as stop:
        module.main([arg.format(**paths) for arg in argv])
    assert stop.value.code == 2
    return capsys.readouterr().err


OUT = [(["--out", "x.xyz"], "--out"), (["--out", "{file}/x.png"], "--out"), (["--out", "{folder}"], "--out")]

DEMO = [
    (["--epochs", "0"], "--epochs"), (["--nf", "0"], "--nf"), (["--train-limit", "-5"], "--train-limit"),
    (["--test-limit", "0"], "--test-limit"), (["--seed", "-1"], "--seed"),
    (["--eps", "-0.1"], "--eps"), (["--eps", "5"], "--eps"), (["--eps", "nan"], "--eps"),
    (["--eps", "0.3", "0.1"], "--eps"), (["--eps", "0.3", "0.1", "0.1"], "--eps"),
] + OUT

HOMEWORK = [
    (["--epochs", "0"], "--epochs"), (["--train-limit", "0"], "--train-limit"),
    (["--test-limit", "-1"], "--test-limit"), (["--eps", "-0.1"], "--eps"), (["--eps", "0"], "--eps"),
    (["--eps", "2"], "--eps"), (["--seed", "-1"], "--seed"),
]

BLACKBOX = [
    (["--seed-size", "-5"], "--seed-size"), (["--seed-size", "0"], "--seed-size"),
    (["--seed-size", "200", "--test-limit", "200"], "--seed-size"),
    (["--seed-size", "195", "--test-limit", "20"], "--test-limit"),
    (["--eps", "-0.3"], "--eps"), (["--eps", "1.5"], "--eps"),
    (["--lmbda", "-0.1"], "--lmbda"), (["--lmbda", "nan"], "--lmbda"), (["--lmbda", "0"], "--lmbda"),
    (["--tau", "0"], "--tau"), (["--tau", "-3"], "--tau"), (["--rounds", "0"], "--rounds"),
    (["--rounds", "-1"], "--rounds"), (["--rounds", "65"], "--rounds"),
    (["--oracle-epochs", "0"], "--oracle-epochs"),
    (["--sub-epochs", "0"], "--sub-epochs"), (["--nf", "0"], "--nf"), (["--train-limit", "0"], "--train-limit"),
    (["--test-limit", "-5"], "--test-limit"), (["--seed", "-1"], "--seed"),
    (["--paper", "--nf", "0"], "--nf"),
] + OUT

BINARIZED = [
    (["--paper", "--epochs", "1"], "the --paper preset's: give --adv-after too"),
    (["--eps", "-0.3"], "--eps"), (["--eps", "2"], "--eps"), (["--temperature", "nan"], "--temperature"),
    (["--temperature", "0"], "--temperature"), (["--temperature", "-1"], "--temperature"),
    (["--cw-steps", "0"], "--cw-steps"), (["--spsa-steps", "0"], "--spsa-steps"),
    (["--pgd-steps", "0"], "--pgd-steps"), (["--sweep-steps", "0"], "--sweep-steps"),
    (["--adv-steps", "0"], "--adv-steps"), (["--pgd-limit", "-5"], "--pgd-limit"),
    (["--pgd-limit", "0"], "--pgd-limit"), (["--sweep-limit", "0"], "--sweep-limit"),
    (["--cw-limit", "-3"], "--cw-limit"), (["--spsa-limit", "0"], "--spsa-limit"),
    (["--tolerance", "-1"], "--tolerance"), (["--tolerance", "nan"], "--tolerance"),
    (["--adv-alpha", "0"], "--adv-alpha"), (["--pgd-alpha", "-1"], "--pgd-alpha"),
    (["--nf", "0"], "--nf"), (["--train-limit", "0"], "--train-limit"), (["--test-limit", "0"], "--test-limit"),
    (["--epochs", "0", "--adv-after", "0"], "--epochs"), (["--adv-after", "-1"], "--adv-after"),
    (["--epochs", "2", "--adv-after", "3"], "--adv-after"),
    (["--adv-models", "A", "--epochs", "1", "--adv-after", "1"], "--adv-after"),
    (["--variants", "A", "--adv-models", "B"], "--adv-models"),
    # (set and then unused: no model trains adversarially)
    (["--adv-models", "--adv-steps", "3"], "--adv-steps"),
    (["--adv-models", "--adv-alpha", "0.1"], "--adv-alpha"),
    (["--variants", "A", "A"], "--variants"), (["--seed", "-1"], "--seed"),
    (["--paper", "--spsa-steps", "0"], "--spsa-steps"),
] + OUT

LOGISTIC = [
    (["--data", "cifar10"], "--data"),  # the weight images and the L0 attack are 28×28 greyscale
    (["--max-pixels", "393"], "--max-pixels"), (["--max-pixels", "400"], "--max-pixels"),
    (["--max-pixels", "0"], "--max-pixels"), (["--max-pixels", "-1"], "--max-pixels"),
    (["--sweep-points", "1"], "--sweep-points"), (["--sweep-points", "-2"], "--sweep-points"),
    (["--paper-protocol", "--paper-steps", "0"], "--paper-steps"),
    (["--paper-protocol", "--paper-steps", "-5"], "--paper-steps"),
    (["--paper-protocol", "--paper-expert-steps", "-5"], "--paper-expert-steps"),
    (["--paper-protocol", "--epochs", "5"], "--epochs"), (["--paper-protocol", "--lr", "0.01"], "--lr"),
    (["--paper-protocol", "--lr", "-1"], "--lr"), (["--paper-steps", "100"], "--paper-steps"),
    (["--paper-expert-steps", "100"], "--paper-expert-steps"),
    (["--epochs", "0"], "--epochs"), (["--lr", "0"], "--lr"), (["--lr", "-1"], "--lr"),
    (["--eps", "-0.1"], "--eps"), (["--eps", "1.5"], "--eps"), (["--l2", "-1"], "--l2"),
    (["--l1", "nan"], "--l1"), (["--expert-l2", "-1"], "--expert-l2"), (["--limit", "0"], "--limit"),
    (["--seed", "-1"], "--seed"), (["--figures", "{file}"], "--figures"),
    (["--figures", "{file}/sub"], "--figures"),
]

HUMAN = [
    (["--demo", "--steps", "0"], "--steps"), (["--demo", "--steps", "-3"], "--steps"),
    (["--demo", "--digits", "0"], "--digits"), (["--demo", "--eval-digits", "-1"], "--eval-digits"),
    (["--demo", "--epochs", "0"], "--epochs"), (["--demo", "--limit", "0"], "--limit"),
    (["--demo", "--nf", "-4"], "--nf"), (["--demo", "--seed", "-1"], "--seed"),
    (["--demo", "--out", "x.xyz"], "--out"), (["--demo", "--out", "{file}/x.png"], "--out"),
    (["--demo", "--out", "{folder}"], "--out"),
    (["--demo", "--save", "{folder}"], "--save"), (["--demo", "--save", "{file}/model.npz"], "--save"),
    (["--demo", "--model", "{missing}.npz"], "--model"), (["--demo", "--model", "{file}"], "--model"),
    ([], "--demo"),                      # the tests run under Agg: no window can open
    (["--out", "x.png"], "--out"),       # --out is --demo's figure: the window writes nothing
    (["--steps", "10", "--digits", "2"], "--steps, --digits: for --demo"),  # unused by the window
]

OFFLINE = [(["--root", "{missing}"], "--root"), (["--root", "{file}"], "--root"), (["--root", ""], "--root")]

MINI = [
    (["{missing}"], "src"), (["{file}"], "src"), (["{folder}"], "src"),
    (["--out", "{folder}"], "--out"), (["--out", "{file}/mini.npz"], "--out"), (["--seed", "-1"], "--seed"),
]

CASES = [(script, argv, flag) for script, cases in (
    ("demo", DEMO), ("homework_example", HOMEWORK), ("blackbox_mnist", BLACKBOX),
    ("binarized_mnist", BINARIZED), ("logistic_3v7", LOGISTIC), ("human_attack", HUMAN),
    ("check_offline_data", OFFLINE), ("make_mini_mnist", MINI)) for argv, flag in cases]


@pytest.mark.parametrize("script, argv, flag", CASES,
                         ids=[f"{s}:{' '.join(a) or 'no flags'}" for s, a, _ in CASES])
def test_a_bad_flag_is_a_usage_error_naming_it(monkeypatch, capsys, paths, script, argv, flag):
    error = refuse(monkeypatch, capsys, paths, script, argv)
    assert "usage:" in error and flag in error


def test_blackbox_refuses_an_out_whose_examples_figure_names_a_folder(monkeypatch, capsys, paths,
                                                                      tmp_path):
    """The examples' figure, written beside --out at the very end, met a folder there after all
    the training (IsADirectoryError)."""
    (tmp_path / "b_examples.png").mkdir()
    error = refuse(monkeypatch, capsys, paths, "blackbox_mnist", ["--out", str(tmp_path / "b.png")])
    assert "--out" in error and "the examples' figure" in error and "is a folder" in error


@pytest.mark.parametrize("script", ["demo", "homework_example", "blackbox_mnist", "binarized_mnist",
                                    "logistic_3v7", "human_attack", "check_offline_data", "make_mini_mnist"])
def test_help_exits_0(capsys, script):
    with pytest.raises(SystemExit) as stop:
        load_script(script).main(["--help"])
    assert stop.value.code == 0 and "usage:" in capsys.readouterr().out


def test_the_default_flags_parse():
    """The scripts with a parse_args: the defaults pass every check and keep their values."""
    blackbox = load_script("blackbox_mnist").parse_args([])
    assert (blackbox.nf, blackbox.oracle_epochs, blackbox.seed_size, blackbox.eps) == (32, 3, 150, 0.3)
    binarized = load_script("binarized_mnist").parse_args([])
    assert binarized.adv_models == ["A", "B", "C"] and binarized.variants == ["A", "B", "B-hubara", "C", "S"]
    assert (binarized.epochs, binarized.adv_after, binarized.temperature) == (4, 3, 0.25)
    logistic = load_script("logistic_3v7").parse_args([])
    assert (logistic.epochs, logistic.lr, logistic.max_pixels, logistic.sweep_points) == (30, 1e-3, 50, 51)
    assert load_script("logistic_3v7").parse_args(["--max-pixels", "392"]).max_pixels == 392
    paper = load_script("logistic_3v7").parse_args(["--paper-protocol"])
    assert (paper.paper_steps, paper.paper_expert_steps) == (50_000, 10_000)
    human = load_script("human_attack").parse_args(["--demo"])
    assert human.out == load_script("human_attack").DEFAULT_OUT and human.steps == 40


def test_white_box_pgd_defaults_to_madry_mnist():
    """REFERENCES.md §3 and §9 (Madry et al. 2018 on MNIST): binarized_mnist's white-box PGD is
    L∞ with ε = 0.3, step 0.01 and 40 iterations by default."""
    args = load_script("binarized_mnist").parse_args([])
    assert (args.eps, args.pgd_alpha, args.pgd_steps) == (0.3, 0.01, 40)


def test_paper_flags_set_the_paper_values_and_explicit_flags_win():
    blackbox = load_script("blackbox_mnist")
    assert (blackbox.parse_args(["--paper"]).nf, blackbox.parse_args(["--paper"]).oracle_epochs) == (64, 10)
    args = blackbox.parse_args(["--paper", "--nf", "8", "--train-limit", "500"])
    assert (args.nf, args.oracle_epochs, args.train_limit) == (8, 10, 500)
    binarized = load_script("binarized_mnist")
    args = binarized.parse_args(["--paper", "--epochs", "5", "--adv-after", "2"])
    assert (args.nf, args.epochs, args.adv_after, args.adv_steps) == (64, 5, 2, 40)
    assert args.adv_models == list(binarized.VARIANTS)     # the paper trains all of them adversarially
    assert binarized.parse_args(["--paper", "--variants", "A", "S"]).adv_models == ["A", "S"]
    assert binarized.parse_args(["--variants", "A", "S"]).adv_models == ["A"]


def test_the_printed_preset_names_the_size_flags_set_otherwise():
    # "[laptop default]" was printed beside sizes the command line had changed
    blackbox, binarized = load_script("blackbox_mnist"), load_script("binarized_mnist")
    assert blackbox.parse_args([]).preset == "laptop default"
    assert blackbox.parse_args(["--nf", "64", "--seed", "3"]).preset == "laptop default, but --nf set"
    assert blackbox.parse_args(["--paper"]).preset == "--paper"
    assert blackbox.parse_args(["--paper", "--nf", "8"]).preset == "--paper, but --nf set"
    assert binarized.parse_args(["--epochs", "5", "--cw-limit", "20"]).preset == \
        "laptop default, but --epochs, --cw-limit set"
    assert binarized.parse_args(["--paper", "--epochs", "15"]).preset == "--paper"  # (its value)


@pytest.mark.parametrize("saved, kind", [("cnn", "logistic"), ("logistic", "cnn")])
def test_human_attack_refuses_a_model_of_the_other_kind(monkeypatch, capsys, paths, tmp_path, saved, kind):
    model = (ta.logistic_regression(784, seed=0) if saved == "logistic"
             else ta.cleverhans_cnn(in_channels=1, image_size=28, nf=4, bias=True, seed=0))
    model.save(tmp_path / "model.npz")
    error = refuse(monkeypatch, capsys, paths, "human_attack",
                   ["--demo", "--model", str(tmp_path / "model.npz"), "--model-kind", kind])
    assert "--model " in error and f"--model-kind {kind}" in error
    assert load_script("human_attack").parse_args(["--demo", "--model", str(tmp_path / "model.npz"),
                                                   "--model-kind", saved]).model is not None


@pytest.mark.parametrize("extra, flag", [(["--save", "again.npz"], "--save"), (["--epochs", "7"], "--epochs")])
def test_human_attack_refuses_training_flags_with_a_loaded_model(monkeypatch, capsys, paths, tmp_path, extra, flag):
    ta.logistic_regression(784, seed=0).save(tmp_path / "model.npz")
    error = refuse(monkeypatch, capsys, paths, "human_attack",
                   ["--demo", "--model", str(tmp_path / "model.npz")] + extra)
    assert flag in error and "--model" in error


@pytest.mark.parametrize("kind, saved", [("cnn", True), ("logistic", False)])
def test_human_attack_refuses_nf_where_no_cnn_is_trained(monkeypatch, capsys, paths, tmp_path, kind, saved):
    """--nf was accepted and ignored with a loaded --model (the figure then named --nf's value,
    not the model's filters) and with --model-kind logistic."""
    extra = []
    if saved:
        ta.cleverhans_cnn(in_channels=1, image_size=28, nf=4, bias=True, seed=0).save(tmp_path / "m.npz")
        extra = ["--model", str(tmp_path / "m.npz")]
    error = refuse(monkeypatch, capsys, paths, "human_attack",
                   ["--demo", "--model-kind", kind, "--nf", "16"] + extra)
    assert "--nf" in error
    assert load_script("human_attack").parse_args(["--demo", "--model-kind", kind] + extra).nf == 8


def test_check_offline_data_refuses_a_missing_default_folder(monkeypatch, capsys, paths, tmp_path):
    monkeypatch.setenv("TINYADV_DATA", str(tmp_path / "nowhere"))
    error = refuse(monkeypatch, capsys, paths, "check_offline_data", [])
    assert "nowhere" in error and "--root" in error


def test_check_offline_data_on_an_empty_folder_checks_nothing(capsys, tmp_path):
    assert load_script("check_offline_data").main(["--root", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "0 splits checked: nothing to check" in printed and "--root" not in printed
    (tmp_path / "mnist").mkdir()  # one folder too deep: the hint names the data folder
    assert load_script("check_offline_data").main(["--root", str(tmp_path / "mnist")]) == 0
    assert f"the data folder is the one that holds it, --root {tmp_path}" in capsys.readouterr().out


def test_check_offline_data_reports_a_truncated_mnist_file_and_checks_on(capsys, tmp_path):
    import gzip
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (mnist / name).write_bytes(gzip.compress(b"not an idx file" * 100))
    whole = (mnist / "train-images-idx3-ubyte.gz").read_bytes()
    (mnist / "train-images-idx3-ubyte.gz").write_bytes(whole[:len(whole) // 2])  # truncated
    (tmp_path / "cifar-10-batches-py").mkdir()  # a later data set is still checked
    assert load_script("check_offline_data").main(["--root", str(tmp_path)]) == 1
    printed = capsys.readouterr().out
    assert "FAIL mnist contents train-images-idx3-ubyte.gz: EOFError" in printed
    assert "FAIL mnist contents t10k-labels-idx1-ubyte.gz: md5" in printed
    assert "FAIL cifar10" in printed and "SOME DIFFER" in printed


def test_check_offline_data_checks_a_cifar_archive_placed_without_its_folder(capsys, tmp_path):
    """The data folder may hold CIFAR-10 as the official archive alone (the README's layout);
    the check loads it as the loaders do, so an archive that is not the official one fails."""
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"not the official archive")
    assert load_script("check_offline_data").main(["--root", str(tmp_path)]) == 1
    printed = capsys.readouterr().out
    assert "skip cifar10" not in printed and "FAIL cifar10" in printed and "MD5" in printed


def test_make_mini_mnist_names_the_missing_folder_and_files(monkeypatch, capsys, paths, tmp_path):
    error = refuse(monkeypatch, capsys, paths, "make_mini_mnist", [str(tmp_path / "no_mnist_here")])
    assert "argument src" in error and "no_mnist_here" in error
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    error = refuse(monkeypatch, capsys, paths, "make_mini_mnist", [str(tmp_path)])
    assert "lacks train-labels-idx1-ubyte.gz" in error and "train-images" not in error.split("lacks")[1]
