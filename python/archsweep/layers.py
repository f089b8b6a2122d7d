"""Layers for :class:`archsweep.Model`, named as in Keras.

Positional arguments follow each Keras constructor (``Dense(units)``,
``Conv2D(filters, kernel)``, ``Embedding(input_dim, output_dim)``,
``MaxPooling2D(pool_size)``, ``Bidirectional(layer)``,
``MultiHeadAttention(num_heads, key_dim)``); keywords use archsweep's
vocabulary (``bias``, ``strides``, ``padding``, ``dilation``, ``groups``,
``return_sequences``, ``reset_after``, ``merge``) and Keras' own names where
archsweep has no word of its own (``depth_multiplier``, ``output_padding``,
``center``, ``scale``, ``rms_scaling``, ``value_dim``, ``output_shape``). Any
argument may be an :func:`archsweep.choice`.

A layer is a specification: its arguments are checked, and its output shape
inferred, when a :class:`~archsweep.Model` uses it, so errors can name the
layer's index. Shapes leave out the batch axis; ``None`` is an unknown length.
A layer with weights says which kind of the registry (``_kinds``) it is and
with which argument values (:class:`Count`); the model evaluates the kind's
formula.
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
    "Activation", "BatchNormalization", "Bidirectional", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose",
    "Conv3D", "Conv3DTranspose", "Dense", "DepthwiseConv1D", "DepthwiseConv2D", "Dropout", "Embedding", "Flatten",
    "GRU", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalAvgPool1D",
    "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GroupNormalization", "LSTM", "Layer",
    "LayerNormalization", "MaxPool1D", "MaxPool2D", "MaxPool3D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "MultiHeadAttention", "RMSNormalization", "ReLU", "SeparableConv1D", "SeparableConv2D", "SimpleRNN",
    "TransformerEncoder", "TransformerEncoderLayer", "Residual", "Add", "Subtract", "Multiply", "Average", "Maximum", "Concatenate",
]  # fmt: skip


class Incompatible(Exception):
    """A layer that cannot follow its input (a shape, or arguments that
    exclude each other). A concrete model reports it as an
    InvalidArgumentError naming the layer; a model space leaves that
    architecture out."""

    #: The layer refused, where the refusal is about its arguments alone.
    layer: Layer | None = None


class Count(NamedTuple):
    """What gives a layer's count: its kind in the registry (``_kinds.BY_NAME``)
    and the values of the kind's arguments (sizes read off the input shape,
    options from the layer), checked and evaluated by the registry."""

    kind: str
    values: tuple[tuple[str, Any], ...]


def _count(kind: str, **values: Any) -> Count:
    return Count(kind, tuple(values.items()))


def _product(lengths: Shape) -> int | None:
    """The positions ``lengths`` hold (their product), or None when one is unknown: compute is unknown then."""
    total = 1
    for n in lengths:
        if n is None:
            return None
        total *= n
    return total


# -- argument checks: each returns the normalized value or raises ------------------------------------------------


def _size(name: str, value: Any, minimum: int = 1) -> int:
    if type(value) is int and value >= minimum:  # the common case, without scalar_size's general reading
        return value
    return scalar_size(name, value, minimum=minimum)


def _dims(name: str, value: Any, rank: int, minimum: int = 1) -> tuple[int, ...]:
    """An int (the same in every dimension, as Keras reads it) or one entry per dimension."""
    if isinstance(value, (tuple, list)):
        if len(value) != rank:
            raise InvalidArgumentError(f"{name} must be an int or {rank} ints (one per dimension), got {value!r}")
        return tuple(_size(f"{name}[{i}]", v, minimum) for i, v in enumerate(value))
    return (_size(name, value, minimum),) * rank


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


def _transposed(shape: Shape, kernel: tuple[int, ...], strides: tuple[int, ...], dilation: tuple[int, ...],
                padding: str, output_padding: tuple[int, ...] | None) -> Shape:  # fmt: skip
    """Output lengths of a transposed convolution, as Keras computes them
    (``compute_conv_transpose_output_shape``): ``valid`` gives ``(n - 1)·s +
    span + output_padding`` (by default whatever makes ``span`` at least
    ``s``), ``same`` gives ``n·s``, or ``(n - 1)·s + span % 2 + output_padding``."""
    out: list[int | None] = []
    for i, n in enumerate(shape[:-1]):
        span, s = dilation[i] * (kernel[i] - 1) + 1, strides[i]
        extra = None if output_padding is None else output_padding[i]
        if n is None:
            out.append(None)
        elif padding == "valid":
            out.append((n - 1) * s + span + (max(span, s) - span if extra is None else extra))
        else:
            out.append(n * s if extra is None else (n - 1) * s + span % 2 + extra)
    if 0 in out:
        # Keras builds it (an empty axis); no model wants one, and no later layer could take it.
        raise Incompatible(
            f"kernel {kernel} with padding='same' and output_padding {output_padding} gives an empty axis, "
            f"output lengths {tuple(out)}; input shape {_show(shape)}"
        )
    return tuple(out)


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
        checked = self._check()
        args = self._args
        for name, value in checked.items():
            if value is not args[name]:
                return self.replace(**checked)
        return self  # already canonical (ints and bools come back as they are): no copy

    def _check(self) -> dict[str, Any]:
        return {}

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        """The output shape for input ``shape`` and the count (0, or the kind
        and values that give it under ``convention``). Call on a normalized
        layer. Raises :class:`Incompatible` when the layer cannot take ``shape``."""
        return shape, 0

    def __call__(self, inputs: Any, *more: Any) -> Any:
        """The layer applied to a symbolic tensor of a functional model (``asw.Input``, or another
        layer's output), as in Keras: ``y = Dense(8)(x)``; a merge layer takes a list of them, and
        attention ``(query, value)``: ``MultiHeadAttention(4, 16)(x, x)``."""
        from ._graph import call

        return call(self, [inputs, *more] if more else inputs)


# -- Dense and Embedding -----------------------------------------------------------------------------------------


class Dense(Layer):
    """``Dense(units)``: acts on the last axis and keeps the others."""

    keras_type = "Dense"

    def __init__(self, units: Any, *, bias: Any = True) -> None:
        self._args = {"units": units, "bias": bias}

    def _check(self) -> dict[str, Any]:
        return {"units": _size("units", self._args["units"]), "bias": _flag("bias", self._args["bias"])}

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        a = self._args
        return (*shape[:-1], a["units"]), _count("dense", n_features=_known(shape, "Dense"), n_units=a["units"],
                                                 bias=a["bias"], length=_product(shape[:-1]))  # fmt: skip


class Embedding(Layer):
    """``Embedding(input_dim, output_dim)``: adds a last axis of ``output_dim``."""

    keras_type = "Embedding"

    def __init__(self, input_dim: Any, output_dim: Any) -> None:
        self._args = {"input_dim": input_dim, "output_dim": output_dim}

    def _check(self) -> dict[str, Any]:
        return {"input_dim": _size("input_dim", self._args["input_dim"]),
                "output_dim": _size("output_dim", self._args["output_dim"])}  # fmt: skip

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        a = self._args
        return (*shape, a["output_dim"]), _count("embedding", n_features=a["input_dim"], n_units=a["output_dim"])


# -- convolutions ------------------------------------------------------------------------------------------------


class _Window(Layer):
    """A convolution of ``rank`` spatial dimensions on channels-last input:
    the arguments all of them share (kernel, strides, padding, dilation,
    bias), checked once; each kind adds its own (``_extra``)."""

    rank: ClassVar[int]
    kind: ClassVar[str]  # the registry's kind
    paddings: ClassVar[tuple[str, ...]] = ("valid", "same")
    dilated_strides: ClassVar[bool] = False  # strides > 1 with dilation > 1 (Keras refuses it for Conv and Transpose)

    def _check(self) -> dict[str, Any]:
        a, rank = self._args, self.rank
        note = "" if "causal" in self.paddings else " ('causal' is for Conv1D)"
        out: dict[str, Any] = {
            "kernel": _dims("kernel", a["kernel"], rank),
            "strides": _dims("strides", a["strides"], rank),
            "padding": _one_of("padding", a["padding"], self.paddings, note),
            "dilation": _dims("dilation", a["dilation"], rank),
            "bias": _flag("bias", a["bias"]),
        }
        for name in ("filters", "depth_multiplier", "groups"):
            if name in a:
                out[name] = _size(name, a[name])
        if not self.dilated_strides and max(out["strides"]) > 1 and max(out["dilation"]) > 1:
            raise Incompatible(
                f"strides > 1 cannot be combined with dilation > 1 (as in Keras), got strides={a['strides']!r} "
                f"and dilation={a['dilation']!r}"
            )
        return out | self._extra(out)

    def _extra(self, out: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _channels(self, shape: Shape) -> int:
        rank, name = self.rank, self.keras_type
        axes = ("steps", "height, width", "depth, height, width")[rank - 1]
        _rank(shape, rank + 1, f"{name} needs an input of rank {rank + 1} ({axes}, channels)")
        return _known(shape, name)

    def _slide(self, shape: Shape) -> Shape:
        a = self._args
        return _spatial("kernel", shape, a["kernel"], a["strides"], a["dilation"], a["padding"])


class _Conv(_Window):
    def __init__(self, filters: Any, kernel: Any, *, strides: Any = 1, padding: Any = "valid", dilation: Any = 1,
                 groups: Any = 1, bias: Any = True) -> None:  # fmt: skip
        self._args = {"filters": filters, "kernel": kernel, "strides": strides, "padding": padding,
                      "dilation": dilation, "groups": groups, "bias": bias}  # fmt: skip

    def _extra(self, out: dict[str, Any]) -> dict[str, Any]:
        if out["filters"] % out["groups"]:
            raise Incompatible(f"groups={out['groups']} must divide filters={out['filters']}")
        return {}

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        a = self._args
        channels = self._channels(shape)
        if channels % a["groups"]:
            raise Incompatible(f"groups={a['groups']} must divide the input channels, got input shape {_show(shape)}")
        lengths = self._slide(shape)
        count = _count(self.kind, n_features=channels, n_units=a["filters"], kernel=a["kernel"], bias=a["bias"],
                       groups=a["groups"], positions=_product(lengths))  # fmt: skip
        return (*lengths, a["filters"]), count


class Conv1D(_Conv):
    """``Conv1D(filters, kernel, strides=1, padding="valid"|"same"|"causal", dilation=1, groups=1, bias=True)``."""

    keras_type, kind, rank, paddings = "Conv1D", "conv1d", 1, ("valid", "same", "causal")


class Conv2D(_Conv):
    """``Conv2D(filters, kernel, strides=1, padding="valid"|"same", dilation=1, groups=1, bias=True)``."""

    keras_type, kind, rank = "Conv2D", "conv2d", 2


class Conv3D(_Conv):
    """``Conv3D(filters, kernel, strides=1, padding="valid"|"same", dilation=1, groups=1, bias=True)``."""

    keras_type, kind, rank = "Conv3D", "conv3d", 3


class _Depthwise(_Window):
    dilated_strides = True

    def __init__(self, kernel: Any, *, strides: Any = 1, padding: Any = "valid", depth_multiplier: Any = 1,
                 dilation: Any = 1, bias: Any = True) -> None:  # fmt: skip
        self._args = {"kernel": kernel, "strides": strides, "padding": padding, "depth_multiplier": depth_multiplier,
                      "dilation": dilation, "bias": bias}  # fmt: skip

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        a = self._args
        channels = self._channels(shape)
        lengths = self._slide(shape)
        count = _count(self.kind, n_features=channels, kernel=a["kernel"], depth_multiplier=a["depth_multiplier"],
                       bias=a["bias"], positions=_product(lengths))  # fmt: skip
        return (*lengths, channels * a["depth_multiplier"]), count


class DepthwiseConv1D(_Depthwise):
    """``DepthwiseConv1D(kernel, strides=1, padding="valid"|"same", depth_multiplier=1, dilation=1, bias=True)``:
    ``depth_multiplier`` filters per input channel."""

    keras_type, kind, rank = "DepthwiseConv1D", "depthwise_conv1d", 1


class DepthwiseConv2D(_Depthwise):
    """``DepthwiseConv2D(kernel, strides=1, padding="valid"|"same", depth_multiplier=1, dilation=1, bias=True)``:
    ``depth_multiplier`` filters per input channel."""

    keras_type, kind, rank = "DepthwiseConv2D", "depthwise_conv2d", 2


class _Separable(_Window):
    dilated_strides = True

    def __init__(self, filters: Any, kernel: Any, *, strides: Any = 1, padding: Any = "valid",
                 depth_multiplier: Any = 1, dilation: Any = 1, bias: Any = True) -> None:  # fmt: skip
        self._args = {"filters": filters, "kernel": kernel, "strides": strides, "padding": padding,
                      "depth_multiplier": depth_multiplier, "dilation": dilation, "bias": bias}  # fmt: skip

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        a = self._args
        lengths = self._slide(shape)
        count = _count(self.kind, n_features=self._channels(shape), n_units=a["filters"], kernel=a["kernel"],
                       depth_multiplier=a["depth_multiplier"], bias=a["bias"], positions=_product(lengths))  # fmt: skip
        return (*lengths, a["filters"]), count


class SeparableConv1D(_Separable):
    """``SeparableConv1D(filters, kernel, strides=1, padding="valid"|"same", depth_multiplier=1, dilation=1,
    bias=True)``: a depthwise then a pointwise convolution (Keras only: PyTorch has no such layer)."""

    keras_type, kind, rank = "SeparableConv1D", "separable_conv1d", 1


class SeparableConv2D(_Separable):
    """``SeparableConv2D(filters, kernel, strides=1, padding="valid"|"same", depth_multiplier=1, dilation=1,
    bias=True)``: a depthwise then a pointwise convolution (Keras only: PyTorch has no such layer)."""

    keras_type, kind, rank = "SeparableConv2D", "separable_conv2d", 2


class _Transpose(_Window):
    def __init__(self, filters: Any, kernel: Any, *, strides: Any = 1, padding: Any = "valid",
                 output_padding: Any = None, dilation: Any = 1, bias: Any = True) -> None:  # fmt: skip
        self._args = {"filters": filters, "kernel": kernel, "strides": strides, "padding": padding,
                      "output_padding": output_padding, "dilation": dilation, "bias": bias}  # fmt: skip

    def _extra(self, out: dict[str, Any]) -> dict[str, Any]:
        given = self._args["output_padding"]
        if given is None:
            return {"output_padding": None}
        extra = _dims("output_padding", given, self.rank, minimum=0)
        if any(p >= s for p, s in zip(extra, out["strides"])):
            raise Incompatible(
                f"output_padding must be less than strides in every dimension (as in Keras), got "
                f"output_padding={given!r} and strides={self._args['strides']!r}"
            )
        return {"output_padding": extra}

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        a = self._args
        # FlopCounterMode counts a transposed conv at its input positions; its bias is added at the output's.
        channels = self._channels(shape)
        lengths = _transposed(shape, a["kernel"], a["strides"], a["dilation"], a["padding"], a["output_padding"])
        count = _count(self.kind, n_features=channels, n_units=a["filters"], kernel=a["kernel"], bias=a["bias"],
                       positions=_product(shape[:-1]), output_positions=_product(lengths))  # fmt: skip
        return (*lengths, a["filters"]), count


class Conv1DTranspose(_Transpose):
    """``Conv1DTranspose(filters, kernel, strides=1, padding="valid"|"same", output_padding=None, dilation=1,
    bias=True)``: Keras' transposed output lengths."""

    keras_type, kind, rank = "Conv1DTranspose", "conv1d_transpose", 1


class Conv2DTranspose(_Transpose):
    """``Conv2DTranspose(filters, kernel, strides=1, padding="valid"|"same", output_padding=None, dilation=1,
    bias=True)``: Keras' transposed output lengths."""

    keras_type, kind, rank = "Conv2DTranspose", "conv2d_transpose", 2


class Conv3DTranspose(_Transpose):
    """``Conv3DTranspose(filters, kernel, strides=1, padding="valid"|"same", output_padding=None, dilation=1,
    bias=True)``: Keras' transposed output lengths."""

    keras_type, kind, rank = "Conv3DTranspose", "conv3d_transpose", 3


# -- recurrent layers --------------------------------------------------------------------------------------------


class _Recurrent(Layer):
    kind: ClassVar[str]

    def __init__(self, units: Any, *, bias: Any = True, return_sequences: Any = False) -> None:
        self._args = {"units": units, "bias": bias, "return_sequences": return_sequences}

    def _check(self) -> dict[str, Any]:
        a = self._args
        return {"units": _size("units", a["units"]), "bias": _flag("bias", a["bias"]),
                "return_sequences": _flag("return_sequences", a["return_sequences"])}  # fmt: skip

    def _options(self) -> dict[str, Any]:
        return {"bias": self._args["bias"]}

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        a = self._args
        _rank(shape, 2, f"{self.keras_type} needs an input of rank 2 (time steps, features)")
        count = _count(self.kind, n_features=_known(shape, self.keras_type), n_units=a["units"], length=shape[0],
                       **self._options())  # fmt: skip
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
        self._args = {"units": units, "bias": bias, "return_sequences": return_sequences, "reset_after": reset_after}

    def _check(self) -> dict[str, Any]:
        ra = self._args["reset_after"]
        return {**super()._check(), "reset_after": None if ra is None else _flag("reset_after", ra)}

    def _options(self) -> dict[str, Any]:
        ra = self._args["reset_after"]
        return super()._options() | ({} if ra is None else {"reset_after": ra})


class Bidirectional(Layer):
    """``Bidirectional(layer, merge="concat"|"sum"|"mul"|"ave")`` around a SimpleRNN, LSTM or GRU:
    twice the layer's count; ``concat`` doubles its output width."""

    keras_type = "Bidirectional"

    def __init__(self, layer: Any, *, merge: Any = "concat") -> None:
        self._args = {"layer": layer, "merge": merge}

    def _check(self) -> dict[str, Any]:
        inner = self._args["layer"]
        if not isinstance(inner, _Recurrent):
            raise ArgumentTypeError(f"layer must be a SimpleRNN, LSTM or GRU, got {inner!r}")
        try:
            inner = inner.normalized()
        except (InvalidArgumentError, ArgumentTypeError) as exc:
            raise type(exc)(f"layer.{exc}") from None
        return {"layer": inner, "merge": _one_of("merge", self._args["merge"], ("concat", "sum", "mul", "ave"))}

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        out, count = self._args["layer"].infer(shape, convention)
        assert isinstance(count, Count)
        if self._args["merge"] == "concat":
            out = (*out[:-1], 2 * out[-1])  # type: ignore[operator]
        return out, count._replace(values=count.values + (("bidirectional", True),))


# -- normalization -----------------------------------------------------------------------------------------------


class _Normalization(Layer):
    """Normalization over the last axis (Keras' ``axis=-1``): the shape
    unchanged, weights of the last axis' width. ``center`` (beta) and
    ``scale`` (gamma) are Keras' flags; under ``torch`` they stay on
    (PyTorch's ``affine``)."""

    kind: ClassVar[str]

    def _check(self) -> dict[str, Any]:
        return {name: _epsilon(value) if name == "epsilon" else _flag(name, value) for name, value in self._args.items()}

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        # positions: the vectors normalized per sample, for the element-wise FLOPs.
        flags = {k: v for k, v in self._args.items() if k != "epsilon"}  # epsilon changes no count
        return shape, _count(self.kind, n_features=_known(shape, self.keras_type), **flags,
                             positions=_product(shape[:-1]))  # fmt: skip


def _epsilon(value: Any) -> Any:
    """A norm's epsilon (None: Keras' default): a number > 0; it changes no count."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
        raise InvalidArgumentError(f"epsilon must be a number > 0, got {value!r}")
    return value


class BatchNormalization(_Normalization):
    """``BatchNormalization(center=True, scale=True)``: gamma and beta trainable, the moving mean and
    variance non-trainable (under ``torch``: PyTorch's running statistics, buffers)."""

    keras_type, kind = "BatchNormalization", "batchnorm"

    def __init__(self, *, center: Any = True, scale: Any = True, epsilon: Any = None) -> None:
        self._args = {"center": center, "scale": scale, "epsilon": epsilon}


class LayerNormalization(_Normalization):
    """``LayerNormalization(center=True, scale=True, rms_scaling=False)`` (``rms_scaling``: gamma alone)."""

    keras_type, kind = "LayerNormalization", "layernorm"

    def __init__(self, *, center: Any = True, scale: Any = True, rms_scaling: Any = False,
                 epsilon: Any = None) -> None:  # fmt: skip
        self._args = {"center": center, "scale": scale, "rms_scaling": rms_scaling, "epsilon": epsilon}


class RMSNormalization(_Normalization):
    """``RMSNormalization()``: one scale per feature."""

    keras_type, kind = "RMSNormalization", "rmsnorm"

    def __init__(self, *, epsilon: Any = None) -> None:
        self._args = {"epsilon": epsilon}


class GroupNormalization(_Normalization):
    """``GroupNormalization(groups=32, center=True, scale=True)``: ``groups`` must divide the channels
    (``-1``: one group per channel, as in Keras)."""

    keras_type, kind = "GroupNormalization", "groupnorm"

    def __init__(self, groups: Any = 32, *, center: Any = True, scale: Any = True, epsilon: Any = None) -> None:
        self._args = {"groups": groups, "center": center, "scale": scale, "epsilon": epsilon}

    def _check(self) -> dict[str, Any]:
        a = self._args
        groups = -1 if type(a["groups"]) is int and a["groups"] == -1 else _size("groups", a["groups"])
        return {"groups": groups, "center": _flag("center", a["center"]), "scale": _flag("scale", a["scale"]),
                "epsilon": _epsilon(a["epsilon"])}  # fmt: skip

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        a = self._args
        channels = _known(shape, self.keras_type)
        groups = channels if a["groups"] == -1 else a["groups"]
        if channels % groups:
            raise Incompatible(f"groups={groups} must divide the channels, got input shape {_show(shape)}")
        return shape, _count(self.kind, n_features=channels, groups=groups, center=a["center"], scale=a["scale"],
                             positions=_product(shape[:-1]))  # fmt: skip


# -- attention ---------------------------------------------------------------------------------------------------


class MultiHeadAttention(Layer):
    """``MultiHeadAttention(num_heads, key_dim, value_dim=None, output_shape=None, bias=True)`` as
    self-attention (query, key and value are the input): the output has ``output_shape`` (an int or a
    tuple) in place of the input's last axis, by default that axis.

    Under ``torch`` it is PyTorch's ``nn.MultiheadAttention(embed_dim, num_heads)``, whose heads split
    the input width: ``key_dim · num_heads`` must be that width, ``value_dim`` and ``output_shape`` left
    unset (or equal to what PyTorch has)."""

    keras_type = "MultiHeadAttention"

    def __init__(self, num_heads: Any, key_dim: Any, value_dim: Any = None, *, output_shape: Any = None,
                 bias: Any = True) -> None:  # fmt: skip
        self._args = {"num_heads": num_heads, "key_dim": key_dim, "value_dim": value_dim,
                      "output_shape": output_shape, "bias": bias}  # fmt: skip

    def _check(self) -> dict[str, Any]:
        a = self._args
        shape = a["output_shape"]
        if isinstance(shape, (tuple, list)):
            if not shape:
                raise InvalidArgumentError("output_shape must be an int or a non-empty tuple of ints, got ()")
            shape = tuple(_size(f"output_shape[{i}]", v) for i, v in enumerate(shape))
        elif shape is not None:
            shape = (_size("output_shape", shape),)
        return {"num_heads": _size("num_heads", a["num_heads"]), "key_dim": _size("key_dim", a["key_dim"]),
                "value_dim": None if a["value_dim"] is None else _size("value_dim", a["value_dim"]),
                "output_shape": shape, "bias": _flag("bias", a["bias"])}  # fmt: skip

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        a = self._args
        width = _known(shape, self.keras_type)
        out = a["output_shape"] or (width,)
        heads, key_dim, value_dim = a["num_heads"], a["key_dim"], a["value_dim"] or a["key_dim"]
        if convention == "torch":
            if heads * key_dim != width or value_dim != key_dim or out != (width,):
                raise Incompatible(
                    "under convention 'torch' a MultiHeadAttention is PyTorch's nn.MultiheadAttention(embed_dim, "
                    "num_heads), whose heads split the input width: key_dim * num_heads must be the width and "
                    f"value_dim, output_shape unset; got num_heads={heads}, key_dim={key_dim}, value_dim="
                    f"{a['value_dim']}, output_shape={a['output_shape']} on input shape {_show(shape)}"
                )
            return shape, _count("mha", n_features=width, num_heads=heads, bias=a["bias"],
                                 length=_product(shape[:-1]))  # fmt: skip
        # Self-attention over every position of the input (Keras' attention_axes=None).
        count = _count("mha", n_features=width, num_heads=heads, key_dim=key_dim, value_dim=value_dim,
                       output_shape=math.prod(out), bias=a["bias"], length=_product(shape[:-1]))  # fmt: skip
        return (*shape[:-1], *out), count

    def attend(self, query: Shape, value: Shape, key: Shape | None = None, *,
               convention: str = "keras") -> tuple[Shape, Count | int]:  # fmt: skip
        """Called as ``layer(query, value[, key])`` in a functional model: over another sequence
        (Keras' kdim and vdim the key's and value's widths), or self-attention when all are one shape."""
        key = value if key is None else key
        if query == value == key:
            return self.infer(query, convention)
        if convention == "torch":
            raise Incompatible("under convention 'torch' a MultiHeadAttention in a functional model is "
                               f"self-attention; got query {_show(query)}, value {_show(value)}")  # fmt: skip
        a = self._args
        if key[:-1] != value[:-1]:
            raise Incompatible(f"{self.keras_type}'s key {_show(key)} and value {_show(value)} must have the same "
                               "positions")  # fmt: skip
        out = a["output_shape"] or (_known(query, self.keras_type),)
        count = _count("mha", n_features=_known(query, self.keras_type), num_heads=a["num_heads"],
                       key_dim=a["key_dim"], value_dim=a["value_dim"] or a["key_dim"], output_shape=math.prod(out),
                       kdim=_known(key, self.keras_type), vdim=_known(value, self.keras_type), bias=a["bias"],
                       length=_product(query[:-1]), kv_length=_product(value[:-1]))  # fmt: skip
        return (*query[:-1], *out), count


class _TransformerBlock(Layer):
    """A transformer encoder block on a sequence ``(length, width)``: self-attention and a two-layer
    feed-forward block, each with a LayerNorm, the output the input's shape. ``dropout``, the
    activation and the norm's epsilon change no count (they are checked and kept for the record);
    the norms' place changes which input gradients a model's first layer computes."""

    convention: ClassVar[str]
    #: The framework's names of (width, heads, feed-forward width, norm placement, activation,
    #: epsilon); KerasHub's block takes its width from the input.
    names: ClassVar[tuple[str | None, str, str, str, str, str]]
    activations: ClassVar[tuple[str, ...]]

    def _check(self) -> dict[str, Any]:
        a = self._args
        width, heads, ff, norm_first, activation, eps = self.names
        if a[activation] not in self.activations:
            raise InvalidArgumentError(f"{activation} must be one of {', '.join(map(repr, self.activations))} "
                                       f"(the framework's names), got {a[activation]!r}")  # fmt: skip
        for name, top in (("dropout", 1), (eps, math.inf)):
            if isinstance(a[name], bool) or not isinstance(a[name], (int, float)) or not 0 <= a[name] <= top:
                raise InvalidArgumentError(f"{name} must be a number from 0 to {top}, got {a[name]!r}")
        sizes = {n: _size(n, a[n]) for n in (width, heads, ff) if n is not None}
        return {**a, **sizes, **{n: _flag(n, a[n]) for n in (norm_first, "batch_first", "bias") if n in a}}

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        a = self._args
        width, heads, ff, norm_first, _, _ = self.names
        if convention != self.convention:
            raise Incompatible(f"{self.keras_type} is {'PyTorch' if self.convention == 'torch' else 'KerasHub'}'s: "
                               f"use convention={self.convention!r} (got {convention!r})")  # fmt: skip
        d = shape[-1] if width is None else a[width]
        if len(shape) != 2 or shape[-1] != d or d is None:
            wanted = f"(length, {d})" if width else "(length, width)"
            raise Incompatible(f"{self.keras_type}({', '.join(f'{n}={a[n]}' for n in (width, heads) if n)}) takes a "
                               f"sequence {wanted}, got input shape {_show(shape)}")  # fmt: skip
        return shape, _count("transformer_encoder", n_features=d, num_heads=a[heads], dim_feedforward=a[ff],
                             bias=a.get("bias", True), norm_first=a[norm_first], length=shape[0])  # fmt: skip


class TransformerEncoderLayer(_TransformerBlock):
    """PyTorch's ``nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation="relu", layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)`` on a
    sequence ``(length, d_model)`` (batch apart, whichever ``batch_first`` says). Only under
    ``convention="torch"``; ``bias`` is counted, ``batch_first`` is not."""

    keras_type, convention = "TransformerEncoderLayer", "torch"
    names = ("d_model", "nhead", "dim_feedforward", "norm_first", "activation", "layer_norm_eps")
    activations = ("relu", "gelu")

    def __init__(self, d_model: Any, nhead: Any, dim_feedforward: Any = 2048, dropout: Any = 0.1,
                 activation: Any = "relu", layer_norm_eps: Any = 1e-5, batch_first: Any = False,
                 norm_first: Any = False, bias: Any = True) -> None:  # fmt: skip
        self._args = {"d_model": d_model, "nhead": nhead, "dim_feedforward": dim_feedforward, "dropout": dropout,
                      "activation": activation, "layer_norm_eps": layer_norm_eps, "batch_first": batch_first,
                      "norm_first": norm_first, "bias": bias}  # fmt: skip


class TransformerEncoder(_TransformerBlock):
    """KerasHub's ``keras_hub.layers.TransformerEncoder(intermediate_dim, num_heads, dropout=0,
    activation="relu", layer_norm_epsilon=1e-5, normalize_first=False)`` on a sequence ``(length,
    width)``: heads of ``width / num_heads`` features (``num_heads`` must divide the width; KerasHub
    would build narrower heads), biases everywhere. Only under ``convention="keras"``. Its
    decoder-only use, ``TransformerDecoder`` without an encoder sequence, counts the same."""

    keras_type, convention = "TransformerEncoder", "keras"
    names = (None, "num_heads", "intermediate_dim", "normalize_first", "activation", "layer_norm_epsilon")
    activations = ("relu", "gelu", "silu", "swish", "tanh", "sigmoid", "linear", "elu", "selu", "softplus")

    def __init__(self, intermediate_dim: Any, num_heads: Any, dropout: Any = 0, activation: Any = "relu",
                 layer_norm_epsilon: Any = 1e-5, normalize_first: Any = False) -> None:  # fmt: skip
        self._args = {"intermediate_dim": intermediate_dim, "num_heads": num_heads, "dropout": dropout,
                      "activation": activation, "layer_norm_epsilon": layer_norm_epsilon,
                      "normalize_first": normalize_first}  # fmt: skip


# -- pooling -----------------------------------------------------------------------------------------------------


class _Pooling(Layer):
    rank: ClassVar[int]

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: Any = "valid") -> None:
        self._args = {"pool_size": pool_size, "strides": strides, "padding": padding}

    def _check(self) -> dict[str, Any]:
        a = self._args
        pool = _dims("pool_size", a["pool_size"], self.rank)
        strides = pool if a["strides"] is None else _dims("strides", a["strides"], self.rank)
        return {"pool_size": pool, "strides": strides, "padding": _one_of("padding", a["padding"], ("valid", "same"))}

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        a, rank = self._args, self.rank
        _rank(shape, rank + 1, f"{self.keras_type} needs an input of rank {rank + 1} (spatial axes, channels)")
        ones = (1,) * rank
        return (*_spatial("pool_size", shape, a["pool_size"], a["strides"], ones, a["padding"]), shape[-1]), 0


class _GlobalPooling(Layer):
    rank: ClassVar[int]

    def __init__(self, *, keepdims: Any = False) -> None:
        self._args = {"keepdims": keepdims}

    def _check(self) -> dict[str, Any]:
        return {"keepdims": _flag("keepdims", self._args["keepdims"])}

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
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


# -- merging branches (functional models) ------------------------------------------------------------------------


class _Merge(Layer):
    """A layer of several inputs (a functional model's branches), no parameters."""

    def __init__(self) -> None:
        self._args = {}

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        raise Incompatible(f"{self.keras_type} merges branches: call it on a list of tensors in a functional model")

    def merge(self, shapes: list[Shape], names: list[str]) -> Shape:
        """The output shape of merging ``shapes`` (the inbound layers ``names``), broadcast as Keras'
        element-wise merges do (aligned on the right; a 1 takes the other's length); Incompatible
        naming both sides where two disagree."""
        out = shapes[0]
        for shape, name in zip(shapes[1:], names[1:]):
            longer, shorter = (out, shape) if len(out) >= len(shape) else (shape, out)
            joined = list(longer[: len(longer) - len(shorter)])
            for a, b in zip(longer[len(longer) - len(shorter) :], shorter):
                if a is None or b is None:
                    joined.append(None)
                elif a == 1 or b == 1 or a == b:
                    joined.append(max(a, b) if a == 1 or b == 1 else a)
                else:
                    raise Incompatible(f"{self.keras_type} needs inputs of one shape (or broadcastable): "
                                       f"{names[0]} gives {_show(shapes[0])}, {name} gives {_show(shape)}")  # fmt: skip
            out = tuple(joined)
        return out


class Add(_Merge):
    """``Add()``: the sum of inputs of one shape."""

    keras_type = "Add"


class Subtract(_Merge):
    """``Subtract()``: the first input less the second."""

    keras_type = "Subtract"

    def merge(self, shapes: list[Shape], names: list[str]) -> Shape:
        if len(shapes) != 2:
            raise Incompatible(f"Subtract takes exactly 2 inputs, got {len(shapes)}")
        return super().merge(shapes, names)


class Multiply(_Merge):
    """``Multiply()``: the element-wise product."""

    keras_type = "Multiply"


class Average(_Merge):
    """``Average()``: the element-wise mean."""

    keras_type = "Average"


class Maximum(_Merge):
    """``Maximum()``: the element-wise maximum."""

    keras_type = "Maximum"


class Concatenate(_Merge):
    """``Concatenate(axis=-1)``: inputs joined along ``axis`` (of the shape without the batch; -1 the
    last), equal in every other axis."""

    keras_type = "Concatenate"

    def __init__(self, axis: Any = -1) -> None:
        self._args = {"axis": axis}

    def _check(self) -> dict[str, Any]:
        axis = self._args["axis"]
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise InvalidArgumentError(f"axis must be an int, got {axis!r}")
        return {}

    def merge(self, shapes: list[Shape], names: list[str]) -> Shape:
        rank, axis = len(shapes[0]), self._args["axis"]
        where = axis - 1 if axis >= 0 else rank + axis  # Keras counts the batch axis in a positive axis
        if not 0 <= where < rank:
            raise Incompatible(f"Concatenate(axis={axis}) on inputs of shape {_show(shapes[0])}: no such axis "
                               "(0 is the batch)")  # fmt: skip
        for shape, name in zip(shapes[1:], names[1:]):
            if len(shape) != rank or any(a != b for i, (a, b) in enumerate(zip(shape, shapes[0])) if i != where):
                raise Incompatible(f"Concatenate(axis={axis}) needs inputs equal but on that axis: {names[0]} gives "
                                   f"{_show(shapes[0])}, {name} gives {_show(shape)}")  # fmt: skip
        lengths = [shape[where] for shape in shapes]
        joined = None if None in lengths else sum(lengths)  # type: ignore[arg-type]
        return (*shapes[0][:where], joined, *shapes[0][where + 1 :])


class Residual(Layer):
    """``Residual(block, projection=None, merge="add")``: a block of layers whose output is merged
    with its input: ``Add()([shortcut, y])`` (ResNet) or, with ``merge="concatenate"``,
    ``Concatenate()([shortcut, y])`` (DenseNet), where ``y`` is the block applied to the input
    and ``shortcut`` the input, or ``projection`` (a layer, such as a 1x1 Conv2D) applied to it when
    the widths differ. ``block`` is a list of layers (or one layer); any of them, and the
    projection, may hold choices. In a Sequential model or space it is one position; a concrete
    model counts and summarizes it as the functional graph it stands for: the block's layers are
    made first, then the projection, then the merge (Keras' default names follow that order)."""

    keras_type = "Residual"
    MERGES = ("add", "concatenate")

    def __init__(self, block: Any, projection: Any = None, *, merge: Any = "add") -> None:
        self._args = {"block": list(block) if isinstance(block, (list, tuple)) else [block],
                      "projection": projection, "merge": merge}  # fmt: skip

    def _check(self) -> dict[str, Any]:
        block, projection = self._args["block"], self._args["projection"]
        checked = []
        for i, layer in enumerate(block):
            if not isinstance(layer, Layer) or isinstance(layer, _Merge):
                raise ArgumentTypeError(f"block[{i}] must be a layer of one input (asw.layers.Dense(...)), "
                                        f"got {layer!r}")  # fmt: skip
            checked.append(_inner(f"block[{i}]", layer))
        if projection is not None and (not isinstance(projection, Layer) or isinstance(projection, _Merge)):
            raise ArgumentTypeError(f"projection must be a layer (asw.layers.Conv2D(64, 1)) or None, got {projection!r}")
        return {"block": checked, "projection": None if projection is None else _inner("projection", projection),
                "merge": _one_of("merge", self._args["merge"], self.MERGES)}  # fmt: skip

    def merge_layer(self) -> _Merge:
        """The layer that joins the shortcut and the block's output."""
        return Add() if _one_of("merge", self._args["merge"], self.MERGES) == "add" else Concatenate()

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        raise Incompatible("a Residual is counted by its Model, layer by layer")

    def __call__(self, inputs: Any, *more: Any) -> Any:
        """In a functional model, the graph it stands for: ``merge([shortcut, block(inputs)])``."""
        if more or isinstance(inputs, (list, tuple)):
            raise ArgumentTypeError(f"Residual takes one tensor, got {[inputs, *more] if more else inputs!r}")
        y = inputs
        for layer in self._args["block"]:
            y = layer(y)
        projection = self._args["projection"]
        shortcut = inputs if projection is None else projection(inputs)
        return self.merge_layer()([shortcut, y])


def _inner(where: str, layer: Layer) -> Layer:
    """A layer inside another, normalized; its refusals name where it stands."""
    try:
        return layer.normalized()
    except (InvalidArgumentError, ArgumentTypeError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


class Flatten(Layer):
    """``Flatten()``: one axis, the product of all of them (unknown if any is)."""

    keras_type = "Flatten"

    def __init__(self) -> None:
        self._args = {}

    def infer(self, shape: Shape, convention: str = "keras") -> tuple[Shape, Count | int]:
        return (None if None in shape else math.prod(shape),), 0  # type: ignore[arg-type]


class Dropout(Layer):
    """``Dropout(rate)``: no parameters, the shape unchanged."""

    keras_type = "Dropout"

    def __init__(self, rate: Any) -> None:
        self._args = {"rate": rate}

    def _check(self) -> dict[str, Any]:
        rate = self._args["rate"]
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= float(rate) <= 1:
            raise InvalidArgumentError(f"rate must be a number between 0 and 1, got {rate!r}")
        return {}


class Activation(Layer):
    """``Activation(activation)``: no parameters, the shape unchanged."""

    keras_type = "Activation"

    def __init__(self, activation: Any) -> None:
        self._args = {"activation": activation}

    def _check(self) -> dict[str, Any]:
        if not isinstance(self._args["activation"], str):
            raise ArgumentTypeError(f"activation must be a name such as 'relu', got {self._args['activation']!r}")
        return {}


class ReLU(Layer):
    """``ReLU()``: no parameters, the shape unchanged."""

    keras_type = "ReLU"

    def __init__(self) -> None:
        self._args = {}
