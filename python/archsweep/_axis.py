"""Lazy axes: values written as ranges stay arithmetic until a piece of them
is needed, so an axis of 10**11 widths costs nothing to hold, measure or
check, and is turned into an array only a bounded piece at a time.

A ``Chain`` is the concatenation of ranges (``1..1G,2G`` on the command
line is ``Chain([range(1, 10**9 + 1), range(2 * 10**9, 2 * 10**9 + 1)])``);
a plain ``range`` is a chain of one. Everything here is arithmetic on the
ranges' ends: nothing proportional to the length is built.
"""

from __future__ import annotations

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
        self.parts: tuple[range, ...] = tuple(p for p in ranges if range_len(p))

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

    def take(self, start: int, stop: int) -> np.ndarray:
        """Values ``start..stop`` (positions in the chain) as an int64 array.
        The caller has checked every value fits int64."""
        out = []
        offset = 0
        for p in self.parts:
            n = range_len(p)
            lo, hi = max(start - offset, 0), min(stop - offset, n)
            if lo < hi:
                first = p.start + lo * p.step
                out.append(np.arange(hi - lo, dtype=np.int64) * p.step + first)
            offset += n
            if offset >= stop:
                break
        return np.concatenate(out) if out else np.empty(0, dtype=np.int64)
