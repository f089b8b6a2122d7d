"""``Model``: a sequence of layers with Keras' shape inference, or, with
``asw.choice``/``asw.repeat`` in it, a space of models; and the searches over
such spaces.

Shape inference happens once, here, when the model is built: every layer
position is compiled into a table over (shape state entering it, option) →
(parameter count, state after it). A model is a path through the tables;
its count is the sum along the path. The Rust core (``space.rs``) counts and
lists the paths that fit a budget and knows nothing of shapes.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
import random
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from . import _args, _kinds
from ._backend import KERNEL_ERRORS, core
from ._errors import ArchsweepError, ArgumentTypeError, InvalidArgumentError, ParamOverflowError, SweepTooLargeError
from ._names import BACKENDS, CONVENTIONS, _choose, backend_name, convention_name
from ._graph import Tensor
from ._space import Choice, Repeat
from ._sweep import available_memory
from ._kinds import Quantities, Tensors
from ._worker import progress_bar, run_in_worker
from .layers import Count, Incompatible, Layer, Residual, Shape, _show, value_key

INT64_MAX = 2**63 - 1
NOTHING = Quantities(0)


def _flops_cost(q: Quantities | None) -> int:
    """A transition's forward FLOPs in a space's table: -1 (fits no budget) past int64; unknown
    (an unknown length) only where a FLOPs budget is refused first."""
    if q is None or not isinstance(q.macs, int) or 2 * q.macs > INT64_MAX:
        return -1
    return 2 * q.macs


@functools.lru_cache(maxsize=1 << 14)
def _quantities(count: Count, convention: str) -> Quantities:
    """A layer's quantities from its kind: the registry checks the values
    under ``convention`` (refusals name the argument) and evaluates the
    formula exactly. Remembered: models and spaces ask for the same few
    layers again and again."""
    kind = _kinds.BY_NAME[count.kind]
    return _kinds.evaluate(kind, convention, _kinds.validate(kind, convention, dict(count.values)))

#: A plain layer's step, remembered: (class, argument values, their types, input shape, convention) ->
#: (the layer checked, output shape, quantities). Searches build the same layers on the same shapes again
#: and again. The types are part of the key as True == 1: Dense(True) is refused where Dense(1) is not.
_STEPS: dict[tuple, tuple[Layer, Shape, Quantities]] = {}
_STEPS_MAX = 1 << 14

#: Bytes a dict spends per entry besides its key and value (hash, pointers, spare room).
_STATE_SLOT = 64

#: Bytes a numpy array takes besides its data.
_ARRAY = sys.getsizeof(np.empty(0))


@dataclass
class _Slot:
    """Where a position sits in a ``repeat``: repetition ``rep`` of the block
    at model index ``index``, repeated ``low`` to ``high`` times."""

    index: int
    low: int
    high: int
    rep: int
    first: bool  # the block's first layer: it decides whether the repetition is there
    last: bool  # the region's last position


@dataclass
class _Position:
    """One layer position and its options: a normalized layer, ``None`` (left
    out), or the reason it can never be built."""

    path: str
    options: list[Layer | Incompatible | None] = field(default_factory=list)
    columns: list[dict[str, Any]] = field(default_factory=list)  # per option: choice name -> label
    slot: _Slot | None = None
    skip: int | None = None  # the option that leaves a repetition out
    #: In a functional space: where the layer's inputs sit in the state (the shapes of the tensors still
    #: needed), their names, and what the next state holds (an index into this one; -1 the layer's output).
    wiring: tuple[tuple[int, ...], tuple[str, ...], tuple[int, ...]] | None = None


def _where(path: str, layer: Any = None) -> str:
    layer = layer.layer if isinstance(layer, Incompatible) else layer
    return f"layer {path}" + (f" ({layer.keras_type})" if isinstance(layer, Layer) else "")


def _merge(into: dict[str, Any], more: dict[str, Any], path: str) -> None:
    for name in more:
        if name in into:
            raise InvalidArgumentError(
                f"{_where(path)}: two choices are named {name!r}; give one another name= "
                "(a choice directly inside a choice is not allowed either)"
            )
    into.update(more)


def _labels(options: tuple[Any, ...]) -> list[Any]:
    """How a search result shows each option of a choice: values as they
    are, layers by type (``"LSTM"``, ``"Bidirectional(GRU)"``) unless two
    options share a type, then in full (``"Dense(64)"``)."""

    def short(layer: Layer) -> str:
        inner = layer.args.get("layer")
        return f"{layer.keras_type}({inner.keras_type})" if isinstance(inner, Layer) else layer.keras_type

    shorts = [short(o) for o in options if isinstance(o, Layer)]
    unique = len(set(shorts)) == len(shorts)
    return [(short(o) if unique else repr(o)) if isinstance(o, Layer) else o for o in options]


def _expand(value: Any, path: str, suffix: str) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Every concrete value ``value`` stands for, one at a time, with the
    choices taken to get it (choice name -> the option's label in a search
    result)."""
    if isinstance(value, Choice):
        name = path if value.name is None else value.name + suffix
        for option, label in zip(value.options, _labels(value.options)):
            for concrete, taken in _expand(option, path, suffix):
                columns = {name: label}
                _merge(columns, taken, path)
                yield concrete, columns
    elif isinstance(value, Layer):
        names = list(value.args)
        for combo in itertools.product(*(list(_expand(value.args[n], f"{path}.{n}", suffix)) for n in names)):
            chosen: dict[str, Any] = {}
            for _, taken in combo:
                _merge(chosen, taken, path)
            yield value.replace(**{n: v for n, (v, _) in zip(names, combo)}), chosen
    elif type(value) is list:  # a Residual's block: each layer's values, in every combination
        expansions = [list(_expand(v, f"{path}.{j}", suffix)) for j, v in enumerate(value)]
        for combo in itertools.product(*expansions):
            chosen = {}
            for _, taken in combo:
                _merge(chosen, taken, path)
            yield [v for v, _ in combo if v is not None], chosen
    elif isinstance(value, Repeat):
        raise InvalidArgumentError(f"{_where(path)}: repeat() may only stand directly in a model's list of layers "
                                   "(to repeat a Residual, repeat it there)")  # fmt: skip
    else:
        yield value, {}


def _plain(value: Any) -> bool:
    """A layer with no choice in it: it stands for itself alone (and needs no ``_expand``)."""
    if not isinstance(value, Layer):
        return False
    for v in value._args.values():
        if type(v) in _SCALARS:
            continue
        if isinstance(v, (Choice, Repeat)) or (isinstance(v, Layer) and not _plain(v)):
            return False
        if type(v) is list and not all(_plain(x) for x in v):  # a Residual's block
            return False
    return True


_SCALARS = frozenset({int, bool, str, float, tuple, type(None)})  # argument types that hold no choice


def _n_concrete(value: Any) -> int:
    """How many concrete values ``_expand`` yields for ``value``, without making them."""
    if isinstance(value, Choice):
        return sum(_n_concrete(option) for option in value.options)
    if isinstance(value, Layer):
        return math.prod(_n_concrete(v) for v in value.args.values())
    if type(value) is list:
        return math.prod(_n_concrete(v) for v in value)
    return 1


def _footprint(obj: Any, seen: set[int] | None = None) -> int:
    """About the bytes ``obj`` and what it holds take, each object counted
    once and objects Python shares (small ints, None, a layer's argument
    names) not at all. Attributes are read one by one: asking an instance
    for its ``__dict__`` would make one."""
    seen = set() if seen is None else seen
    if obj is None or isinstance(obj, bool) or (isinstance(obj, int) and -5 <= obj <= 256) or id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, Layer):  # one attribute: the arguments, under names the class shares
        return size + 24 + sys.getsizeof(obj._args) + sum(_footprint(v, seen) for v in obj._args.values())
    if isinstance(obj, (_Position, _Slot)):
        names = [f.name for f in fields(obj)]
        return size + 16 + 8 * len(names) + sum(_footprint(getattr(obj, n), seen) for n in names)
    if isinstance(obj, dict):
        size += sum(_footprint(k, seen) + _footprint(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple)):
        size += sum(_footprint(v, seen) for v in obj)
    return size


