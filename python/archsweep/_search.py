"""``search``: the largest layer under a parameter budget.

For every combination of the other axes (the rows of a ``sweep`` without
the maximized axis, in sweep order), the largest value of the maximized
axis whose count fits the budget. The maximized axis is never enumerated:
its values are sorted (a ``range`` stays lazy and is indexed by arithmetic)
and every combination is bisected at once, one call into the core per
step, so ``range(1, 10**9)`` takes at most about 33 steps (15 for an answer
near 1000), however many combinations there are.

Why bisection is exact: with the other axes fixed, a layer's count is
``directions·gates·(∏kernel·(f/groups)·u + recurrent·u² + bias_vectors·u)``,
a polynomial in ``u`` and in ``f`` with non-negative coefficients (``f/groups``
is exact: only multiples of ``groups`` are valid), so it never decreases as
either grows. The values that fit are a prefix of the sorted axis.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import polars as pl

from . import _args
from ._backend import KERNEL_ERRORS, core, raise_kernel_error
from ._errors import InvalidArgumentError
from ._names import FIELDS, LAYERS, _choose
from ._sweep import (
    LAYER_DTYPE,
    _Block,
    _conventions,
    _keras_reset_after,
    _schema,
    _size_axis,
    _validated_blocks,
    narrowest,
)

MAXIMIZE = ("n_units", "n_features")
_GROUPS = FIELDS.index("groups")
_OVERFLOW = -1  # a count beyond int64: it fits no budget

Axis = range | np.ndarray  # sorted, unique, positive values


def _sorted_axis(name: str, value: Any) -> Axis:
    """The maximized axis as sorted unique values. A range stays a range
    (reversed when its step is negative), so a huge one costs nothing."""
    if isinstance(value, range):
        r = value if value.step > 0 else value[::-1]
        if not r:
            raise InvalidArgumentError(f"{name} is empty; give at least one value")
        _args.sizes(name, [r[0], r[-1]])  # the extremes bound every value: checked without listing them
        return r
    return np.unique(_size_axis(name, value))


def _multiples(values: Axis, g: int) -> Axis:
    """The values divisible by ``g`` (the only valid sizes with ``groups=g``).

    For a range they form a range too, of step lcm(step, g): its first
    element solves start + k·step ≡ 0 (mod g), which has a solution iff
    gcd(step, g) divides start. So a range is never materialised."""
    if g == 1:
        return values
    if isinstance(values, np.ndarray):
        return values[values % g == 0]
    start, step = values.start, values.step
    d = math.gcd(step, g)
    if start % d:
        return range(0)
    period = g // d
    k = (-start // d) * pow(step // d, -1, period) % period
    return range(start + k * step, values.stop, step * period)


def _at(values: Axis, index: np.ndarray) -> np.ndarray:
    """``values[index]`` for an array of indices."""
    if isinstance(values, range):
        return values.start + index * values.step  # at most values[-1]: no overflow
    return values[index]


def _count_at_most(values: Axis, limit: int) -> int:
    """How many of the (sorted) values are <= limit."""
    if isinstance(values, range):
        return len(range(values.start, min(values.stop, limit + 1), values.step))
    return int(np.searchsorted(values, limit, side="right"))


def _take(operand: np.ndarray, index: Any) -> np.ndarray:
    return operand[index] if operand.ndim else operand  # a 0-d operand broadcasts


def _counts(module, layer: str, operands: list[np.ndarray], out: np.ndarray) -> None:
    """The count at every point of the 1-D ``operands`` into ``out``,
    ``_OVERFLOW`` where it exceeds int64. The core stops at an overflowing
    point, so a batch with one is halved until each overflowing point is
    alone: O(k·log n) calls for k such points, one call when there are none
    (the usual case: search only probes values <= the budget)."""
    try:
        module.count(LAYERS.index(layer), operands, out)
    except KERNEL_ERRORS as exc:
        if exc.args[0] != "overflow":
            raise_kernel_error(exc, layer, out.shape, operands)
        if len(out) == 1:
            out[0] = _OVERFLOW
            return
        half = len(out) // 2
        _counts(module, layer, [_take(op, slice(None, half)) for op in operands], out[:half])
        _counts(module, layer, [_take(op, slice(half, None)) for op in operands], out[half:])


def _pick(seqs: dict[int, Axis], groups: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The candidate at ``index`` in each point's sequence (which depends on its groups)."""
    values = np.empty(len(index), dtype=np.int64)
    for g, seq in seqs.items():
        at = np.broadcast_to(groups == g, values.shape)
        values[at] = _at(seq, index[at])
    return values


