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

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import _kinds, _memory
from ._kinds import FLAG, KERNEL, SIZE, Kind
from ._count import SEED_DEFAULTS  # count_params' options: a kind without one accepts it at its default
from ._errors import InvalidArgumentError
from ._names import CONVENTIONS, _choose
from ._poly import Poly

QUANTITIES = ("params", "trainable", "non_trainable", "buffers", "non_embedding_params", "flops", "macs",
              "training_flops", "all_flops")
#: Compute quantities (per sample): FlopCounterMode's forward FLOPs, their multiply-accumulates,
#: forward + backward FLOPs with the gradient of the layer's input (as for any layer after a model's first),
#: and the forward FLOPs with the element-wise ones FlopCounterMode leaves out (bias adds, gates, norms, softmax).
COMPUTE = ("flops", "macs", "training_flops", "all_flops")
NONE = 0  # a nullable size's operand holds 0 where the user gave None (sizes are otherwise >= 1)


class Compiled:
    """What a kernel call needs, and how to read its refusals. (A plain
    class: ``dataclasses`` imports ``inspect``, 5 ms of ``archsweep count``.)"""

    __slots__ = ("operands", "factors", "polynomials", "operand_of", "rule_of")

    def __init__(self, operands: list[np.ndarray], factors: list[tuple],
                 polynomials: list[list[tuple[int, list[tuple[int, int]]]]], operand_of: dict[str, int],
                 rule_of: dict[int, _kinds.Rule]) -> None:  # fmt: skip
        self.operands = operands
        self.factors = factors
        self.polynomials = polynomials
        self.operand_of = operand_of  # argument name ("kernel[0]", "convention", ...) -> operand index
        self.rule_of = rule_of  # constraint factor -> the rule it checks


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
            under = np.zeros(convention.shape, dtype=bool)
            for c in rule.conventions:  # not np.isin: ~40 µs on a few values, as a sweep's conventions are
                under |= convention == CONVENTIONS.index(c)
            passing = 1 if rule.test == "divides" else 0
            small = np.where(under, small, passing)
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
    inverse: np.ndarray | None = None  # None: one combination (every option a single value), each coefficient a scalar
    if all(k.size == 1 for k in keys):
        combos = [[int(k.reshape(-1)[0]) for k in keys]]
    else:
        keys = np.broadcast_arrays(*keys)  # over the options' axes only: small
        unique, inverse = np.unique(np.stack([k.reshape(-1) for k in keys]), axis=1, return_inverse=True)
        inverse, combos = inverse.reshape(keys[0].shape), unique.T.tolist()
    per_combo = [_polynomials(kind.name, tuple(zip(key_names, combo)), tuple(quantities)) for combo in combos]

    polynomials = []
    for q in range(len(quantities)):
        monomials = sorted({m for polys in per_combo for m in polys[q].terms})
        terms = []
        for m in monomials:
            table = [polys[q].terms.get(m, 0) for polys in per_combo]
            if any(c > INT64_MAX for c in table):
                raise OverflowError(f"a coefficient of {kind.name} does not fit int64")  # no kind of the registry has one
            operands.append(np.asarray(table[0] if inverse is None else np.asarray(table, dtype=np.int64)[inverse],
                                       dtype=np.int64))  # fmt: skip
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


@functools.lru_cache(maxsize=1024)
def _polynomials(kind: str, key: tuple[tuple[str, int], ...], quantities: tuple[str, ...]) -> list[Poly]:
    """``_symbolic``, remembered: sweeps and counts compile the same few combinations again and again."""
    return _symbolic(_kinds.BY_NAME[kind], dict(key), quantities)


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
    return [Poly.lift(quantity_of(kind, q, name)) for name in quantities]


def quantity_name(value: Any, argument: str = "quantity") -> str:
    """A quantity's name as the kernel knows it: one of QUANTITIES (the closest suggested), or a byte
    quantity with its options (``training_bytes[bf16,adamw]``, in its canonical spelling)."""
    if isinstance(value, str) and (name := _memory.canonical(value)) is not None:
        return name
    return _choose(argument, value, QUANTITIES + _memory.BYTES, {})