class _Meter:
    """The bytes a Model holds while it is compiled, charged before (or, for
    Python objects, as) they are allocated, against ``max_bytes``."""

    def __init__(self, limit: int | None) -> None:
        self._limit = limit  # None: half the available memory, read when first needed (a file read: ~10 µs)
        self.used = 0

    @property
    def limit(self) -> int:
        if self._limit is None:
            self._limit = available_memory() // 2
        return self._limit

    def charge(self, nbytes: int, what: str) -> None:
        if self.used + nbytes > self.limit:
            raise SweepTooLargeError(
                f"this model needs more than max_bytes={self.limit:,} bytes to compile: {what} take about "
                f"{nbytes:,} bytes, with {self.used:,} held already; narrow the space (fewer repetitions, options "
                "or shape states) or raise max_bytes"
            )
        self.used += nbytes

    def release(self, nbytes: int) -> None:
        self.used -= nbytes


def _normalized(layer: Layer, path: str) -> Layer | Incompatible:
    """A plain layer checked and in canonical form, or the Incompatible its
    arguments raise (a space leaves such an option out; a model refuses it)."""
    try:
        return layer.normalized()
    except Incompatible as exc:
        exc.layer = layer
        return exc
    except (InvalidArgumentError, ArgumentTypeError) as exc:
        raise type(exc)(f"{_where(path, layer)}: {exc}") from None


def _position(element: Any, path: str, suffix: str, meter: _Meter | None) -> _Position:
    """The position ``element`` makes; ``meter`` (None: charged already) is
    charged for it before all but its first option are made."""
    if _plain(element):  # the common case first: one option, no choice to record
        return _Position(path, [_normalized(element, path)], [{}])
    if isinstance(element, type) and issubclass(element, Layer):
        raise ArgumentTypeError(f"{_where(path)}: got the class {element.__name__}; call it: {element.__name__}(...)")
    if isinstance(element, Repeat):
        raise InvalidArgumentError(f"{_where(path)}: a repeat() cannot stand inside another repeat()")
    if not isinstance(element, (Layer, Choice)):
        raise ArgumentTypeError(
            f"{_where(path)} must be a layer (asw.layers.Dense(...)), a choice or a repeat, "
            f"got {type(element).__name__} {element!r}"
        )
    pos = _Position(path)
    count = _n_concrete(element)
    for concrete, columns in _expand(element, path, suffix):
        if concrete is not None and not isinstance(concrete, Layer):
            raise ArgumentTypeError(f"{_where(path)}: a choice of layers holds layers or None, got {concrete!r}")
        if isinstance(concrete, Layer):
            try:
                concrete = concrete.normalized()
            except Incompatible as exc:
                exc.layer, concrete = concrete, exc
            except (InvalidArgumentError, ArgumentTypeError) as exc:
                raise type(exc)(f"{_where(path, concrete)}: {exc}") from None
        pos.options.append(concrete)
        pos.columns.append(columns)
        if meter is not None and len(pos.options) == 1:  # the others take about as much as the first
            meter.charge(_footprint(pos) + (count - 1) * _footprint((concrete, columns)),
                         f"the {count:,} option{'s' * (count != 1)} of layer {path}")  # fmt: skip
    _refuse_same_layers(pos)
    return pos


def _refuse_same_layers(pos: _Position) -> None:
    """Refuses two options of one position that are the same layer once
    normalized (``kernel=choice(3, (3, 3))`` in a Conv2D, ``padding=choice("same",
    "SAME")``): the space would hold that architecture twice."""
    seen: dict[Any, int] = {}
    for i, (option, columns) in enumerate(zip(pos.options, pos.columns)):
        if isinstance(option, Incompatible):
            continue
        first = pos.columns[seen.setdefault(value_key(option), i)]
        if first is not columns:
            show = lambda taken: ", ".join(f"{k}={v!r}" for k, v in taken.items())  # noqa: E731
            raise InvalidArgumentError(
                f"{_where(pos.path, option)}: the choices {show(first)} and {show(columns)} give the same layer "
                f"{option!r}; each architecture must be listed once"
            )


def _positions(layers: list[Any], meter: _Meter) -> list[_Position]:
    positions: list[_Position] = []
    for i, element in enumerate(layers):
        if not isinstance(element, Repeat):
            positions.append(_position(element, str(i), "", meter))
            continue
        block = element.layers
        into: _Meter | None = meter
        for r in range(element.max):
            start = meter.used
            for j, part in enumerate(block):
                path = f"{i}.{r}" if len(block) == 1 and not isinstance(element.block, list) else f"{i}.{r}.{j}"
                pos = _position(part, path, f".{r}", into)
                last = r == element.max - 1 and j == len(block) - 1
                pos.slot = _Slot(i, element.min, element.max, r, j == 0, last)
                if r >= element.min:  # an optional repetition: one more option leaves it out
                    pos.skip = len(pos.options)
                    pos.options.append(None)
                    pos.columns.append({})
                positions.append(pos)
            if r == 0 and element.max > 1:
                # The other repetitions hold as much as the first (and a slot and an option more each):
                # charged at once, so that a repeat of 10**9 is refused before it is built.
                extra = sum(_footprint(p.slot) + 2 * sys.getsizeof({}) for p in positions[-len(block) :])
                each = meter.used - start + extra
                meter.charge((element.max - 1) * each, f"the {element.max:,} repetitions of layer {i}")
                into = None  # charged already
    return positions


def _input_shape(value: Any) -> Shape:
    if type(value) is tuple and value and all(type(v) is int and v >= 1 for v in value):
        return value  # the common case, already canonical
    if not isinstance(value, (tuple, list)):
        raise ArgumentTypeError(f"input_shape must be a tuple such as (28, 28, 1), got {value!r}")
    if not value:
        raise InvalidArgumentError("input_shape must have at least one axis, got ()")
    return tuple(v if v is None or (type(v) is int and v >= 1) else _args.scalar_size(f"input_shape[{i}]", v, minimum=1)
                 for i, v in enumerate(value))  # fmt: skip


def _keras_name(keras_type: str) -> str:
    """Keras' default layer name for a class (``to_snake_case``)."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", keras_type)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


#: The quantities a Residual sums over its layers (the gradients' split is its own).
_SUMMED = ("trainable", "non_trainable", "buffers", "macs", "elementwise", "embedding", "kv_cache")


def _plus(a: Any, b: Any) -> Any:
    """A sum of quantities where either may be unknown (a Needs: the first unknown stands)."""
    return a if not isinstance(a, int) else b if not isinstance(b, int) else a + b


class _Structural(Incompatible):
    """A transition that a repeat's bookkeeping rules out (not a user error)."""


