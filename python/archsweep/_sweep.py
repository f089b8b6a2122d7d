"""``sweep``: the table of counts over the cartesian product of the axes.

Rows come layer kind by layer kind (in the order given); within a kind,
the axes that apply to it form a cartesian product in signature order,
the last varying fastest: n_features, n_units, kernel, bias,
bidirectional, convention, reset_after, groups. Each kind is one call into
the core over an open mesh (one array axis per sweep axis), which filters
(groups that do not divide, the budget) and writes only the rows it keeps.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from . import _args, _bisect
from ._axis import Chain, count_at_most, extremes, multiples, size, take
from ._backend import KERNEL_ERRORS, core, raise_kernel_error
from ._errors import ArgumentTypeError, InvalidArgumentError, ParamOverflowError, SweepTooLargeError
from ._names import CONV_RANK, CONVENTIONS, FIELDS, LAYERS, RECURRENT, convention_name, layer_name

LAYER_DTYPE = pl.Enum(list(LAYERS))
CONVENTION_DTYPE = pl.Enum(list(CONVENTIONS))
COLUMNS = ("layer", *FIELDS, "params")
_UNSIGNED = ((2**8 - 1, pl.UInt8), (2**16 - 1, pl.UInt16), (2**32 - 1, pl.UInt32), (2**64 - 1, pl.UInt64))
_FLAGS = frozenset({"bias", "bidirectional", "reset_after"})
# A size axis longer than this stays lazy (a Chain of ranges) and is listed
# a piece at a time: 8M values are 64 MB of int64.
AXIS_PIECE = 1 << 23
# The mesh axis each field varies along.
_AXIS = {"n_features": 0, "n_units": 1, "kernel_d": 2, "kernel_h": 2, "kernel_w": 2, "bias": 3,
         "bidirectional": 4, "convention": 5, "reset_after": 5, "groups": 6}  # fmt: skip


def narrowest(values: Any) -> pl.DataType:
    """The narrowest unsigned integer type holding every (positive) value."""
    top = max(values, default=1)
    return next(dtype for limit, dtype in _UNSIGNED if top <= limit)


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


def _size_axis(name: str, value: Any) -> np.ndarray:
    """A size axis: ``_args.sizes`` (count_params' rule), flattened."""
    axis = _args.sizes(name, value).reshape(-1)
    if axis.size == 0:
        raise InvalidArgumentError(f"{name} is empty; give at least one value")
    return axis


def _flag_axis(name: str, value: Any) -> list[bool]:
    """A flag axis: ``_args.flags`` (count_params' rule), flattened."""
    axis = [bool(x) for x in _args.flags(name, value).reshape(-1)]
    if not axis:
        raise InvalidArgumentError(f"{name} is empty; give True, False or both")
    return axis


def _kernel_axis(value: Any) -> list[int | tuple[int, ...]] | None:
    """The kernels of a sweep, read by ``_args.kernels`` (count_params' rule)
    and flattened: an int per square kernel, a tuple per kernel of given
    rank (a tuple holding arrays is the broadcast of its entries)."""
    if value is None:
        return None
    read = _args.kernels(value)
    kernels: list[int | tuple[int, ...]] = []
    for k in read if isinstance(read, list) else [read]:
        columns = [d.reshape(-1).tolist() for d in k.sizes]
        kernels += columns[0] if k.rank == 0 else list(zip(*columns))
    if not kernels:
        raise InvalidArgumentError("kernel is empty; give at least one value")
    return kernels


@dataclass
class _Block:
    """One layer kind's part of the sweep: its mesh and what each axis holds."""

    layer: str
    kernels: list[tuple[int, int, int]]  # (d, h, w), 1 where the layer has no such dimension
    bias: list[bool]
    bidirectional: list[bool]
    variants: list[tuple[str, bool | None]]  # (convention, reset_after shown in the table)
    groups: list[int]
    n_features: np.ndarray | Chain  # a Chain only when longer than AXIS_PIECE
    n_units: np.ndarray | Chain

    @property
    def shape(self) -> tuple[int, ...]:
        return (size(self.n_features), size(self.n_units), len(self.kernels), len(self.bias),
                len(self.bidirectional), len(self.variants), len(self.groups))  # fmt: skip

    @property
    def points(self) -> int:
        return math.prod(self.shape)

    @property
    def axis_bytes(self) -> int:
        """What listing the block's size axes costs: a piece of each at most."""
        return 8 * (min(size(self.n_features), AXIS_PIECE) + min(size(self.n_units), AXIS_PIECE))

    def pieces(self) -> Iterator[_Block]:
        """The block as sub-blocks with listed size axes of at most
        AXIS_PIECE values each, in grid order (n_features outermost), so
        their rows, one piece after another, are the block's rows."""
        n_f, n_u = size(self.n_features), size(self.n_units)
        for f0 in range(0, n_f, AXIS_PIECE):
            features = take(self.n_features, f0, min(f0 + AXIS_PIECE, n_f))
            if n_u <= AXIS_PIECE:
                yield dataclasses.replace(self, n_features=features, n_units=take(self.n_units, 0, n_u))
                continue
            # A long n_units axis: one n_features value at a time keeps grid order.
            for i in range(len(features)):
                for u0 in range(0, n_u, AXIS_PIECE):
                    units = take(self.n_units, u0, min(u0 + AXIS_PIECE, n_u))
                    yield dataclasses.replace(self, n_features=features[i : i + 1], n_units=units)

    def operands(self) -> list[np.ndarray]:
        """The ten formula inputs as an open mesh over ``shape`` (of a block
        whose size axes are listed: a piece)."""
        assert not isinstance(self.n_features, Chain) and not isinstance(self.n_units, Chain)

        def along(axis: int, values: Any) -> np.ndarray:
            shape = [1] * 7
            shape[axis] = -1
            return np.asarray(values, dtype=np.int64).reshape(shape)

        kernels = np.asarray(self.kernels, dtype=np.int64)
        return [
            along(0, self.n_features), along(1, self.n_units),
            along(2, kernels[:, 0]), along(2, kernels[:, 1]), along(2, kernels[:, 2]),
            along(3, self.bias), along(4, self.bidirectional),
            along(5, [CONVENTIONS.index(c) for c, _ in self.variants]),
            along(5, [bool(r) for _, r in self.variants]),
            along(6, self.groups),
        ]  # fmt: skip

    def is_null(self, field: str) -> bool:
        """Whether ``field`` does not apply to this layer kind (null in the table)."""
        rank = CONV_RANK.get(self.layer, 0)
        if field.startswith("kernel_"):
            return "dhw".index(field[-1]) < 3 - rank
        if field == "groups":
            return rank == 0
        if field == "bidirectional":
            return self.layer not in RECURRENT
        if field == "reset_after":
            return all(r is None for _, r in self.variants)
        return False

    def value(self, field: str) -> Any:
        """The value of ``field`` on every row, when its axis has one value."""
        if field.startswith("kernel_"):
            return self.kernels[0]["dhw".index(field[-1])]
        if field in ("convention", "reset_after"):
            return self.variants[0][field == "reset_after"]
        return {"n_features": self.n_features, "n_units": self.n_units, "bias": self.bias,
                "bidirectional": self.bidirectional, "groups": self.groups}[field][0]  # fmt: skip


def _blocks(layers, n_features, n_units, kernels, bias, bidirectional, conventions, reset_after, groups):
    """The blocks of a sweep, refusing any axis value that applies to no row."""
    conv_layers = [layer for layer in layers if layer in CONV_RANK]
    if kernels is not None and not conv_layers:
        raise InvalidArgumentError(f"kernel applies only to conv layers; the sweep has none ({', '.join(layers)})")
    for k in kernels or ():
        if isinstance(k, tuple) and all(CONV_RANK[c] != len(k) for c in conv_layers):
            raise InvalidArgumentError(
                f"kernel {k!r} has {len(k)} entries, which fits none of the sweep's conv layers "
                f"({', '.join(conv_layers)})"
            )
    for g in groups:
        if g == 1:
            continue
        if not conv_layers:
            raise InvalidArgumentError(f"groups applies only to conv layers; the sweep has none ({', '.join(layers)})")
        if not (size(multiples(n_features, g)) and size(multiples(n_units, g))):
            raise InvalidArgumentError(f"groups={g} divides no pair of n_features and n_units in the sweep")
    if True in bidirectional and not RECURRENT.intersection(layers):
        raise InvalidArgumentError("bidirectional=True applies only to rnn, lstm and gru; the sweep has none")
    if reset_after != [None] and not ("gru" in layers and "keras" in conventions):
        raise InvalidArgumentError(
            "reset_after applies only to a Keras GRU (layer 'gru' with convention 'keras'); the sweep has none"
        )
    if reset_after != [None] and None in reset_after:
        raise ArgumentTypeError("reset_after must be None, a bool, or a collection of bools")

    blocks = []
    for layer in layers:
        rank = CONV_RANK.get(layer)
        if rank is None:
            layer_kernels = [(1, 1, 1)]
        else:
            if kernels is None:
                raise InvalidArgumentError(f"kernel is required for {layer}: an int (square) or a tuple of {rank}")
            layer_kernels = [
                (1,) * (3 - rank) + (k if isinstance(k, tuple) else (k,) * rank)
                for k in kernels
                if not isinstance(k, tuple) or len(k) == rank
            ]
            if not layer_kernels:
                raise InvalidArgumentError(f"no kernel in the sweep has the {rank} entries {layer} takes")
        variants: list[tuple[str, bool | None]] = []
        for c in conventions:
            if layer == "gru" and c == "keras":
                variants += [(c, True if r is None else r) for r in reset_after]
            else:
                variants.append((c, None))
        blocks.append(
            _Block(
                layer, layer_kernels, bias,
                bidirectional if layer in RECURRENT else [False],
                variants,
                groups if rank else [1],
                n_features, n_units,
            )
        )  # fmt: skip
    return blocks


def _schema(blocks: list[_Block]) -> dict[str, pl.DataType]:
    """Column types for the whole table: the narrowest that hold every value."""
    kernels = [k for b in blocks if b.layer in CONV_RANK for k in b.kernels]
    conv = [b for b in blocks if b.layer in CONV_RANK]
    return {
        "layer": LAYER_DTYPE,
        "n_features": narrowest([extremes(blocks[0].n_features)[1]]),
        "n_units": narrowest([extremes(blocks[0].n_units)[1]]),
        "kernel_d": narrowest(k[0] for k in kernels),
        "kernel_h": narrowest(k[1] for k in kernels),
        "kernel_w": narrowest(k[2] for k in kernels),
        "bias": pl.Boolean,
        "bidirectional": pl.Boolean,
        "convention": CONVENTION_DTYPE,
        "reset_after": pl.Boolean,
        "groups": narrowest(g for b in conv for g in b.groups),
        "params": pl.Int64,
    }


def _itemsize(dtype: pl.DataType) -> int:
    if dtype == pl.Boolean or isinstance(dtype, pl.Enum):
        return 1
    return {pl.UInt8: 1, pl.UInt16: 2, pl.UInt32: 4, pl.UInt64: 8, pl.Int64: 8}[dtype]


def _conventions(codes: pl.Series) -> pl.Series:
    """Convention codes (indexes into CONVENTIONS) as the Enum column."""
    return pl.Series(list(CONVENTIONS), dtype=CONVENTION_DTYPE).gather(codes)


def _keras_reset_after(reset_after: pl.Series, convention: pl.Series) -> pl.Series:
    """Only Keras GRU rows have a reset_after; a GRU block's other conventions show null."""
    return pl.select(pl.when(convention == "keras").then(reset_after)).to_series()


def _build_block(block: _Block, plan: _Plan, points: range | None = None) -> pl.DataFrame:
    """Runs the core over one block (or the grid points ``points`` of it) and
    wraps its output columns as polars Series without copying them."""
    schema = plan.schema
    varying = [f for f in FIELDS if not block.is_null(f) and block.shape[_AXIS[f]] > 1]
    if "reset_after" in varying and "convention" not in varying:
        varying.append("convention")  # needed to tell Keras rows (shown) from the rest (null)
    shape, operands = block.shape, block.operands()
    columns = [(FIELDS.index(f), _itemsize(schema[f])) for f in varying]
    span = (0, None) if points is None else (points.start, points.stop)
    try:
        params, arrays = plan.module.sweep_fill(LAYERS.index(block.layer), shape, operands, plan.budget, columns, *span)
    except KERNEL_ERRORS as exc:
        raise_kernel_error(exc, block.layer, shape, operands)
    buffers = dict(zip(varying, arrays))

    # Columns that vary come from the core's buffers without a copy; the rest
    # are constant (or null) over the block and stay polars scalar columns,
    # which take no memory per row.
    series: dict[str, pl.Series] = {}
    constants = [pl.lit(block.layer, dtype=LAYER_DTYPE).alias("layer")]
    for field in FIELDS:
        dtype = schema[field]
        if block.is_null(field):
            constants.append(pl.lit(None, dtype=dtype).alias(field))
        elif field not in varying:
            constants.append(pl.lit(block.value(field), dtype=dtype).alias(field))
        elif field == "convention":
            series[field] = _conventions(pl.Series(buffers[field]))
        elif field in _FLAGS:
            series[field] = pl.Series(buffers[field].view(np.bool_))
        else:
            series[field] = pl.Series(buffers[field].view(f"u{_itemsize(dtype)}"))
    if "reset_after" in varying:
        series["reset_after"] = _keras_reset_after(series["reset_after"], series["convention"])
    series["params"] = pl.Series(params)
    frame = pl.DataFrame([s.alias(name) for name, s in series.items()])
    return frame.with_columns(constants).select(COLUMNS)


@dataclass
class _Plan:
    """A validated sweep: its blocks, the core that runs them, the budget and
    the table's schema."""

    module: Any
    blocks: list[_Block]
    budget: int | None
    schema: dict[str, pl.DataType]

    def rows(self, block: _Block, *, check: bool = True) -> int:
        """Rows the block keeps, counted without storing any. Without a
        budget every point is a row (but those whose groups do not divide);
        ``check`` then also raises ``ParamOverflowError`` where ``sweep``
        would, at the same point."""
        if self.budget is None and all(g == 1 for g in block.groups):
            if not check:
                return block.points
            # Counts grow with both sizes: if none overflows at their largest
            # values, none does anywhere. Otherwise the full count below
            # raises at the first point that does, as sweep would.
            corner = dataclasses.replace(block, n_features=np.asarray([extremes(block.n_features)[1]]),
                                         n_units=np.asarray([extremes(block.n_units)[1]]))  # fmt: skip
            try:
                self._count(corner)
                return block.points
            except ParamOverflowError:
                pass
        return sum(self._count(piece) for piece in block.pieces())

    def _count(self, piece: _Block) -> int:
        shape, operands = piece.shape, piece.operands()
        try:
            return self.module.sweep_count(LAYERS.index(piece.layer), shape, operands, self.budget, 0, piece.points)
        except KERNEL_ERRORS as exc:
            raise_kernel_error(exc, piece.layer, shape, operands)

    @property
    def row_bytes(self) -> int:
        return sum(_itemsize(dtype) for dtype in self.schema.values())


def _size_values(name: str, value: Any) -> np.ndarray | Chain:
    """A size axis as an array, or, when it is a long range or Chain, still
    lazy: checked by its extremes (which bound every value), never listed."""
    chain = Chain.of(value)
    if chain is None:
        return _size_axis(name, value)
    checked_chain(name, chain)
    return chain if chain.size > AXIS_PIECE else chain.take(0, chain.size)


def checked_chain(name: str, chain: Chain) -> None:
    """Refuses an empty chain, or one with a value out of range: its extremes
    bound every value, so they are checked without listing any."""
    if not chain:
        raise InvalidArgumentError(f"{name} is empty; give at least one value")
    _args.sizes(name, list(chain.extremes()))


def _trimmed(block: _Block, budget: int, module: Any) -> _Block:
    """``block`` without the values of its lazy, ascending size axes that
    fit the budget nowhere: they would add no row. A count never decreases
    as a size grows (see ``_bisect``), so the largest value that fits at the
    other axis' smallest valid value, for any combination of the options,
    bounds every value that fits at all."""
    for name, other in (("n_features", "n_units"), ("n_units", "n_features")):
        values = getattr(block, name)
        if not (isinstance(values, Chain) and values.is_sorted):
            continue
        others = getattr(block, other)
        # For each groups value its smallest valid size on the other axis.
        least = sorted({int(extremes(m)[0]) for g in block.groups if size(m := multiples(others, g))})
        probe = dataclasses.replace(block, **{name: np.ones(1, dtype=np.int64), other: np.asarray(least or [1])})
        fields, _ = _bisect.largest(probe, name, values, budget, module)
        top = fields[FIELDS.index(name)]
        keep = count_at_most(values, int(top.max())) if top.size else 0
        prefix = values.prefix(max(keep, 1))  # one value keeps the block's shape; it fits nowhere
        listed = prefix if prefix.size > AXIS_PIECE else prefix.take(0, prefix.size)
        block = dataclasses.replace(block, **{name: listed})
    return block


def _sweepable(name: Any) -> str:
    """A seed kind's name; a kind of the registry that sweeps do not take yet is refused saying so."""
    from . import _kinds

    kind = _kinds.find(name) if isinstance(name, str) else None
    if kind is not None and kind.name not in LAYERS:
        raise InvalidArgumentError(
            f"layer {name!r}: sweep, count_fitting, search and plot take {', '.join(LAYERS)} for now; "
            f"count {kind.name} with asw.count, or in an asw.Model"
        )
    return layer_name(name, "layer")


def _validated_blocks(layer, n_features, n_units, kernel, bias, bidirectional, convention, reset_after, groups):
    """The sweep's blocks, every argument checked: one per layer kind and
    option values that change its formula."""
    layers = [_sweepable(x) for x in _collection(layer)]
    if not layers:
        raise InvalidArgumentError(f"layer is empty; give one or more of {', '.join(LAYERS)}")
    conventions = [convention_name(c) for c in _collection(convention)]
    if not conventions:
        raise InvalidArgumentError(f"convention is empty; give one or more of {', '.join(CONVENTIONS)}")
    return _blocks(
        layers,
        _size_values("n_features", n_features),
        _size_values("n_units", n_units),
        _kernel_axis(kernel),
        _flag_axis("bias", bias),
        _flag_axis("bidirectional", bidirectional),
        conventions,
        [None] if reset_after is None else _flag_axis("reset_after", _collection(reset_after)),
        [int(g) for g in _size_axis("groups", groups)],
    )


def _plan(layer, n_features, n_units, kernel, bias, bidirectional, convention, reset_after, groups, budget, backend):
    module = core(backend)
    blocks = _validated_blocks(layer, n_features, n_units, kernel, bias, bidirectional, convention, reset_after,
                               groups)  # fmt: skip
    budget = None if budget is None else _args.scalar_size("budget", budget, minimum=0)
    schema = _schema(blocks)  # typed by the axes as given, before trimming
    if budget is not None:
        blocks = [_trimmed(b, budget, module) for b in blocks]
    return _Plan(module, blocks, budget, schema)


def sweep(
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
    budget: Any = None,
    max_bytes: Any = None,
    backend: str = "auto",
) -> pl.DataFrame:
    """The parameter count of every configuration in the cartesian product of
    the arguments, as a polars DataFrame (see the module docstring for the row
    order and the README for the schema).

    ``budget=B`` keeps only rows with ``params <= B`` (filtered inside the
    core: rows that do not fit are never stored). ``max_bytes`` bounds the
    table (default: half the available memory); a larger sweep is refused
    before anything large is allocated. For tables larger than memory, see
    ``sweep_to_file``.
    """
    plan = _plan(layer, n_features, n_units, kernel, bias, bidirectional, convention, reset_after, groups,
                 budget, backend)  # fmt: skip
    limit = available_memory() // 2 if max_bytes is None else _args.scalar_size("max_bytes", max_bytes, minimum=1)
    # The kernel counts the rows it keeps before it allocates them; a separate
    # count pass is needed only when the whole grid would not fit the limit.
    # Besides the table, a call holds one piece of each size axis listed.
    listed = max(b.axis_bytes for b in plan.blocks)
    if sum(b.points for b in plan.blocks) * plan.row_bytes + listed > limit:
        total = sum(plan.rows(b, check=False) for b in plan.blocks)
        need = total * plan.row_bytes + listed
        if need > limit:
            raise SweepTooLargeError(
                f"the sweep would return {total:,} rows taking {need:,} bytes, over max_bytes={limit:,}; "
                "narrow the axes, pass budget= to keep only the rows that fit, write it with sweep_to_file, "
                "or raise max_bytes"
            )
    frames = [_build_block(piece, plan) for b in plan.blocks for piece in b.pieces()]
    return pl.concat(frames, how="vertical", rechunk=False)


def count_fitting(
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
    budget: Any = None,
    backend: str = "auto",
) -> int:
    """How many rows ``sweep`` would return with the same arguments (with a
    budget: how many configurations fit), counted without storing any row.
    Grids far larger than memory are fine."""
    plan = _plan(layer, n_features, n_units, kernel, bias, bidirectional, convention, reset_after, groups,
                 budget, backend)  # fmt: skip
    return sum(plan.rows(b) for b in plan.blocks)