def quantity_of(kind: Kind, q: _kinds.Quantities, name: str) -> Any:
    """Quantity ``name`` of a formula's result (numbers or polynomials); a
    compute quantity whose size was left at None is refused, naming it."""
    if name.endswith("]"):
        return _memory.quantity(name, q)
    if name in COMPUTE:
        read = (q.macs, q.grad_macs, q.input_grad_macs) + ((q.elementwise,) if name == "all_flops" else ())
        needs = next((v for v in read if isinstance(v, _kinds.Needs)), None)
        if needs is not None:
            if not needs.name:  # a quantity the kind does not define
                raise InvalidArgumentError(f"{name} of {kind.name} cannot be counted: {needs.doc}")
            raise InvalidArgumentError(f"{name} of {kind.name} needs {needs.name}: {needs.doc}")
        if name == "macs":
            return q.macs
        if name == "all_flops":
            return 2 * q.macs + q.elementwise
        return 2 * q.macs if name == "flops" else 2 * (q.macs + q.grad_macs + q.input_grad_macs)
    if name == "non_embedding_params":  # as transformers' num_parameters(exclude_embeddings=True)
        return q.params - q.embedding
    return q.params if name == "params" else getattr(q, name)


# -- one configuration of plain scalars: the formula as Python code ------------------------------------------------

INT64_MAX = 2**63 - 1
_REQUIRED = _kinds.REQUIRED


def scalar_function(kind: Kind, convention: str, quantity: str, seed: bool = False):
    """A Python function of ``kind``'s arguments under ``convention`` giving
    ``quantity`` exactly, or None when any value is not a plain valid
    scalar, breaks a rule or overflows int64 (the general path then
    refuses it with its message). It is the formula's polynomials written
    out as Python source, one per combination of the option values, so a
    call costs about what the formula typed by hand would (the issue's
    "a scalar call within 10x a plain function").

    ``seed``: the function takes ``count_params``' own arguments by position
    (``n_features, n_units, kernel, bias, bidirectional, reset_after,
    groups``) and holds every other argument of the kind at its default,
    which saves matching keywords on the call that is timed; None (no such
    function) when the kind requires an argument outside them."""
    names = [a.name for a in kind.args]
    signature = ["n_features", "n_units", *SEED_DEFAULTS]
    if seed and any(a.default is _REQUIRED and a.name not in signature for a in kind.args):
        return None
    params: list[str] = []
    body: list[str] = []
    # What picks the polynomial: (the expression in the generated code, its entry in a combination).
    key: list[tuple[str, str]] = []
    # Arguments whose value is known when the function is written: a case reading only these is a constant.
    fixed: dict[str, Any] = {}
    for arg in kind.args:
        n = arg.name
        default = "_R" if arg.default is _REQUIRED else repr(arg.default)
        if not arg.applies(convention):  # accepted at its default only
            value = None if arg.default is _REQUIRED else arg.default
            fixed[n] = value
            if seed and n not in signature:
                body.append(f"{n} = {value!r}")
                continue
            params.append(f"{n}=None")
            if value is not None:
                body.append(f"if not ({n} is None or ({_plain(arg, n)} and {n} == {default})): return None")
                body.append(f"{n} = {default}")  # the formula's cases read it
            else:
                body.append(f"if {n} is not None: return None")
            continue
        if seed and n not in signature:  # not given: its default
            fixed[n] = arg.default
            body.append(f"{n} = {default}")
            if arg.type == FLAG:
                key.append((repr(arg.default), n))
            elif arg.nullable:
                key.append((repr(arg.default is not None), f"{n} given"))
            continue
        params.append(f"{n}={'None' if n == 'kernel' else default}")
        if arg.type == FLAG:
            body += [f"if type({n}) is not bool:", f"    if {n} is not None: return None", f"    {n} = {arg.default!r}"]
            key.append((n, n))
        elif arg.type == KERNEL:
            r = kind.rank
            dims = ", ".join(f"k{i}" for i in range(r)) + ("," if r == 1 else "")
            body += [f"if type({n}) is int: {dims} = ({n},) * {r}",
                     f"elif type({n}) is tuple and len({n}) == {r}: {dims} = {n}",
                     "else: return None"]  # fmt: skip
            body += [f"if type(k{i}) is not int or not 1 <= k{i} <= {INT64_MAX}: return None" for i in range(r)]
        else:
            check = f"if type({n}) is not int or not {arg.minimum} <= {n} <= {INT64_MAX}: return None"
            if arg.nullable:
                body.append(f"if {n} is not None:")
                body.append("    " + check)
                key.append((f"{n} is not None", f"{n} given"))
            else:
                body.append(check)
    # n_features and n_units come by position, the rest by keyword (by position too with ``seed``).
    positional = [p for p in params if p.split("=")[0] in ("n_features", "n_units")]
    params = [p for p in params if p not in positional]
    if "n_features" not in names:  # a language model's sizes have names of their own
        positional.insert(0, "n_features=None")
        body.append("if n_features is not None: return None")
    if "n_units" not in names:
        positional.append("n_units=None")
        body.append("if n_units is not None: return None")
    for name, value in SEED_DEFAULTS.items():  # count_params passes these to every kind
        if name not in names:
            params.append(f"{name}={value!r}")
            body.append(f"if {name} is not None: return None" if value is None else
                        f"if not ({name} is None or (type({name}) is {type(value).__name__} and {name} == {value!r})): "
                        "return None")  # fmt: skip
    for rule in kind.rules_under(convention):
        broken = f"{rule.large} % {rule.small}" if rule.test == "divides" else f"not {rule.small} < {rule.large}"
        body.append(f"if {broken}: return None")
    for c, (case, case_test) in enumerate(kind.cases):
        try:  # a case that reads only arguments known above is a constant
            key.append((repr(bool(case_test(fixed))), f"case {case}"))
        except KeyError:
            key.append((f"_case{c}({{{', '.join(f'{a!r}: {a}' for a in names if a != 'kernel')}}})", f"case {case}"))
    sizes = [a.name for a in kind.args if a.type == SIZE]
    arguments = [*sizes, *(f"k{i}" for i in range(kind.rank))]
    picks = ", ".join(expression for expression, _ in key)
    body.append(f"return _polys[({picks}{',' if len(key) == 1 else ''})]({', '.join(arguments)})")
    header = ", ".join(signature if seed else [*positional, "*", *params])  # seed: each of them, by position
    source = f"def scalar({header}):\n" + "".join(f"    {line}\n" for line in body)

    class Polys(dict):
        def __missing__(self, values: tuple) -> Any:
            combo = {"convention": CONVENTIONS.index(convention)}
            combo.update({entry: int(v) for (_, entry), v in zip(key, values)})
            _complete(kind, combo)
            self[values] = fn = _python(_polynomials(kind.name, tuple(combo.items()), (quantity,))[0], arguments)
            return fn

    scope: dict[str, Any] = {"_R": _REQUIRED, "_polys": Polys()}
    scope.update({f"_case{c}": test for c, (_, test) in enumerate(kind.cases)})
    exec(source, scope)  # noqa: S102 - source written above from the registry, no user text
    return scope["scalar"]


