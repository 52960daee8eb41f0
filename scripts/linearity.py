"""Slide "the linear explanation": w·η = ε·m·n grows with n — but so does w·x.

Goodfellow, Shlens & Szegedy (2015) argue that a linear unit w·x changes by w·η = ε·||w||_1 =
ε·m·n under η = ε·sign(w), which grows linearly with the dimension n while ||η||_∞ = ε stays
small. Tanay & Griffin (2016) answer that when w and x keep their per-coordinate distributions,
w·x grows linearly with n too, so the ratio ε·||w||_1/|w·x| does not grow. This script samples
units of growing dimension (w_j ~ N(w_mean, w_std²), pixels x_j ~ U(0, 1)), measures both sides
with tinyadv.theory, prints the table, and draws figures/linearity.png. For contrast it repeats
the sweep with w unrelated to x (w_mean = 0), the only case where the ratio grows (like √n).

    python scripts/linearity.py                 # seconds on a laptop
    python scripts/linearity.py --trials 2000 --max-dim 100000
"""

import argparse
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tinyadv.cli import (  # noqa: E402
    figure_path,
    fraction,
    nonnegative_int,
    physical_memory,
    positive_float,
    positive_int,
)
from tinyadv.plots import save_figure  # noqa: E402
from tinyadv.theory import linearity_sweep  # noqa: E402


#: The table's 9 dimensions run geometrically from n = 10 to --max-dim, rounded to integers; below
#: 19 some of them round to the same n (at 18: 10 11 12 13 14 16 17 18), so --max-dim >= 19.
SMALLEST_MAX_DIM = 19


def dimensions(max_dim):
    """The 9 dimensions n of the table, from 10 to ``max_dim``."""
    return np.unique(np.geomspace(10, max_dim, 9).round().astype(int))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--eps", type=fraction, default=0.25,
                        help="L∞ budget in (0, 1], the pixels' range (Goodfellow's MNIST 0.25)")
    parser.add_argument("--w-mean", type=float, default=0.5,
                        help="mean of each weight w_j (finite, not 0: w_mean = 0 is the control)")
    parser.add_argument("--w-std", type=positive_float, default=0.5, help="std of each weight w_j")
    parser.add_argument("--trials", type=positive_int, default=200,
                        help="units sampled per dimension")
    parser.add_argument("--max-dim", type=positive_int, default=10_000,
                        help=f"largest dimension n (>= {SMALLEST_MAX_DIM})")
    parser.add_argument("--out", type=figure_path,
                        default=os.path.join("figures", "linearity.png"))
    args = parser.parse_args(argv)
    if args.eps == 0:
        parser.error("--eps must be > 0: at ε = 0 change and ratio are 0, invisible on log axes")
    if not math.isfinite(args.w_mean) or args.w_mean == 0:
        parser.error(f"--w-mean must be finite and not 0 (0 is the control), got {args.w_mean}")
    if args.max_dim < SMALLEST_MAX_DIM:
        parser.error(f"--max-dim must be >= {SMALLEST_MAX_DIM} (the table's 9 distinct n from 10), "
                     f"got {args.max_dim}")
    needed, memory = 8 * args.trials * args.max_dim, physical_memory()  # (float64 weights of a row)
    if memory is not None and needed > memory:
        parser.error(f"--trials {args.trials} × --max-dim {args.max_dim} weights take "
                     f"{needed / 2**30:,.1f} GiB in float64, more than this machine's "
                     f"{memory / 2**30:,.1f} GiB of memory")
    return args


def main(argv=None):
    args = parse_args(argv)
    dims = dimensions(args.max_dim)
    rng = np.random.default_rng(args.seed)
    aligned = linearity_sweep(dims, eps=args.eps, w_mean=args.w_mean, w_std=args.w_std,
                              trials=args.trials, seed=rng)
    unrelated = linearity_sweep(dims, eps=args.eps, w_mean=0.0, w_std=args.w_std,
                                trials=args.trials, seed=rng)

    print(f"eps = {args.eps}, w_j ~ N({args.w_mean}, {args.w_std}^2), x_j ~ U(0, 1), "
          f"{args.trials} units per n, seed {args.seed}")
    print(f"{'n':>7} {'eps*m*n':>10} {'eps*|w|_1':>10} {'|w.x|':>10} {'ratio':>8} "
          f"{'ratio(w_mean=0)':>16}")
    for i, n in enumerate(aligned["n"]):
        print(f"{int(n):>7d} {aligned['expected_change'][i]:>10.2f} "
              f"{aligned['activation_change'][i]:>10.2f} {aligned['clean_activation'][i]:>10.2f} "
              f"{aligned['ratio'][i]:>8.3f} {unrelated['ratio'][i]:>16.3f}")
    print(f"ratio limit eps*E|w_j| / |E[w_j x_j]| = {aligned['ratio_limit']:.3f}")

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    n = aligned["n"]
    left.loglog(n, aligned["expected_change"], "-", color="C0",
                label=r"$\varepsilon\, m\, n$, m = E|$w_j$|")
    left.loglog(n, aligned["activation_change"], "o", color="C0",
                label=r"measured change $w \cdot \eta$, $\eta = \varepsilon\,\mathrm{sign}(w)$")
    left.loglog(n, aligned["clean_activation"], "s-", color="C1",
                label=r"clean activation $|w \cdot x|$")
    left.set_xlabel("input dimension n")
    left.set_ylabel("activation")
    left.set_title("Both grow linearly with n (Goodfellow et al. 2015)")
    left.legend(fontsize=8)
    left.grid(True, which="both", alpha=0.3)

    right.semilogx(n, aligned["ratio"], "s-", color="C1",
                   label=rf"$w_j \sim N({args.w_mean}, {args.w_std}^2)$: $E[w_j x_j] \neq 0$, flat")
    right.axhline(aligned["ratio_limit"], color="C1", ls="--", lw=1,
                  label=r"limit $\varepsilon\,E|w_j|\,/\,|E[w_j x_j]|$")
    right.semilogx(n, unrelated["ratio"], "^:", color="0.5",
                   label=rf"$w_j \sim N(0, {args.w_std}^2)$: w unrelated to x, "
                         r"grows like $\sqrt{n}$")
    right.set_yscale("log")
    right.set_xlabel("input dimension n")
    right.set_ylabel(r"$\varepsilon\|w\|_1 \,/\, |w \cdot x|$  (median over units)")
    right.set_title("Their ratio does not grow (Tanay & Griffin 2016)")
    right.legend(fontsize=8)
    right.grid(True, which="both", alpha=0.3)
    fig.suptitle(rf"The linear explanation: one unit $w \cdot x$ under an $L_\infty$ perturbation, "
                 rf"$\varepsilon = {args.eps}$, pixels $x_j \sim U(0, 1)$")
    fig.tight_layout()

    save_figure(fig, args.out)
    plt.close(fig)
    print(f"wrote {args.out}")
    return {"n": aligned["n"], "expected_change": aligned["expected_change"],
            "activation_change": aligned["activation_change"],
            "clean_activation": aligned["clean_activation"], "ratio": aligned["ratio"],
            "ratio_limit": aligned["ratio_limit"], "ratio_unrelated": unrelated["ratio"]}


if __name__ == "__main__":
    main()
