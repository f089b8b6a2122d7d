"""Lazy axes: values written as ranges stay arithmetic until a piece of them
is needed, so an axis of 10**11 widths costs nothing to hold, measure or
check, and is turned into an array only a bounded piece at a time.

A ``Chain`` is the concatenation of ranges (``1..1G,2G`` on the command
line is ``Chain([range(1, 10**9 + 1), range(2 * 10**9, 2 * 10**9 + 1)])``);
a plain ``range`` is a chain of one. Everything here is arithmetic on the
ranges' ends: nothing proportional to the length is built.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np


def range_len(r: range) -> int:
    """``len(r)`` without the ``OverflowError`` Python raises past sys.maxsize."""
    if r.step > 0:
        return max(0, (r.stop - r.start + r.step - 1) // r.step)
    return max(0, (r.start - r.stop - r.step - 1) // -r.step)


class Chain:
    """The values of several ranges, one after another, never listed."""

    __slots__ = ("parts",)

    def __init__(self, parts: Iterable[range | int]) -> None:
        ranges = [range(p, p + 1) if isinstance(p, int) and not isinstance(p, bool) else p for p in parts]
        for p in ranges:
            if not isinstance(p, range):
                raise TypeError(f"a Chain holds ranges and ints, got {type(p).__name__}")
        # One value is written ascending, so a chain's direction shows in its steps.
        self.parts: tuple[range, ...] = tuple(
            range(p.start, p.start + 1) if range_len(p) == 1 else p for p in ranges if range_len(p)
        )

    @classmethod
    def of(cls, value: Any) -> Chain | None:
        """``value`` as a chain when it is a range or a chain, else None."""
        if isinstance(value, Chain):
            return value
        if isinstance(value, range):
            return cls([value])
        return None

    def __len__(self) -> int:
        # len() itself is capped at sys.maxsize; size is exact for any length.
        return self.size

    @property
    def size(self) -> int:
        return sum(range_len(p) for p in self.parts)

    def __bool__(self) -> bool:
        return bool(self.parts)

    def __iter__(self) -> Iterator[int]:
        for p in self.parts:
            yield from p

    def __repr__(self) -> str:
        return f"Chain({list(self.parts)!r})"

    def extremes(self) -> tuple[int, int]:
        """(smallest, largest) value; the chain must not be empty."""
        ends = [v for p in self.parts for v in (p[0], p.start + (range_len(p) - 1) * p.step)]
        return min(ends), max(ends)

    @property
    def is_sorted(self) -> bool:
        """True when the values never decrease (every range ascending, each
        starting after the previous one's last value)."""
        last = None
        for p in self.parts:
            if range_len(p) > 1 and p.step < 0:
                return False
            if last is not None and p.start < last:
                return False
            last = p.start + (range_len(p) - 1) * p.step
        return True

    def __getitem__(self, index: int) -> int:
        if index < 0:
            index += self.size
        for p in self.parts:
            n = range_len(p)
            if 0 <= index < n:
                return p.start + index * p.step
            index -= n
        raise IndexError("Chain index out of range")

    def prefix(self, n: int) -> Chain:
        """The first ``n`` values, still lazy."""
        parts = []
        for p in self.parts:
            if n <= 0:
                break
            parts.append(p if range_len(p) <= n else range(p.start, p.start + n * p.step, p.step))
            n -= range_len(p)
        return Chain(parts)

    def reversed(self) -> Chain:
        return Chain(range(p.start + (range_len(p) - 1) * p.step, p.start - p.step, -p.step) for p in reversed(self.parts))

    def take(self, start: int, stop: int) -> np.ndarray:
        """Values ``start..stop`` (positions in the chain) as an int64 array.
        The caller has checked every value fits int64."""
        out = []
        offset = 0
        for p in self.parts:
            n = range_len(p)
            lo, hi = max(start - offset, 0), min(stop - offset, n)
            if lo < hi:
                first, last = p.start + lo * p.step, p.start + (hi - 1) * p.step
                end = last + (1 if p.step > 0 else -1)
                if -(2**63) <= end < 2**63:  # one pass
                    out.append(np.arange(first, end, p.step, dtype=np.int64))
                else:  # the end itself is past int64 (a last value at the edge)
                    out.append(np.arange(hi - lo, dtype=np.int64) * p.step + first)
            offset += n
            if offset >= stop:
                break
        if len(out) == 1:
            return out[0]
        return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


# -- sorted axes: what search bisects and sweep trims --------------------------------------------------------------
# A sorted axis is a range or Chain whose values never decrease, or a sorted
# numpy array. Everything below is arithmetic on ranges: nothing is listed.

Sorted = Chain | np.ndarray


def multiples(values: Sorted, g: int) -> Sorted:
    """The values divisible by ``g`` (the only valid sizes with ``groups=g``).

    For a range they form a range too, of step lcm(step, g): its first
    element solves start + k·step ≡ 0 (mod g), which has a solution iff
    gcd(step, g) divides start."""
    if g == 1:
        return values
    if isinstance(values, np.ndarray):
        return values[values % g == 0]
    out = []
    for r in values.parts:
        d = math.gcd(r.step, g)
        if r.start % d:
            continue
        period = g // d
        k = (-r.start // d) * pow(r.step // d, -1, period) % period
        out.append(range(r.start + k * r.step, r.stop, r.step * period))
    return Chain(out)


def at(values: Sorted, index: np.ndarray) -> np.ndarray:
    """``values[index]`` for an array of positions."""
    if isinstance(values, np.ndarray):
        return values[index]
    out = np.empty(index.shape, dtype=np.int64)
    offset = 0
    for r in values.parts:
        n = range_len(r)
        here = (index >= offset) & (index < offset + n)
        out[here] = r.start + (index[here] - offset) * r.step  # at most the range's last value: no overflow
        offset += n
    return out


def count_at_most(values: Sorted, limit: int) -> int:
    """How many of the sorted values are <= limit."""
    if isinstance(values, np.ndarray):
        return int(np.searchsorted(values, limit, side="right"))
    return sum(range_len(range(r.start, min(r.stop, limit + 1), r.step)) for r in values.parts)


def smallest_above(values: Chain | np.ndarray, limit: int) -> int | None:
    """The smallest value greater than ``limit``, in any order (None if there is none)."""
    if isinstance(values, np.ndarray):
        above = values[values > limit]
        return int(above.min()) if above.size else None
    best = None
    for r in values.parts:
        if not range_len(r):
            continue
        up = r if r.step > 0 else range(r[-1], r.start + 1, -r.step)  # the same values, ascending
        k = 0 if up.start > limit else (limit - up.start) // up.step + 1
        if k < range_len(up):
            value = up.start + k * up.step
            best = value if best is None else min(best, value)
    return best


def size(values: Chain | np.ndarray) -> int:
    return values.size if isinstance(values, Chain) else len(values)


def extremes(values: Chain | np.ndarray) -> tuple[int, int]:
    if isinstance(values, Chain):
        return values.extremes()
    if values.size == 1:  # most of a sweep's axes hold one value: no reductions (~3 µs each)
        v = int(values.reshape(-1)[0])
        return v, v
    return int(values.min()), int(values.max())


def take(values: Chain | np.ndarray, start: int, stop: int) -> np.ndarray:
    """Positions ``start..stop`` as an int64 array (a view for an array)."""
    return values.take(start, stop) if isinstance(values, Chain) else values[start:stop]