class Model:
    """A sequential model: ``Model(input_shape, layers)``, as
    ``keras.Sequential([keras.Input(input_shape), *layers])``.

    ``input_shape`` leaves out the batch axis (``None`` is an unknown length).
    Each layer's input width is inferred from the previous layer's output, as
    Keras does. Layer counts come from each layer's kind in the registry
    under ``convention`` (``keras``, ``torch``, ``tf1``), exactly, the same
    on either ``backend``: ``count_params()``, ``trainable_params``,
    ``non_trainable_params`` and, under ``torch``, ``buffers``.

    With :func:`archsweep.choice` or :func:`archsweep.repeat` among the layers
    the model is a *space* of models: ``size`` counts its architectures, and
    :func:`search_models` / :func:`count_models` search it. Architectures whose
    shapes do not work out (a kernel larger than its input under "valid", a
    layer after a rank it cannot take) are not part of the space.

    ``max_bytes`` (default: half the available memory) bounds what compiling
    the model holds (its positions, shape states and tables); a larger space
    raises SweepTooLargeError before it is built.
    """

    def __init__(self, input_shape: Any, layers: Any, *, convention: str = "keras", backend: str = "auto",
                 max_bytes: Any = None) -> None:  # fmt: skip
        self._given: list[Any] | None = None  # a Sequential model counted as the functional one it stands for
        self._graph: tuple[list[Tensor], list[Tensor], list[Tensor]] | None = None  # a functional space's graph
        if type(input_shape) is Tensor or (type(input_shape) in (list, tuple) and input_shape
                                           and type(input_shape[0]) is Tensor):  # fmt: skip
            self._functional(input_shape, layers, convention, backend)  # Model(inputs, outputs), as Keras'
            return
        self._nodes: list[_Node] | None = None
        self.input_shape = _input_shape(input_shape)
        if isinstance(layers, (Layer, Choice, Repeat)) or not hasattr(layers, "__iter__"):
            raise ArgumentTypeError(f"layers must be a list of layers, got {layers!r}")
        self.layers = list(layers)
        if not self.layers:
            raise InvalidArgumentError("layers must hold at least one layer, got an empty list")
        self.convention = convention if convention in CONVENTIONS else convention_name(convention)
        self.backend = backend if backend in BACKENDS else backend_name(backend)
        limit = None if max_bytes is None else _args.scalar_size("max_bytes", max_bytes, minimum=1)
        self._built: list[_Position] | None = None
        if all(_plain(layer) for layer in self.layers):
            if any(type(layer) is Residual for layer in self.layers):
                self._graph_of(self.layers, convention, backend)
                return
            # One model of plain layers (the common case, and the one timed): each layer once, in order; its
            # positions are made only if a space's method asks for them.
            self._is_concrete = True
            self._follow(((str(i), layer) for i, layer in enumerate(self.layers)), normalize=True)
            return
        meter = _Meter(limit)
        self._built = _positions(self.layers, meter)
        self._is_concrete = all(len(p.options) == 1 for p in self._built)
        if self._is_concrete and any(type(p.options[0]) is Residual for p in self._built):
            self._graph_of([p.options[0] for p in self._built if p.options[0] is not None], convention, backend)
        elif self._is_concrete:
            self._follow((pos.path, pos.options[0]) for pos in self._built)
        else:
            self._compile(meter)
            self._columns()  # refuses a choice name used twice

    def _graph_of(self, layers: list[Any], convention: str, backend: str) -> None:
        """A single Sequential model holding a Residual: the functional model it stands for (a copy of
        each layer called in turn), which Keras' summary rows and counts follow."""
        from ._graph import Input

        given = list(layers)
        x = y = Input(self.input_shape)
        for i, layer in enumerate(given):
            if type(layer) is Residual:  # checked first: its refusals name the argument, as in a space
                checked = _normalized(layer, str(i))
                if isinstance(checked, Incompatible):
                    raise InvalidArgumentError(f"{_where(str(i), layer)}: {checked}")
            y = copy.deepcopy(layer)(y)  # a copy: one layer object twice in the list is two layers
        self._functional(x, y, convention, backend)
        self.layers, self._given = given, given

    def _functional(self, inputs: Any, outputs: Any, convention: str, backend: str) -> None:
        """A functional model: every layer between ``inputs`` and ``outputs``, in Keras' order (the order
        they were called in), each inferred from its inbound layers' shapes."""
        from . import _graph

        ins, outs, created, tensors = _graph.graph(inputs, outputs)
        names = _functional_names(created)
        self.convention = convention if convention in CONVENTIONS else convention_name(convention)
        self.backend = backend if backend in BACKENDS else backend_name(backend)
        self.input_shape = ins[0].shape if len(ins) == 1 else tuple(t.shape for t in ins)  # type: ignore[assignment]
        self._built, self._is_concrete = None, True
        if not all(t.layer is None or _plain(t.layer) for t in created):
            self._functional_space(ins, outs, created, names)
            return
        index: dict[int, int] = {}
        layers: dict[int, str] = {}  # a layer called twice would share its weights: not counted yet
        self._nodes, self._trace = [], []
        for t in tensors:
            layer, name = t.layer, names[id(t)]
            if layer is None:
                self._nodes.append(_Node(name, None, t.shape, NOTHING, ()))  # type: ignore[arg-type]
            else:
                if id(layer) in layers:
                    raise InvalidArgumentError(f"layer {layers[id(layer)]} ({layer.keras_type}) is called twice: "
                                               "shared layers are not counted yet")  # fmt: skip
                layers[id(layer)] = name
                if not _plain(layer):
                    raise InvalidArgumentError(f"{_where(name, layer)}: choices in a functional model are not "
                                               "searched yet; write one model")  # fmt: skip
                checked = _normalized(layer, name)
                inbound = tuple(index[id(i)] for i in t.inbound)
                try:
                    if isinstance(checked, Incompatible):
                        raise checked
                    shapes = [self._nodes[i].shape for i in inbound]
                    out, count = _graph.infer(checked, shapes, [self._nodes[i].name for i in inbound], self.convention)
                except Incompatible as exc:
                    raise InvalidArgumentError(f"{_where(name, layer)}: {exc}") from None
                quantities = self._counted(name, layer, count)  # never None: a single model refuses
                self._nodes.append(_Node(name, checked, out, quantities, inbound))  # type: ignore[arg-type]
                self._trace.append((checked, out, quantities))  # type: ignore[arg-type]
            index[id(t)] = len(self._nodes) - 1
        self._outputs = [index[id(t)] for t in outs]
        self.layers = [layer for layer, _, _ in self._trace]
        self._path = [q.params for _, _, q in self._trace]

    def _functional_space(self, ins: list[Any], outs: list[Any], created: list[Any], names: dict[int, str]) -> None:
        """A functional model with choices: a space whose positions are its layers in the order they were
        made (every layer after its inputs) and whose state is the shapes of the tensors a later layer or
        an output still needs, so every branch's shape is checked where the branches meet, exactly."""
        last_use: dict[int, int] = {id(t): len(created) for t in outs}
        for k, t in enumerate(created):
            for i in t.inbound:
                last_use[id(i)] = max(last_use.get(id(i), -1), k)
        live = [t for t in ins if id(t) in last_use]  # the tensors the state holds, in order
        start = tuple(t.shape for t in live)
        meter, positions = _Meter(None), []
        for k, t in enumerate(created):
            if t.layer is None:
                continue
            where = {id(x): j for j, x in enumerate(live)}
            nxt = [x for x in live if last_use[id(x)] > k] + ([t] if id(t) in last_use else [])
            pos = _position(t.layer, names[id(t)], "", meter)
            pos.wiring = (tuple(where[id(i)] for i in t.inbound), tuple(names[id(i)] for i in t.inbound),
                          tuple(-1 if x is t else where[id(x)] for x in nxt))  # fmt: skip
            positions.append(pos)
            live = nxt
        self._built, self._is_concrete, self._nodes, self._trace = positions, False, None, []
        self._graph = (ins, outs, created)
        self.layers = [t.layer for t in created if t.layer is not None]
        self._compile(meter, start)
        self._columns()

    @property
    def _positions(self) -> list[_Position]:
        if self._built is None:  # a model of plain layers: one option each
            self._built = [_Position(str(i), [layer], [{}]) for i, (layer, _, _) in enumerate(self._trace)]
        return self._built

    # -- compiling -------------------------------------------------------------------------------------------

    def _compile(self, meter: _Meter, start: Any = None) -> None:
        """A space's transition tables, from the input state forward. Every
        (state, option) is inferred in Python; each layer's quantities come
        from its kind (remembered: spaces ask for the same layers again)."""
        states: dict[Any, int] = {(self.input_shape, None) if start is None else start: 0}
        held = 0  # the bytes charged for ``states``
        n_states, costs, flops, nexts = [1], [], [], []
        for pos in self._positions:
            m, n = len(states), len(pos.options)
            meter.charge(24 * m * n + 3 * _ARRAY, f"the tables of layer {pos.path} ({m:,} shape states x {n:,} options)")
            cost = np.zeros(m * n, dtype=np.int64)
            fcost = np.zeros(m * n, dtype=np.int64)
            nxt = np.full(m * n, -1, dtype=np.int64)
            after: dict[Any, int] = {}
            added = 0  # the bytes charged for ``after``
            refusal: tuple[Any, Incompatible] | None = None
            for s, entering in enumerate(states):
                for o, option in enumerate(pos.options):
                    try:
                        key, params = self._step(pos, o, option, entering)
                    except _Structural:
                        continue
                    except Incompatible as exc:
                        refusal = refusal or (option, exc)
                        continue
                    i = s * n + o
                    state = after.get(key)
                    if state is None:
                        shapes = key if pos.wiring else key[:1]
                        size = sys.getsizeof(key) + sum(sys.getsizeof(t) + 32 * len(t) for t in shapes) + _STATE_SLOT
                        meter.charge(size, f"the shape states after layer {pos.path} ({len(after) + 1:,} so far)")
                        added += size
                        state = after[key] = len(after)
                    nxt[i] = state
                    cost[i] = -1 if params is None else params.params
                    fcost[i] = _flops_cost(params)
            if not after:
                assert refusal is not None
                refused, reason = refusal
                raise InvalidArgumentError(
                    f"no architecture of this space gets through: {_where(pos.path, refused)}: {reason}"
                )
            meter.release(held)
            states, held = after, added
            n_states.append(len(after))
            costs.append(cost)
            flops.append(fcost)
            nexts.append(nxt)
        total = sum(len(c) for c in costs)
        meter.charge(24 * total, f"the model's tables ({total:,} transitions)")
        self._n_states = n_states
        self._cost = np.concatenate(costs)
        self._flops_cost = np.concatenate(flops)
        self._next = np.concatenate(nexts)

    def _follow(self, options: Iterator[tuple[str, Any]], normalize: bool = False) -> None:
        """A single model: each layer (path, option) once, from the input shape forward; ``normalize``:
        the options are the user's layers, checked here."""
        self._trace: list[tuple[Layer, Shape, Quantities]] = []
        shape = self.input_shape
        convention = self.convention
        costs = []
        for path, option in options:
            key = None
            if normalize:
                values = tuple(option._args.values())
                key = (type(option), shape, convention, values, tuple(map(type, values)))
                try:
                    step = _STEPS.get(key)
                except TypeError:  # an argument that cannot be hashed: not remembered
                    key = step = None
                if step is not None:
                    shape = step[1]
                    costs.append(step[2].params)
                    self._trace.append(step)
                    continue
                option = _normalized(option, path)
            try:
                out, quantities = self._through(path, option, shape)
            except Incompatible as exc:
                raise InvalidArgumentError(f"{_where(path, option)}: {exc}") from None
            costs.append(quantities.params)  # type: ignore[union-attr]  # a single model refuses None
            if isinstance(option, Layer):  # not a left-out one
                self._trace.append((option, out, quantities))  # type: ignore[arg-type]
                if key is not None:
                    if len(_STEPS) >= _STEPS_MAX:
                        _STEPS.clear()
                    _STEPS[key] = self._trace[-1]
            shape = out
        self._path = costs  # its tables, made when a space's method asks (_single_path): a model rarely needs them

    def _single_path(self) -> None:
        """A single model's tables: the one path through its layers."""
        if self._is_concrete and not hasattr(self, "_cost"):
            self._n_states = [1] * (len(self._path) + 1)
            self._cost = np.array(self._path, dtype=np.int64)
            self._flops_cost = np.array([_flops_cost(q) for _, _, q in self._trace], dtype=np.int64)
            self._next = np.zeros(len(self._path), dtype=np.int64)

    def _step(self, pos: _Position, o: int, option: Any, state: Any):
        """The state after option ``o`` and its quantities (None when its params are beyond int64). A
        Sequential state is (shape, closed): ``closed`` tracks, inside a repeat, whether a repetition has
        been left out (the later ones must be too). A functional one is the shapes of the tensors still
        needed."""
        if pos.wiring is not None:
            from ._graph import infer

            inbound, names, keep = pos.wiring
            if isinstance(option, Incompatible):
                raise option
            out, count = infer(option, [state[i] for i in inbound], list(names), self.convention)
            return tuple(out if i < 0 else state[i] for i in keep), self._counted(pos.path, option, count)
        shape, closed = state
        slot = pos.slot
        if slot is not None:
            skip = o == pos.skip
            if slot.first:
                if closed and not skip:
                    raise _Structural("a repetition after one left out")
                closed = skip or bool(closed)
            elif skip != bool(closed):
                raise _Structural("part of a repetition left out")
            if slot.last:
                closed = None
        out, quantities = self._through(pos.path, option, shape)
        return (out, closed), quantities

    def _through(self, path: str, option: Any, shape: Shape) -> tuple[Shape, Quantities | None]:
        """The shape after ``option`` (a layer, None: left out, or the Incompatible it raises) and its
        quantities: None in a space when its params are beyond int64, refused in a single model."""
        if option is None:
            return shape, NOTHING
        if isinstance(option, Incompatible):
            raise option
        if type(option) is Residual:
            return self._residual(path, option, shape)
        out, count = option.infer(shape, self.convention)
        return out, self._counted(path, option, count)

    def _residual(self, path: str, residual: Residual, shape: Shape) -> tuple[Shape, Quantities | None]:
        """A Residual as one step: its block's layers in turn, the projection on the shortcut, the
        merge's shape check; their quantities summed (None if one is beyond int64). In training a
        block layer's input has a gradient if the block's input has one or a block layer before it
        has trainable weights; the projection's, as the block's input."""
        parts: list[Quantities | None] = []
        out, name = shape, "its input"
        for j, layer in enumerate(residual.args["block"]):
            out, q = self._through(f"{path}.block.{j}", layer, out)
            parts.append(q)
            name = f"block[{j}] ({layer.keras_type})"
        projection = residual.args["projection"]
        if projection is not None:
            shortcut, q = self._through(f"{path}.projection", projection, shape)
            parts.append(q)
        else:
            shortcut = shape
        merged = residual.merge_layer().merge([shortcut, out], ["the shortcut" if projection is None else
                                                                "the projection", name])  # fmt: skip
        if None in parts:
            return merged, None
        block = parts[: len(residual.args["block"])]
        grad = input_grad = 0
        trained = False  # a block layer before has trainable weights: the input gradient is always taken
        for q in block:
            grad = _plus(grad, q.grad_macs)
            if trained:
                grad = _plus(grad, q.input_grad_macs)
            else:
                input_grad = _plus(input_grad, q.input_grad_macs)
            trained = trained or q.trainable > 0
        for q in parts[len(block) :]:
            grad, input_grad = _plus(grad, q.grad_macs), _plus(input_grad, q.input_grad_macs)
        total = {f: functools.reduce(_plus, (getattr(q, f) for q in parts), 0) for f in _SUMMED}
        tensors = [q.tensors or Tensors() for q in parts]
        joined = Tensors(*(sum((getattr(t, f) for t in tensors), ()) for f in ("trainable", "non_trainable", "buffers")),
                         sum(t.counters for t in tensors))  # fmt: skip
        return merged, Quantities(**total, grad_macs=grad, input_grad_macs=input_grad, tensors=joined)

    def _counted(self, path: str, layer: Layer, count: Count | int) -> Quantities | None:
        """A layer's quantities from its count (refusals name the layer): None in a space when its params
        are beyond int64, refused in a single model."""
        if type(count) is Count:
            try:
                quantities = _quantities(count, self.convention)
            except ArchsweepError as exc:
                raise type(exc)(f"{_where(path, layer)}: {exc}") from None
        else:
            quantities = NOTHING
        if quantities.params > INT64_MAX:
            if self.is_concrete:
                raise ParamOverflowError(f"{_where(path, layer)}: the parameter count does not fit in int64")
            return None
        return quantities

    @property
    def is_concrete(self) -> bool:
        """True when the model has no decisions left: one architecture."""
        return self._is_concrete

    # -- one model ---------------------------------------------------------------------------------------------

    def _concrete(self, what: str) -> None:
        if not self.is_concrete:
            raise InvalidArgumentError(
                f"{what} needs a single model; this one is a space of {self.size:,} architectures "
                "(search it with asw.search_models, or archsweep models on the command line)"
            )

    def count_params(self) -> int:
        """The model's parameter count: Keras' ``count_params()``, trainable
        and non-trainable weights; under ``torch``, ``sum(p.numel() for p in
        m.parameters())``."""
        return self._total("count_params()", "params")

    @property
    def trainable_params(self) -> int:
        """The trainable parameters (Keras' "Trainable params")."""
        return self._total("trainable_params", "trainable")

    @property
    def non_trainable_params(self) -> int:
        """The non-trainable parameters (Keras' "Non-trainable params": BatchNormalization's moving statistics)."""
        return self._total("non_trainable_params", "non_trainable")

    @property
    def buffers(self) -> int:
        """PyTorch's buffers, which are not parameters (BatchNorm's running statistics and
        ``num_batches_tracked``): 0 but under ``torch``."""
        return self._total("buffers", "buffers")

    def _total(self, what: str, quantity: str) -> int:
        if not self._is_concrete:
            self._concrete(what)
        if quantity == "params":
            return sum(self._path)
        return sum([getattr(q, quantity) for _, _, q in self._trace])

    def count_flops(self, *, length: Any = None, training: bool = False, elementwise: bool = False) -> int:
        """FLOPs for one sample, as PyTorch's ``FlopCounterMode`` counts them on
        the meta device: the forward pass, or with ``training`` forward and
        backward (the first layer's input has no gradient, so the layers up to
        the first with trainable weights take none either). ``elementwise``
        adds the forward's element-wise FLOPs FlopCounterMode leaves out (each
        layer's ``all_flops``; layers without a kind, such as activations and
        pooling, count none). ``length`` stands for the input shape's unknown
        length (None in ``input_shape``)."""
        from ._count import check_flops_options

        check_flops_options(training, elementwise)
        self._concrete("count_flops()")
        model = self._known(length, "count_flops()")
        if elementwise:
            return sum(model._flops(False)) + sum(model._elementwise())
        return sum(model._flops(training))

    def _known(self, length: Any, what: str) -> Model:
        """This model with its unknown input length made ``length``."""
        if self._nodes is not None and self._given is None:  # functional
            unknown = [n.shape for n in self._nodes if n.layer is None and None in n.shape]
            if unknown or length is not None:
                raise InvalidArgumentError(f"{what}: a functional model's inputs give their lengths (asw.Input); "
                                           f"length= is for a Sequential one (got input shapes {unknown})")  # fmt: skip
            return self
        if None not in self.input_shape:
            if length is not None:
                raise InvalidArgumentError(f"{what}: length= stands for an unknown input length; this model's "
                                           f"input shape {self.input_shape} has none")  # fmt: skip
            return self
        if length is None:
            raise InvalidArgumentError(f"{what} needs length=: the input shape {self.input_shape} has an unknown "
                                       "length (None), and compute depends on it")  # fmt: skip
        n = _args.scalar_size("length", length, minimum=1)
        shape = tuple(n if d is None else d for d in self.input_shape)
        layers = self._given or [layer for layer, _, _ in self._trace]
        return Model(shape, layers, convention=self.convention, backend=self.backend)

    def _flops(self, training: bool) -> list[int]:
        """Each layer's FLOPs (every size known). In training the layer's input has a gradient once a layer
        before it (on some path from the inputs, in a functional model) has trainable weights (the model's
        input has none)."""
        nodes = self._nodes or [_Node("", layer, shape, q, (i - 1,) if i else ()) for i, (layer, shape, q)
                                in enumerate(self._trace)]  # fmt: skip
        flops, grads = [], []  # grads[i]: whether node i's output has a gradient
        for node in nodes:
            q, grad = node.quantities, any(grads[i] for i in node.inbound)
            if node.layer is not None:
                macs = q.macs + (q.grad_macs + (q.input_grad_macs if grad else 0) if training else 0)
                flops.append(2 * macs)  # type: ignore[operator]  # every size is known here
            grads.append(grad or q.trainable > 0)
        return flops

    def _elementwise(self) -> list[int]:
        """Each layer's element-wise forward FLOPs (every size known)."""
        return [q.elementwise for _, _, q in self._trace]  # type: ignore[misc]  # every size is known here

    @property
    def output_shape(self) -> Any:
        """The output shape with the batch axis, as Keras shows it: ``(None, 10)`` (a list of them for a
        functional model of several outputs)."""
        self._concrete("output_shape")
        if self._nodes is not None:
            shapes = [(None, *self._nodes[i].shape) for i in self._outputs]
            return shapes[0] if len(shapes) == 1 else shapes
        return (None, *(self._trace[-1][1] if self._trace else self.input_shape))

    def summary(self) -> pl.DataFrame:
        """One row per layer, as Keras' ``model.summary()``: its default
        name, type, output shape (with the batch axis), count (``params``)
        and its ``trainable`` and ``non_trainable`` parts; under ``torch``
        also ``buffers``; then its forward ``flops`` per sample (null where
        the input shape has an unknown length: see :meth:`count_flops`)."""
        self._concrete("summary()")
        if self._nodes is not None:
            return self._functional_summary()
        seen: dict[str, int] = {}

        def name(layer: Layer) -> str:
            base = _keras_name(layer.keras_type)
            seen[base] = seen.get(base, 0) + 1
            return base if seen[base] == 1 else f"{base}_{seen[base] - 1}"

        names = []
        for layer, _, _ in self._trace:
            inner = layer.args.get("layer")
            if isinstance(inner, Layer):
                name(inner)  # Keras names the wrapped layer first: Bidirectional(LSTM(..)) takes "lstm"
            names.append(name(layer))
        quantities = ("params", "trainable", "non_trainable") + (("buffers",) if self.convention == "torch" else ())
        flops = self._flops(False) if None not in self.input_shape else [None] * len(self._trace)
        return pl.DataFrame(
            {
                "name": names,
                "type": [layer.keras_type for layer, _, _ in self._trace],
                "output_shape": [_show(shape) for _, shape, _ in self._trace],
                **{k: pl.Series([getattr(q, k) for _, _, q in self._trace], dtype=pl.Int64) for k in quantities},
                "flops": pl.Series(flops, dtype=pl.Int64),
            }
        )

    def _functional_summary(self) -> pl.DataFrame:
        """A functional model's summary as Keras prints it: every layer, inputs included, in its order,
        with the layers it is connected to."""
        nodes = self._nodes or []
        quantities = ("params", "trainable", "non_trainable") + (("buffers",) if self.convention == "torch" else ())
        known = not any(n.layer is None and None in n.shape for n in nodes)
        layer_flops = iter(self._flops(False) if known else [None] * len(self._trace))
        return pl.DataFrame({
            "name": [n.name for n in nodes],
            "type": ["InputLayer" if n.layer is None else n.layer.keras_type for n in nodes],
            "output_shape": [_show(n.shape) for n in nodes],
            **{k: pl.Series([getattr(n.quantities, k) for n in nodes], dtype=pl.Int64) for k in quantities},
            "flops": pl.Series([0 if n.layer is None else next(layer_flops) for n in nodes], dtype=pl.Int64),
            "connected_to": pl.Series([[nodes[i].name for i in n.inbound] for n in nodes], dtype=pl.List(pl.String)),
        })  # fmt: skip

    # -- a space -----------------------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """The number of architectures (1 for a single model)."""
        if self._is_concrete:
            return 1
        ways = [1] * self._n_states[-1]
        start = len(self._cost)
        for p in reversed(range(len(self._positions))):
            n, count = len(self._positions[p].options), self._n_states[p]
            start -= n * count
            nxt = self._next[start : start + n * count].tolist()
            ways = [sum(ways[t] for t in nxt[s * n : (s + 1) * n] if t >= 0) for s in range(count)]
        return ways[0]

    def to_keras(self) -> Any:
        """This single model built in Keras 3 (``pip install 'archsweep[keras]'``): a
        ``keras.Sequential``, or a functional ``keras.Model`` for a graph (and for attention in a
        chain, called on its input as query and value). Its ``count_params()`` is archsweep's
        under ``convention="keras"``."""
        from ._frameworks import to_keras

        return to_keras(self)

    def to_torch(self) -> Any:
        """This single model as a ``torch.nn.Module`` (``pip install 'archsweep[torch]'``; build it
        under ``with torch.device("meta"):`` for shapes only). Its forward takes a batch of this
        model's input shape, channels last; convolutions, pools and batch norms run channels first
        inside, as PyTorch's are. Its parameters are archsweep's under ``convention="torch"``."""
        from ._frameworks import to_torch

        return to_torch(self)

    def replace(self, index: Any, **changes: Any) -> Model:
        """This Sequential model with layer ``index``'s arguments changed (``layer.replace``), as a
        new Model; a change may be a choice, which makes the result a space to search around the
        model: ``model.replace(3, units=asw.choice(64, 128, 256))``."""
        if self._nodes is not None and self._given is None or self._graph is not None:
            raise InvalidArgumentError("replace() takes a Sequential model; in a functional one, call the graph's "
                                       "layers again")  # fmt: skip
        layers = list(self._given if self._given is not None else self.layers)
        if isinstance(index, bool) or not isinstance(index, int) or not -len(layers) <= index < len(layers):
            raise InvalidArgumentError(f"index must be a layer's position, 0 to {len(layers) - 1}, got {index!r}")
        layer = layers[index]
        if not isinstance(layer, Layer):
            raise InvalidArgumentError(f"layer {index} is {layer!r}, not a layer whose arguments can change")
        unknown = sorted(set(changes) - set(layer._args))
        if unknown:
            raise InvalidArgumentError(f"{type(layer).__name__} has no argument {', '.join(map(repr, unknown))}; its "
                                       f"arguments are {', '.join(layer._args)}")  # fmt: skip
        layers[index] = layer.replace(**changes)
        return Model(self.input_shape, layers, convention=self.convention, backend=self.backend)

    def select(self, choices: Mapping[str, Any]) -> Model:
        """The architecture of this space that ``choices`` names (a choice
        name, see ``choices``, to its value: a row of ``search_models`` or
        ``sample_models`` will do; other keys are ignored), as a single model.
        A value the choice does not offer is refused with the ones it does."""
        if not isinstance(choices, Mapping):
            raise ArgumentTypeError(f"choices must be a mapping of choice names to values, got {choices!r}")

        def given(name: str, allowed: list[Any], depth: bool) -> Any:
            if name not in choices:
                raise InvalidArgumentError(f"choices has no value for {name!r}; this space's choices are "
                                           f"{', '.join(self.choices)}")  # fmt: skip
            value = choices[name]
            if (value not in allowed if depth else _label(value) not in allowed) or isinstance(value, bool):
                offered = f"{allowed[0]} to {allowed[-1]}" if depth else ", ".join(map(repr, allowed))
                raise InvalidArgumentError(f"choices[{name!r}] is {value!r}, which this space does not offer "
                                           f"there: {offered}")  # fmt: skip
            return value if depth else _label(value)

        return self.choose(given)

    def choose(self, ask: Any) -> Model:
        """The architecture that ``ask`` chooses, as a single model: ``ask(name, allowed, depth)``
        is called for each choice that is live, in order (a repeat's depth first, ``depth`` true and
        ``allowed`` its lengths low to high; then the choices of the repetitions that are there,
        ``allowed`` the option labels as result columns show them) and returns one of ``allowed``.
        This is how a tuner's define-by-run suggestions become a model (``archsweep.optuna``,
        ``examples/keras_tuner_budget.py``)."""
        return self._pick(self._options(ask))

    def _options(self, ask: Any) -> list[int]:
        """Each position's option, asked choice by choice: ``ask(name, allowed, depth)`` gives a
        repeat's depth (``allowed``: low to high) before the repetitions' choices, then for each
        repetition that is there each choice's label among ``allowed``."""
        if self._is_concrete:
            return [0] * len(self._positions)  # one option a position
        options, depth = [], {}
        for pos in self._positions:
            slot = pos.slot
            if slot is not None and slot.first and slot.rep == 0 and slot.low < slot.high:
                depth[slot.index] = ask(f"{slot.index}.depth", list(range(slot.low, slot.high + 1)), True)
            if slot is not None and slot.index in depth and slot.rep >= depth[slot.index]:
                options.append(pos.skip)  # a repetition that is not there
                continue
            candidates = [o for o in range(len(pos.options)) if o != pos.skip]
            for name in dict.fromkeys(n for taken in pos.columns for n in taken):
                labels = list(dict.fromkeys(_label(pos.columns[o].get(name)) for o in candidates))
                value = ask(name, labels, False)
                candidates = [o for o in candidates if _label(pos.columns[o].get(name)) == value]
            options.append(candidates[0])
        return options

    def _pick(self, options: list[int]) -> Model:
        """The single model of one option per position."""
        if self._is_concrete:
            return self
        layers = [pos.options[o] for pos, o in zip(self._positions, options)]
        if any(isinstance(layer, Incompatible) for layer in layers):
            bad = next(layer for layer in layers if isinstance(layer, Incompatible))
            raise InvalidArgumentError(f"that architecture cannot be built: {bad}")
        if self._graph is None:
            return Model(self.input_shape, [layer for layer in layers if layer is not None],
                         convention=self.convention, backend=self.backend)  # fmt: skip
        # A functional space: the same graph, each layer the option taken (None passes its input on).
        ins, outs, created = self._graph
        chosen = iter(layers)
        made: dict[int, Tensor] = {id(t): t for t in ins}
        for t in created:
            if t.layer is not None:
                layer, inbound = next(chosen), tuple(made[id(i)] for i in t.inbound)
                made[id(t)] = inbound[0] if layer is None else Tensor(layer, inbound)
        picked = [made[id(t)] for t in outs]
        return Model(ins[0] if len(ins) == 1 else ins, picked[0] if len(picked) == 1 else picked,
                     convention=self.convention, backend=self.backend)  # fmt: skip

    @property
    def choices(self) -> list[str]:
        """The columns a search result has besides ``params``, in order."""
        return [name for name, _ in self._columns()]

    def _columns(self) -> list[tuple[str, Any]]:
        """(name, how to compute it from the option matrix) for each column:
        a position and the value per option, or a repeat's depth."""
        columns: list[tuple[str, Any]] = []
        owner: dict[str, str] = {}
        for p, pos in enumerate(self._positions):
            slot = pos.slot
            if slot is not None and slot.first and slot.rep == 0 and slot.low < slot.high:
                # The first layer of each optional repetition: its option says whether it is there.
                firsts = [q for q, other in enumerate(self._positions)
                          if other.slot and other.slot.index == slot.index and other.slot.first
                          and other.skip is not None]  # fmt: skip
                columns.append((f"{slot.index}.depth", ("depth", slot.low, firsts)))
            names = list(dict.fromkeys(name for taken in pos.columns for name in taken))
            for name in names:
                if name in owner:
                    raise InvalidArgumentError(
                        f"the choice name {name!r} is used at layers {owner[name]} and {pos.path}; names must be unique"
                    )
                owner[name] = pos.path
                columns.append((name, ("values", p, [taken.get(name) for taken in pos.columns])))
        return columns

    def __repr__(self) -> str:
        if self._nodes is not None:
            return f"Model(functional, {len(self._trace)} layers, convention={self.convention!r})"
        what = f"{len(self._trace)} layers" if self.is_concrete else f"a space of {self.size:,} architectures"
        return f"Model(input_shape={self.input_shape}, {what}, convention={self.convention!r})"


