"""The pure-Python core: the readable reference for the kernel's
algebra, with exact integers, and the same interface as the extension's
``poly_count``, ``poly_sweep_count`` and ``poly_sweep_fill`` (same results,
same refusals: kind, index, message and subject), so ``backend="python"``
drives it unchanged.

A call is a mesh ``shape`` and int64 *operands* broadcastable to it; *factors*
read the operands at a point (``("axis", i)``, ``("quotient", i, k)`` valid where
``k`` divides ``i``, ``("offset", i, c)`` valid where ``i + c >= 0``, ``("less", i, k)``
valid where ``i < k``, value 0); each *quantity* is a polynomial, a list of
terms ``(coefficient operand, [(factor, power), ...])``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

INT64_MAX = 2**63 - 1
MAX_POWER = 3
MAX_FACTORS = 64
_U32 = 2**32
_KINDS = {"axis": 2, "quotient": 3, "offset": 3, "less": 3}


class KernelError(Exception):
    """A kernel refusal: args are (kind, point index or None, message, subject), as in ``_core``."""


def _spec_error(message: str) -> KernelError:
    return KernelError("spec", None, message, None)


def _spec(n_operands: int, factors: Sequence[Any], quantities: Sequence[Any]) -> tuple[list[tuple], list[list]]:
    """The spec checked as the extension checks it, in the same order: the
    factors' forms and indices, the terms' indices and powers, then the
    number of factors and every index against the operands and factors."""

    def index(v: int) -> int:
        if v < 0:
            raise _spec_error(f"index {v} is negative")
        return v

    parsed: list[tuple[Any, ...]] = []
    for f, factor in enumerate(factors):
        kind = factor[0]
        if _KINDS.get(kind) != len(factor):
            raise _spec_error(
                f'factor {f} is none of ("axis", i), ("quotient", i, k), ("offset", i, c), ("less", i, k)'
            )
        i = index(factor[1])
        parsed.append((kind, i) if kind == "axis" else (kind, i, factor[2] if kind == "offset" else index(factor[2])))
    terms_of = []
    for terms in quantities:
        converted = []
        for coef, powers in terms:
            pairs = []
            for f, p in powers:
                f = index(f)
                if not 0 <= p < _U32:
                    raise _spec_error(f"power {p} is not 1 to {MAX_POWER}")
                pairs.append((f, p))
            converted.append((index(coef), pairs))
        terms_of.append(converted)

    if len(parsed) > MAX_FACTORS:
        raise _spec_error(f"{len(parsed)} factors, more than the {MAX_FACTORS} a spec may have")
    for f, factor in enumerate(parsed):
        for k in (factor[1], factor[2]) if factor[0] in ("quotient", "less") else (factor[1],):
            if k >= n_operands:
                raise _spec_error(f"factor {f} reads operand {k}, but there are {n_operands}")
    for q, terms in enumerate(terms_of):
        for t, (coef, pairs) in enumerate(terms):
            what = f"term {t} of quantity {q}"
            if coef >= n_operands:
                raise _spec_error(f"{what} reads operand {coef}, but there are {n_operands}")
            for p, (f, power) in enumerate(pairs):
                if f >= len(parsed):
                    raise _spec_error(f"{what} names factor {f}, but there are {len(parsed)}")
                if not 1 <= power <= MAX_POWER:
                    raise _spec_error(f"{what} raises factor {f} to {power}, not 1 to {MAX_POWER}")
                if any(g == f for g, _ in pairs[:p]):
                    raise _spec_error(f"{what} names factor {f} twice")
    return parsed, terms_of


def _columns(shape: Sequence[int], operands: Sequence[np.ndarray], floors: Sequence[int] = ()) -> list[list[int]]:
    """Each operand's values at every point of ``shape`` in C order, after the
    extension's checks: no negative operand, none below its floor, each
    broadcastable."""
    shape = tuple(shape)
    columns = []
    for k, op in enumerate(operands):
        op = np.asarray(op)
        if op.size and int(op.min()) < 0:
            low = int(op.min())
            raise KernelError("operand", None, f"operand {k} holds {low}; operands must be at least 0", k)
        if op.size and k < len(floors) and int(op.min()) < floors[k]:
            low = int(op.min())
            raise KernelError("floor", None, f"operand {k} holds {low}; it must be at least {floors[k]}", k)
        try:
            columns.append(np.broadcast_to(op, shape).ravel().tolist())
        except ValueError:
            raise KernelError(
                "shape", None, f"operand {k} of shape {list(op.shape)} does not broadcast to {list(shape)}", None
            ) from None
    return columns


def _points(size: int, columns: list[list[int]]) -> Iterator[tuple[int, ...]]:
    """The operands' values at each of the ``size`` points, in C order."""
    return zip(*columns) if columns and size else iter([()] * size)


def _factor(factor: tuple, v: tuple[int, ...]) -> int | None:
    """The factor's value at a point, or None where it is invalid."""
    kind, i = factor[0], v[factor[1]]
    if kind == "axis":
        return i
    if kind == "quotient":
        k = v[factor[2]]
        return i // k if k and i % k == 0 else None
    if kind == "offset":
        x = i + factor[2]
        return x if 0 <= x <= INT64_MAX else None
    return 0 if i < v[factor[2]] else None


