"""``plot``: pictures of a budget, drawn with matplotlib (an optional extra).

- ``kind="heatmap"``: params of one layer configuration over n_features × n_units
  (from ``sweep``), colour on a log scale, the budget's contour drawn.
- ``kind="frontier"``: the largest n_units that fits the budget at each
  n_features (from ``search``), one line per layer kind (and per value of
  any other axis given several).

matplotlib is imported only here and only when a plot is drawn; figures are
built without pyplot (no global backend switch, no open windows): PNG
renders through the Agg canvas, SVG through matplotlib's SVG writer.

A heatmap draws at most DRAWN values of each axis, spread evenly from the
smallest to the largest (a picture has fewer pixels than that), as an image:
its cost is bounded whatever the grid, so a signal is never kept waiting
behind matplotlib, and an axis given as a range is never listed.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from . import _args
from ._axis import Chain, range_len
from ._errors import InvalidArgumentError, SweepTooLargeError
from ._names import _choose
from ._search import search
from ._sink import check_output_path, write_atomically
from ._sweep import _collection, _size_axis, available_memory, quantities_of, sweep

KINDS = ("heatmap", "frontier")
FORMATS = {".png": "png", ".svg": "svg"}
# Values of an axis a heatmap draws at most: more than its picture's pixels.
DRAWN = 1024
# Bytes a drawing takes (measured with tracemalloc, PNG and SVG alike): the
# figure's buffers, and matplotlib's arrays with the drawn table per heatmap
# cell or frontier point; checked against max_bytes before drawing.
DRAWING_BYTES = {"heatmap": (27 << 20, 112), "frontier": (5 << 20, 80)}


def _matplotlib():
    """matplotlib's Figure class, with the Agg canvas, or an ImportError saying how to install it."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        # A signal during a compiled module's initialisation comes back as an
        # ImportError (pybind11 wraps any error there): it is still a signal.
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, KeyboardInterrupt):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause from None
        raise ImportError(
            f"archsweep.plot needs matplotlib ({exc}); install it with: pip install 'archsweep[plot]'"
        ) from exc
    return Figure, FigureCanvasAgg


def _ascending(r: range) -> range:
    return r if r.step > 0 else range(r.start + (range_len(r) - 1) * r.step, r.start + 1, -r.step)