class _Node(NamedTuple):
    """A functional model's layer (None: an input), its output shape, quantities and inbound nodes."""

    name: str
    layer: Layer | None
    shape: Shape
    quantities: Quantities
    inbound: tuple[int, ...]


def _functional_names(created: list[Any]) -> dict[int, str]:
    """Keras' default names of a functional model's layers, given in the order they were made
    (``conv2d``, ``conv2d_1``, ...). A MultiHeadAttention makes a Softmax and a Dropout of its own
    when first called, which take those names' next numbers: the Dropout after it is ``dropout_1``."""
    seen: dict[str, int] = {}

    def named(keras_type: str) -> str:
        base = _keras_name(keras_type)
        seen[base] = seen.get(base, 0) + 1
        return base if seen[base] == 1 else f"{base}_{seen[base] - 1}"

    names = {}
    for t in created:
        names[id(t)] = named("InputLayer" if t.layer is None else t.layer.keras_type)
        if t.layer is not None and t.layer.keras_type == "MultiHeadAttention":
            named("Softmax"), named("Dropout")
    return names


def summary_table(model: Model) -> str:
    """The summary as Keras prints it, in plain text."""
    df = model.summary()
    rows = [(f"{n} ({t})", s, f"{p:,}") for n, t, s, p, *_ in df.iter_rows()]
    head = ("Layer (type)", "Output Shape", "Param #")
    w0 = max(len(r[0]) for r in [head, *rows])
    w1 = max(len(r[1]) for r in [head, *rows])
    w2 = max(len(r[2]) for r in [head, *rows])
    line = "─" * (w0 + w1 + w2 + 6)
    out = [f"{head[0]:<{w0}}   {head[1]:<{w1}}   {head[2]:>{w2}}", line]
    out += [f"{a:<{w0}}   {b:<{w1}}   {c:>{w2}}" for a, b, c in rows]
    out += [line, f"Total params: {model.count_params():,}", f"Trainable params: {model.trainable_params:,}",
            f"Non-trainable params: {model.non_trainable_params:,}"]  # fmt: skip
    if model.convention == "torch":
        out.append(f"Buffers: {model.buffers:,}")
    return "\n".join(out)