def _at(factors: list[tuple], quantities: list[list], v: tuple[int, ...]) -> int | list[int]:
    """The first invalid factor's index, or every quantity exactly."""
    values = []
    for f, factor in enumerate(factors):
        x = _factor(factor, v)
        if x is None:
            return f
        values.append(x)
    return [sum(v[coef] * math.prod(values[f] ** p for f, p in pairs) for coef, pairs in terms) for terms in quantities]


def _overflow(values: list[int], index: int) -> None:
    for q, x in enumerate(values):
        if x > INT64_MAX:
            raise KernelError("overflow", index, f"quantity {q} overflows int64 at grid point {index}", q)


Budget = Sequence[tuple[int, int]]  # (quantity, limit) pairs: a point is kept where every quantity is within its limit
MAX_BUDGETS = 8


def _budget(budget: Budget | None) -> Budget:
    if budget is not None and len(budget) > MAX_BUDGETS:
        raise _spec_error(f"at most {MAX_BUDGETS} budgets, got {len(budget)}")
    return budget or ()


def _range(n_quantities: int, budget: Budget | None, size: int, start: int, end: int | None) -> range:
    for q, _ in budget or ():
        if q >= n_quantities:
            raise _spec_error(f"the budget is on quantity {q}, but there are {n_quantities}")
    end = size if end is None else end
    if start > end or end > size:
        raise KernelError("shape", None, f"points {start}..{end} are not within the mesh's {size}", None)
    return range(start, end)


def poly_count(
    shape: Sequence[int],
    operands: Sequence[np.ndarray],
    factors: Sequence[Any],
    quantities: Sequence[Any],
    outs: Sequence[np.ndarray],
    floors: Sequence[int] | None = None,
    mapped: bool = False,
) -> None:
    """Writes every quantity at every point into ``outs[q]``; refuses an
    operand below its ``floors[k]`` (the least value the caller allows), then
    the first point, in C order, with an invalid factor or an overflowing
    quantity. ``mapped`` (outputs are a caller's buffers) only steers how the
    Rust core stores."""
    factors, quantities = _spec(len(operands), factors, quantities)
    shape = tuple(shape)
    if len(outs) != len(quantities) or any(
        not isinstance(o, np.ndarray) or o.dtype != np.int64 or o.shape != shape or not o.flags.c_contiguous
        for o in outs
    ):
        raise KernelError(
            "shape", None, f"outs must be {len(quantities)} C-contiguous int64 arrays of shape {list(shape)}", None
        )
    flats = [o.reshape(-1) for o in outs]
    for i, v in enumerate(_points(math.prod(shape), _columns(shape, operands, floors or ()))):
        values = _at(factors, quantities, v)
        if isinstance(values, int):
            raise KernelError("invalid", i, f"factor {values} is invalid at grid point {i}", values)
        _overflow(values, i)
        for flat, x in zip(flats, values):
            flat[i] = x


def _kept(shape, operands, spec, budget, start, end):
    """(operand values, quantities) of every point of ``start..end`` a sweep
    keeps, in C order: valid, and within the budget; a kept point where a
    quantity overflows is refused."""
    factors, quantities = spec
    columns = _columns(shape, operands)
    size = math.prod(tuple(shape))
    points = _range(len(quantities), budget, size, start, end)
    for i, v in itertools.islice(enumerate(_points(size, columns)), points.start, points.stop):
        values = _at(factors, quantities, v)
        if isinstance(values, int):
            continue
        if any(values[q] > limit for q, limit in budget or ()):
            continue
        _overflow(values, i)
        yield v, values


def poly_sweep_count(
    shape: Sequence[int],
    operands: Sequence[np.ndarray],
    factors: Sequence[Any],
    quantities: Sequence[Any],
    budget: Budget | None = None,
    start: int = 0,
    end: int | None = None,
) -> int:
    """Rows a sweep keeps among points ``start..end`` (see ``_kept``)."""
    spec = _spec(len(operands), factors, quantities)
    budget = _budget(budget)
    return sum(1 for _ in _kept(shape, operands, spec, budget, start, end))


def poly_sweep_fill(
    shape: Sequence[int],
    operands: Sequence[np.ndarray],
    factors: Sequence[Any],
    quantities: Sequence[Any],
    budget: Budget | None,
    columns: Sequence[tuple[int, int]],
    start: int = 0,
    end: int | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The rows a sweep keeps: one int64 array per quantity, and per
    ``(operand, width)`` of ``columns`` the operand's values narrowed to
    ``width`` bytes (native order) as a uint8 array."""
    spec = _spec(len(operands), factors, quantities)
    budget = _budget(budget)
    for operand, width in columns:
        if operand >= len(operands) or width not in (1, 2, 4, 8):
            raise _spec_error(
                f"column ({operand}, {width}): needs one of the {len(operands)} operands and 1, 2, 4 or 8 bytes a value"
            )
    rows = list(_kept(shape, operands, spec, budget, start, end))
    values = [np.array([q[i] for _, q in rows], dtype=np.int64) for i in range(len(spec[1]))]
    arrays = [
        np.array([v[operand] for v, _ in rows], dtype=np.uint64).astype(f"u{width}").view(np.uint8)
        for operand, width in columns
    ]
    return values, arrays
