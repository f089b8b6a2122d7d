"""``sweep`` and ``count_fitting``: the table of counts over the cartesian
product of the axes, for any kinds of the registry (``_kinds``).

Rows come layer kind by layer kind (in the order given). Within a kind the
axes form a cartesian product, the last varying fastest: the kind's
arguments that every convention has, in the kind's order (the README's
"Layer kinds" table), then the *variant*: the convention and, within it,
the values of the arguments only some conventions have (``reset_after``
under ``keras``, ``num_layers`` and ``proj_size`` under ``torch``). Each kind
is one call into the generic kernel (``_algebra``) over an open mesh (one
array axis per sweep axis), which skips the points that break a rule
(groups that do not divide), filters by the budget and writes only the rows
it keeps.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from . import _algebra, _args, _bisect, _kinds, _window
from ._axis import Chain, count_at_most, extremes, multiples, size, smallest_above, take
from ._backend import KERNEL_ERRORS, core
from ._count import SEED_DEFAULTS, _kind_error, _same, kernel_dims, kind_of, sizes_given
from ._errors import ArchsweepError, ArgumentTypeError, InvalidArgumentError, ParamOverflowError, SweepTooLargeError
from ._kinds import FLAG, KERNEL, SIZE, Kind
from ._names import CONVENTIONS, _choose, convention_name

LAYER_DTYPE = pl.Enum(_kinds.all_names())
CONVENTION_DTYPE = pl.Enum(list(CONVENTIONS))
# The columns every table has (0.1's schema), then the further arguments of
# the kinds in a sweep, in registry order, then the quantities asked for.
BASE_FIELDS = ("n_features", "n_units", "kernel_d", "kernel_h", "kernel_w", "bias", "bidirectional", "convention",
               "reset_after", "groups")  # fmt: skip
_EXTRA_FIELDS = tuple(dict.fromkeys(
    a.name for k in _kinds.KINDS for a in k.args if a.type != KERNEL and a.name not in BASE_FIELDS
))  # fmt: skip
# Every flag of the registry: a Boolean column wherever it appears. None leaves these at their default.
_FLAGS = frozenset(a.name for k in _kinds.KINDS for a in k.args if a.type == FLAG)
_NONE_IS_DEFAULT = _FLAGS | {"kernel"}
_UNSIGNED = ((2**8 - 1, pl.UInt8), (2**16 - 1, pl.UInt16), (2**32 - 1, pl.UInt32), (2**64 - 1, pl.UInt64))
# A size axis longer than this stays lazy (a Chain of ranges) and is listed
# a piece at a time: 8M values are 64 MB of int64.
AXIS_PIECE = 1 << 23
# The variant axis (a convention with the values of its own arguments) is always listed: at most this long.
VARIANT_ROWS = 1 << 23


def narrowest(values: Any) -> pl.DataType:
    """The narrowest unsigned integer type holding every (non-negative) value."""
    top = max(values, default=1)
    return next(dtype for limit, dtype in _UNSIGNED if top <= limit)


# A table no larger is never refused for memory (max_bytes' default, half the available memory, is not read).
SMALL_TABLE = 1 << 20


def available_memory() -> int:
    """Bytes of memory available to new allocations (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _collection(value: Any) -> list[Any]:
    """A sweep argument as a list of values: a str, tuple, number or None is one value."""
    if value is None or isinstance(value, (str, tuple, bool, np.bool_)) or _args.is_scalar(value):
        return [value]
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return [value.item()]
    if hasattr(value, "to_list"):  # polars Series
        return value.to_list()
    if isinstance(value, np.ndarray):
        return value.ravel().tolist()
    try:
        return list(value)
    except TypeError:
        raise ArgumentTypeError(f"expected a value or a collection of values, got {type(value).__name__}") from None


def _size_axis(name: str, value: Any, minimum: int = 1) -> np.ndarray:
    """A size axis: ``_args.sizes`` (count_params' rule), flattened."""
    axis = _args.sizes(name, value, minimum=minimum).reshape(-1)
    if axis.size == 0:
        raise InvalidArgumentError(f"{name} is empty; give at least one value")
    return axis


def _flag_axis(name: str, value: Any) -> list[bool]:
    """A flag axis: ``_args.flags`` (count_params' rule), flattened."""
    axis = [bool(x) for x in _args.flags(name, value).reshape(-1)]
    if not axis:
        raise InvalidArgumentError(f"{name} is empty; give True, False or both")
    return axis


def _kernel_axis(value: Any) -> list[int | tuple[int, ...]]:
    """The kernels of a sweep, read by ``_args.kernels`` (count_params' rule)
    and flattened: an int per square kernel, a tuple per kernel of given
    rank (a tuple holding arrays is the broadcast of its entries)."""
    read = _args.kernels(value)
    kernels: list[int | tuple[int, ...]] = []
    for k in read if isinstance(read, list) else [read]:
        columns = [d.reshape(-1).tolist() for d in k.sizes]
        kernels += columns[0] if k.rank == 0 else list(zip(*columns))
    if not kernels:
        raise InvalidArgumentError("kernel is empty; give at least one value")
    return kernels


def _size_values(name: str, value: Any, minimum: int = 1) -> np.ndarray | Chain:
    """A size axis as an array, or, when it is a long range or Chain, still
    lazy: checked by its extremes (which bound every value), never listed."""
    chain = Chain.of(value)
    if chain is None:
        return _size_axis(name, value, minimum)
    checked_chain(name, chain, minimum)
    return chain if chain.size > AXIS_PIECE else chain.take(0, chain.size)


def checked_chain(name: str, chain: Chain, minimum: int = 1) -> None:
    """Refuses an empty chain, or one with a value out of range: its extremes
    bound every value, so they are checked without listing any."""
    if not chain:
        raise InvalidArgumentError(f"{name} is empty; give at least one value")
    _args.sizes(name, list(chain.extremes()), minimum=minimum)


def column_of(kind: Kind, operand: str) -> str:
    """The table column an operand of ``kind`` fills: kernel[i] of a rank-r
    kernel is one of the last r of kernel_d, kernel_h, kernel_w."""
    if operand.startswith("kernel["):
        return "kernel_" + "dhw"[3 - kind.rank + int(operand[7:-1])]
    return operand


@dataclass
class Axis:
    """One axis of a block's mesh: the operands it carries and their values
    (one row a value), or, for a long size axis, a lazy Chain."""

    operands: tuple[str, ...]
    values: np.ndarray | Chain  # (n, len(operands)) int64, or a Chain for one size operand

    @property
    def size(self) -> int:
        return size(self.values)

    def column(self, k: int = 0) -> np.ndarray | Chain:
        return self.values if isinstance(self.values, Chain) else self.values[:, k]


@dataclass
class Block:
    """One layer kind's part of the sweep: its mesh, axis by axis."""

    kind: Kind
    axes: list[Axis]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes)

    @property
    def points(self) -> int:
        return math.prod(self.shape)

    def axis_of(self, operand: str) -> int | None:
        return next((i for i, a in enumerate(self.axes) if operand in a.operands), None)

    def values(self, operand: str) -> np.ndarray | Chain:
        axis = self.axes[self.axis_of(operand)]  # type: ignore[index]
        return axis.column(axis.operands.index(operand))

    def with_values(self, operand: str, values: np.ndarray | Chain) -> Block:
        """The block with a size axis of one operand replaced."""
        i = self.axis_of(operand)
        axes = list(self.axes)
        axes[i] = Axis((operand,), values if isinstance(values, Chain) else np.asarray(values, np.int64).reshape(-1, 1))  # type: ignore[index]
        return Block(self.kind, axes)

    @property
    def lazy(self) -> list[int]:
        return [i for i, a in enumerate(self.axes) if isinstance(a.values, Chain)]

    @property
    def axis_bytes(self) -> int:
        """What listing the block's lazy axes costs: a piece of each at most."""
        return sum(8 * min(self.axes[i].size, AXIS_PIECE) for i in self.lazy)

    def pieces(self) -> Iterator[Block]:
        """The block as sub-blocks whose axes are all listed, at most
        AXIS_PIECE values of a lazy one each, in grid order, so their rows,
        one piece after another, are the block's rows: the last lazy axis is
        cut into pieces, and every axis before it taken one value at a time."""
        long = [i for i in self.lazy if self.axes[i].size > AXIS_PIECE]
        last = long[-1] if long else -1
        # The axes after the last long one are listed whole (a lazy one among them is at most AXIS_PIECE).
        listed = [a if not isinstance(a.values, Chain) else Axis(a.operands, a.values.take(0, a.size).reshape(-1, 1))
                  for a in self.axes[last + 1 :]]  # fmt: skip
        if not long:
            yield Block(self.kind, listed)
            return
        chain = self.axes[last].values
        outer = [range(self.axes[i].size) for i in range(last)]
        for index in itertools.product(*outer):
            fixed = [Axis(a.operands, _row(a, k)) for a, k in zip(self.axes, index)]
            for start in range(0, chain.size, AXIS_PIECE):
                part = Axis(self.axes[last].operands, take(chain, start, min(start + AXIS_PIECE, chain.size)).reshape(-1, 1))
                yield Block(self.kind, [*fixed, part, *listed])

    def operands(self) -> dict[str, np.ndarray]:
        """Every operand as an open mesh over ``shape`` (every axis listed)."""
        out = {}
        for i, axis in enumerate(self.axes):
            shape = [1] * len(self.axes)
            shape[i] = -1
            for k, name in enumerate(axis.operands):
                out[name] = np.ascontiguousarray(axis.values[:, k]).reshape(shape)
        return out