# -- searching -----------------------------------------------------------------------------------------------------


def _label(value: Any) -> Any:
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return value if isinstance(value, (str, int, float)) else repr(value)


def _series(name: str, values: list[Any]) -> pl.Series:
    """A column of option values: ints, floats, bools or strings as they
    are; anything else (layers, kernel tuples, mixes) as text."""
    present = [v for v in values if v is not None]
    kinds = {bool if isinstance(v, bool) else int if isinstance(v, int) else float if isinstance(v, float) else str
             if isinstance(v, str) else object for v in present}  # fmt: skip
    dtypes = {frozenset({bool}): pl.Boolean, frozenset({int}): pl.Int64, frozenset({float}): pl.Float64,
              frozenset({int, float}): pl.Float64, frozenset({str}): pl.String}  # fmt: skip
    dtype = dtypes.get(frozenset(kinds))
    if dtype is None:
        return pl.Series(name, [None if v is None else str(_label(v)) for v in values], dtype=pl.String)
    return pl.Series(name, values, dtype=dtype)


def _model_arg(space: Any) -> Model:
    if not isinstance(space, Model):
        raise ArgumentTypeError(f"space must be an asw.Model, got {type(space).__name__}")
    return space


def _tables(space: Model, quantities: tuple[str, ...] = ("params",)) -> tuple[Any, ...]:
    """The space's tables for the Rust search: a cost per entry and quantity, entry-major."""
    space._single_path()
    costs = [space._cost if q == "params" else space._flops_cost for q in quantities]
    cost = costs[0] if len(costs) == 1 else np.stack(costs, axis=1).reshape(-1)
    return space._n_states, [len(p.options) for p in space._positions], cost, space._next


