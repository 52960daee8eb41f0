"""Slide "boundary tilting": adversarial distance against tilt angle at fixed accuracy.

Tanay & Griffin (2016) argue that adversarial examples exist when the class boundary lies close
to the data submanifold, tilted along it: the tilt (the deviation angle from the nearest-centroid
classifier) leaves the accuracy unchanged but shrinks the distance from the data to the boundary,
and weight decay reduces the tilt that overfitting creates. Toy problem (tinyadv.theory):
two Gaussian classes on a random plane in ℝ^dim, plus small isotropic noise off the plane.

1. Tilt the nearest-centroid boundary of the training set towards a direction orthogonal to the
   plane and measure test accuracy and the mean minimal L2 adversarial distance at each angle,
   on the test points projected onto the plane (accuracy exactly flat) and on the noisy ones.
2. Fit a logistic regression (plain gradient descent) to the few training points for several
   weight decays λ and measure its deviation angle and its adversarial distance on test data.

    python scripts/boundary_tilting.py                # seconds on a laptop
    python scripts/boundary_tilting.py --dim 2000 --train 100 --steps 10000
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tinyadv.cli import (  # noqa: E402
    figure_path,
    increasing,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)
from tinyadv.plots import save_figure  # noqa: E402
from tinyadv.theory import (  # noqa: E402
    accuracy_and_distance,
    nearest_centroid,
    submanifold_data,
    tilting_sweep,
    weight_decay_tilt,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--dim", type=positive_int, default=200, help="ambient dimension n (>= 4)")
    parser.add_argument("--train", type=positive_int, default=40, help="training samples (>= 2)")
    parser.add_argument("--test", type=positive_int, default=2000, help="test samples")
    parser.add_argument("--separation", type=positive_float, default=4.0,
                        help="distance of class centres")
    parser.add_argument("--noise", type=nonnegative_float, default=0.1,
                        help="std of the off-plane noise (0: exactly on the plane)")
    parser.add_argument("--weight-decays", type=nonnegative_float, nargs="+",
                        default=[0.0, 1e-3, 1e-2, 1e-1, 1.0],
                        help="λ of the logistic fits, increasing")
    parser.add_argument("--steps", type=positive_int, default=2000,
                        help="gradient-descent steps per fit")
    parser.add_argument("--out", type=figure_path,
                        default=os.path.join("figures", "boundary_tilting.png"))
    args = parser.parse_args(argv)
    if args.dim < 4:
        parser.error(f"--dim must be >= 4, got {args.dim}: the tilt direction is orthogonal to "
                     f"the plane (2 dims) and to w_nc (1 more); in R^3 only rounding noise is left")
    if args.train < 2:
        parser.error("--train must be >= 2: the nearest centroid needs a point of each class")
    increasing(parser, args.weight_decays, "--weight-decays")
    return args


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    x, y, basis = submanifold_data(args.train + args.test, args.dim, separation=args.separation,
                                   off_manifold_noise=args.noise, seed=rng)
    x_train, y_train = x[:args.train], y[:args.train]
    x_test, y_test = x[args.train:], y[args.train:]
    x_plane = x_test @ basis @ basis.T                       # the same test points, noise removed

    # 1. tilt the nearest-centroid boundary off the plane
    w_nc, b_nc = nearest_centroid(x_train, y_train)
    span, _ = np.linalg.qr(np.column_stack([basis, w_nc]))  # the plane and w_nc
    direction = rng.standard_normal(args.dim)
    direction -= span @ (span.T @ direction)                 # orthogonal to both
    degrees = np.array([0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 88, 89.5])
    theta = np.radians(degrees)
    acc_plane, dist_plane = tilting_sweep(w_nc, b_nc, direction, theta, x_plane, y_test)
    acc_noisy, dist_noisy = tilting_sweep(w_nc, b_nc, direction, theta, x_test, y_test)

    print(f"toy: 2 classes on a plane in R^{args.dim}, {args.train} train / {args.test} test, "
          f"off-plane noise {args.noise}, seed {args.seed}")
    print("tilted nearest-centroid classifier (L2 distance = mean minimal adversarial distance)")
    print(f"{'tilt':>6} {'acc_plane':>10} {'dist_plane':>11} {'cos*d0':>8} {'acc_noisy':>10} "
          f"{'dist_noisy':>11}")
    for i, deg in enumerate(degrees):
        print(f"{deg:>6.1f} {acc_plane[i]:>10.3f} {dist_plane[i]:>11.3f} "
              f"{np.cos(np.radians(deg)) * dist_plane[0]:>8.3f} {acc_noisy[i]:>10.3f} "
              f"{dist_noisy[i]:>11.3f}")

    # 2. logistic regression with and without weight decay
    angles, fits = weight_decay_tilt(x_train, y_train, args.weight_decays, steps=args.steps,
                                     seed=rng)
    fit_acc, fit_dist = np.array([accuracy_and_distance(w, b, x_test, y_test) for w, b in fits]).T
    train_acc = [accuracy_and_distance(w, b, x_train, y_train)[0] for w, b in fits]
    print("logistic regression fitted by gradient descent (deviation angle from nearest centroid)")
    print(f"{'lambda':>8} {'angle':>7} {'train_acc':>10} {'test_acc':>9} {'test_dist':>10} "
          f"{'|w|':>7}")
    for lam, angle, tr, acc, dist, (w, _) in zip(args.weight_decays, angles, train_acc, fit_acc,
                                                 fit_dist, fits):
        print(f"{lam:>8g} {np.degrees(angle):>7.1f} {tr:>10.3f} {acc:>9.3f} {dist:>10.3f} "
              f"{np.linalg.norm(w):>7.2f}")

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.4))
    colors = [plt.cm.viridis(k / len(fits)) for k in range(len(fits))]
    left.plot(degrees, dist_plane, "o-", color="C0", label="test points on the plane")
    left.plot(degrees, dist_noisy, "s:", color="C1", ms=4,
              label=rf"noisy test points ($\sigma_{{off}}$ = {args.noise})")
    left.plot(degrees, np.cos(np.radians(degrees)) * dist_plane[0], "k--", lw=1,
              label=r"$\cos\theta \cdot d_0$")
    for k, lam in enumerate(args.weight_decays):
        left.plot(np.degrees(angles[k]), fit_dist[k], "*", ms=12, color=colors[k],
                  label=f"logistic fit, λ = {lam:g}")
    left.set_xlabel("deviation angle θ from the nearest-centroid boundary (degrees)")
    left.set_ylabel("mean minimal L2 adversarial distance")
    left.set_title("Tilting shrinks the adversarial distance")
    left.legend(fontsize=7)
    left.grid(alpha=0.3)

    middle.plot(degrees, acc_plane, "o-", color="C0", label="test points on the plane")
    middle.plot(degrees, acc_noisy, "s:", color="C1", ms=4, label="noisy test points")
    for k, lam in enumerate(args.weight_decays):
        middle.plot(np.degrees(angles[k]), fit_acc[k], "*", ms=12, color=colors[k],
                    label=f"logistic fit, λ = {lam:g}")
    middle.set_ylim(0.5, 1.0)
    middle.set_xlabel("deviation angle θ (degrees)")
    middle.set_ylabel("test accuracy")
    middle.set_title("... at unchanged accuracy")
    middle.legend(fontsize=7, loc="lower left")
    middle.grid(alpha=0.3)

    positions = np.arange(len(fits))
    right.bar(positions, np.degrees(angles), color=colors)
    for k in positions:
        right.text(k, np.degrees(angles[k]) + 1, f"d = {fit_dist[k]:.2f}", ha="center", fontsize=8)
    right.set_xticks(positions, [f"{lam:g}" for lam in args.weight_decays])
    right.set_xlabel("L2 weight decay λ of the logistic fit")
    right.set_ylabel("deviation angle (degrees)")
    right.set_title("Weight decay reduces the tilt\n(d: mean adversarial distance on test data)",
                    fontsize=10)
    right.grid(axis="y", alpha=0.3)
    fig.suptitle(f"Boundary tilting (Tanay & Griffin 2016): two classes on a plane in "
                 f"$\\mathbb{{R}}^{{{args.dim}}}$, {args.train} training points")
    fig.tight_layout()

    save_figure(fig, args.out)
    plt.close(fig)
    print(f"wrote {args.out}")
    return {"degrees": degrees, "acc_plane": acc_plane, "dist_plane": dist_plane,
            "acc_noisy": acc_noisy, "dist_noisy": dist_noisy,
            "weight_decays": list(args.weight_decays), "angle_degrees": np.degrees(angles),
            "fit_train_accuracy": np.array(train_acc), "fit_accuracy": fit_acc,
            "fit_distance": fit_dist}


if __name__ == "__main__":
    main()