def _row(axis: Axis, k: int) -> np.ndarray:
    """One value of an axis, as a listed axis of one row."""
    if isinstance(axis.values, Chain):
        return np.asarray([[axis.values[k]]], dtype=np.int64)
    return axis.values[k : k + 1]


# -- reading the arguments into blocks -----------------------------------------------------------------------------


def _argument_values(kind: Kind, arg: _kinds.Arg, given: Any, lazy: bool) -> np.ndarray | Chain | list[Any]:
    """One argument's values for ``kind``: a size axis (lazy when allowed),
    flags as 0/1, kernels as tuples of the kind's rank, nullable sizes with
    None as ``_algebra.NONE``."""
    if arg.type == FLAG:
        return [int(v) for v in _flag_axis(arg.name, given)]
    if arg.type == KERNEL:
        kernels = [k if isinstance(k, tuple) else (k,) * kind.rank for k in given]
        return [k for k in kernels if len(k) == kind.rank]
    if arg.nullable:
        items = _collection(given)
        if not items:
            raise InvalidArgumentError(f"{arg.name} is empty; give at least one value (None for its default)")
        listed = [x for x in items if x is not None]
        checked = _size_axis(arg.name, listed, arg.minimum).tolist() if listed else []
        it = iter(checked)
        return [_algebra.NONE if x is None else next(it) for x in items]
    if lazy:
        return _size_values(arg.name, given, arg.minimum)
    chain = Chain.of(given)
    if chain is not None and chain.size > VARIANT_ROWS:
        raise InvalidArgumentError(
            f"{arg.name} holds {chain.size:,} values; an argument of only some conventions is listed with the "
            f"convention (at most {VARIANT_ROWS:,} values): narrow it, or sweep it in parts"
        )
    return _size_axis(arg.name, given, arg.minimum).tolist()


