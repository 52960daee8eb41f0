"""Every file, script, figure and test that the README, figures/README.md and
scripts/BENCHMARKS.md name exists, and every section of docs/REFERENCES.md that a docstring cites.

The two READMEs walk the talk slide by slide and name, for each slide, the code, the script,
the figure and the test; BENCHMARKS.md names the scripts that printed its numbers. A
renamed file or test must not leave a dead reference behind."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PATH = re.compile(r"(?<![\w/.-])((?:tinyadv|scripts|tests|figures|docs)/[\w/.-]*[\w/])")
TEST = re.compile(r"(tests/[\w/]+\.py)::(\w+)")


def named_paths(text):
    """Paths such as ``scripts/demo.py`` or ``tinyadv/layers/`` mentioned anywhere in ``text``,
    including inside commands (``python scripts/x.py``); ``figures/`` paths in the figures
    README are relative to the repository too."""
    found = set()
    for match in PATH.finditer(text):
        path = match.group(1).rstrip(".")
        if "*" in path or path.endswith("/x.py"):
            continue
        found.add(path)
    return sorted(found)


@pytest.mark.parametrize("guide", ["README.md", "figures/README.md", "scripts/BENCHMARKS.md"])
def test_every_path_named_in_the_guide_exists(guide):
    text = (ROOT / guide).read_text(encoding="utf-8")
    paths = named_paths(text)
    assert paths, f"{guide} names no file at all"
    missing = [path for path in paths if not (ROOT / path).exists()]
    assert not missing, f"{guide} names files that do not exist: {missing}"


@pytest.mark.parametrize("guide", ["README.md", "figures/README.md", "scripts/BENCHMARKS.md"])
def test_every_test_named_in_the_guide_exists(guide):
    text = (ROOT / guide).read_text(encoding="utf-8")
    missing = [f"{path}::{name}" for path, name in TEST.findall(text)
               if not (ROOT / path).exists()
               or not re.search(rf"^def {name}\(", (ROOT / path).read_text(encoding="utf-8"), re.M)]
    assert not missing, f"{guide} names tests that do not exist: {missing}"


def test_the_figures_guide_names_a_test_for_every_slide():
    text = (ROOT / "figures" / "README.md").read_text(encoding="utf-8")
    slides = re.split(r"^## ", text, flags=re.M)[1:]
    assert len(slides) >= 12, "figures/README.md should walk the talk slide by slide"
    untested = [s.splitlines()[0] for s in slides if not TEST.search(s)]
    assert not untested, f"slides without a named test: {untested}"


def test_every_figure_in_the_folder_is_described():
    text = (ROOT / "figures" / "README.md").read_text(encoding="utf-8")
    undocumented = [f.name for f in (ROOT / "figures").glob("*.png") if f.name not in text]
    assert not undocumented, f"figures without an entry in figures/README.md: {undocumented}"


def test_the_path_finder_finds_paths_in_commands_and_tables():
    text = "run `python scripts/demo.py` | `tinyadv/layers/` | figures/demo.png. and tests/test_x.py"
    assert named_paths(text) == ["figures/demo.png", "scripts/demo.py", "tests/test_x.py",
                                 "tinyadv/layers/"]


def test_every_cited_note_is_in_docs_and_every_cited_section_exists():
    """Docstrings cite ``REFERENCES.md §N`` (and DESIGN.md, PERFORMANCE.md): the notes are in
    docs/, so a clone can read them, and §N is one of REFERENCES.md's numbered sections."""
    sections = set(re.findall(r"^## (\d+)\. ", (ROOT / "docs/REFERENCES.md").read_text(encoding="utf-8"),
                              re.M))
    files = [ROOT / "README.md", ROOT / "figures/README.md",
             *sorted((ROOT / "tinyadv").rglob("*.py")), *sorted((ROOT / "scripts").glob("*.py"))]
    cited, notes = set(), set()
    for path in files:
        text = path.read_text(encoding="utf-8")
        notes.update(re.findall(r"\b([A-Z]+\.md)\b", text))
        for run in re.findall(r"REFERENCES\.md((?:,? (?:and )?§\d+)+)", text):
            cited.update(re.findall(r"§(\d+)", run))
    assert len(cited) >= 5, cited
    assert cited <= sections, f"cited sections missing from docs/REFERENCES.md: {cited - sections}"
    notes -= {"README.md", "BENCHMARKS.md"}
    assert notes, "no note cited at all"
    missing = [note for note in notes if not (ROOT / "docs" / note).exists()]
    assert not missing, f"cited notes missing from docs/: {missing}"


def readme_python_blocks():
    """The ```python blocks of the README, in order."""
    return re.findall(r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(encoding="utf-8"),
                      re.M | re.S)


@pytest.mark.parametrize("index", range(len(readme_python_blocks())))
def test_every_python_block_of_the_readme_runs_and_prints_what_it_says(index, capsys):
    """Each block runs as written (the names and arguments it uses exist); where comment lines
    follow its last ``print(...)``, they are what it prints. The quick start trains for 6 epochs
    on the bundled mini-MNIST (about 5 s on 2 cores); the checker's block takes milliseconds."""
    block = readme_python_blocks()[index]
    exec(compile(block, f"README.md python block {index}", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    lines = block.rstrip("\n").splitlines()
    last_print = max((i for i, line in enumerate(lines) if line.startswith("print(")), default=None)
    expected = [line[2:] for line in lines[last_print + 1:] if line.startswith("# ")] \
        if last_print is not None else []
    if expected:
        assert printed.splitlines()[-len(expected):] == expected, printed


def test_the_readme_has_python_blocks():
    assert len(readme_python_blocks()) >= 2
