"""Homework example: add a new attack to tinyadv in one file, and check it with check_attack.

The attack is MI-FGSM, the momentum iterative fast gradient sign method (Dong et al. 2018,
"Boosting adversarial attacks with momentum"). With α = ε/T and μ the decay factor, starting
from x₀ = x and g₀ = 0:

    g_{t+1} = μ·g_t + ∇ₓL(x_t, y) / ‖∇ₓL(x_t, y)‖₁
    x_{t+1} = clip_box( clip_{[x−ε, x+ε]}( x_t + α·sign(g_{t+1}) ) )

The only contract to keep is tinyadv's: ``attack(model, x, y=None, *, eps, ...) -> x_adv``, in
the ε-ball, in the pixel box, same shape and dtype, and labels from the model when y is None.
``tinyadv.check_attack`` checks exactly that, plus that the attack is at least as strong as one
fast gradient step on a logistic model, where that step is the exact worst case.

    python scripts/homework_example.py

The script trains a small CNN on the bundled mini-MNIST and checks ``mi_fgsm``. It also checks a
version with a typical bug, so you can see what a failing report looks like. Then it compares
MI-FGSM with FGSM and PGD.
"""

import argparse

import numpy as np

import tinyadv as ta
from tinyadv.cli import fraction, nonnegative_int, positive_int
from tinyadv.data import load_mini_mnist


def mi_fgsm(model, x, y=None, *, eps, steps=10, decay=1.0, clip=(0.0, 1.0)):
    """MI-FGSM (Dong et al. 2018), L∞, untargeted; the update rule is in the module docstring."""
    if y is None:
        y = ta.predict(model, x)  # the model's own labels: no label leaking
    alpha = eps / steps
    momentum = np.zeros_like(x)
    x_adv = x.copy()
    for _ in range(steps):
        _, dlogits = ta.cross_entropy(model.logits(x_adv), y, reduction="sum")
        gradient = model.input_gradient(x_adv, dlogits)
        l1 = np.sum(np.abs(gradient).reshape(len(x), -1), axis=1).reshape((-1,) + (1,) * (x.ndim - 1))
        momentum = decay * momentum + gradient / np.maximum(l1, 1e-12)
        x_adv = np.clip(x_adv + alpha * np.sign(momentum), x - eps, x + eps)  # project
        x_adv = np.clip(x_adv, *clip)  # stay an image
    return x_adv.astype(x.dtype)


def mi_fgsm_with_a_bug(model, x, y=None, *, eps, steps=10, decay=1.0, clip=(0.0, 1.0)):
    """The same attack with a step of ε instead of ε/T and no projection: it leaves the ball."""
    if y is None:
        y = ta.predict(model, x)
    momentum = np.zeros_like(x)
    x_adv = x.copy()
    for _ in range(steps):
        _, dlogits = ta.cross_entropy(model.logits(x_adv), y, reduction="sum")
        gradient = model.input_gradient(x_adv, dlogits)
        momentum = decay * momentum + gradient / np.maximum(np.abs(gradient).sum(), 1e-12)
        x_adv = np.clip(x_adv + eps * np.sign(momentum), *clip)
    return x_adv.astype(x.dtype)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=positive_int, default=3)
    parser.add_argument("--train-limit", type=positive_int, default=3000)
    parser.add_argument("--test-limit", type=positive_int, default=500)
    parser.add_argument("--eps", type=fraction, default=0.15, help="L∞ budget in (0, 1], the pixels' range")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    args = parser.parse_args(argv)
    if args.eps == 0:
        parser.error("--eps must be > 0: at ε = 0 every attack returns x and the bug does not show")

    x, y = load_mini_mnist("train", limit=args.train_limit)
    x_test, y_test = load_mini_mnist("test", limit=args.test_limit)
    model = ta.cleverhans_cnn(in_channels=1, image_size=28, nf=16, seed=args.seed)
    ta.fit(model, x, y, epochs=args.epochs, seed=args.seed, progress=False)

    print("check_attack(mi_fgsm):")
    report = ta.check_attack(mi_fgsm, model, x_test[:64], y_test[:64], eps=args.eps)
    print(report)
    print("\ncheck_attack(mi_fgsm_with_a_bug):")
    print(ta.check_attack(mi_fgsm_with_a_bug, model, x_test[:64], y_test[:64], eps=args.eps))

    print(f"\naccuracy on {len(x_test)} test digits at eps = {args.eps}:")
    print(f"  clean      {ta.accuracy(model, x_test, y_test):.3f}")
    for name, attack, extra in (("FGSM", ta.fgsm, {}),
                                ("MI-FGSM", mi_fgsm, {"steps": 10}),
                                ("PGD-10", ta.pgd, {"alpha": args.eps / 4, "steps": 10, "seed": args.seed})):
        x_adv = attack(model, x_test, y_test, eps=args.eps, **extra)
        print(f"  {name:10s} {ta.accuracy(model, x_adv, y_test):.3f}")
    return report


if __name__ == "__main__":
    main()