def _default_operand(arg: _kinds.Arg) -> int:
    """The operand of an argument left at its default (where it does not apply)."""
    if arg.default is None:
        return _algebra.NONE
    if arg.default is _kinds.REQUIRED:
        return 1
    return int(arg.default)


def _column(values: Any) -> np.ndarray | Chain:
    return values if isinstance(values, Chain) else np.asarray(values, dtype=np.int64).reshape(-1, 1)


def _block(kind: Kind, conventions: list[str], given: dict[str, Any]) -> Block:
    """The block of one kind: its common arguments' axes, then the variant."""
    axes = []
    variant_args = [a for a in kind.args if a.conventions is not None]
    for arg in kind.args:
        if arg.conventions is not None:
            continue
        if arg.name not in given:
            if arg.default is _kinds.REQUIRED:
                raise _required(kind, arg)
            axes.append(Axis((arg.name,), np.asarray([[_default_operand(arg)]], dtype=np.int64)))
            continue
        values = _argument_values(kind, arg, given[arg.name], lazy=True)
        if arg.type == KERNEL:
            if not values:
                raise InvalidArgumentError(f"no kernel in the sweep has the {kind.rank} entries {kind.name} takes")
            names = tuple(f"kernel[{i}]" for i in range(kind.rank))
            axes.append(Axis(names, np.asarray(values, dtype=np.int64).reshape(-1, kind.rank)))
        else:
            axes.append(Axis((arg.name,), _column(values)))
    rows = []
    for convention in conventions:
        choices = []
        for arg in variant_args:
            if not arg.applies(convention):
                choices.append([_default_operand(arg)])
            elif arg.name in given:
                choices.append(_argument_values(kind, arg, given[arg.name], lazy=False))
            elif arg.default is _kinds.REQUIRED:
                raise _required(kind, arg, convention)
            else:
                choices.append([_default_operand(arg)])
        code = CONVENTIONS.index(convention)
        if len(rows) + math.prod(len(c) for c in choices) > VARIANT_ROWS:
            raise InvalidArgumentError(
                f"{kind.name}: the values of its arguments of only some conventions "
                f"({', '.join(a.name for a in variant_args)}) combine into more than {VARIANT_ROWS:,} rows per "
                "size; narrow them, or sweep them in parts"
            )
        rows += [(code, *values) for values in itertools.product(*choices)]
    names = ("convention", *(a.name for a in variant_args))
    axes.append(Axis(names, np.asarray(rows, dtype=np.int64).reshape(-1, len(names))))
    return Block(kind, axes)


def _required(kind: Kind, arg: _kinds.Arg, convention: str | None = None) -> ArchsweepError:
    under = f" under convention {convention!r}" if convention else ""
    if arg.type == KERNEL:
        return InvalidArgumentError(f"kernel is required for {kind.name}: an int (square) or a tuple of {kind.rank}")
    return ArgumentTypeError(f"{arg.name} is required for {kind.name}{under}")


def _applies(kind: Kind, conventions: list[str], name: str) -> bool:
    arg = kind.arg(name)
    return arg is not None and any(arg.applies(c) for c in conventions)


