"""Turning user arguments into validated int64 arrays, with errors that name
the argument, what it got and what is allowed. Shared by both backends and by
every entry point (count_params, sweep, search, budgets and limits), so an
argument means the same everywhere and bad input fails the same way whichever
core runs.

The one rule for a number: a Python or numpy integer is taken as is; a float
(Python or numpy, float16 included), ``Fraction`` or ``Decimal`` only when it
is whole, checked exactly and never rounded; nothing else. Exactness is why
Python objects are never handed to numpy to guess a dtype (it would turn
``[2**53 + 1, 2.0]`` into float64 and ``[3, True]`` into ints): a list is read
element by element, and only arrays numpy already typed are checked by
vectorised operations.
"""

from __future__ import annotations

import numbers
import operator
import reprlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from ._axis import Chain
from ._errors import ArchsweepError, ArgumentTypeError, InvalidArgumentError

INT64_MAX = np.iinfo(np.int64).max
_WHAT = "an integer (or a whole float, Fraction or Decimal)"


def is_scalar(value: Any) -> bool:
    """True for a single number or bool (a 0-d numpy array counts as an array)."""
    return isinstance(value, (numbers.Number, np.generic))


_REPR = reprlib.Repr()  # attributes, not keywords: Python 3.11 has no keywords
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxstring, _REPR.maxother = 3, 8, 8, 40, 60


def _describe(value: Any) -> str:
    """A short repr for messages (bounded however large or deeply nested the value)."""
    return _REPR.repr(value)


