"""Layers for :class:`archsweep.Model`, named as in Keras.

Positional arguments follow each Keras constructor (``Dense(units)``,
``Conv2D(filters, kernel)``, ``Embedding(input_dim, output_dim)``,
``MaxPooling2D(pool_size)``, ``Bidirectional(layer)``); keywords use
archsweep's vocabulary (``bias``, ``strides``, ``padding``, ``dilation``,
``groups``, ``return_sequences``, ``reset_after``, ``merge``). Any argument may
be an :func:`archsweep.choice`.

A layer is a specification: its arguments are checked, and its output shape
inferred, when a :class:`~archsweep.Model` uses it, so errors can name the
layer's index. Shapes leave out the batch axis; ``None`` is an unknown length.
Parameter counts of Dense, conv and recurrent layers come from archsweep's
formulas (:func:`archsweep.count_params`); a layer here only says which count
it needs (:class:`Count`).
"""

from __future__ import annotations

import inspect
import math
import numbers
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ._args import scalar_size
from ._errors import ArgumentTypeError, InvalidArgumentError

Shape = tuple[int | None, ...]

__all__ = [
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
    "Activation", "Bidirectional", "Conv1D", "Conv2D", "Conv3D", "Dense", "Dropout", "Embedding", "Flatten",
    "GRU", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalAvgPool1D",
    "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "LSTM", "Layer", "MaxPool1D", "MaxPool2D",
    "MaxPool3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "ReLU", "SimpleRNN",
]  # fmt: skip


class Incompatible(Exception):
    """A layer that cannot follow its input (a shape, or arguments that
    exclude each other). A concrete model reports it as an
    InvalidArgumentError naming the layer; a model space leaves that
    architecture out."""

    #: The layer refused, where the refusal is about its arguments alone.
    layer: Layer | None = None


class Count(NamedTuple):
    """The :func:`archsweep.count_params` call that gives a layer's count."""

    layer: str
    n_features: int
    n_units: int
    options: tuple[tuple[str, Any], ...] = ()


# -- argument checks: each returns the normalized value or raises ------------------------------------------------


def _size(name: str, value: Any) -> int:
    return scalar_size(name, value, minimum=1)


def _dims(name: str, value: Any, rank: int) -> tuple[int, ...]:
    """An int (the same in every dimension, as Keras reads it) or one entry per dimension."""
    if isinstance(value, (tuple, list)):
        if len(value) != rank:
            raise InvalidArgumentError(f"{name} must be an int or {rank} ints (one per dimension), got {value!r}")
        return tuple(_size(f"{name}[{i}]", v) for i, v in enumerate(value))
    return (_size(name, value),) * rank


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be True or False, got {value!r}")
    return value


def _one_of(name: str, value: Any, allowed: tuple[str, ...], note: str = "") -> str:
    if not isinstance(value, str) or value.lower() not in allowed:
        raise InvalidArgumentError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}{note}")
    return value.lower()


def _known(shape: Shape, what: str) -> int:
    if shape[-1] is None:
        raise Incompatible(f"{what} needs a known last axis (features), got input shape {_show(shape)}")
    return shape[-1]