def _split(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The index to probe in each interval lo..hi (lo < hi). A wide interval
    (hi over twice lo + 1) is split at the geometric mean of lo + 1 and hi:
    over a small answer in a huge range (widths 1..10**9, answer near 1000)
    the ratio hi/lo falls to 2 in log(log) steps, and few probes land far
    past the answer, where counts overflow int64. Then plain halving."""
    mid = lo + (hi - lo) // 2
    wide = hi // 2 > lo + 1
    # sqrt((lo + 1)·hi) < hi / sqrt(2) here: the float stays well inside int64.
    geometric = np.sqrt((lo[wide] + 1.0) * hi[wide]).astype(np.int64) - 1
    mid[wide] = np.clip(geometric, lo[wide], hi[wide] - 1)
    return mid


def _search_block(
    block: _Block, maximize: str, values: Axis, budget: int, module
) -> tuple[list[np.ndarray], np.ndarray]:
    """The field values (FIELDS order, 1-D or 0-d) and counts of the block's
    combinations that fit, in sweep order. ``block``'s maximized axis has
    one (placeholder) value, so its mesh is the combinations."""
    axis, other = FIELDS.index(maximize), FIELDS.index("n_features" if maximize == "n_units" else "n_units")
    shape = block.shape
    n = math.prod(shape)
    ops = [op.reshape(()) if op.size == 1 else np.broadcast_to(op, shape).reshape(-1) for op in block.operands()]
    seqs = {g: _multiples(values, g) for g in set(block.groups)}

    # Each combination's first lo candidates are known to fit, those from hi
    # on are not (hi = 0: none can, e.g. groups that do not divide). A count
    # is at least the maximized value (f/g·u is at least u and at least f, as
    # both are multiples of g), so candidates above the budget never fit:
    # leaving them out also keeps probes clear of int64 for any usual budget.
    lo = np.zeros(n, dtype=np.int64)
    hi = np.zeros(n, dtype=np.int64)
    for g, seq in seqs.items():
        valid = np.broadcast_to((ops[_GROUPS] == g) & (ops[other] % g == 0), (n,))
        hi[valid] = _count_at_most(seq, budget)
    params = np.zeros(n, dtype=np.int64)
    while (active := np.flatnonzero(lo < hi)).size:
        mid = _split(lo[active], hi[active])
        probe = [_take(op, active) for op in ops]
        probe[axis] = _pick(seqs, probe[_GROUPS], mid)
        counts = np.empty(len(active), dtype=np.int64)
        _counts(module, block.layer, probe, counts)
        fit = (counts != _OVERFLOW) & (counts <= budget)
        lo[active[fit]] = mid[fit] + 1
        params[active[fit]] = counts[fit]  # the last probe that fits is the answer
        hi[active[~fit]] = mid[~fit]

    kept = np.flatnonzero(lo > 0)
    fields = [_take(op, kept) for op in ops]
    fields[axis] = _pick(seqs, fields[_GROUPS], lo[kept] - 1)
    return fields, params[kept]


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

    >>> search("lstm", 128, range(1, 10**9), budget=5_000_000)["n_units"].item()
    1055
    """
    module = core(backend)
    maximize = _choose("maximize", maximize, MAXIMIZE, {})
    budget = _args.scalar_size("budget", budget, minimum=0)
    group_axis = [int(g) for g in _size_axis("groups", groups)]
    sizes = {"n_features": n_features, "n_units": n_units}
    values = _sorted_axis(maximize, sizes[maximize])
    # In the axis checks, the maximized axis stands for its smallest multiple
    # of each groups value, so a groups value with none is refused as by sweep.
    firsts = [seq[0] for seq in (_multiples(values, g) for g in dict.fromkeys(group_axis)) if len(seq)]
    # With no multiple of any groups value, the smallest value lets sweep's check refuse the groups.
    sizes[maximize] = np.asarray(firsts or [values[0]], dtype=np.int64)
    blocks = _validated_blocks(layer, sizes["n_features"], sizes["n_units"], kernel, bias, bidirectional,
                               convention, reset_after, groups)  # fmt: skip
    schema = _schema(blocks)
    schema[maximize] = narrowest([values[-1]])  # as sweep types this axis: by its largest value

    frames = []
    for block in blocks:
        block = dataclasses.replace(block, **{maximize: np.ones(1, dtype=np.int64)})
        fields, params = _search_block(block, maximize, values, budget, module)
        frames.append(_table(block, fields, params, budget, schema))
    return pl.concat(frames, how="vertical", rechunk=False)
