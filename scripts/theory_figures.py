"""The two theory slides in one command: Goodfellow's linearity argument and Tanay & Griffin's
boundary tilting.

    python scripts/theory_figures.py            # writes figures/linearity.png, figures/boundary_tilting.png

Each figure is made by its own script (``scripts/linearity.py``, ``scripts/boundary_tilting.py``),
which has its own flags; this one runs both at their defaults, with one ``--seed`` and one
output folder.
"""

import argparse
import importlib.util
import os
import pathlib

from tinyadv.cli import folder, nonnegative_int

HERE = pathlib.Path(__file__).resolve().parent


def run_script(name, argv):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(argv)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--figures", type=folder, default="figures", help="output folder")
    args = parser.parse_args(argv)
    for name in ("linearity", "boundary_tilting"):
        print(f"== {name} ==")
        run_script(name, ["--seed", str(args.seed), "--out", os.path.join(args.figures, f"{name}.png")])


if __name__ == "__main__":
    main()