SPACE_QUANTITIES = ("params", "flops")


def _space_budget(space: Model, budget: Any) -> dict[str, int]:
    """The quantities a space's search bounds, with their limits, in the order given (models are ranked by
    the first): a number is on params; a mapping names params, (forward) flops, or both."""
    if not isinstance(budget, Mapping):
        return {"params": _args.scalar_size("budget", budget, minimum=0)}
    if not budget:
        raise InvalidArgumentError("budget is an empty mapping; give {quantity: limit, ...} (params, flops) or one "
                                   "number")  # fmt: skip
    budgets: dict[str, int] = {}
    for name, limit in budget.items():
        quantity = _choose("budget", name, SPACE_QUANTITIES, {})
        if quantity in budgets:
            raise InvalidArgumentError(f"budget names {quantity} twice ({name!r} is another spelling of it)")
        inputs = space.input_shape if type(space.input_shape[0]) is tuple else (space.input_shape,)  # functional: each
        if quantity == "flops" and any(None in shape for shape in inputs):
            raise InvalidArgumentError(f"a FLOPs budget needs every shape known; the input shape "
                                       f"{space.input_shape} has an unknown length (None)")  # fmt: skip
        budgets[quantity] = _args.scalar_size(f"budget[{quantity!r}]", limit, minimum=0)
    return budgets


