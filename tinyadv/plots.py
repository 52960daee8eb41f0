"""Small plotting helpers shared by the scripts: image grids with captions, and atomic saving.

Plotting stands alone: it takes arrays and strings, never models.
"""

import os

import numpy as np

from .files import atomic_path


def to_displayable(image):
    """(C, H, W) in [0, 1] -> (H, W) for one channel or (H, W, 3) for RGB, clipped to [0, 1]."""
    image = np.asarray(image)
    image = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    return np.clip(image, 0, 1)


def image_grid(rows, *, captions=None, row_titles=None, cell_size=1.3, title=None):
    """A figure with one image per cell.

    Parameters
    ----------
    rows : sequence of arrays of shape (M, C, H, W)
        One array per row of the grid, M images each (all rows the same M).
    captions : sequence of sequences of str, optional
        ``captions[r][m]`` is written above cell (r, m).
    row_titles : sequence of str, optional
        Written at the left of each row.
    """
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), len(rows[0])
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell_size * n_cols + 1, cell_size * n_rows + 0.6),
                             squeeze=False)
    for r in range(n_rows):
        for m in range(n_cols):
            ax = axes[r, m]
            ax.imshow(to_displayable(rows[r][m]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if captions is not None:
                ax.set_title(captions[r][m], fontsize=8)
        if row_titles is not None:
            axes[r, 0].set_ylabel(row_titles[r], fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(fig, path, **savefig_kwargs):
    """Save ``fig`` to ``path`` through a temporary file and ``os.replace`` (never half-written)."""
    path = os.fspath(path)
    with atomic_path(path, suffix=os.path.splitext(path)[1] or ".png") as temporary:
        fig.savefig(temporary, dpi=savefig_kwargs.pop("dpi", 120), **savefig_kwargs)
    return path


def signed_image_grid(images, *, titles=None, ncols=None, cell_size=2.2, cmap="RdBu_r", title=None):
    """A figure of real-valued images (weights, perturbations) on diverging colour scales.

    Each image gets its own symmetric scale [−max|v|, max|v|] and a colour bar, so that 0 is the
    middle colour everywhere (white for "RdBu_r": red positive, blue negative) and a
    small-normed template is as visible as a large one.

    Parameters
    ----------
    images : sequence of arrays of shape (H, W)
        M images.
    titles : sequence of str, optional
        ``titles[m]`` is written above image m.
    ncols : int, optional
        Images per row; default all M in one row.
    """
    import matplotlib.pyplot as plt

    images = [np.asarray(image, dtype=np.float64) for image in images]
    n = len(images)
    ncols = n if ncols is None else min(int(ncols), n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell_size * ncols + 0.6, cell_size * nrows + 0.7),
                             squeeze=False)
    for m, ax in enumerate(axes.ravel()):
        if m >= n:
            ax.axis("off")
            continue
        scale = float(np.max(np.abs(images[m]))) or 1.0
        shown = ax.imshow(images[m], cmap=cmap, vmin=-scale, vmax=scale)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles is not None:
            ax.set_title(titles[m], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
