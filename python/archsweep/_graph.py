"""Functional models: layers called on symbolic tensors, as Keras' functional API writes them.

``x = asw.Input((32, 32, 3)); y = L.Conv2D(16, 3)(x); z = L.Add()([x, y])``, then
``asw.Model(x, z)``. A tensor records the layer that made it and the tensors it was made from;
shapes are inferred when the Model is built (its convention decides the counts). Each layer's
count is its kind's, as in a Sequential model; merge layers (``Add``, ``Concatenate``, ...) have
none.
"""

from __future__ import annotations

import itertools
from typing import Any

from ._errors import ArgumentTypeError, InvalidArgumentError
from .layers import Layer, Shape, _Merge

_CREATED = itertools.count()  # creation order: the order Keras names layers in


class Tensor:
    """A symbolic tensor: the output of ``layer`` applied to ``inbound`` (an Input has neither)."""

    __slots__ = ("layer", "inbound", "shape", "order")

    def __init__(self, layer: Layer | None, inbound: tuple[Tensor, ...], shape: Shape | None = None) -> None:
        self.layer, self.inbound, self.shape = layer, inbound, shape
        self.order = next(_CREATED)

    def __repr__(self) -> str:
        made = "Input" if self.layer is None else type(self.layer).__name__
        return f"<archsweep tensor of {made}>"


def Input(shape: Any) -> Tensor:  # noqa: N802 - Keras' name
    """A functional model's input of ``shape`` (without the batch axis; None an unknown length)."""
    from ._model import _input_shape

    return Tensor(None, (), _input_shape(shape))


def call(layer: Layer, inputs: Any) -> Tensor:
    """``layer(inputs)``: one tensor, or a list of them for a merge layer (and for attention,
    ``[query, value]``)."""
    many = isinstance(inputs, (list, tuple))
    tensors = tuple(inputs) if many else (inputs,)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise ArgumentTypeError(f"{type(layer).__name__} is called on archsweep tensors (asw.Input or a layer's "
                                f"output), got {inputs!r}")  # fmt: skip
    attention = type(layer).__name__ == "MultiHeadAttention"
    if attention and not 2 <= len(tensors) <= 3:
        raise ArgumentTypeError("MultiHeadAttention is called as layer(query, value) or layer(query, value, key), as "
                                f"in Keras; got {len(tensors)} tensor(s)")  # fmt: skip
    if isinstance(layer, _Merge) != many and not attention:
        what = "a list of tensors" if isinstance(layer, _Merge) else "one tensor"
        raise ArgumentTypeError(f"{type(layer).__name__} takes {what}, got {inputs!r}")
    return Tensor(layer, tensors)


def graph(inputs: Any, outputs: Any) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
    """The model's inputs, outputs and every tensor between them, in creation order (Keras names
    them so) and in Keras' order (``model.layers``, :func:`keras_order`), checked: every path back
    from an output ends at one of the inputs."""
    ins = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    for what, given in (("inputs", ins), ("outputs", outs)):
        if not given or not all(isinstance(t, Tensor) for t in given):
            raise ArgumentTypeError(f"{what} must be archsweep tensors (asw.Input, a layer's output) or a list of "
                                    f"them, got {given!r}")  # fmt: skip
    for t in ins:
        if t.layer is not None:
            raise InvalidArgumentError(f"inputs must be asw.Input tensors, got the output of {type(t.layer).__name__}")
    seen: dict[int, Tensor] = {}
    stack = list(outs)
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen[id(t)] = t
        if t.layer is None and not any(t is i for i in ins):
            raise InvalidArgumentError("an output depends on an asw.Input that is not among the model's inputs")
        stack.extend(t.inbound)
    for t in ins:  # an input no output depends on is still the model's
        seen.setdefault(id(t), t)
    return ins, outs, sorted(seen.values(), key=lambda t: t.order), keras_order(ins, outs, list(seen.values()))


def keras_order(ins: list[Tensor], outs: list[Tensor], tensors: list[Tensor]) -> list[Tensor]:
    """Keras 3's ``model.layers`` order (``ops/function.py``'s ``map_graph``): by depth, the longest
    path to an output, deepest first; within a depth by first discovery in a depth-first walk from
    the outputs in order, each layer's inputs in order. An input nothing uses has depth 0 and comes
    first at it."""
    found: dict[int, int] = {}
    stack = list(reversed(outs))
    while stack:
        t = stack.pop()
        if id(t) in found:
            continue
        found[id(t)] = len(found)
        stack.extend(reversed(t.inbound))
    depth: dict[int, int] = {}
    for t in sorted(tensors, key=lambda t: t.order, reverse=True):  # every consumer is made after its inputs
        depth.setdefault(id(t), 0)
        for i in t.inbound:
            depth[id(i)] = max(depth.get(id(i), 0), depth[id(t)] + 1)
    return sorted(tensors, key=lambda t: (-depth[id(t)], found.get(id(t), -1)))


def infer(layer: Layer, shapes: list[Shape], names: list[str], convention: str) -> tuple[Shape, Any]:
    """A layer's output shape and count from its inbound shapes."""
    if isinstance(layer, _Merge):
        return layer.merge(shapes, names), 0
    if len(shapes) > 1:  # attention called as layer(query, value[, key])
        return layer.attend(*shapes, convention=convention)  # type: ignore[attr-defined]
    return layer.infer(shapes[0], convention)


__all__ = ["Input", "Tensor"]
