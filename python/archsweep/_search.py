"""``search``: the largest layer under a parameter budget.

For every combination of the other axes (the rows of a ``sweep`` without
the maximized axis, in sweep order), the largest value of the maximized
axis whose count fits the budget. The maximized axis is never enumerated:
its values are sorted (a ``range`` or ``Chain`` stays lazy and is indexed by
arithmetic) and every combination is bisected at once (``_bisect``), one
call into the core per step, so ``range(1, 10**9)`` takes at most about 33
steps (15 for an answer near 1000), however many combinations there are.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import polars as pl

from . import _args
from ._axis import Chain, Sorted, multiples, size
from ._backend import core
from ._bisect import largest
from ._errors import InvalidArgumentError, SweepTooLargeError
from ._names import FIELDS, _choose
from ._sweep import (
    AXIS_PIECE,
    LAYER_DTYPE,
    _Block,
    _conventions,
    _itemsize,
    _keras_reset_after,
    _schema,
    _size_axis,
    _trimmed,
    _validated_blocks,
    available_memory,
    checked_chain,
    narrowest,
)

MAXIMIZE = ("n_units", "n_features")
# Working arrays of the bisection per combination (operands, bounds, probes), on top of its row.
_WORK_BYTES = 160


def _sorted_axis(name: str, value: Any) -> Sorted:
    """The maximized axis in ascending order. A range or Chain stays lazy
    (reversed when it descends), so a huge one costs nothing; other
    collections are sorted and de-duplicated."""
    chain = Chain.of(value)
    if chain is None:
        return np.unique(_size_axis(name, value))
    checked_chain(name, chain)
    for candidate in (chain, chain.reversed()):
        if candidate.is_sorted:
            return candidate
    if chain.size > AXIS_PIECE:
        raise InvalidArgumentError(
            f"{name} holds {chain.size:,} values in no order; search bisects a sorted axis: "
            "write its ranges in ascending order"
        )
    return np.unique(chain.take(0, chain.size))


def _table(block: _Block, fields: list[np.ndarray], params: np.ndarray, budget: int, schema) -> pl.DataFrame:
    """One block's rows, typed and nulled exactly as ``sweep`` types them."""
    n = len(params)
    columns = {"layer": pl.repeat(block.layer, n, dtype=LAYER_DTYPE, eager=True)}
    for field, values in zip(FIELDS, fields):
        dtype = schema[field]
        if block.is_null(field):
            columns[field] = pl.repeat(None, n, dtype=dtype, eager=True)
            continue
        series = pl.Series(np.ascontiguousarray(np.broadcast_to(values, (n,))))
        if field == "convention":
            columns[field] = _conventions(series)
        else:
            columns[field] = series.cast(dtype)
    if not block.is_null("reset_after"):
        columns["reset_after"] = _keras_reset_after(columns["reset_after"], columns["convention"])
    columns["params"] = pl.Series(params)
    columns["slack"] = pl.Series(budget - params)
    return pl.DataFrame({name: s.alias(name) for name, s in columns.items()})


def search(
    layer: Any,
    n_features: Any,
    n_units: Any,
    *,
    kernel: Any = None,
    bias: Any = True,
    bidirectional: Any = False,
    convention: Any = "keras",
    reset_after: Any = None,
    groups: Any = 1,
    budget: Any,
    maximize: str = "n_units",
    max_bytes: Any = None,
    backend: str = "auto",
) -> pl.DataFrame:
    """For every combination of the other axes, the largest value of the
    ``maximize`` axis (``"n_units"`` or ``"n_features"``) whose count is at
    most ``budget``, as a polars DataFrame: ``sweep``'s columns, one row per
    combination in sweep order, plus ``slack = budget - params``.
    Combinations where nothing fits are left out.

    The maximized axis is bisected, never enumerated: ``range(1, 10**9)``
    costs about as much as ``range(1, 100)``. With ``groups=g`` only its
    multiples of ``g`` are candidates (for a range, a derived range).
    ``max_bytes`` (default: half the available memory) bounds the table and
    the bisection's working arrays; a larger search is refused first.

    >>> search("lstm", 128, range(1, 10**9), budget=5_000_000)["n_units"].item()
    1055
    """
    module = core(backend)
    maximize = _choose("maximize", maximize, MAXIMIZE, {})
    budget = _args.scalar_size("budget", budget, minimum=0)
    limit = available_memory() // 2 if max_bytes is None else _args.scalar_size("max_bytes", max_bytes, minimum=1)
    group_axis = [int(g) for g in _size_axis("groups", groups)]
    sizes = {"n_features": n_features, "n_units": n_units}
    values = _sorted_axis(maximize, sizes[maximize])
    # In the axis checks, the maximized axis stands for its smallest multiple
    # of each groups value, so a groups value with none is refused as by sweep.
    firsts = [seq[0] for seq in (multiples(values, g) for g in dict.fromkeys(group_axis)) if size(seq)]
    # With no multiple of any groups value, the smallest value lets sweep's check refuse the groups.
    sizes[maximize] = np.asarray(firsts or [values[0]], dtype=np.int64)
    blocks = _validated_blocks(layer, sizes["n_features"], sizes["n_units"], kernel, bias, bidirectional,
                               convention, reset_after, groups)  # fmt: skip
    schema = _schema(blocks)
    schema[maximize] = narrowest([values[-1]])  # as sweep types this axis: by its largest value

    # The other size axis may be a huge lazy range: values of it that fit
    # nowhere are dropped first, and what is left is bisected a piece at a time.
    blocks = [dataclasses.replace(_trimmed(b, budget, module), **{maximize: np.ones(1, dtype=np.int64)})
              for b in blocks]  # fmt: skip
    combinations = sum(b.points for b in blocks)
    need = combinations * (sum(_itemsize(dtype) for dtype in schema.values()) + 8 + _WORK_BYTES)
    if need > limit:
        raise SweepTooLargeError(
            f"the search would bisect {combinations:,} combinations needing about {need:,} bytes, over "
            f"max_bytes={limit:,}; narrow the other axes, lower the budget, or raise max_bytes"
        )
    frames = []
    for block in blocks:
        for piece in block.pieces():
            fields, params = largest(piece, maximize, values, budget, module)
            frames.append(_table(piece, fields, params, budget, schema))
    return pl.concat(frames, how="vertical", rechunk=False)