def _check_relevance(kinds: list[tuple[Kind, list[str]]], given: dict[str, Any]) -> None:
    """Refuses an argument that no kind of the sweep takes under the
    conventions asked for, naming what they take."""
    names = ", ".join(k.name for k, _ in kinds)
    for name, value in given.items():
        if any(_applies(k, cs, name) for k, cs in kinds):
            continue
        if name in SEED_DEFAULTS and _only_default(name, value):
            continue  # 0.1's sweep took these for every kind: at its default one says nothing
        elsewhere = [(k, k.arg(name)) for k, _ in kinds if k.arg(name) is not None]
        if elsewhere:
            kind, arg = elsewhere[0]
            asked = ", ".join(cs for k, c in kinds if k is kind for cs in c)
            raise InvalidArgumentError(f"{name} applies to {kind.name} only under convention "
                                       f"{' or '.join(sorted(arg.conventions or ()))}; the sweep asks for {asked}")  # fmt: skip
        takes = "; ".join(f"{k.name} takes {', '.join(a.name for a in k.args if any(a.applies(c) for c in cs))}"
                          for k, cs in kinds)  # fmt: skip
        raise InvalidArgumentError(f"{name} is not an argument of {names}: {takes}")


def _positions_axis(kind: Kind, conventions: list[str], window: dict[str, Any], kernels: Any,
                    both: bool) -> list[int]:  # fmt: skip
    """The ``positions`` axis of a conv kind from a sweep's ``input_size`` (one size, an int or tuple, or a
    list of them) and its one kernel, strides, padding and dilation, checked under each convention."""
    if both:
        raise InvalidArgumentError(f"{kind.name}: give input_size (with strides, padding, dilation) or positions, "
                                   "not both")  # fmt: skip
    mine = [k for k in kernels or [] if not isinstance(k, tuple) or len(k) == kind.rank]
    if len(mine) != 1:
        raise InvalidArgumentError(
            f"input_size needs exactly one kernel of {kind.name} in the sweep (the output positions depend on it), "
            f"got {len(mine)}; sweep positions= instead, or one kernel a sweep"
        )
    kernel = kernel_dims(kind.name, kind.rank, mine[0])
    if "input_size" not in window:
        _window.positions(kind, conventions[0], window, kernel)  # refuses, naming what is missing
    sizes = window["input_size"]
    values = []
    for one in sizes if isinstance(sizes, list) else [sizes]:
        found = [int(_window.positions(kind, c, {**window, "input_size": one}, kernel)) for c in conventions]
        values.append(found[0])  # the frameworks agree wherever none refuses
    return values


def _only_default(name: str, value: Any) -> bool:
    """Whether ``value`` holds 0.1's default of ``name`` and nothing else (a range is not listed)."""
    chain = Chain.of(value)
    if chain is not None:
        return chain.size == 1 and chain[0] == SEED_DEFAULTS[name]
    return all(_same(x, SEED_DEFAULTS[name]) for x in _collection(value))


def _check_kernels(blocks: list[Block], kernels: list[Any]) -> None:
    ranks = {b.kind.rank for b in blocks if b.kind.rank}
    for k in kernels:
        if isinstance(k, tuple) and len(k) not in ranks:
            raise InvalidArgumentError(
                f"kernel {k!r} has {len(k)} entries, which fits none of the sweep's conv layers "
                f"({', '.join(b.kind.name for b in blocks if b.kind.rank)})"
            )


def _check_rules(blocks: list[Block]) -> None:
    """Refuses a value of a rule's small side (groups) that leaves no row in
    any block of the sweep: no value of some large side it must divide."""
    fails: dict[tuple[str, int], str] = {}  # (argument, value) -> the size it divides none of, in every block
    works: set[tuple[str, int]] = set()
    for block in blocks:
        here: dict[tuple[str, int], str | None] = {}
        conventions = {CONVENTIONS[int(c)] for c in block.values("convention")}
        for rule in [r for r in block.kind.rules if any(r in block.kind.rules_under(c) for c in conventions)]:
            if rule.test != "divides" or block.axis_of(rule.small) is None:
                continue
            small = block.values(rule.small)
            if isinstance(small, Chain):
                continue
            sizes = block.values(rule.large)
            for g in {int(g) for g in small}:
                if not size(multiples(sizes, g)):
                    here[(rule.small, g)] = rule.large
                else:
                    here.setdefault((rule.small, g), None)
        for key, large in here.items():
            if large is None:
                works.add(key)
            else:
                fails.setdefault(key, large)
    for (name, g), large in fails.items():
        if (name, g) not in works:
            raise InvalidArgumentError(f"{name}={g} divides no {large} in the sweep")


