"""Smoke tests of the theory slides' scripts: tiny settings, a figure in tmp_path, and the printed
table pointing the way the claim says."""

from script_loading import SCRIPTS, load_script


def numeric_rows(text):
    """The rows of a printed table: lines whose every token parses as a number."""
    rows = []
    for line in text.splitlines():
        try:
            rows.append([float(token) for token in line.split()])
        except ValueError:
            continue
    return [row for row in rows if row]


def test_linearity_script_change_grows_and_ratio_stays_flat(tmp_path, capsys):
    """linearity.py: ε·||w||_1 grows ~100-fold from n = 10 to 1000, the ratio stays flat, and the
    ratio of the unrelated-weights control grows."""
    out = tmp_path / "linearity.png"
    load_script("linearity").main(["--trials", "30", "--max-dim", "1000", "--out", str(out)])
    assert out.exists() and out.stat().st_size > 10_000
    rows = numeric_rows(capsys.readouterr().out)
    n, expected, change, clean, ratio, unrelated = (list(col) for col in zip(*rows))
    assert n[0] == 10 and n[-1] == 1000
    assert all(b > a for a, b in zip(change, change[1:]))
    assert change[-1] / change[0] > 50 and clean[-1] / clean[0] > 50
    assert max(ratio) / min(ratio) < 1.3
    assert unrelated[-1] > 3 * unrelated[0]


def test_boundary_tilting_script_distance_falls_at_fixed_accuracy(tmp_path, capsys):
    """boundary_tilting.py: on the plane the accuracy is the same at every tilt while the
    adversarial distance falls; the logistic fit with the largest weight decay tilts least."""
    out = tmp_path / "tilting.png"
    load_script("boundary_tilting").main(
        ["--dim", "60", "--train", "20", "--test", "300", "--steps", "300",
         "--weight-decays", "0", "1", "--out", str(out)])
    assert out.exists() and out.stat().st_size > 10_000
    text = capsys.readouterr().out
    tilt_part, fit_part = text.split("logistic regression")
    tilt, acc_plane, dist_plane, cos_d0, _, _ = zip(*numeric_rows(tilt_part))
    assert len(set(acc_plane)) == 1
    assert all(b < a for a, b in zip(dist_plane, dist_plane[1:]))
    lam, angle, *_ = zip(*numeric_rows(fit_part))
    assert lam == (0.0, 1.0) and angle[1] < angle[0]


def test_the_guide_states_the_range_of_the_ratio_that_linearity_prints(tmp_path):
    """figures/README.md §3 gives the range of ε‖w‖₁/|w·x| of the default run (seed 0)."""
    import re

    results = load_script("linearity").main(["--out", str(tmp_path / "linearity.png")])
    ratio = [round(float(r), 3) for r in results["ratio"]]
    guide = (SCRIPTS.parent / "figures" / "README.md").read_text(encoding="utf-8")
    low, high = map(float, re.search(r"stays between (\d\.\d+) and (\d\.\d+)", guide).groups())
    assert (low, high) == (min(ratio), max(ratio))
