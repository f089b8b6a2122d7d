"""Polynomials in named sizes with integer coefficients: what a kind's
formula becomes when it is evaluated on symbols instead of numbers.

Evaluating a formula of ``_kinds`` with every size a ``Poly.var`` (and its
options fixed) gives the formula as a polynomial: its coefficients show that
it never decreases as a size grows (all of them >= 0, sizes >= 0) and they
are what a kernel needs to evaluate it. ``quotient(a, b)`` of two symbols is
a symbol of its own (``"n_features/groups"``): exact where the kind's rules
hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Union

Monomial = tuple[tuple[str, int], ...]  # (symbol, power), sorted by symbol
Value = Union["Poly", int]


class Poly:
    __slots__ = ("terms",)

    def __init__(self, terms: Mapping[Monomial, int]) -> None:
        self.terms = {m: c for m, c in terms.items() if c}

    @classmethod
    def var(cls, name: str) -> Poly:
        return cls({((name, 1),): 1})

    @staticmethod
    def lift(value: Value) -> Poly:
        return value if isinstance(value, Poly) else Poly({(): int(value)})

    def __add__(self, other: Value) -> Poly:
        out = dict(self.terms)
        for m, c in Poly.lift(other).terms.items():
            out[m] = out.get(m, 0) + c
        return Poly(out)

    __radd__ = __add__

    def __mul__(self, other: Value) -> Poly:
        out: dict[Monomial, int] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in Poly.lift(other).terms.items():
                powers = dict(m1)
                for name, p in m2:
                    powers[name] = powers.get(name, 0) + p
                m = tuple(sorted(powers.items()))
                out[m] = out.get(m, 0) + c1 * c2
        return Poly(out)

    __rmul__ = __mul__

    def __sub__(self, other: Value) -> Poly:
        return self + Poly.lift(other) * -1

    def __rsub__(self, other: Value) -> Poly:
        return Poly.lift(other) - self

    def __floordiv__(self, other: Value) -> Poly:
        return quotient(self, other)

    def symbols(self) -> set[str]:
        return {name for m in self.terms for name, _ in m}

    def degree(self, name: str) -> int:
        return max((dict(m).get(name, 0) for m in self.terms), default=0)

    def at(self, values: Mapping[str, int]) -> int:
        """The exact value with every symbol given."""
        total = 0
        for m, c in self.terms.items():
            for name, p in m:
                c *= values[name] ** p
            total += c
        return total

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (Poly, int)) and self.terms == Poly.lift(other).terms

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.terms.items())))

    def __repr__(self) -> str:
        if not self.terms:
            return "0"
        parts = []
        for m, c in sorted(self.terms.items()):
            factors = "·".join(name if p == 1 else f"{name}^{p}" for name, p in m)
            parts.append(factors if c == 1 and factors else f"{c}·{factors}" if factors else str(c))
        return " + ".join(parts)


def _name(p: Value) -> str:
    return next(iter(p.symbols())) if isinstance(p, Poly) else str(p)


def offset(a: Value, c: int) -> Value:
    """``a + c`` for a size whose domain keeps it >= 0 (``num_layers - 1``):
    on a symbol, a new symbol ``"a-1"``, so coefficients stay non-negative."""
    return Poly.var(f"{_name(a)}{c:+d}") if isinstance(a, Poly) else a + c


def quotient(a: Value, b: Value) -> Value:
    """``a / b``, exact where the caller's rules make ``b`` divide ``a``: on
    numbers the integer quotient; on two symbols a new symbol ``"a/b"``."""
    if isinstance(a, Poly) or isinstance(b, Poly):
        if isinstance(b, int) and b == 1:
            return a
        return Poly.var(f"{_name(a)}/{_name(b)}")
    return a // b