def _shown(budgets: dict[str, int]) -> str:
    """Budgets as a refusal names them: ``budget=5,000,000`` or ``budget={params: 5,000,000, flops: ...}``."""
    if list(budgets) == ["params"]:
        return f"budget={budgets['params']:,}"
    return "budget={" + ", ".join(f"{q}: {limit:,}" for q, limit in budgets.items()) + "}"


def _run(call: Any, space: Model, what: str, budget: dict[str, int], limit: int) -> Any:
    """A call into the Rust search, its refusals as archsweep's exceptions."""
    try:
        return call()
    except KERNEL_ERRORS as exc:
        kind, position, message, *more = exc.args
        if kind == "memory":
            needed, states = more
            if position is None:
                where = f"a copy of the space's tables ({states:,} shape states) takes {needed:,} bytes"
            else:
                layer = f"layer {space._positions[position].path}" if position < len(space._positions) else "the end"
                where = (f"its tables of completion costs reach {needed:,} bytes at {layer} "
                         f"({states:,} shape states there)")  # fmt: skip
            raise SweepTooLargeError(
                f"{what} under {_shown(budget)} needs more than max_bytes={limit:,} bytes: {where}; lower the "
                "budget, narrow the space, or raise max_bytes"
            ) from None
        if kind == "count_overflow":
            raise SweepTooLargeError(f"more than 2**65536 models of this space fit {_shown(budget)}, beyond the "
                                     "widest count; lower the budget") from None  # fmt: skip
        raise ArchsweepError(f"internal error in the model-space search: {message}") from exc


def _search(space: Any, budget: Any, max_bytes: Any, what: str) -> tuple[Model, Any, Any, tuple[str, ...], int]:
    """The Rust search of ``space`` for ``budget`` (on params, or a mapping: ``{"flops": F}``,
    ``{"params": P, "flops": F}``) within ``max_bytes`` (default: half the available memory), a runner
    of its calls that turns refusals into archsweep's exceptions, the quantities bounded and the byte
    limit."""
    space = _model_arg(space)
    budgets = _space_budget(space, budget)
    quantities = tuple(budgets)
    cap = available_memory() // 2 if max_bytes is None else _args.scalar_size("max_bytes", max_bytes, minimum=1)
    module = core("rust")

    def run(call: Any) -> Any:
        return _run(call, space, what, budgets, cap)

    search = run(lambda: module.SpaceSearch(*_tables(space, quantities), list(budgets.values()), cap))
    return space, search, run, quantities, cap


def count_models(space: Model, budget: Any, *, max_bytes: Any = None) -> int:
    """The exact number of architectures in ``space`` whose parameter count
    is at most ``budget`` (a Python int, however large), without listing
    them. ``budget`` may instead map quantities to limits: ``{"flops": F}``,
    or ``{"params": P, "flops": F}`` for the models within both. ``max_bytes`` (default: half the available memory) bounds the
    search's tables. Ctrl-C stops it at once.

    >>> import archsweep as asw
    >>> L = asw.layers
    >>> asw.count_models(asw.Model((8,), [L.Dense(asw.choice(1, 2, 3)), L.Dense(1)]), budget=30)
    2
    """
    _, search, run, _, _ = _search(space, budget, max_bytes, "count_models")
    return int(run(lambda: run_in_worker(search.count_only, stop=search.stop)))


def search_models(
    space: Model, budget: Any, *, limit: Any = None, max_bytes: Any = None, progress: bool | None = None
) -> pl.DataFrame:
    """The architectures of ``space`` with at most ``budget`` parameters,
    largest first (ties in the order the choices list their options): one
    column per choice (see ``Model.choices``) and ``params``. ``budget`` may
    map quantities to limits (``{"params": P, "flops": F}``): a column for
    each, the models within all of them, largest by the first named.
    ``limit=k`` returns the ``k`` largest without listing the rest, however many fit.
    ``max_bytes`` (default: half the available memory) bounds the result and
    the search's tables; a larger search is refused before anything large is
    allocated. ``progress``: a bar on stderr while the models are listed, for
    runs over a second (``None``: when stderr is a terminal; ``False``:
    never). Ctrl-C stops it at once.
    """
    return _search_models(space, budget, limit, max_bytes, progress)[1]


def _row_bytes(space: Model, columns: list[tuple[str, Any]], quantities: int) -> int:
    """The bytes one listed model takes until the result is returned: its
    options and counts as the search writes them (4 bytes an option, 8 a
    count), the sort (8 for the negated first counts, 8 the order), the
    result's columns (8 bytes a value and a validity bit; strings as 16-byte
    views), the index each is gathered by (8), and the sorted counts (8 each)."""
    strings = sum(how == "values" and _series(name, spec[1]).dtype == pl.String for name, (how, *spec) in columns)
    return 4 * len(space._positions) + 8 * quantities + 16 + 9 * len(columns) + 8 * strings + 8 + 8 * quantities


