"""``asw.choice`` and ``asw.repeat``: the two ways a model becomes a space of
models. They only record what the user wrote; ``asw.Model`` expands them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._args import scalar_size
from ._errors import ArgumentTypeError, InvalidArgumentError


class Choice:
    """One decision in a model space: any layer argument, a whole layer, or a
    layer that may be left out (``None``). Build it with :func:`choice`."""

    def __init__(self, options: tuple[Any, ...], name: str | None) -> None:
        self.options = options
        self.name = name

    def __repr__(self) -> str:
        inner = ", ".join(_short(o) for o in self.options)
        return f"choice({inner}{'' if self.name is None else f', name={self.name!r}'})"


class Repeat:
    """A block of layers repeated ``min`` to ``max`` times, each repetition
    with its own decisions. Build it with :func:`repeat`."""

    def __init__(self, block: Any, min: int, max: int) -> None:
        self.block = block
        self.min = min
        self.max = max

    @property
    def layers(self) -> list[Any]:
        return list(self.block) if isinstance(self.block, list) else [self.block]

    def __repr__(self) -> str:
        return f"repeat({_short(self.block)}, {self.min}, {self.max})"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def choice(*options: Any, name: str | None = None) -> Choice:
    """A decision between ``options``: ``choice(32, 64, 128)``, ``choice(range(8, 65, 8))``
    (a single list or range gives the options), ``choice(L.LSTM(64), L.GRU(64))``,
    ``choice(L.Dense(64), None)`` (the layer may be left out). A tuple is one
    option (a kernel), as everywhere in archsweep.

    The column of a search result that shows the decision is named after the
    layer index and argument (``"1.units"``, ``"2"`` for a whole layer), or
    ``name``.
    """
    if len(options) == 1 and isinstance(options[0], (list, range)):
        options = tuple(options[0])
    if not options:
        raise InvalidArgumentError("choice() needs at least one option, got none")
    if name is not None and (not isinstance(name, str) or not name):
        raise ArgumentTypeError(f"choice name must be a non-empty string, got {name!r}")
    _refuse_equal(options)
    return Choice(tuple(options), name)


def _refuse_equal(options: tuple[Any, ...]) -> None:
    """Refuses two options that are the same value (``3`` and ``3.0``, see
    ``layers.value_key``), in linear time: by key, and by equality only
    among the options that cannot be hashed."""
    from .layers import value_key  # layers reads the registry: imported when a choice is made

    seen: dict[Any, int] = {}
    unhashable: list[int] = []
    for i, option in enumerate(options):
        try:
            first = seen.setdefault(value_key(option), i)
        except TypeError:
            first = next((j for j in unhashable if _equal(options[j], option)), i)
            unhashable.append(i)
        if first != i:
            first = options[first]
            same = "" if repr(first) == repr(option) else f" (the same as {first!r})"
            raise InvalidArgumentError(f"choice options must differ; {option!r} is given twice{same}")


def _equal(a: Any, b: Any) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # an equality that is not a truth value (arrays): not the same
        return False


def repeat(block: Any, min: int, max: int) -> Repeat:
    """``block`` (a layer, a choice, or a list of them) repeated ``min`` to
    ``max`` times (both included); every repetition decides its choices on its
    own. The result's column ``"<index>.depth"`` holds the number of
    repetitions; a choice in repetition ``r`` is named ``"<index>.<r>.<argument>"``
    (``"<index>.<r>.<j>.<argument>"`` for layer ``j`` of a list block), or
    ``"<name>.<r>"``."""
    low = scalar_size("repeat min", min, minimum=0)
    high = scalar_size("repeat max", max, minimum=1)
    if high < low:
        raise InvalidArgumentError(f"repeat max must be at least min, got min={low}, max={high}")
    if isinstance(block, Iterable) and not isinstance(block, list):
        block = list(block)
    if isinstance(block, list) and not block:
        raise InvalidArgumentError("repeat needs a layer or a non-empty list of layers, got an empty list")
    return Repeat(block, low, high)