def _rank(shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        raise Incompatible(f"{what}; got input shape {_show(shape)}")


def _show(shape: Shape) -> str:
    """A shape as Keras prints it, batch axis included: (None, 28, 28, 1)."""
    return str((None, *shape))


def _spatial(what: str, shape: Shape, window: tuple[int, ...], strides: tuple[int, ...],
             dilation: tuple[int, ...], padding: str) -> Shape:  # fmt: skip
    """Output lengths of a sliding window, as Keras computes them: ``valid``
    keeps the positions where the (dilated) window fits, ``same`` and
    ``causal`` every ``stride``-th one."""
    lengths = shape[:-1]
    if padding != "valid":
        return tuple(None if n is None else (n - 1) // s + 1 for n, s in zip(lengths, strides))
    spans = tuple(d * (k - 1) + 1 for k, d in zip(window, dilation))
    if any(n is not None and n < span for n, span in zip(lengths, spans)):
        dilated = f" with dilation {dilation} spans {spans}, which" if spans != window else ""
        raise Incompatible(
            f"{what} {window}{dilated} is larger than its input {lengths} under padding='valid'; "
            f"input shape {_show(shape)}"
        )
    return tuple(None if n is None else (n - span) // s + 1 for n, span, s in zip(lengths, spans, strides))


# -- the base class ----------------------------------------------------------------------------------------------


def value_key(value: Any) -> Any:
    """What makes two argument values (or choice options) the same, as a
    hashable key: equal numbers are one value whatever their type (``3``,
    ``3.0``, ``np.int64(3)``, ``Fraction(3)``: Python hashes equal numbers
    alike), a bool is not a number (``True`` is not ``1``), tuples, lists and
    arrays go element by element, layers by class and arguments. Raises
    TypeError for a value that cannot be hashed."""
    if isinstance(value, (bool, np.bool_)):
        return ("bool", bool(value))
    if isinstance(value, numbers.Number):
        hash(value)  # a signalling Decimal NaN cannot be
        return ("number", value)
    if isinstance(value, (tuple, list, np.ndarray)):
        return ("sequence", tuple(value_key(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)))
    if isinstance(value, Layer):
        return ("layer", type(value), tuple((name, value_key(v)) for name, v in value._args.items()))
    hash(value)
    return ("value", value)


# -- the base class ----------------------------------------------------------------------------------------------


class Layer:
    """A layer specification: its constructor's arguments, which may hold choices."""

    #: The Keras class name, shown by ``Model.summary()``.
    keras_type: ClassVar[str]

    def __init__(self, **args: Any) -> None:
        self._args = args

    @property
    def args(self) -> dict[str, Any]:
        """The arguments, by name, as given."""
        return dict(self._args)

    def replace(self, **changes: Any) -> Layer:
        """A copy with some arguments replaced."""
        new = object.__new__(type(self))
        new._args = {**self._args, **changes}
        return new

    def __repr__(self) -> str:
        params = list(inspect.signature(type(self).__init__).parameters.values())[1:]
        parts = []
        for p in params:
            value = self._args[p.name]
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty:
                parts.append(repr(value))
            elif p.default is p.empty or not (type(value) is type(p.default) and value == p.default):
                parts.append(f"{p.name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return False
        try:
            return bool(value_key(self) == value_key(other))
        except TypeError:  # an argument that cannot be hashed: compared as it is
            return self._args == other._args  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(value_key(self))

    def normalized(self) -> Layer:
        """The same layer with every argument checked and in canonical form
        (kernel tuples, lower-case names). Raises InvalidArgumentError or
        ArgumentTypeError naming the argument; :class:`Incompatible` for
        arguments that exclude each other."""
        return self.replace(**self._check())

    def _check(self) -> dict[str, Any]:
        return {}

    def infer(self, shape: Shape) -> tuple[Shape, Count | int]:
        """The output shape for input ``shape`` and the count (a number, or
        the count_params call that gives it). Call on a normalized layer.
        Raises :class:`Incompatible` when the layer cannot take ``shape``."""
        return shape, 0


# -- Dense and Embedding -----------------------------------------------------------------------------------------


class Dense(Layer):
    """``Dense(units)``: acts on the last axis and keeps the others."""

    keras_type = "Dense"

    def __init__(self, units: Any, *, bias: Any = True) -> None:
        super().__init__(units=units, bias=bias)

    def _check(self) -> dict[str, Any]:
        return {"units": _size("units", self._args["units"]), "bias": _flag("bias", self._args["bias"])}

    def infer(self, shape: Shape) -> tuple[Shape, Count | int]:
        a = self._args
        return (*shape[:-1], a["units"]), Count("dense", _known(shape, "Dense"), a["units"], (("bias", a["bias"]),))


class Embedding(Layer):
    """``Embedding(input_dim, output_dim)``: adds a last axis of ``output_dim``."""

    keras_type = "Embedding"

    def __init__(self, input_dim: Any, output_dim: Any) -> None:
        super().__init__(input_dim=input_dim, output_dim=output_dim)

    def _check(self) -> dict[str, Any]:
        return {"input_dim": _size("input_dim", self._args["input_dim"]),
                "output_dim": _size("output_dim", self._args["output_dim"])}  # fmt: skip

    def infer(self, shape: Shape) -> tuple[Shape, Count | int]:
        # The one formula archsweep's cores do not hold: a lookup table.
        return (*shape, self._args["output_dim"]), self._args["input_dim"] * self._args["output_dim"]


# -- convolutions ------------------------------------------------------------------------------------------------


class _Conv(Layer):
    rank: ClassVar[int]

    def __init__(self, filters: Any, kernel: Any, *, strides: Any = 1, padding: Any = "valid", dilation: Any = 1,
                 groups: Any = 1, bias: Any = True) -> None:  # fmt: skip
        super().__init__(filters=filters, kernel=kernel, strides=strides, padding=padding, dilation=dilation,
                         groups=groups, bias=bias)  # fmt: skip

    def _check(self) -> dict[str, Any]:
        a, rank = self._args, self.rank
        paddings = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
        out: dict[str, Any] = {
            "filters": _size("filters", a["filters"]),
            "kernel": _dims("kernel", a["kernel"], rank),
            "strides": _dims("strides", a["strides"], rank),
            "padding": _one_of("padding", a["padding"], paddings, "" if rank == 1 else " ('causal' is for Conv1D)"),
            "dilation": _dims("dilation", a["dilation"], rank),
            "groups": _size("groups", a["groups"]),
            "bias": _flag("bias", a["bias"]),
        }
        if max(out["strides"]) > 1 and max(out["dilation"]) > 1:
            raise Incompatible(
                f"strides > 1 cannot be combined with dilation > 1 (as in Keras), got strides={a['strides']!r} "
                f"and dilation={a['dilation']!r}"
            )
        if out["filters"] % out["groups"]:
            raise Incompatible(f"groups={out['groups']} must divide filters={out['filters']}")
        return out

    def infer(self, shape: Shape) -> tuple[Shape, Count | int]:
        a, rank, name = self._args, self.rank, self.keras_type
        axes = ("steps", "height, width", "depth, height, width")[rank - 1]
        _rank(shape, rank + 1, f"{name} needs an input of rank {rank + 1} ({axes}, channels)")
        channels = _known(shape, name)
        if channels % a["groups"]:
            raise Incompatible(f"groups={a['groups']} must divide the input channels, got input shape {_show(shape)}")
        spatial = _spatial("kernel", shape, a["kernel"], a["strides"], a["dilation"], a["padding"])
        count = Count(f"conv{rank}d", channels, a["filters"],
                      (("kernel", a["kernel"]), ("bias", a["bias"]), ("groups", a["groups"])))  # fmt: skip
        return (*spatial, a["filters"]), count


class Conv1D(_Conv):
    """``Conv1D(filters, kernel, strides=1, padding="valid"|"same"|"causal", dilation=1, groups=1, bias=True)``."""

    keras_type, rank = "Conv1D", 1


class Conv2D(_Conv):
    """``Conv2D(filters, kernel, strides=1, padding="valid"|"same", dilation=1, groups=1, bias=True)``."""

    keras_type, rank = "Conv2D", 2


class Conv3D(_Conv):
    """``Conv3D(filters, kernel, strides=1, padding="valid"|"same", dilation=1, groups=1, bias=True)``."""

    keras_type, rank = "Conv3D", 3


# -- recurrent layers --------------------------------------------------------------------------------------------


class _Recurrent(Layer):
    kind: ClassVar[str]

    def __init__(self, units: Any, *, bias: Any = True, return_sequences: Any = False) -> None:
        super().__init__(units=units, bias=bias, return_sequences=return_sequences)

    def _check(self) -> dict[str, Any]:
        a = self._args
        return {"units": _size("units", a["units"]), "bias": _flag("bias", a["bias"]),
                "return_sequences": _flag("return_sequences", a["return_sequences"])}  # fmt: skip

    def _options(self) -> tuple[tuple[str, Any], ...]:
        return (("bias", self._args["bias"]),)

    def infer(self, shape: Shape) -> tuple[Shape, Count | int]:
        a = self._args
        _rank(shape, 2, f"{self.keras_type} needs an input of rank 2 (time steps, features)")
        count = Count(self.kind, _known(shape, self.keras_type), a["units"], self._options())
        return ((shape[0], a["units"]) if a["return_sequences"] else (a["units"],)), count


class SimpleRNN(_Recurrent):
    """``SimpleRNN(units, bias=True, return_sequences=False)``."""

    keras_type, kind = "SimpleRNN", "rnn"


class LSTM(_Recurrent):
    """``LSTM(units, bias=True, return_sequences=False)``."""

    keras_type, kind = "LSTM", "lstm"


class GRU(_Recurrent):
    """``GRU(units, bias=True, return_sequences=False, reset_after=None)`` (None: Keras' default, True)."""

    keras_type, kind = "GRU", "gru"

    def __init__(self, units: Any, *, bias: Any = True, return_sequences: Any = False, reset_after: Any = None) -> None:
        Layer.__init__(self, units=units, bias=bias, return_sequences=return_sequences, reset_after=reset_after)

    def _check(self) -> dict[str, Any]:
        ra = self._args["reset_after"]
        return {**super()._check(), "reset_after": None if ra is None else _flag("reset_after", ra)}

    def _options(self) -> tuple[tuple[str, Any], ...]:
        ra = self._args["reset_after"]
        return super()._options() + ((("reset_after", ra),) if ra is not None else ())


class Bidirectional(Layer):
    """``Bidirectional(layer, merge="concat"|"sum"|"mul"|"ave")`` around a SimpleRNN, LSTM or GRU:
    twice the layer's count; ``concat`` doubles its output width."""

    keras_type = "Bidirectional"

    def __init__(self, layer: Any, *, merge: Any = "concat") -> None:
        super().__init__(layer=layer, merge=merge)

    def _check(self) -> dict[str, Any]:
        inner = self._args["layer"]
        if not isinstance(inner, _Recurrent):
            raise ArgumentTypeError(f"layer must be a SimpleRNN, LSTM or GRU, got {inner!r}")
        try:
            inner = inner.normalized()
        except (InvalidArgumentError, ArgumentTypeError) as exc:
            raise type(exc)(f"layer.{exc}") from None
        return {"layer": inner, "merge": _one_of("merge", self._args["merge"], ("concat", "sum", "mul", "ave"))}

    def infer(self, shape: Shape) -> tuple[Shape, Count | int]:
        out, count = self._args["layer"].infer(shape)
        assert isinstance(count, Count)
        if self._args["merge"] == "concat":
            out = (*out[:-1], 2 * out[-1])  # type: ignore[operator]
        return out, count._replace(options=count.options + (("bidirectional", True),))


# -- pooling -----------------------------------------------------------------------------------------------------


class _Pooling(Layer):
    rank: ClassVar[int]

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: Any = "valid") -> None:
        super().__init__(pool_size=pool_size, strides=strides, padding=padding)

    def _check(self) -> dict[str, Any]:
        a = self._args
        pool = _dims("pool_size", a["pool_size"], self.rank)
        strides = pool if a["strides"] is None else _dims("strides", a["strides"], self.rank)
        return {"pool_size": pool, "strides": strides, "padding": _one_of("padding", a["padding"], ("valid", "same"))}

    def infer(self, shape: Shape) -> tuple[Shape, Count | int]:
        a, rank = self._args, self.rank
        _rank(shape, rank + 1, f"{self.keras_type} needs an input of rank {rank + 1} (spatial axes, channels)")
        ones = (1,) * rank
        return (*_spatial("pool_size", shape, a["pool_size"], a["strides"], ones, a["padding"]), shape[-1]), 0


class _GlobalPooling(Layer):
    rank: ClassVar[int]

    def __init__(self, *, keepdims: Any = False) -> None:
        super().__init__(keepdims=keepdims)

    def _check(self) -> dict[str, Any]:
        return {"keepdims": _flag("keepdims", self._args["keepdims"])}

    def infer(self, shape: Shape) -> tuple[Shape, Count | int]:
        rank = self.rank
        _rank(shape, rank + 1, f"{self.keras_type} needs an input of rank {rank + 1} (spatial axes, channels)")
        return ((1,) * rank if self._args["keepdims"] else ()) + (shape[-1],), 0


def _pooling(base: type, name: str, rank: int) -> type:
    args = "pool_size=2, strides=pool_size, padding='valid'" if base is _Pooling else "keepdims=False"
    return type(name, (base,), {"keras_type": name, "rank": rank, "__doc__": f"``{name}({args})``.",
                                "__module__": __name__})  # fmt: skip


MaxPooling1D = _pooling(_Pooling, "MaxPooling1D", 1)
MaxPooling2D = _pooling(_Pooling, "MaxPooling2D", 2)
MaxPooling3D = _pooling(_Pooling, "MaxPooling3D", 3)
AveragePooling1D = _pooling(_Pooling, "AveragePooling1D", 1)
AveragePooling2D = _pooling(_Pooling, "AveragePooling2D", 2)
AveragePooling3D = _pooling(_Pooling, "AveragePooling3D", 3)
GlobalMaxPooling1D = _pooling(_GlobalPooling, "GlobalMaxPooling1D", 1)
GlobalMaxPooling2D = _pooling(_GlobalPooling, "GlobalMaxPooling2D", 2)
GlobalMaxPooling3D = _pooling(_GlobalPooling, "GlobalMaxPooling3D", 3)
GlobalAveragePooling1D = _pooling(_GlobalPooling, "GlobalAveragePooling1D", 1)
GlobalAveragePooling2D = _pooling(_GlobalPooling, "GlobalAveragePooling2D", 2)
GlobalAveragePooling3D = _pooling(_GlobalPooling, "GlobalAveragePooling3D", 3)
# Keras' aliases: the same classes.
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalAvgPool3D = GlobalAveragePooling3D


# -- shape-only layers -------------------------------------------------------------------------------------------


class Flatten(Layer):
    """``Flatten()``: one axis, the product of all of them (unknown if any is)."""

    keras_type = "Flatten"

    def __init__(self) -> None:
        super().__init__()

    def infer(self, shape: Shape) -> tuple[Shape, Count | int]:
        return (None if None in shape else math.prod(shape),), 0  # type: ignore[arg-type]


class Dropout(Layer):
    """``Dropout(rate)``: no parameters, the shape unchanged."""

    keras_type = "Dropout"

    def __init__(self, rate: Any) -> None:
        super().__init__(rate=rate)

    def _check(self) -> dict[str, Any]:
        rate = self._args["rate"]
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= float(rate) <= 1:
            raise InvalidArgumentError(f"rate must be a number between 0 and 1, got {rate!r}")
        return {}


class Activation(Layer):
    """``Activation(activation)``: no parameters, the shape unchanged."""

    keras_type = "Activation"

    def __init__(self, activation: Any) -> None:
        super().__init__(activation=activation)

    def _check(self) -> dict[str, Any]:
        if not isinstance(self._args["activation"], str):
            raise ArgumentTypeError(f"activation must be a name such as 'relu', got {self._args['activation']!r}")
        return {}


class ReLU(Layer):
    """``ReLU()``: no parameters, the shape unchanged."""

    keras_type = "ReLU"

    def __init__(self) -> None:
        super().__init__()
