"""Bisection of a sorted size axis under budgets: for every combination of
the other axes, the largest value whose counts fit every budget. ``search`` reports it;
``sweep`` and ``count_fitting`` use it to trim a huge lazy axis to the prefix
that can fit before listing any of it.

Why bisection is exact: every formula of the registry is a polynomial with
non-negative coefficients in its sizes (``tests/test_kinds.py`` checks it,
kind by kind and option by option), so with the other axes fixed a count
never decreases as the axis grows, and the values that fit are a prefix of
the valid ones: under several budgets, the shortest of their prefixes. The
valid values are the axis' multiples of what must
divide it (``groups``) above what must be less than it (``proj_size``):
both come from the kind's rules, read from the compiled spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _algebra
from ._axis import Sorted, at, count_at_most, multiples, size
from ._backend import KERNEL_ERRORS

_OVERFLOW = -1  # a count beyond int64: it fits no budget


@dataclass
class Fitting:
    """The combinations where some value fits: every operand of the block
    there (the maximized one at its largest fitting value), and each
    quantity of that configuration."""

    operands: dict[str, np.ndarray]
    values: list[np.ndarray]


def _take(operand: np.ndarray, index: Any) -> np.ndarray:
    return operand[index] if operand.ndim else operand  # a 0-d operand broadcasts


def _flat(compiled: _algebra.Compiled, shape: tuple[int, ...]) -> list[np.ndarray]:
    return [op.reshape(()) if op.size == 1 else np.broadcast_to(op, shape).reshape(-1) for op in compiled.operands]


def _counts(module: Any, compiled: _algebra.Compiled, operands: list[np.ndarray], outs: list[np.ndarray]) -> None:
    """The budgets' quantities at every point of the 1-D ``operands`` into
    ``outs``, ``_OVERFLOW`` (in all of them) where one exceeds int64. The
    core stops at an overflowing point, so a batch with one is halved until
    each overflowing point is alone: O(k·log n) calls for k such points, one
    call when there are none."""
    try:
        module.poly_count([len(outs[0])], operands, compiled.factors, compiled.polynomials, outs)
    except KERNEL_ERRORS as exc:
        if exc.args[0] != "overflow":
            raise
        if len(outs[0]) == 1:
            for out in outs:
                out[0] = _OVERFLOW
            return
        half = len(outs[0]) // 2
        _counts(module, compiled, [_take(op, slice(None, half)) for op in operands], [o[:half] for o in outs])
        _counts(module, compiled, [_take(op, slice(half, None)) for op in operands], [o[half:] for o in outs])


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


def _pick(seqs: dict[int, Sorted], steps: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The candidate at ``index`` in each point's sequence (which depends on its step)."""
    values = np.empty(len(index), dtype=np.int64)
    for g, seq in seqs.items():
        mine = steps == g
        values[mine] = at(seq, index[mine])
    return values


def _candidates(compiled: _algebra.Compiled, flat: list[np.ndarray], target: int, n: int):
    """Per combination: whether its other arguments keep the kind's rules,
    the step its candidates must be a multiple of, and the value they must
    exceed."""
    valid = np.ones(n, dtype=bool)
    step = np.ones(n, dtype=np.int64)
    floor = np.zeros(n, dtype=np.int64)
    for f in compiled.rule_of:
        test, a, b = compiled.factors[f]
        small, large = (b, a) if test == "quotient" else (a, b)
        s, big = np.broadcast_to(flat[small], (n,)), np.broadcast_to(flat[large], (n,))
        assert small != target, "a maximized size is never the small side of a rule"
        if large != target:
            valid &= (s > 0) & (big % np.maximum(s, 1) == 0) if test == "quotient" else s < big
        elif test == "quotient":
            valid &= s > 0
            step = np.lcm(step, np.maximum(s, 1))  # one rule divides a size in every kind today: no overflow
        else:
            floor = np.maximum(floor, s)
    return valid, step, floor


def largest(block: Any, maximize: str, values: Sorted, budget: dict[str, int], module: Any,
            quantities: tuple[str, ...]) -> Fitting:  # fmt: skip
    """The largest value of ``values`` (sorted) for the ``maximize`` operand
    whose quantities fit ``budget`` (quantity -> limit, every one), at every
    combination of the block's other axes, in sweep order; combinations
    where none fits are left out. ``block``'s maximized axis has one
    (placeholder) value, so its mesh is the combinations. The answers carry
    every one of ``quantities``."""
    shape = block.shape
    n = math.prod(shape)
    arrays = block.operands()
    probed = tuple(budget)
    probing = _algebra.compile(block.kind, arrays, probed)
    flat = _flat(probing, shape)
    target = probing.operand_of[maximize]
    valid, steps, floor = _candidates(probing, flat, target, n)

    seqs = {int(g): multiples(values, int(g)) for g in np.unique(steps[valid])}
    # Each combination's candidates below lo are known to fit (from first on:
    # those up to first are invalid), those from hi on are not.
    first = np.zeros(n, dtype=np.int64)
    hi = np.zeros(n, dtype=np.int64)
    for g, seq in seqs.items():
        mine = valid & (steps == g)
        hi[mine] = size(seq)
        for low in np.unique(floor[mine]):
            first[mine & (floor == low)] = count_at_most(seq, int(low)) if low else 0
    lo = first.copy()
    while (active := np.flatnonzero(lo < hi)).size:
        mid = _split(lo[active], hi[active])
        probe = [_take(op, active) for op in flat]
        probe[target] = _pick(seqs, steps[active], mid)
        counts = [np.empty(len(active), dtype=np.int64) for _ in probed]
        _counts(module, probing, probe, counts)
        fit = np.ones(len(active), dtype=bool)
        for c, limit in zip(counts, budget.values()):
            fit &= (c != _OVERFLOW) & (c <= limit)
        lo[active[fit]] = mid[fit] + 1
        hi[active[~fit]] = mid[~fit]

    kept = np.flatnonzero(lo > first)
    best = _pick(seqs, steps[kept], lo[kept] - 1)
    # The answers' every quantity (when those are the budgets', what was probed).
    every = probing if quantities == probed else _algebra.compile(block.kind, arrays, quantities)
    at_best = [_take(op, kept) for op in (flat if every is probing else _flat(every, shape))]
    at_best[every.operand_of[maximize]] = best
    outs = [np.empty(len(kept), dtype=np.int64) for _ in quantities]
    try:
        module.poly_count([len(kept)], at_best, every.factors, every.polynomials, outs)
    except KERNEL_ERRORS as exc:
        _refuse(exc, block, quantities, every, at_best, len(kept))
    names = [o for axis in block.axes for o in axis.operands]
    operands = {name: np.broadcast_to(at_best[every.operand_of[name]], (len(kept),)) for name in names}
    return Fitting(operands, outs)


def _refuse(exc: Exception, block: Any, quantities: tuple[str, ...], compiled: _algebra.Compiled,
            operands: list[np.ndarray], n: int) -> None:  # fmt: skip
    """Another quantity overflowing at an answer: refused as sweep refuses it."""
    from ._count import _kind_error

    compiled.operands = operands
    _kind_error(exc, block.kind, quantities, compiled, (n,))