def _plain(arg: _kinds.Arg, name: str) -> str:
    return f"type({name}) is bool" if arg.type == FLAG else f"type({name}) is int"


def _complete(kind: Kind, combo: dict[str, int]) -> None:
    """An argument that does not apply holds its default."""
    for arg in kind.args:
        if arg.type == FLAG and arg.name not in combo:
            combo[arg.name] = int(arg.default)
        elif arg.type == SIZE and arg.nullable and f"{arg.name} given" not in combo:
            combo[f"{arg.name} given"] = int(arg.default is not None)


def _python(poly: Poly, arguments: list[str]) -> Any:
    """A polynomial as a Python function of ``arguments``: exact integers,
    None past int64 or where an offset symbol is negative."""
    def symbol(name: str) -> str:
        if name.startswith("kernel["):
            return f"k{name[7:-1]}"
        if "/" in name:
            a, b = name.split("/")
            return f"({a} // {b})"
        for sign in ("+", "-"):
            if sign in name[1:]:
                a, c = name.rsplit(sign, 1)
                return f"({a} {sign} {c})"
        return name

    terms = []
    for monomial, c in poly.terms.items():
        factors = [" * ".join([symbol(n)] * p) for n, p in monomial]
        terms.append(" * ".join([str(c)] * (c != 1 or not factors) + factors))
    offsets = sorted({n for m in poly.terms for n, _ in m if "/" not in n and any(s in n[1:] for s in "+-")})
    checks = "".join(f"    if {symbol(n)} < 0: return None\n" for n in offsets)
    source = (f"def poly({', '.join(arguments)}):\n{checks}"
              f"    v = {' + '.join(terms) or '0'}\n    return v if v <= {INT64_MAX} else None\n")  # fmt: skip
    scope: dict[str, Any] = {}
    exec(source, scope)  # noqa: S102 - source written from the registry's polynomials
    return scope["poly"]