def blocks_of(layer: Any, convention: Any, given: dict[str, Any]) -> list[Block]:
    """The sweep's blocks, every argument checked: one per layer kind."""
    kinds = [kind_of(x) for x in _collection(layer)]
    if not kinds:
        raise InvalidArgumentError(f"layer is empty; give one or more of {', '.join(_kinds.all_names())}")
    # None: each kind's own (its first: keras for Keras' kinds, torch for PyTorch's alone).
    conventions = [convention_name(c) for c in _collection(convention)] if convention is not None else \
        list(dict.fromkeys(k.conventions[0] for k in kinds))  # fmt: skip
    if not conventions:
        raise InvalidArgumentError(f"convention is empty; give one or more of {', '.join(CONVENTIONS)}")
    for c in conventions:
        if not any(c in k.conventions for k in kinds):
            raise InvalidArgumentError(
                f"convention {c!r} applies to none of the sweep's kinds ({', '.join(k.name for k in kinds)})"
            )
    # None leaves a flag or the kernel at its default; a nullable size takes it as a value.
    given = {name: value for name, value in given.items() if value is not None or name not in _NONE_IS_DEFAULT}
    if "kernel" in given:
        given["kernel"] = _kernel_axis(given["kernel"])
    per_kind = []
    for kind in kinds:
        mine = [c for c in conventions if c in kind.conventions] if convention is not None else [kind.conventions[0]]
        if not mine:
            raise InvalidArgumentError(
                f"{kind.name} has none of the conventions {', '.join(conventions)}; it has {', '.join(kind.conventions)}"
            )
        per_kind.append((kind, mine))
    window = {n: given.pop(n) for n in _window.ARGS if n in given}
    if window and not any(k.rank for k, _ in per_kind):
        raise InvalidArgumentError(f"{next(iter(window))} is not an argument of "
                                   f"{', '.join(k.name for k, _ in per_kind)}: it is a convolution's")  # fmt: skip
    _check_relevance(per_kind, given)
    blocks = []
    for kind, mine in per_kind:
        own = {n: v for n, v in given.items() if _applies(kind, mine, n)}
        if window and kind.rank:
            own["positions"] = _positions_axis(kind, mine, window, own.get("kernel"), "positions" in given)
        blocks.append(_block(kind, mine, own))
    _check_kernels(blocks, given.get("kernel", []))
    _check_rules(blocks)
    return blocks


# -- the table -----------------------------------------------------------------------------------------------------


def schema_of(blocks: list[Block], quantities: Sequence[str]) -> dict[str, pl.DataType]:
    """Column types for the whole table: the narrowest that hold every value."""
    tops: dict[str, list[int]] = {}
    for block in blocks:
        for axis in block.axes:
            for k, operand in enumerate(axis.operands):
                column = column_of(block.kind, operand)
                if column not in _FLAGS and column != "convention":
                    tops.setdefault(column, []).append(extremes(axis.column(k))[1])
    present = set()
    for b in blocks:
        conventions = [CONVENTIONS[c] for c in set(b.values("convention").tolist())]
        present.update(column_of(b.kind, o) for a in b.axes for o in a.operands if _shown(b, o, conventions))
    extra = [f for f in _EXTRA_FIELDS if f in present]
    schema: dict[str, pl.DataType] = {"layer": LAYER_DTYPE}
    for field in (*BASE_FIELDS, *extra):
        if field == "convention":
            schema[field] = CONVENTION_DTYPE
        elif field in _FLAGS:
            schema[field] = pl.Boolean
        else:
            schema[field] = narrowest(tops.get(field, []))
    for q in quantities:
        schema[q] = pl.Int64
    return schema


def _shown(block: Block, operand: str, conventions: list[str]) -> bool:
    """Whether an operand applies under one of the block's ``conventions`` (else its column would be all
    null); a compute size (length, positions) only where the sweep gives it a value."""
    arg = block.kind.arg(operand)
    if arg is None:
        return True
    if arg.compute:
        values = next(a.column(a.operands.index(operand)) for a in block.axes if operand in a.operands)
        if not isinstance(values, Chain) and not np.any(np.asarray(values) != _algebra.NONE):
            return False
    return any(arg.applies(c) for c in conventions)


def itemsize(dtype: pl.DataType) -> int:
    if dtype == pl.Boolean or isinstance(dtype, pl.Enum):
        return 1
    return {pl.UInt8: 1, pl.UInt16: 2, pl.UInt32: 4, pl.UInt64: 8, pl.Int64: 8}[dtype]


