"""``search``: the largest layer under budgets (parameters, FLOPs, any quantity).

For every combination of the other axes (the rows of a ``sweep`` without
the maximized axis, in sweep order), the largest value of the maximized
axis whose counts fit every budget. The maximized axis is never enumerated:
its values are sorted (a ``range`` or ``Chain`` stays lazy and is indexed by
arithmetic) and every combination is bisected at once (``_bisect``), one
call into the core per step, so ``range(1, 10**9)`` takes at most about 33
steps (15 for an answer near 1000), however many combinations there are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from . import _args
from ._axis import Chain, Sorted
from ._bisect import largest
from ._count import kind_of, sizes_given
from ._errors import ArgumentTypeError, InvalidArgumentError, SweepTooLargeError
from ._kinds import SIZE
from ._names import _choose
from ._sweep import (
    AXIS_PIECE,
    Block,
    _collection,
    _size_axis,
    available_memory,
    budgets_of,
    checked_chain,
    column_of,
    frame,
    itemsize,
    narrowest,
    plan,
    trimmed,
)

def _maximized(layer: Any, maximize: Any) -> str:
    """The size argument ``maximize`` names (the closest suggested): one of the sweep's kinds' sizes
    that is no rule's small side (a larger ``groups`` is not a larger layer)."""
    kinds = [kind_of(k) for k in _collection(layer)]
    sizes = list(dict.fromkeys(a.name for k in kinds for a in k.args if a.type == SIZE))
    name = _choose("maximize", maximize, tuple(dict.fromkeys(["n_units", "n_features", *sizes])), {})
    small = [k.name for k in kinds for r in k.rules if r.small == name]
    if small:
        raise InvalidArgumentError(f"maximize={name!r}: it must divide (or stay below) another size in "
                                   f"{', '.join(dict.fromkeys(small))}, so its largest value is not a largest layer")  # fmt: skip
    return name
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


def _table(block: Block, fitting, quantities, budget: dict[str, int], schema) -> pl.DataFrame:
    """One block's rows, typed and nulled exactly as ``sweep`` types them, and each budget's slack
    (``slack``; under several budgets ``slack_<quantity>`` each)."""
    rows = len(fitting.values[0])
    columns = {}
    for name, values in fitting.operands.items():
        column = column_of(block.kind, name)
        width = itemsize(schema[column]) if column in schema else 8
        columns[name] = np.ascontiguousarray(values).astype(f"u{width}")
    table = frame(block, schema, columns, rows, dict(zip(quantities, fitting.values)))
    values = dict(zip(quantities, fitting.values))
    if len(budget) == 1:
        ((q, limit),) = budget.items()
        return table.with_columns(slack=pl.Series(limit - values[q]))
    return table.with_columns(**{f"slack_{q}": pl.Series(limit - values[q]) for q, limit in budget.items()})


def search(
    layer: Any,
    n_features: Any = None,
    n_units: Any = None,
    *,
    budget: Any,
    maximize: str = "n_units",
    convention: Any = None,
    quantity: Any = None,
    max_bytes: Any = None,
    backend: str = "auto",
    **arguments: Any,
) -> pl.DataFrame:
    """For every combination of the other axes, the largest value of the
    ``maximize`` axis (a size argument: ``"n_units"``, ``"n_features"``,
    ``"d_model"``, ``"length"``, ...) whose count (the
    first ``quantity``) is at most ``budget``, or, with ``budget={"params":
    P, "flops": F}``, whose counts are within every limit, as a polars
    DataFrame: ``sweep``'s columns, one row per combination in sweep order,
    plus ``slack = budget - count`` (``slack_<quantity>`` for each of several
    budgets). Combinations where nothing fits are left out.

    The maximized axis is bisected, never enumerated: ``range(1, 10**9)``
    costs about as much as ``range(1, 100)``. Only its valid values are
    candidates (with ``groups=g``, its multiples of ``g``; for a range, a
    derived range). ``max_bytes`` (default: half the available memory)
    bounds the table and the bisection's working arrays; a larger search is
    refused first.

    >>> search("lstm", 128, range(1, 10**9), budget=5_000_000)["n_units"].item()
    1055
    """
    maximize = _maximized(layer, maximize)
    quantities, budget = budgets_of(budget, quantity)
    if budget is None:
        raise ArgumentTypeError("budget is required: a number (on the first quantity) or {quantity: limit, ...}, "
                                "got None")  # fmt: skip
    limit = available_memory() // 2 if max_bytes is None else _args.scalar_size("max_bytes", max_bytes, minimum=1)
    given = sizes_given(n_features, n_units, arguments)
    if maximize not in given:
        lacking = [k.name for k in map(kind_of, _collection(layer)) if k.arg(maximize) is None]
        if lacking:  # a kind of one size (a norm, depthwise, mha): its width is n_features
            raise InvalidArgumentError(f"{', '.join(lacking)} has no {maximize} to maximize; search n_features "
                                       "with maximize='n_features'")  # fmt: skip
        raise ArgumentTypeError(f"{maximize} is required: search maximizes it")
    values = _sorted_axis(maximize, given[maximize])
    given[maximize] = values  # checked and typed by sweep's rules, never listed when lazy
    p = plan(layer, convention, quantities, None, backend, given)
    p.schema[maximize] = narrowest([values[-1]])  # as sweep types this axis: by its largest value
    for block in p.blocks:
        if block.axis_of(maximize) is None:
            raise InvalidArgumentError(f"{block.kind.name} has no {maximize} to maximize")

    # Another size axis may be a huge lazy range: values of it that fit
    # nowhere are dropped first, and what is left is bisected a piece at a time.
    blocks = [trimmed(b, budget, p.module, skip=maximize).with_values(maximize, [1]) for b in p.blocks]
    combinations = sum(b.points for b in blocks)
    need = combinations * (sum(itemsize(dtype) for dtype in p.schema.values()) + 8 + _WORK_BYTES)
    if need > limit:
        raise SweepTooLargeError(
            f"the search would bisect {combinations:,} combinations needing about {need:,} bytes, over "
            f"max_bytes={limit:,}; narrow the other axes, lower the budget, or raise max_bytes"
        )
    frames = []
    for block in blocks:
        for piece in block.pieces():
            fitting = largest(piece, maximize, values, budget, p.module, p.quantities)
            frames.append(_table(piece, fitting, p.quantities, budget, p.schema))
    return pl.concat(frames, how="vertical", rechunk=False)
