"""Bad flags of the theory scripts (linearity, boundary_tilting, theory_figures) and of run_all
fail when they are read: argparse's usage error naming the flag, exit code 2, before anything is
sampled, trained or run. The default flags still parse."""


import pytest

from script_loading import load_script


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Run in tmp_path, with a file ``a_file`` and a folder ``a_folder.png`` there, so that a
    default figures/ folder (or a script run by mistake) writes nothing into the repository."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "a_folder.png").mkdir()
    return tmp_path


def assert_refused(main, argv, flag, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert flag in capsys.readouterr().err


BAD_OUT = [(["--out", "a_file/x.png"], "--out"), (["--out", "x.xyz"], "--out"),
           (["--out", "a_folder.png"], "--out")]


@pytest.mark.parametrize("argv, flag", [
    (["--seed", "-1"], "--seed"),
    (["--eps", "-0.1"], "--eps"),
    (["--eps", "0"], "--eps"),                 # change and ratio 0: nothing on the log axes
    (["--eps", "1.5"], "--eps"),               # beyond the pixel range [0, 1]
    (["--eps", "nan"], "--eps"),
    (["--w-mean", "0"], "--w-mean"),           # the control, not the aligned case
    (["--w-mean", "nan"], "--w-mean"),
    (["--w-mean", "inf"], "--w-mean"),
    (["--w-std", "0"], "--w-std"),             # w = 0 in the control: ratio 0/0
    (["--w-std", "-0.5"], "--w-std"),
    (["--trials", "0"], "--trials"),
    (["--max-dim", "18"], "--max-dim"),        # 9 dimensions from 10 to 18 round to 8
    (["--max-dim", "5"], "--max-dim"),         # the table would run from 10 down to 5
    (["--max-dim", "0"], "--max-dim"),
    (["--max-dim", "-5"], "--max-dim"),
    (["--max-dim", str(10**15)], "--max-dim 1000000000000000 weights take"),  # petabytes
] + BAD_OUT)
def test_linearity_refuses_bad_flags(argv, flag, capsys):
    main = load_script("linearity").main
    assert_refused(main, ["--trials", "2", "--max-dim", "100", "--out", "l.png"] + argv, flag,
                   capsys)


def test_linearity_defaults_parse_and_smallest_max_dim_gives_nine_rows():
    module = load_script("linearity")
    args = module.parse_args([])
    assert (args.eps, args.max_dim, args.seed) == (0.25, 10_000, 0)
    assert len(module.dimensions(module.SMALLEST_MAX_DIM)) == 9
    assert len(module.dimensions(module.SMALLEST_MAX_DIM - 1)) < 9
    assert module.parse_args(["--max-dim", str(module.SMALLEST_MAX_DIM)]).max_dim == 19


@pytest.mark.parametrize("argv, flag", [
    (["--seed", "-1"], "--seed"),
    (["--dim", "3"], "--dim"),      # plane + w_nc fill R^3: the "orthogonal" direction is noise
    (["--dim", "2"], "--dim"),
    (["--dim", "0"], "--dim"),
    (["--train", "1"], "--train"),  # the nearest centroid needs both classes
    (["--train", "-5"], "--train"),
    (["--test", "0"], "--test"),
    (["--separation", "0"], "--separation"),
    (["--separation", "-4"], "--separation"),
    (["--noise", "-0.1"], "--noise"),
    (["--noise", "nan"], "--noise"),
    (["--weight-decays", "1", "0"], "--weight-decays"),
    (["--weight-decays", "0", "0.1", "0.1"], "--weight-decays"),
    (["--weight-decays", "-1"], "--weight-decays"),
    (["--steps", "0"], "--steps"),
] + BAD_OUT)
def test_boundary_tilting_refuses_bad_flags(argv, flag, capsys):
    main = load_script("boundary_tilting").main
    assert_refused(main, ["--dim", "20", "--train", "10", "--test", "20", "--steps", "5",
                          "--out", "b.png"] + argv, flag, capsys)


def test_boundary_tilting_defaults_parse():
    module = load_script("boundary_tilting")
    args = module.parse_args([])
    assert (args.dim, args.train, args.weight_decays) == (200, 40, [0.0, 1e-3, 1e-2, 1e-1, 1.0])
    assert module.parse_args(["--dim", "4", "--train", "2", "--noise", "0"]).dim == 4


def never(*args, **kwargs):
    raise AssertionError("ran an experiment although a flag was bad")


@pytest.mark.parametrize("argv, flag", [
    (["--seed", "-1"], "--seed"),
    (["--figures", "a_file"], "--figures"),
    (["--figures", "a_file/sub"], "--figures"),
])
def test_theory_figures_refuses_bad_flags(argv, flag, capsys, monkeypatch):
    module = load_script("theory_figures")
    monkeypatch.setattr(module, "run_script", never)
    assert_refused(module.main, argv, flag, capsys)


def test_theory_figures_defaults_pass_what_each_script_accepts(monkeypatch):
    module = load_script("theory_figures")
    calls = []
    monkeypatch.setattr(module, "run_script", lambda name, argv: calls.append((name, argv)))
    module.main([])
    assert [name for name, _ in calls] == ["linearity", "boundary_tilting"]
    for name, argv in calls:
        assert load_script(name).parse_args(argv).seed == 0


@pytest.mark.parametrize("argv, flag", [
    (["--seed", "-1"], "--seed"),
    (["--figures", "a_file"], "--figures"),
    (["--figures", "a_file/sub"], "--figures"),
    (["--checkpoints", "a_file"], "--checkpoints"),
    (["--checkpoints", "a_file/sub"], "--checkpoints"),
])
def test_run_all_refuses_bad_flags_before_any_experiment(argv, flag, capsys, monkeypatch):
    module = load_script("run_all")
    monkeypatch.setattr(module, "run_experiment", never)
    assert_refused(module.main, ["--fast", "--only", "linearity", "--data-mnist", "mini-mnist",
                                 "--data-cifar", "mini-mnist"] + argv, flag, capsys)


def test_run_all_defaults_parse_and_pass_what_the_theory_scripts_accept(monkeypatch, tmp_path):
    module = load_script("run_all")
    calls = []

    def record(experiment, argv):
        calls.append((experiment.script, argv))
        return "ok", "", []

    monkeypatch.setattr(module, "run_experiment", record)
    monkeypatch.setattr(module, "loadable", lambda name: False)  # no data set is read
    report = module.main([])
    assert report["status"] == 0 and (tmp_path / "figures" / "run_all_summary.md").exists()
    argvs = dict(calls)
    for name in ("linearity", "boundary_tilting"):
        assert load_script(name).parse_args(argvs[name]).seed == 0