def frame(block: Block, schema: dict[str, pl.DataType], columns: dict[str, np.ndarray], rows: int,
          values: dict[str, np.ndarray]) -> pl.DataFrame:  # fmt: skip
    """A block's rows as a table of ``schema``: ``columns`` holds the operands
    that vary (one array a row, already of the column's width), ``values``
    the quantities; every other operand is constant over the block (a polars
    literal: no memory per row). A column the kind lacks is null; so is an
    argument under a convention without it and a nullable size left at None."""
    kind = block.kind
    operand_of = {column_of(kind, o): o for a in block.axes for o in a.operands}
    data: list[pl.Series] = [pl.Series(name, v) for name, v in values.items()]
    varying_convention = "convention" in columns
    exprs = []
    for name, dtype in schema.items():
        operand = operand_of.get(name)
        arg = kind.arg(name)
        if name in values:
            exprs.append(pl.col(name))
        elif name == "layer":
            exprs.append(_literal(kind.name, LAYER_DTYPE).alias(name))
        elif operand is None:
            exprs.append(_literal(None, dtype).alias(name))
        elif operand in columns:
            column = columns[operand]
            if name == "convention":
                data.append(pl.Series(list(CONVENTIONS), dtype=CONVENTION_DTYPE).gather(pl.Series(column)).alias(name))
            else:
                data.append(pl.Series(name, column.view(np.bool_) if dtype == pl.Boolean else column))
            exprs.append(_masked(arg, name, dtype, varying_convention, block))
        else:
            value = int(block.values(operand)[0])
            convention = CONVENTIONS[int(block.values("convention")[0])] if not varying_convention else None
            absent = arg is not None and ((arg.nullable and value == _algebra.NONE)
                                          or (convention is not None and not arg.applies(convention)))  # fmt: skip
            shown = CONVENTIONS[value] if name == "convention" else bool(value) if dtype == pl.Boolean else value
            exprs.append(_literal(None if absent else shown, dtype).alias(name))
    return pl.DataFrame(data, height=rows).select(exprs)


def _masked(arg: _kinds.Arg | None, name: str, dtype: pl.DataType, varying_convention: bool, block: Block) -> pl.Expr:
    """A varying column, null where its argument does not apply: under a
    convention without it, or a nullable size at None."""
    column = pl.col(name)
    if arg is None or arg.type == KERNEL:
        return column
    where = None
    if arg.conventions is not None:
        if varying_convention:
            where = pl.col("convention").is_in(sorted(arg.conventions))
        elif not arg.applies(CONVENTIONS[int(block.values("convention")[0])]):
            return _literal(None, dtype).alias(name)  # listed with the variant's other arguments, applying nowhere
    if arg.nullable:
        given = column != _algebra.NONE
        where = given if where is None else where & given
    return column if where is None else pl.when(where).then(column).otherwise(None).alias(name)


# (value, dtype or an Enum's id) -> (the dtype, kept alive so that its id is not reused; the literal)
_LITERALS: dict[tuple[Any, Any], tuple[pl.DataType, pl.Expr]] = {}


def _literal(value: Any, dtype: pl.DataType) -> pl.Expr:
    """A constant column (polars builds a literal in ~5-10 µs: a sweep's frames reuse them). An Enum
    is keyed by identity: hashing one reads its categories (~20 µs for the layer names)."""
    key = (value, id(dtype) if isinstance(dtype, pl.Enum) else dtype)
    entry = _LITERALS.get(key)
    if entry is None:
        if len(_LITERALS) >= 4096:
            _LITERALS.clear()
        entry = _LITERALS[key] = (dtype, pl.lit(value, dtype=dtype))
    return entry[1]


# -- the plan ------------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """A validated sweep: its blocks, the core that runs them, the
    quantities, the budget (on the first quantity) and the table's schema."""

    module: Any
    blocks: list[Block]
    quantities: tuple[str, ...]
    budget: dict[str, int] | None  # quantity -> limit
    schema: dict[str, pl.DataType]

    @property
    def row_bytes(self) -> int:
        return sum(itemsize(dtype) for dtype in self.schema.values())

    @property
    def kernel_budget(self) -> list[tuple[int, int]] | None:
        return None if self.budget is None else [(self.quantities.index(q), b) for q, b in self.budget.items()]

    def compiled(self, block: Block) -> _algebra.Compiled:
        return _algebra.compile(block.kind, block.operands(), self.quantities)

    def rows(self, block: Block, *, check: bool = True) -> int:
        """Rows the block keeps, counted without storing any. Without a
        budget, and with no rule that can fail, every point is a row;
        ``check`` then also raises ``ParamOverflowError`` where ``sweep``
        would, at the same point."""
        if self.budget is None and _rules_hold(block):
            if not check:
                return block.points
            # Counts grow with every size: if none overflows at the sizes'
            # largest values, none does anywhere. Otherwise the full count
            # below raises at the first point that does, as sweep would.
            # A nullable size keeps its None too: None stands for another size (kdim: n_features).
            corner = block
            for axis in block.axes:
                if len(axis.operands) == 1 and (arg := block.kind.arg(axis.operands[0])) and arg.type == SIZE:
                    values = axis.column()
                    none = arg.nullable and bool((np.asarray(values) == _algebra.NONE).any())
                    corner = corner.with_values(arg.name, [extremes(values)[1], *([_algebra.NONE] if none else [])])
            try:
                self._count(next(corner.pieces()))
                return block.points
            except ParamOverflowError:
                pass
        return sum(self._count(piece) for piece in block.pieces())

    def _count(self, piece: Block) -> int:
        compiled = self.compiled(piece)
        try:
            return self.module.poly_sweep_count(list(piece.shape), compiled.operands, compiled.factors,
                                                compiled.polynomials, self.kernel_budget, 0, piece.points)  # fmt: skip
        except KERNEL_ERRORS as exc:
            _kind_error(exc, piece.kind, self.quantities, compiled, piece.shape)

    def build(self, piece: Block, points: range | None = None) -> pl.DataFrame:
        """Runs the kernel over one piece (or its grid points ``points``) and
        wraps its output columns as polars Series without copying them."""
        compiled = self.compiled(piece)
        varying = [o for a in piece.axes if a.size > 1 for o in a.operands if column_of(piece.kind, o) in self.schema]
        widths = [itemsize(self.schema[column_of(piece.kind, o)]) for o in varying]
        wanted = [(compiled.operand_of[o], w) for o, w in zip(varying, widths)]
        span = (0, None) if points is None else (points.start, points.stop)
        try:
            values, arrays = self.module.poly_sweep_fill(list(piece.shape), compiled.operands, compiled.factors,
                                                         compiled.polynomials, self.kernel_budget, wanted, *span)  # fmt: skip
        except KERNEL_ERRORS as exc:
            _kind_error(exc, piece.kind, self.quantities, compiled, piece.shape)
        columns = {o: a.view(f"u{w}") for o, a, w in zip(varying, arrays, widths)}
        return frame(piece, self.schema, columns, len(values[0]), dict(zip(self.quantities, values)))