def whole(name: str, x: Any) -> int:
    """One number as an exact Python int, or the refusal that names ``name``."""
    if type(x) is int:
        return x
    if isinstance(x, np.ndarray) and x.ndim == 0:  # numpy leaves 0-d arrays inside object arrays
        x = x[()]
    if isinstance(x, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be {_WHAT}, not a bool (got {x!r})")
    # numpy files durations under its integers; they are not numbers here
    if not isinstance(x, (numbers.Rational, float, np.floating, Decimal)) or isinstance(x, np.timedelta64):
        what = "None" if x is None else f"{type(x).__name__} {_describe(x)}"
        raise ArgumentTypeError(f"{name} must be {_WHAT}, got {what}")
    if isinstance(x, numbers.Integral):
        return operator.index(x)
    if isinstance(x, numbers.Rational):
        if x.denominator == 1:
            return int(x.numerator)
    elif isinstance(x, Decimal):
        if x.is_finite() and x == x.to_integral_value():
            return int(x)
    elif np.isfinite(x) and x.is_integer():
        return int(x)  # exact: a finite float is a dyadic rational
    raise InvalidArgumentError(f"{name} must be a whole number, got {x!r}")


def _check_range(name: str, low: int, high: int, minimum: int) -> None:
    """Refuses a smallest value below ``minimum`` or a largest beyond int64 (exact Python ints)."""
    if low < minimum:
        raise InvalidArgumentError(f"{name} must be at least {minimum}, got {low}")
    if high > INT64_MAX:
        raise InvalidArgumentError(f"{name} must be at most 2**63 - 1, got {high}")


def _index(shape: tuple[int, ...], flat: int) -> str:
    return ", ".join(str(int(i)) for i in np.unravel_index(flat, shape))


def _exact_ints(name: str, objects: np.ndarray, minimum: int) -> np.ndarray:
    """An object array of Python (or numpy) numbers, converted one by one."""
    items = objects.ravel().tolist()
    try:
        ints = [x if type(x) is int else whole(name, x) for x in items]
    except ArchsweepError:
        raise _first_refusal(name, objects.shape, items) from None
    try:
        arr = np.array(ints, dtype=np.int64).reshape(objects.shape)
    except OverflowError:  # a value beyond int64: found exactly, on the Python ints
        _check_range(name, min(ints), max(ints), minimum)
        raise
    if arr.size and arr.min() < minimum:
        _check_range(name, int(arr.min()), 0, minimum)
    return arr


def _first_refusal(name: str, shape: tuple[int, ...], items: list[Any]) -> ArchsweepError:
    """The refusal of a list, naming the element: the first of the wrong type
    (a bool anywhere is a type error, whatever else is wrong), else the first
    that is not whole. Only failing lists pay for this second pass."""
    value_errors = []
    for i, x in enumerate(items):
        try:
            whole(f"{name}[{_index(shape, i)}]" if shape else name, x)
        except ArgumentTypeError as exc:
            return exc
        except InvalidArgumentError as exc:
            value_errors.append(exc)
    return value_errors[0]


def _typed(name: str, arr: np.ndarray, minimum: int) -> np.ndarray:
    """A numpy-typed array, checked and converted by vectorised operations."""
    kind = arr.dtype.kind
    if kind == "b":
        raise ArgumentTypeError(f"{name} must hold integers, not bools (got {_describe(arr)})")
    if kind == "f":
        bad = ~np.isfinite(arr)
        if not bad.any():
            bad = arr != np.floor(arr)
        if bad.any():
            what = "be a whole number" if arr.ndim == 0 else "hold whole numbers"
            raise InvalidArgumentError(f"{name} must {what}, got {arr[bad].flat[0].item()!r}")
    elif kind not in "iu":
        raise ArgumentTypeError(f"{name} must hold integers, got an array of {arr.dtype}")
    if arr.size:
        # int() of an integer or a finite whole float is exact, so the bounds
        # are too; only floats and uint64 reach past int64 (others skip a pass).
        wide = kind == "f" or arr.dtype == np.uint64
        _check_range(name, int(arr.min()), int(arr.max()) if wide else 0, minimum)
    return arr.astype(np.int64, copy=False)


def _plain(name: str, value: Any) -> Any:
    """A Series as its numpy array, an ndarray subclass as a plain ndarray (so
    the checks see exactly the data a core reads); masked arrays are refused,
    as a core would read the values under the mask."""
    if isinstance(value, np.ma.MaskedArray):
        raise ArgumentTypeError(f"{name} is a masked array; pass arr.compressed() or arr.filled(value)")
    if isinstance(value, np.ndarray):
        return np.asarray(value)
    if hasattr(value, "to_numpy"):  # polars / pandas Series
        return value.to_numpy()
    return value


def sizes(name: str, value: Any, *, minimum: int = 1, floor_later: bool = False) -> np.ndarray:
    """``value`` as an int64 array of whole numbers >= ``minimum`` (0-d for a
    scalar), by the rule in the module docstring; a bool anywhere is refused.
    ``floor_later``: a plain int64 array is returned unread, its minimum left
    to the kernel's pass over it (a floor), which the caller then sets."""
    if floor_later and type(value) is np.ndarray and value.dtype == np.int64:
        return value
    if isinstance(value, (str, bytes)):
        what = f"{type(value).__name__} {_describe(value)}"
        raise ArgumentTypeError(f"{name} must be a number or an array of numbers, got {what}")
    if is_scalar(value):
        n = whole(name, value)
        _check_range(name, n, n, minimum)
        return np.asarray(n, dtype=np.int64)
    chain = Chain.of(value)
    if chain is not None:  # the extremes bound every value: checked before listing any
        if chain:
            _check_range(name, *chain.extremes(), minimum)
        return chain.take(0, chain.size)
    value = _plain(name, value)
    if isinstance(value, np.ndarray) and value.dtype.kind != "O":
        return _typed(name, value, minimum)
    try:
        objects = np.asarray(value, dtype=object)
    except ValueError as exc:
        raise ArgumentTypeError(f"{name} must be a number or a rectangular array of numbers: {exc}") from None
    return _exact_ints(name, objects, minimum)


def flags(name: str, value: Any) -> np.ndarray:
    """``value`` as an int64 array of 0/1; only bools are accepted."""
    if isinstance(value, (bool, np.bool_)):
        return np.asarray(int(value), dtype=np.int64)
    value = _plain(name, value)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError):  # ragged
        arr = np.asarray(None)  # refused below, with the value given
    if arr.dtype.kind == "O" and all(isinstance(x, (bool, np.bool_)) for x in arr.ravel().tolist()):
        arr = arr.astype(bool)
    if arr.dtype.kind != "b":
        raise ArgumentTypeError(f"{name} must be True/False or an array of bools, got {_describe(value)}")
    return arr.astype(np.int64)


