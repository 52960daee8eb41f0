"""Small plotting helpers shared by the scripts: image grids with captions, and atomic saving.

Plotting stands alone: it takes arrays and strings, never models. Bad input (an empty or ragged
grid, too few or too many captions, a string where a list of strings belongs, NaN or integer
0..255 pixels, an image whose shape is not one the docstring lists) is refused with a ValueError
or TypeError before matplotlib is called, rather than drawn wrongly; a figure whose drawing
fails anyway (matplotlib refusing a colour map) is closed before the error propagates.
"""

import contextlib
import os

import numpy as np

from .checks import check_array, check_positive, check_positive_int
from .files import atomic_path, check_path


def _as_list(values, name, what):
    """Return ``values`` as a non-empty list after checking it is a list, tuple or array."""
    if not (isinstance(values, (list, tuple)) or (isinstance(values, np.ndarray) and values.ndim)):
        raise TypeError(f"{name} must be a list of {what}, got {type(values).__name__}")
    if len(values) == 0:
        raise ValueError(f"{name} is empty: it must be a non-empty list of {what}")
    return list(values)


def _check_texts(texts, name, n, per):
    """Return ``texts`` as a list of exactly ``n`` strings (a lone string is refused: it would
    give one character per cell)."""
    if not (isinstance(texts, (list, tuple)) or (isinstance(texts, np.ndarray) and texts.ndim)):
        raise TypeError(f"{name} must be a list of {n} strings, got {type(texts).__name__}")
    if len(texts) != n:
        raise ValueError(f"{name} must hold {n} strings, one per {per}, got {len(texts)}")
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"{name} must hold strings, got {type(text).__name__} {text!r}")
    return list(texts)


#: The longest side of a figure, in inches: matplotlib draws at most 2**23 pixels a side, which
#: save_figure's 120 dpi reach at 69,905 inches; 10,000 leaves room for 838 dpi.
LARGEST_FIGURE_INCHES = 10_000


def _check_figure_options(cell_size, title):
    cell_size = check_positive(cell_size, "cell_size")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {type(title).__name__}")
    return cell_size


def _figure_size(width, height, cell_size, n_rows, n_cols):
    """(width, height) in inches, refused naming cell_size when a side passes LARGEST_FIGURE_INCHES
    (matplotlib's own message counts pixels, or calls 1e308 inches infinite)."""
    if max(width, height) > LARGEST_FIGURE_INCHES:
        raise ValueError(f"cell_size={cell_size:g} inches for {n_rows} × {n_cols} cells makes a figure of "
                         f"{width:.4g} × {height:.4g} inches: at most {LARGEST_FIGURE_INCHES:,} a side")
    return width, height


def _real_image(image, name):
    """Return a real-valued (H, W) image as a finite float array (integers are converted)."""
    if isinstance(image, np.ndarray) and np.issubdtype(image.dtype, np.integer):
        image = image.astype(np.float64)
    image = check_array(image, name, ndim=2)
    if image.size == 0:
        raise ValueError(f"{name} is empty, got shape {image.shape}")
    return image


@contextlib.contextmanager
def closed_on_error(fig):
    """Close ``fig`` (pyplot keeps every figure it opened until it is closed) if the block
    raises, e.g. matplotlib refusing a colour map: the caller never got the figure to close.
    None (an axis the caller gave, no figure of ours) is left alone."""
    import matplotlib.pyplot as plt

    try:
        yield fig
    except BaseException:
        if fig is not None:
            plt.close(fig)
        raise


