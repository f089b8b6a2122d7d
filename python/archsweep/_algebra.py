"""A kind's formula as the kernel's algebra: operands, factors and one
polynomial per quantity, for any broadcast of the kind's arguments.

The kernel (``_core.poly_*``, and ``_polycore`` for ``backend="python"``)
knows no layer: it evaluates polynomials whose terms are a coefficient
operand times a product of *factors* (sizes, exact quotients of sizes,
offsets, constraint checks). This module is the one place that turns a
registry entry of ``_kinds`` into that form:

- every size argument is an operand and a factor; ``quotient`` and
  ``offset`` symbols of the formula become quotient and offset factors;
- every rule (groups divides n_features, proj_size < n_units) becomes a
  constraint factor, so a point that breaks it is skipped by a sweep and
  refused by a count, in the kernel;
- the formula is evaluated on symbols once per combination of option
  values present (flags, convention, a nullable size given or None, the
  kind's cases), and each monomial's coefficients over those combinations
  become one coefficient operand, broadcast over the options' axes only.

The arguments come as arrays broadcastable together (a sweep's open mesh, or
``count_params``' numpy broadcast): that is all the difference between them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _kinds
from ._kinds import FLAG, KERNEL, SIZE, Kind
from ._names import CONVENTIONS
from ._poly import Poly

QUANTITIES = ("params", "trainable", "non_trainable", "buffers")
NONE = 0  # a nullable size's operand holds 0 where the user gave None (sizes are otherwise >= 1)


@dataclass
class Compiled:
    """What a kernel call needs, and how to read its refusals."""

    operands: list[np.ndarray]
    factors: list[tuple]
    polynomials: list[list[tuple[int, list[tuple[int, int]]]]]
    operand_of: dict[str, int]  # argument name ("kernel[0]", "convention", ...) -> operand index
    rule_of: dict[int, _kinds.Rule]  # constraint factor -> the rule it checks


def operand_names(kind: Kind) -> list[str]:
    """The operands a kind's arguments take, in the kind's order: one per
    argument, one per kernel dimension, then ``convention``."""
    names = []
    for arg in kind.args:
        names += [f"kernel[{i}]" for i in range(kind.rank)] if arg.type == KERNEL else [arg.name]
    return [*names, "convention"]


def compile(kind: Kind, arrays: Mapping[str, np.ndarray], quantities: Sequence[str]) -> Compiled:
    """The kernel's operands, factors and polynomials for ``kind`` over
    ``arrays`` (one int64 array per name of :func:`operand_names`,
    broadcastable together; flags as 0/1, convention as its code, a
    nullable size as ``NONE`` where None)."""
    names = operand_names(kind)
    operands = [np.asarray(arrays[n], dtype=np.int64) for n in names]
    operand_of = {n: i for i, n in enumerate(names)}
    convention = operands[operand_of["convention"]]

    factors: list[tuple] = []
    factor_of: dict[tuple, int] = {}

    def factor(spec: tuple) -> int:
        if spec not in factor_of:
            factor_of[spec] = len(factors)
            factors.append(spec)
        return factor_of[spec]

    def symbol(name: str) -> int:
        """The factor a formula's symbol stands for."""
        if "/" in name:
            a, b = name.split("/")
            return factor(("quotient", operand_of[a], operand_of[b]))
        for sign in ("+", "-"):
            if sign in name[1:]:
                a, c = name.rsplit(sign, 1)
                return factor(("offset", operand_of[a], int(sign + c)))
        return factor(("axis", operand_of[name]))

    # Rules become constraint factors. A rule of some conventions only reads,
    # elsewhere, an operand that always passes (1 divides anything; 0 < any size).
    rule_of: dict[int, _kinds.Rule] = {}
    for rule in kind.rules:
        small = operands[operand_of[rule.small]]
        if rule.conventions is not None:
            codes = [CONVENTIONS.index(c) for c in rule.conventions]
            passing = 1 if rule.test == "divides" else 0
            small = np.where(np.isin(convention, codes), small, passing)
            operands.append(small.astype(np.int64))
            small_index = len(operands) - 1
        else:
            small_index = operand_of[rule.small]
        large_index = operand_of[rule.large]
        spec = ("quotient", large_index, small_index) if rule.test == "divides" else ("less", small_index, large_index)
        rule_of[factor(spec)] = rule

    # The option values at each point of the options' own broadcast: the
    # formula is one polynomial within each combination.
    keys, key_names = _option_keys(kind, operands, operand_of)
    keys = np.broadcast_arrays(*keys)  # over the options' axes only: small
    combos, inverse = np.unique(np.stack([k.reshape(-1) for k in keys]), axis=1, return_inverse=True)
    inverse = inverse.reshape(keys[0].shape)
    per_combo = [_symbolic(kind, dict(zip(key_names, combo.tolist())), quantities) for combo in combos.T]

    polynomials = []
    for q in range(len(quantities)):
        monomials = sorted({m for polys in per_combo for m in polys[q].terms})
        terms = []
        for m in monomials:
            table = np.array([polys[q].terms.get(m, 0) for polys in per_combo], dtype=object)
            if any(c > 2**63 - 1 for c in table):
                raise OverflowError(f"a coefficient of {kind.name} does not fit int64")  # never with today's kinds
            operands.append(np.asarray(table.astype(np.int64)[inverse]))
            terms.append((len(operands) - 1, [(symbol(name), power) for name, power in m]))
        polynomials.append(terms)
    return Compiled(operands, factors, polynomials, operand_of, rule_of)


def _option_keys(kind: Kind, operands: list[np.ndarray], operand_of: dict[str, int]):
    """The arrays that decide which polynomial applies: the convention, each
    flag, whether each nullable size was given, and each case."""
    keys, names = [operands[operand_of["convention"]]], ["convention"]
    for arg in kind.args:
        if arg.type == FLAG:
            keys.append(operands[operand_of[arg.name]])
            names.append(arg.name)
        elif arg.type == SIZE and arg.nullable:
            keys.append((operands[operand_of[arg.name]] != NONE).astype(np.int64))
            names.append(f"{arg.name} given")
    sizes = {a.name: operands[operand_of[a.name]] for a in kind.args if a.type == SIZE}
    for name, test in kind.cases:  # a case reads sizes (proj_size > 0)
        keys.append(np.asarray(test(sizes), dtype=np.int64))
        names.append(f"case {name}")
    return keys, names


def _symbolic(kind: Kind, key: dict[str, int], quantities: Sequence[str]) -> list[Poly]:
    """The formula on symbols at one combination of option values."""
    convention = CONVENTIONS[key["convention"]]
    values: dict[str, Any] = {}
    for arg in kind.args:
        if arg.type == FLAG:
            values[arg.name] = bool(key[arg.name])
        elif arg.type == KERNEL:
            values[arg.name] = tuple(Poly.var(f"kernel[{i}]") for i in range(kind.rank))
        elif arg.nullable and not key[f"{arg.name} given"]:
            values[arg.name] = None
        else:
            values[arg.name] = Poly.var(arg.name)
    cases = {name: bool(key[f"case {name}"]) for name, _ in kind.cases}
    q = kind.formula(convention, **values, **cases)
    every = {"params": q.params, "trainable": q.trainable, "non_trainable": q.non_trainable, "buffers": q.buffers}
    return [Poly.lift(every[name]) for name in quantities]