def _search_models(
    space: Any, budget: Any, limit: Any, max_bytes: Any, progress: bool | None
) -> tuple[int, pl.DataFrame]:
    """``search_models``, and the number of fitting models (of which the
    table holds all, or the ``limit`` largest)."""
    k = None if limit is None else _args.scalar_size("limit", limit, minimum=1)
    space, search, run, quantities, cap = _search(space, budget, max_bytes, "search_models")
    run(lambda: run_in_worker(search.build, stop=search.stop))
    rows = int(search.rows(k))
    columns = space._columns()
    width = len(space._positions)
    need, held = rows * _row_bytes(space, columns, len(quantities)), search.held_bytes()
    if need + held > cap:
        raise SweepTooLargeError(
            f"the search would return {rows:,} models taking about {need:,} bytes, besides the {held:,} bytes of "
            f"its tables, over max_bytes={cap:,}; pass limit= for the largest ones, lower the budget, or raise "
            "max_bytes"
        )
    options = np.empty((rows, width), dtype=np.uint32)
    costs = np.empty((rows, len(quantities)), dtype=np.int64)
    bar = progress_bar(rows, "model", "models", progress)

    def tick() -> None:
        bar.update(search.written() - bar.n)

    try:
        run(lambda: run_in_worker(lambda: search.fill(k, options, costs), tick=tick, stop=search.stop))
    finally:
        bar.close()
    order = np.argsort(-costs[:, 0], kind="stable")
    return int(search.count()), _decoded(space, columns, options[order], costs[order], quantities)


def _decoded(space: Model, columns: list[tuple[str, Any]], options: np.ndarray, costs: np.ndarray,
             quantities: tuple[str, ...]) -> pl.DataFrame:  # fmt: skip
    """The table of models the search wrote: a column per choice (see ``Model.choices``), read off
    each row's option indices, and one per quantity."""
    out = []
    for name, (how, *spec) in columns:
        if how == "depth":
            low, firsts = spec
            depth = np.full(len(options), low, dtype=np.int64)
            for q in firsts:
                depth += options[:, q] != space._positions[q].skip
            out.append(pl.Series(name, depth))
        else:
            p, values = spec
            out.append(_series(name, values).gather(options[:, p]))
    out.extend(pl.Series(q, costs[:, i]) for i, q in enumerate(quantities))
    return pl.DataFrame(out)


def _band(name: str, value: Any) -> tuple[int, int]:
    """An inclusive range ``(lo, hi)`` of the first budget's quantity."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ArgumentTypeError(f"{name} must be a pair (lo, hi), got {value!r}")
    lo, hi = (_args.scalar_size(f"{name}[{i}]", v, minimum=0) for i, v in enumerate(value))
    if lo > hi:
        raise InvalidArgumentError(f"{name} must have lo <= hi, got ({lo:,}, {hi:,})")
    return lo, hi


def _ranks(rng: random.Random, n: int, k: int, replace: bool) -> list[int]:
    """``k`` ranks drawn uniformly from ``range(n)``, with or without replacement, in draw order.
    Python's ``randrange`` is exact for any ``n`` (no float rounding, however large)."""
    if replace:
        return [rng.randrange(n) for _ in range(k)]
    if n <= sys.maxsize:
        return rng.sample(range(n), k)
    drawn: dict[int, None] = {}  # k is far below n here: a repeat is rare, and redrawn
    while len(drawn) < k:
        drawn.setdefault(rng.randrange(n))
    return list(drawn)


def sample_models(
    space: Model, budget: Any, k: Any, *, seed: Any = None, band: Any = None, bins: Any = None,
    replace: bool = False, max_bytes: Any = None, progress: bool | None = None,
) -> pl.DataFrame:  # fmt: skip
    """``k`` architectures drawn exactly uniformly from those of ``space``
    that fit ``budget`` (a number of parameters, or a mapping as for
    ``search_models``), without building or rejecting any: each draw is a
    uniform rank among the fitting models, turned into its architecture by
    the search's exact counts. The same table as ``search_models`` (a column
    per choice, then one per bounded quantity), in draw order.

    ``band=(lo, hi)``: only the models whose first budgeted quantity (params,
    or the first one named) is in ``lo..hi`` (inclusive). ``bins=[(lo, hi),
    ...]``: stratified, ``k`` from each bin, with a first column ``bin`` (its
    index). ``replace``: with replacement (default: ``k`` distinct models, so
    at most as many as fit). ``seed``: an int for a reproducible draw (the
    ranks come from ``random.Random(seed)``). ``max_bytes`` and ``progress``
    as for ``search_models``. Ctrl-C stops it at once.

    >>> import archsweep as asw
    >>> L = asw.layers
    >>> space = asw.Model((8,), [L.Dense(asw.choice(1, 2, 3, 4)), L.Dense(1)])
    >>> asw.sample_models(space, budget=40, k=2, seed=0)["params"].to_list()
    [21, 31]
    """
    n = _args.scalar_size("k", k, minimum=0)
    if not isinstance(replace, bool):
        raise ArgumentTypeError(f"replace must be True or False, got {replace!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ArgumentTypeError(f"seed must be an int or None, got {seed!r}")
    if band is not None and bins is not None:
        raise InvalidArgumentError("give band= or bins=, not both")
    if bins is not None:
        if isinstance(bins, (str, bytes)) or not hasattr(bins, "__iter__"):
            raise ArgumentTypeError(f"bins must be a sequence of (lo, hi) pairs, got {bins!r}")
        strata = [_band(f"bins[{i}]", b) for i, b in enumerate(bins)]
        if not strata:
            raise InvalidArgumentError("bins is empty; give at least one (lo, hi) pair")
    else:
        strata = [(0, 2**63 - 1) if band is None else _band("band", band)]
    space, search, run, quantities, cap = _search(space, budget, max_bytes, "sample_models")
    run(lambda: run_in_worker(search.build, stop=search.stop))
    rng, shown = random.Random(seed), _shown(_space_budget(space, budget))
    draws = []
    for lo, hi in strata:
        fitting = int(search.count_range(lo, hi))
        where = "" if band is None and bins is None else f" with {quantities[0]} in [{lo:,}, {hi:,}]"
        if n and not fitting:
            raise InvalidArgumentError(f"no model of the space fits {shown}{where}")
        if n > fitting and not replace:
            raise InvalidArgumentError(f"k={n:,} distinct models asked for, but only {fitting:,} fit {shown}{where}; "
                                       "lower k or pass replace=True")  # fmt: skip
        draws.append((lo, hi, _ranks(rng, fitting, n, replace), fitting))
    columns = space._columns()
    words = max(1, max((f.bit_length() + 63) // 64 for *_, f in draws))
    need = n * len(strata) * (_row_bytes(space, columns, len(quantities)) + 8 * words)
    if need + search.held_bytes() > cap:
        raise SweepTooLargeError(f"{n * len(strata):,} sampled models take about {need:,} bytes, besides the "
                                 f"{search.held_bytes():,} bytes of the search's tables, over max_bytes={cap:,}; "
                                 "lower k or raise max_bytes")  # fmt: skip
    bar = progress_bar(n * len(strata), "model", "models", progress)
    tables = []
    try:
        for i, (lo, hi, ranks, _) in enumerate(draws):
            encoded = b"".join(r.to_bytes(8 * words, "little") for r in ranks)
            packed = np.frombuffer(encoded, dtype="<u8").astype(np.uint64).reshape(n, words)
            options = np.empty((n, len(space._positions)), dtype=np.uint32)
            costs = np.empty((n, len(quantities)), dtype=np.int64)
            done = bar.n

            def tick() -> None:
                bar.update(done + search.written() - bar.n)

            run(lambda: run_in_worker(lambda: search.unrank(lo, hi, packed, options, costs), tick=tick,
                                      stop=search.stop))  # fmt: skip
            table = _decoded(space, columns, options, costs, quantities)
            tables.append(table if bins is None else table.insert_column(0, pl.Series("bin", [i] * n, pl.Int64)))
    finally:
        bar.close()
    return pl.concat(tables)
