"""``plot``: pictures of a budget, drawn with matplotlib (an optional extra).

- ``kind="heatmap"``: params of one layer configuration over n_features × n_units
  (from ``sweep``), colour on a log scale, the budget's contour drawn.
- ``kind="frontier"``: the largest n_units that fits the budget at each
  n_features (from ``search``), one line per layer kind (and per value of
  any other axis given several).

matplotlib is imported only here and only when a plot is drawn; figures are
built without pyplot (no global backend switch, no open windows): PNG
renders through the Agg canvas, SVG through matplotlib's SVG writer.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from . import _args
from ._errors import InvalidArgumentError
from ._names import _choose
from ._search import search
from ._sink import write_atomically
from ._sweep import _collection, sweep

KINDS = ("heatmap", "frontier")
FORMATS = {".png": "png", ".svg": "svg"}


def _matplotlib():
    """matplotlib's Figure class, with the Agg canvas, or an ImportError saying how to install it."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            f"archsweep.plot needs matplotlib ({exc}); install it with: pip install 'archsweep[plot]'"
        ) from exc
    return Figure, FigureCanvasAgg


def _output(output: Any) -> tuple[Path, str]:
    if not isinstance(output, (str, os.PathLike)):
        raise InvalidArgumentError(f"output must be a file path ending in .png or .svg, got {output!r}")
    path = Path(output)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidArgumentError(f"output {str(path)!r}: the extension must be .png or .svg")
    if not path.parent.is_dir():
        raise InvalidArgumentError(f"output {str(path)!r}: the folder {str(path.parent)!r} does not exist")
    return path, fmt


def _heatmap(fig, table: pl.DataFrame, budget: int, title: str) -> None:
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D

    fs, us = np.unique(table["n_features"].to_numpy()), np.unique(table["n_units"].to_numpy())
    params = np.full((len(fs), len(us)), np.nan)  # NaN: a cell groups skip, left blank
    rows = np.searchsorted(fs, table["n_features"].to_numpy())
    cols = np.searchsorted(us, table["n_units"].to_numpy())
    params[rows, cols] = table["params"].to_numpy()
    low, high = np.nanmin(params), np.nanmax(params)

    ax = fig.add_subplot()
    # Counts span orders of magnitude (quadratic in n_units): a log colour scale.
    # Rasterized: in an SVG the cells become one embedded image, not a path per cell.
    mesh = ax.pcolormesh(us, fs, params, shading="nearest", norm=LogNorm(low, high), cmap="viridis", rasterized=True)
    fig.colorbar(mesh, ax=ax, label="parameters")
    if low <= budget < high:
        contour = ax.contour(us, fs, params, levels=[budget], colors="white", linewidths=2)
        contour.set_gid("budget")  # names the contour's group in SVG output
        note = f"budget {budget:,}: fits below and left of the line"
    else:
        note = f"budget {budget:,}: " + ("every cell fits" if budget >= high else "no cell fits")
    ax.legend(handles=[Line2D([], [], color="white", linewidth=2, label=note)], loc="upper right",
              facecolor="0.3", labelcolor="white", framealpha=0.8)  # fmt: skip
    ax.set(xlabel="n_units", ylabel="n_features", title=title)


def _frontier(fig, table: pl.DataFrame, budget: int, title: str) -> None:
    # One line per layer kind and per value of each axis that varies within a kind.
    options = [c for c in table.columns if c not in ("layer", "n_features", "n_units", "params", "slack")]
    most = table.group_by("layer").agg(pl.col(options).n_unique()).select(pl.col(options).max()).row(0, named=True)
    keys = ["layer"] + [c for c in options if most[c] > 1]
    ax = fig.add_subplot()
    for key, line in table.group_by(keys, maintain_order=True):
        # An option the layer does not have (null) is left out of its label.
        label = ", ".join([str(key[0])] + [f"{k}={v}" for k, v in zip(keys[1:], key[1:]) if v is not None])
        ax.plot(line["n_features"].to_numpy(), line["n_units"].to_numpy(), label=label,
                marker="o" if line.height <= 40 else None, markersize=3, gid=f"frontier {label}")  # fmt: skip
    for axis, column in (("x", "n_features"), ("y", "n_units")):
        values = table[column].to_numpy().astype(np.float64)  # not uint8: 100 · min must not wrap around
        low, high = values.min(), values.max()
        if high >= 100 * low:  # widths spread over decades: a log axis
            getattr(ax, f"set_{axis}scale")("log")
    ax.set(xlabel="n_features", ylabel=f"largest n_units with params ≤ {budget:,}", title=title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()


def plot(
    kind: str,
    layer: Any,
    n_features: Any,
    n_units: Any,
    *,
    budget: Any,
    output: str | os.PathLike[str],
    kernel: Any = None,
    bias: Any = True,
    bidirectional: Any = False,
    convention: Any = "keras",
    reset_after: Any = None,
    groups: Any = 1,
    title: str | None = None,
    backend: str = "auto",
) -> pl.DataFrame:
    """Draws a budget picture to ``output`` (PNG or SVG by its extension,
    written through a temporary file renamed into place) and returns the
    table drawn.

    - ``kind="heatmap"``: the count of one configuration (one layer kind,
      one value of each option) at every n_features × n_units pair of the
      given collections (``sweep``'s table), with the budget's contour.
    - ``kind="frontier"``: for each n_features, the largest n_units whose
      count fits the budget (``search``'s table), one line per layer kind and
      per value of any option given several; n_units may be a huge range.

    Needs matplotlib: ``pip install 'archsweep[plot]'``.
    """
    kind = _choose("kind", kind, KINDS, {})
    budget = _args.scalar_size("budget", budget, minimum=0)
    path, fmt = _output(output)
    options = dict(kernel=kernel, bias=bias, bidirectional=bidirectional, convention=convention,
                   reset_after=reset_after, groups=groups, backend=backend)  # fmt: skip
    Figure, FigureCanvasAgg = _matplotlib()  # before any work: a missing extra fails at once

    if kind == "heatmap":
        for name, value in {"layer": layer, **options}.items():
            if name != "backend" and len(_collection(value)) != 1:
                raise InvalidArgumentError(
                    f"a heatmap draws one configuration: {name} takes one value, got {value!r} "
                    "(draw one heatmap per value, or use kind='frontier')"
                )
        for name, value in (("n_features", n_features), ("n_units", n_units)):
            if len(set(_collection(value))) < 2:
                raise InvalidArgumentError(f"a heatmap needs at least 2 values of {name}, got {value!r}")
        table = sweep(layer, n_features, n_units, **options)
        title = title or f"{table['layer'][0]} parameters ({table['convention'][0]} convention)"
    else:
        table = search(layer, n_features, n_units, budget=budget, **options)
        if table.is_empty():
            raise InvalidArgumentError(f"nothing fits budget={budget:,}: no frontier to draw")
        title = title or f"Widest layer under {budget:,} parameters"

    fig = Figure(figsize=(7.5, 5), layout="constrained")
    FigureCanvasAgg(fig)
    (_heatmap if kind == "heatmap" else _frontier)(fig, table, budget, title)
    write_atomically(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=120))
    return table