def scalar_size(name: str, value: Any, *, minimum: int) -> int:
    """A single whole number >= minimum (budgets, byte limits, the sizes in a
    list of kernels), by the rule of ``sizes``."""
    if not is_scalar(value):
        raise ArgumentTypeError(f"{name} must be a single integer, got {_describe(value)}")
    n = whole(name, value)
    _check_range(name, n, n, minimum)
    return n


@dataclass(frozen=True)
class Kernel:
    """One kernel as written: ``rank`` entries, one int64 array of sizes per
    dimension (broadcast together), or ``rank`` 0: square, ``sizes[0]`` in
    every dimension."""

    rank: int
    sizes: tuple[np.ndarray, ...]
    written: Any  # for messages

    def dims(self, rank: int) -> tuple[np.ndarray, ...]:
        """The per-dimension sizes for a layer of ``rank`` dimensions (which the caller has matched)."""
        return self.sizes * rank if self.rank == 0 else self.sizes


def kernels(value: Any) -> Kernel | list[Kernel]:
    """``kernel=`` by the one rule count_params and sweep share.

    A tuple is one kernel, one entry per dimension, each a size or an array
    of sizes (broadcast together: an array of kernels). A list is a
    collection of kernels, each an int (square) or a tuple of ints; a list or
    array inside it is refused, as a non-square kernel is written as a tuple.
    Anything else (an int, an array, a range) is sizes of square kernels.
    """
    if isinstance(value, list):
        return [_listed_kernel(f"kernel[{i}]", k) for i, k in enumerate(value)]
    if isinstance(value, tuple):
        _check_rank(value)
        entries = tuple(sizes(f"kernel[{i}]", k) for i, k in enumerate(value))
        try:
            shape = np.broadcast_shapes(*(e.shape for e in entries))
        except ValueError:
            shapes = ", ".join(f"kernel[{i}] {e.shape}" for i, e in enumerate(entries))
            raise InvalidArgumentError(
                f"the entries of kernel {_describe(value)} do not broadcast together: {shapes}"
            ) from None
        return Kernel(len(value), tuple(np.broadcast_to(e, shape) for e in entries), value)
    return Kernel(0, (sizes("kernel", value),), value)


def _listed_kernel(name: str, k: Any) -> Kernel:
    """One item of a list of kernels: an int (square) or a tuple of single sizes."""
    if isinstance(k, tuple):
        _check_rank(k)
        entries = tuple(np.asarray(scalar_size(f"{name}[{j}]", e, minimum=1)) for j, e in enumerate(k))
        return Kernel(len(k), entries, k)
    if isinstance(k, (list, np.ndarray, range, Chain)) or hasattr(k, "to_numpy"):
        raise ArgumentTypeError(
            f"{name} is {_describe(k)}: a list is a collection of kernels, each an int (square) or a tuple "
            "(one entry per dimension); write a non-square kernel as a tuple, e.g. (1, 7)"
        )
    return Kernel(0, (np.asarray(scalar_size(name, k, minimum=1)),), k)


def _check_rank(k: tuple[Any, ...]) -> None:
    if not 1 <= len(k) <= 3:
        raise InvalidArgumentError(
            f"kernel {_describe(k)} has {len(k)} entries; conv layers take 1, 2 or 3 (one per dimension)"
        )