def _rules_hold(block: Block) -> bool:
    """Whether no rule of the kind can fail anywhere in the block."""
    for rule in block.kind.rules:
        if block.axis_of(rule.small) is None:
            continue
        low, high = extremes(block.values(rule.small))
        if rule.test == "divides" and high != 1:
            return False
        if rule.test == "less" and high >= extremes(block.values(rule.large))[0]:
            return False
    return True


def budgets_of(budget: Any, quantity: Any) -> tuple[tuple[str, ...], dict[str, int] | None]:
    """A call's quantities and budgets (quantity -> limit). A number is a
    budget on the first quantity; a mapping names its quantities, each of
    which the call must compute (``quantity=None``: those, in its order;
    else the budget's quantities must be among it, not silently added)."""
    if budget is None or not isinstance(budget, Mapping):
        quantities = quantities_of("params" if quantity is None else quantity)
        return quantities, None if budget is None else {quantities[0]: _args.scalar_size("budget", budget, minimum=0)}
    if not budget:
        raise InvalidArgumentError("budget is an empty mapping; give {quantity: limit, ...} or one number")
    budgets = {}
    for name, limit in budget.items():
        q = _algebra.quantity_name(name, "budget")
        if q in budgets:
            raise InvalidArgumentError(f"budget names {q} twice ({name!r} is another spelling of it)")
        budgets[q] = _args.scalar_size(f"budget[{q!r}]", limit, minimum=0)
    quantities = tuple(budgets) if quantity is None else quantities_of(quantity)
    missing = [q for q in budgets if q not in quantities]
    if missing:
        raise InvalidArgumentError(f"budget on {', '.join(missing)}, which the call does not compute (quantity="
                                   f"{', '.join(quantities)}); add it to quantity, or leave quantity out")  # fmt: skip
    return quantities, budgets


def quantities_of(quantity: Any) -> tuple[str, ...]:
    listed = list(quantity) if isinstance(quantity, (list, tuple)) else _collection(quantity)
    names = tuple(_algebra.quantity_name(q) for q in listed)
    if not names:
        raise InvalidArgumentError(f"quantity is empty; give one or more of {', '.join(_algebra.QUANTITIES)}")
    if len(set(names)) < len(names):
        raise InvalidArgumentError(f"quantity {', '.join(names)} names one twice")
    return names


def trimmed(block: Block, budget: dict[str, int], module: Any, skip: str | None = None) -> Block:
    """``block`` without the values of its lazy, ascending size axes that
    fit the budgets nowhere: they would add no row. A count never decreases
    as a size grows (``tests/test_kinds.py``), so the largest value that
    fits at the other lazy axes' smallest valid values, over every value of
    the listed axes, bounds every value that fits at all."""
    for i in block.lazy:
        operand = block.axes[i].operands[0]
        values = block.axes[i].values
        if operand == skip or not values.is_sorted:
            continue
        probe = block.with_values(operand, [1])
        least = {block.axes[j].operands[0]: _least(block, block.axes[j].operands[0]) for j in block.lazy}
        if any(v is None for o, v in least.items() if o != operand):
            continue  # a least valid value that cannot be known cheaply: no cut is safe
        for other, values_there in least.items():
            if other != operand:
                probe = probe.with_values(other, values_there)
        fitting = _bisect.largest(probe, operand, values, budget, module, tuple(budget))
        top = fitting.operands[operand]
        keep = count_at_most(values, int(top.max())) if top.size else 0
        prefix = values.prefix(max(keep, 1))  # one value keeps the block's shape; it fits nowhere
        block = block.with_values(operand, prefix if prefix.size > AXIS_PIECE else prefix.take(0, prefix.size))
    return block