def to_displayable(image, name="image"):
    """(C, H, W) with C = 1 or 3, or (H, W), in [0, 1] -> (H, W) or (H, W, 3), clipped to [0, 1].

    ``image`` must be a float32 or float64 array without NaN or inf (uint8 images in 0..255 are
    refused: convert them with ``x.astype(np.float32) / 255``); values outside [0, 1], such as
    a little noise past the pixel box, are clipped. ``name`` is used in error messages.
    """
    image = check_array(image, name, ndim=(2, 3))
    if image.ndim == 3 and image.shape[0] not in (1, 3):
        raise ValueError(f"{name} must be (C, H, W) with C = 1 or 3 channels, or (H, W), "
                         f"got shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"{name} is empty, got shape {image.shape}")
    if image.ndim == 3:
        image = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
    return np.clip(image, 0, 1)


def image_grid(rows, *, captions=None, row_titles=None, cell_size=1.3, title=None):
    """A figure with one image per cell.

    Parameters
    ----------
    rows : list of R >= 1 arrays of shape (M, C, H, W)
        One array per row of the grid, M >= 1 images each (all rows the same M), C = 1 or 3,
        float values in [0, 1] (see ``to_displayable``).
    captions : list of R lists of M str, optional
        ``captions[r][m]`` is written above cell (r, m).
    row_titles : list of R str, optional
        Written at the left of each row.
    cell_size : float > 0
        Inches per cell (the figure at most LARGEST_FIGURE_INCHES a side).
    title : str, optional
    """
    import matplotlib.pyplot as plt

    if isinstance(rows, np.ndarray) and rows.ndim == 4:  # one row's (M, C, H, W), not a list of rows
        raise ValueError(f"rows must be a list of (M, C, H, W) arrays, one per row, got one array "
                         f"of shape {rows.shape}: for a single row pass [x]")
    rows = [check_array(row, f"rows[{r}]", ndim=4)
            for r, row in enumerate(_as_list(rows, "rows", "image arrays (M, C, H, W)"))]
    n_rows, n_cols = len(rows), len(rows[0])
    if n_cols == 0:
        raise ValueError(f"rows[0] holds no images (shape {rows[0].shape})")
    for r, row in enumerate(rows):
        if len(row) != n_cols:
            raise ValueError(f"every row must hold the same number M of images: rows[0] has "
                             f"{n_cols}, rows[{r}] has {len(row)}")
    if captions is not None:
        captions = _as_list(captions, "captions", "lists of strings, one list per row")
        if len(captions) != n_rows:
            raise ValueError(f"captions must hold one list per row ({n_rows}), got {len(captions)}")
        captions = [_check_texts(c, f"captions[{r}]", n_cols, "image of the row")
                    for r, c in enumerate(captions)]
    if row_titles is not None:
        row_titles = _check_texts(row_titles, "row_titles", n_rows, "row")
    cell_size = _check_figure_options(cell_size, title)
    shown = [[to_displayable(rows[r][m], f"rows[{r}][{m}]") for m in range(n_cols)]
             for r in range(n_rows)]  # (every cell checked before a figure is opened)
    figsize = _figure_size(cell_size * n_cols + 1, cell_size * n_rows + 0.6, cell_size, n_rows, n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=figsize, squeeze=False)
    with closed_on_error(fig):
        for r in range(n_rows):
            for m in range(n_cols):
                ax = axes[r, m]
                ax.imshow(shown[r][m], cmap="gray", vmin=0, vmax=1)
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
    """Save ``fig`` to ``path`` through a temporary file and ``os.replace`` (never half-written).
    Refuses a ``fig`` that is not a matplotlib Figure and a ``path`` that names a folder."""
    if not callable(getattr(fig, "savefig", None)):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    check_path(path)
    path = os.fspath(path)
    with atomic_path(path, suffix=os.path.splitext(os.fsdecode(path))[1] or ".png") as temporary:
        fig.savefig(temporary, dpi=savefig_kwargs.pop("dpi", 120), **savefig_kwargs)
    return path


def signed_image_grid(images, *, titles=None, ncols=None, cell_size=2.2, cmap="RdBu_r", title=None):
    """A figure of real-valued images (weights, perturbations) on diverging colour scales.

    Each image gets its own symmetric scale [−max|v|, max|v|] and a colour bar, so that 0 is the
    middle colour everywhere (white for "RdBu_r": red positive, blue negative) and a
    small-normed template is as visible as a large one.

    Parameters
    ----------
    images : list of M >= 1 arrays of shape (H, W)
        Real values (float or integer), no NaN or inf, |v| below half the float64 maximum; one
        channel each, (1, H, W) is refused rather than guessed, and so is one (H, W) array (pass [w]).
    titles : list of M str, optional
        ``titles[m]`` is written above image m.
    ncols : int >= 1, optional
        Images per row; default all M in one row.
    cell_size : float > 0
        Inches per cell (the figure at most LARGEST_FIGURE_INCHES a side).
    cmap : str
        A diverging matplotlib colour map, centred on 0 ("RdBu_r": red positive, blue negative).
    title : str, optional
    """
    import matplotlib.pyplot as plt

    if isinstance(images, np.ndarray) and images.ndim == 2:  # one (H, W) image, not a list of them
        raise ValueError(f"images must be a list of (H, W) arrays, got one array of shape "
                         f"{images.shape}: for a single image pass [w]")
    images = [_real_image(image, f"images[{m}]")
              for m, image in enumerate(_as_list(images, "images", "(H, W) arrays"))]
    n = len(images)
    if titles is not None:
        titles = _check_texts(titles, "titles", n, "image")
    ncols = n if ncols is None else min(check_positive_int(ncols, "ncols"), n)
    cell_size = _check_figure_options(cell_size, title)
    nrows = -(-n // ncols)
    scales = []
    for m, image in enumerate(images):  # (every image checked before a figure is opened)
        scale = float(np.max(np.abs(image))) or 1.0
        if not np.isfinite(2 * scale):  # (the colour bar's range, 2·scale, would be inf)
            raise ValueError(f"images[{m}] holds values too large to draw (max |v| = {scale:g})")
        scales.append(scale)
    figsize = _figure_size(cell_size * ncols + 0.6, cell_size * nrows + 0.7, cell_size, nrows, ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    with closed_on_error(fig):
        for m, ax in enumerate(axes.ravel()):
            if m >= n:
                ax.axis("off")
                continue
            shown = ax.imshow(images[m], cmap=cmap, vmin=-scales[m], vmax=scales[m])
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03).ax.tick_params(labelsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if titles is not None:
                ax.set_title(titles[m], fontsize=8)
        if title:
            fig.suptitle(title, fontsize=10)
        fig.tight_layout()
    return fig
