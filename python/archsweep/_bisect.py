"""Bisection of a sorted size axis under a budget: for every combination of
the other axes, the largest value whose count fits. ``search`` reports it;
``sweep`` and ``count_fitting`` use it to trim a huge lazy axis to the prefix
that can fit before listing any of it.

Why bisection is exact: with the other axes fixed, a layer's count is
``directions·gates·(∏kernel·(f/groups)·u + recurrent·u² + bias_vectors·u)``,
a polynomial in ``u`` and in ``f`` with non-negative coefficients (``f/groups``
is exact: only multiples of ``groups`` are valid), so it never decreases as
either grows. The values that fit are a prefix of the sorted axis.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._axis import Sorted, at, count_at_most, multiples
from ._backend import KERNEL_ERRORS, raise_kernel_error
from ._names import FIELDS, LAYERS

_GROUPS = FIELDS.index("groups")
_OVERFLOW = -1  # a count beyond int64: it fits no budget


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


def _pick(seqs: dict[int, Sorted], groups: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The candidate at ``index`` in each point's sequence (which depends on its groups)."""
    values = np.empty(len(index), dtype=np.int64)
    for g, seq in seqs.items():
        mine = np.broadcast_to(groups == g, values.shape)
        values[mine] = at(seq, index[mine])
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


def largest(
    block: Any, maximize: str, values: Sorted, budget: int, module: Any
) -> tuple[list[np.ndarray], np.ndarray]:
    """The field values (FIELDS order, 1-D or 0-d) and counts of the block's
    combinations that fit, in sweep order. ``block``'s maximized axis has
    one (placeholder) value, so its mesh is the combinations."""
    axis, other = FIELDS.index(maximize), FIELDS.index("n_features" if maximize == "n_units" else "n_units")
    shape = block.shape
    n = math.prod(shape)
    ops = [op.reshape(()) if op.size == 1 else np.broadcast_to(op, shape).reshape(-1) for op in block.operands()]
    seqs = {g: multiples(values, g) for g in set(block.groups)}

    # Each combination's first lo candidates are known to fit, those from hi
    # on are not (hi = 0: none can, e.g. groups that do not divide). A count
    # is at least the maximized value (f/g·u is at least u and at least f, as
    # both are multiples of g), so candidates above the budget never fit:
    # leaving them out also keeps probes clear of int64 for any usual budget.
    lo = np.zeros(n, dtype=np.int64)
    hi = np.zeros(n, dtype=np.int64)
    for g, seq in seqs.items():
        valid = np.broadcast_to((ops[_GROUPS] == g) & (ops[other] % g == 0), (n,))
        hi[valid] = count_at_most(seq, budget)
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