#: The most values of a rule's small side (groups) for which a lazy axis's least valid values are listed.
LISTED_SMALL_SIDE = 4096


def _least(block: Block, operand: str) -> list[int] | None:
    """The smallest value of a lazy axis, and its smallest valid value under
    each value of a rule's small side: the least a valid point can have.
    None when the small side has more values than can be listed (a point
    invalid at the smallest value may be valid, and fit, at a larger one)."""
    values = block.values(operand)
    least = {extremes(values)[0]}
    for rule in block.kind.rules:
        if rule.large != operand or block.axis_of(rule.small) is None:
            continue
        small = block.values(rule.small)
        if size(small) > LISTED_SMALL_SIDE:
            return None
        for s in {int(x) for x in np.asarray(take(small, 0, size(small))).reshape(-1)}:
            # The least valid value in any order: a descending axis's first multiple is its largest.
            if rule.test == "divides":
                multiple = multiples(values, s)
                valid = int(extremes(multiple)[0]) if size(multiple) else None
            else:
                valid = smallest_above(values, s)
            if valid is not None:
                least.add(valid)
    return sorted(least)


def plan(layer: Any, convention: Any, quantity: Any, budget: Any, backend: Any, given: dict[str, Any]) -> Plan:
    module = core(backend)
    quantities, budgets = budgets_of(budget, quantity)
    blocks = blocks_of(layer, convention, given)
    schema = schema_of(blocks, quantities)  # typed by the axes as given, before trimming
    if budgets is not None:
        blocks = [trimmed(b, budgets, module) for b in blocks]
    return Plan(module, blocks, quantities, budgets, schema)


def sweep(
    layer: Any,
    n_features: Any = None,
    n_units: Any = None,
    *,
    convention: Any = None,
    quantity: Any = None,
    budget: Any = None,
    max_bytes: Any = None,
    backend: str = "auto",
    **arguments: Any,
) -> pl.DataFrame:
    """Every quantity asked for (default ``params``) of every configuration
    in the cartesian product of the arguments, as a polars DataFrame (see
    the module docstring for the row order and the README for the schema).

    Each argument of a kind (``kernel``, ``bias``, ``groups``, ``num_heads``,
    ``proj_size``, ...) is a value or a collection of values; ``layer`` and
    ``convention`` may be collections too. ``quantity`` is one name or
    several (``["params", "flops"]``).

    ``budget=B`` keeps only rows whose first quantity is at most ``B``;
    ``budget={"params": P, "flops": F}`` those within every limit (and,
    without ``quantity``, computes those quantities). Rows are filtered
    inside the core: those that do not fit are never stored.
    ``max_bytes`` bounds the table (default: half the available memory); a
    larger sweep is refused before anything large is allocated. For tables
    larger than memory, see ``sweep_to_file``.
    """
    p = plan(layer, convention, quantity, budget, backend, sizes_given(n_features, n_units, arguments))
    limit = None if max_bytes is None else _args.scalar_size("max_bytes", max_bytes, minimum=1)
    # The kernel counts the rows it keeps before it allocates them; a separate
    # count pass is needed only when the whole grid would not fit the limit.
    # Besides the table, a call holds one piece of each lazy axis listed.
    listed = max(b.axis_bytes for b in p.blocks)
    most = sum(b.points for b in p.blocks) * p.row_bytes + listed
    if limit is None and most > SMALL_TABLE:  # reading /proc/meminfo costs more than a small sweep
        limit = available_memory() // 2
    if limit is not None and most > limit:
        total = sum(p.rows(b, check=False) for b in p.blocks)
        need = total * p.row_bytes + listed
        if need > limit:
            raise SweepTooLargeError(
                f"the sweep would return {total:,} rows taking {need:,} bytes, over max_bytes={limit:,}; "
                "narrow the axes, pass budget= to keep only the rows that fit, write it with sweep_to_file, "
                "or raise max_bytes"
            )
    frames = [p.build(piece) for b in p.blocks for piece in b.pieces()]
    return pl.concat(frames, how="vertical", rechunk=False)


def count_fitting(
    layer: Any,
    n_features: Any = None,
    n_units: Any = None,
    *,
    convention: Any = None,
    quantity: Any = None,
    budget: Any = None,
    backend: str = "auto",
    **arguments: Any,
) -> int:
    """How many rows ``sweep`` would return with the same arguments (with a
    budget: how many configurations fit), counted without storing any row.
    Grids far larger than memory are fine."""
    p = plan(layer, convention, quantity, budget, backend, sizes_given(n_features, n_units, arguments))
    return sum(p.rows(b) for b in p.blocks)


__all__ = ["count_fitting", "sweep"]