def _spread(n: int) -> list[int]:
    """min(n, DRAWN) positions spread evenly over 0..n-1, both ends included."""
    m = min(n, DRAWN)
    return [i * (n - 1) // (m - 1) for i in range(m)] if m > 1 else [0]


def _drawn_axis(name: str, value: Any) -> np.ndarray:
    """The values a heatmap draws along an axis (already checked by sweep):
    its distinct values, sorted, or DRAWN of them spread evenly. Disjoint
    ranges are read by arithmetic, never listed."""
    chain = Chain.of(value)
    parts = sorted((_ascending(p) for p in chain.parts), key=lambda p: p.start) if chain is not None else []
    if chain is not None and all(b.start > a[-1] for a, b in zip(parts, parts[1:])):
        offsets = list(itertools.accumulate((range_len(p) for p in parts), initial=0))
        values = []
        for i in _spread(offsets[-1]):
            k = bisect.bisect_right(offsets, i) - 1
            values.append(parts[k].start + (i - offsets[k]) * parts[k].step)
        return np.array(values, dtype=np.int64)
    distinct = np.unique(chain.take(0, chain.size) if chain is not None else _size_axis(name, value))
    return distinct[_spread(len(distinct))]


def _two_values(name: str, value: Any) -> None:
    """Refuses an axis with fewer than two distinct values, without listing a range."""
    chain = Chain.of(value)
    if chain is not None:
        low, high = chain.extremes() if chain else (0, 0)
    else:
        axis = _size_axis(name, value)
        low, high = axis.min(), axis.max()
    if low == high:
        raise InvalidArgumentError(f"a heatmap needs at least 2 values of {name}, got {_args._describe(value)}")


def _edges(values: np.ndarray) -> np.ndarray:
    """Cell borders halfway between drawn values (half a step beyond the ends)."""
    v = values.astype(np.float64)
    return np.concatenate([[1.5 * v[0] - 0.5 * v[1]], (v[1:] + v[:-1]) / 2, [1.5 * v[-1] - 0.5 * v[-2]]])


def _heatmap(fig, table: pl.DataFrame, drawn: pl.DataFrame, fs: np.ndarray, us: np.ndarray, budget: int,
             title: str, quantity: str) -> None:  # fmt: skip
    """Draws ``drawn`` (the table's rows at fs × us) as an image; the colour
    scale and the budget's note are the whole table's."""
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D

    params = np.full((len(fs), len(us)), np.nan)  # NaN: a cell groups skip, left blank
    rows = np.searchsorted(fs, drawn["n_features"].to_numpy())
    cols = np.searchsorted(us, drawn["n_units"].to_numpy())
    params[rows, cols] = drawn[quantity].to_numpy()
    low, high = table.select(pl.col(quantity).min(), pl.col(quantity).max().alias("high")).row(0)

    ax = fig.add_subplot()
    # Counts span orders of magnitude (quadratic in n_units): a log colour scale.
    # pcolorfast draws an image (uniform cells) or a pcolor image: one raster,
    # also in an SVG, never a path per cell.
    image = ax.pcolorfast(_edges(us), _edges(fs), np.ma.masked_invalid(params), norm=LogNorm(low, high),
                          cmap="viridis")  # fmt: skip
    fig.colorbar(image, ax=ax, label="parameters" if quantity == "params" else quantity)
    if low <= budget < high:
        contour = ax.contour(us, fs, params, levels=[budget], colors="white", linewidths=2)
        contour.set_gid("budget")  # names the contour's group in SVG output
        note = f"budget {budget:,}: fits below and left of the line"
    else:
        note = f"budget {budget:,}: " + ("every cell fits" if budget >= high else "no cell fits")
    ax.legend(handles=[Line2D([], [], color="white", linewidth=2, label=note)], loc="upper right",
              facecolor="0.3", labelcolor="white", framealpha=0.8)  # fmt: skip
    ax.set(xlabel="n_units", ylabel="n_features", title=title)


def _frontier(fig, table: pl.DataFrame, budget: int, title: str, quantities: tuple[str, ...]) -> None:
    # One line per layer kind and per value of each axis that varies within a kind.
    options = [c for c in table.columns if c not in ("layer", "n_features", "n_units", "slack", *quantities)]
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
    ax.set(xlabel="n_features", ylabel=f"largest n_units with {quantities[0]} ≤ {budget:,}", title=title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()


def plot(
    kind: str,
    layer: Any,
    n_features: Any,
    n_units: Any,
    *,
    budget: Any,
    output: Any,
    convention: Any = None,
    quantity: Any = "params",
    title: str | None = None,
    max_bytes: Any = None,
    backend: str = "auto",
    **arguments: Any,
) -> pl.DataFrame:
    """Draws a budget picture to ``output`` (PNG or SVG by its extension,
    written through a temporary file renamed into place) and returns the
    table drawn.

    - ``kind="heatmap"``: the count of one configuration (one layer kind,
      one value of each option) at every n_features × n_units pair of the
      given collections (``sweep``'s table), with the budget's contour. An
      axis of more than DRAWN values is drawn at DRAWN of them, evenly spread.
    - ``kind="frontier"``: for each n_features, the largest n_units whose
      count fits the budget (``search``'s table), one line per layer kind and
      per value of any option given several; n_units may be a huge range.

    ``max_bytes`` bounds the table and the drawing together (default: half
    the available memory); over it, the plot is refused before allocating.

    Needs matplotlib: ``pip install 'archsweep[plot]'``.
    """
    kind = _choose("kind", kind, KINDS, {})
    if isinstance(budget, Mapping):
        raise InvalidArgumentError("plot draws one budget: give a number (on quantity=), not a mapping")
    budget = _args.scalar_size("budget", budget, minimum=0)
    path = check_output_path(output, name="output", extensions=tuple(FORMATS))
    limit = available_memory() // 2 if max_bytes is None else _args.scalar_size("max_bytes", max_bytes, minimum=1)
    quantities = quantities_of("params" if quantity is None else quantity)
    options = dict(convention=convention, quantity=quantities, backend=backend, **arguments)
    Figure, FigureCanvasAgg = _matplotlib()  # before any work: a missing extra fails at once

    if kind == "heatmap":
        for name, value in {"layer": layer, **options}.items():
            if name != "backend" and len(_collection(value)) != 1:
                raise InvalidArgumentError(
                    f"a heatmap draws one configuration: {name} takes one value, got {value!r} "
                    "(draw one heatmap per value, or use kind='frontier')"
                )
        _two_values("n_features", n_features)
        _two_values("n_units", n_units)
        table = sweep(layer, n_features, n_units, max_bytes=limit, **options)
        fs, us = _drawn_axis("n_features", n_features), _drawn_axis("n_units", n_units)
        _fits(limit, table, kind, len(fs) * len(us), f"{len(fs):,} × {len(us):,} cells")
        drawn = sweep(layer, fs, us, **options)
        title = title or f"{table['layer'][0]} parameters ({table['convention'][0]} convention)"
    else:
        table = search(layer, n_features, n_units, budget=budget, **options)
        if table.is_empty():
            raise InvalidArgumentError(f"nothing fits budget={budget:,}: no frontier to draw")
        _fits(limit, table, kind, table.height, f"{table.height:,} points")
        title = title or f"Widest layer under {budget:,} parameters"

    fig = Figure(figsize=(7.5, 5), layout="constrained")
    FigureCanvasAgg(fig)
    if kind == "heatmap":
        _heatmap(fig, table, drawn, fs, us, budget, title, quantities[0])
    else:
        _frontier(fig, table, budget, title, quantities)
    write_atomically(path, lambda tmp: fig.savefig(tmp, format=FORMATS[path.suffix.lower()], dpi=120))
    return table


def _fits(limit: int, table: pl.DataFrame, kind: str, items: int, what: str) -> None:
    """Refuses a drawing of ``items`` cells or points that would take the
    call over ``max_bytes`` with the table it holds, before drawing it."""
    fixed, each = DRAWING_BYTES[kind]
    drawing, held = fixed + items * each, table.estimated_size()
    if held + drawing > limit:
        raise SweepTooLargeError(
            f"the plot would draw {what}, taking about {drawing:,} bytes besides the table's {held:,}, over "
            f"max_bytes={limit:,}; narrow the axes or raise max_bytes"
        )
