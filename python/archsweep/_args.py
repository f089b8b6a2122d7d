"""Turning user arguments into validated int64 arrays, with errors that name
the argument, what it got and what is allowed. Shared by both backends, so
bad input fails the same way whichever core runs."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._errors import ArgumentTypeError, InvalidArgumentError

INT64_MAX = np.iinfo(np.int64).max


def is_scalar(value: Any) -> bool:
    """True for a single number or bool (a 0-d numpy array counts as an array)."""
    return isinstance(value, (numbers.Number, np.generic))


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _to_array(name: str, value: Any) -> np.ndarray:
    if value is None:
        raise ArgumentTypeError(f"{name} must be a number or an array of numbers, got None")
    if isinstance(value, (str, bytes)):
        raise ArgumentTypeError(f"{name} must be a number or an array of numbers, got {type(value).__name__} {value!r}")
    if isinstance(value, range):
        if not value:
            return np.empty(0, dtype=np.int64)
        if max(value[0], value[-1]) > INT64_MAX:
            raise InvalidArgumentError(f"{name} must be at most 2**63 - 1, got {_describe(value)}")
        return np.arange(value.start, value.stop, value.step, dtype=np.int64)
    if hasattr(value, "to_numpy") and not isinstance(value, np.ndarray):  # polars / pandas Series
        value = value.to_numpy()
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ArgumentTypeError(f"{name} must be a number or a rectangular array of numbers: {exc}") from None


def sizes(name: str, value: Any, *, minimum: int = 1) -> np.ndarray:
    """``value`` as an int64 array of whole numbers >= ``minimum`` (0-d for a scalar).

    Whole floats (3.0) are accepted; bools, None, strings, NaN, fractions and
    values beyond int64 are refused.
    """
    arr = _to_array(name, value)
    kind = arr.dtype.kind
    if kind == "b":
        raise ArgumentTypeError(f"{name} must be an integer, not a bool (got {_describe(value)})")
    if kind == "O":
        items = arr.ravel().tolist()
        for item in items:
            if item is None or isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Real):
                what = "None" if item is None else f"{type(item).__name__} {item!r}"
                raise ArgumentTypeError(f"{name} must hold integers, got {what}")
        as_float = [float(x) for x in items if not isinstance(x, numbers.Integral)]
        if as_float:
            return sizes(name, np.asarray(items, dtype=np.float64).reshape(arr.shape), minimum=minimum)
        too_big = [x for x in items if x > INT64_MAX]
        if too_big:
            raise InvalidArgumentError(f"{name} must be at most 2**63 - 1, got {too_big[0]}")
        arr = np.asarray(items, dtype=np.int64).reshape(arr.shape)
    elif kind == "f":
        if np.isnan(arr).any():
            raise InvalidArgumentError(f"{name} must be a whole number, got NaN")
        if np.isinf(arr).any():
            raise InvalidArgumentError(f"{name} must be a whole number, got infinity")
        fractional = arr[arr != np.floor(arr)]
        if fractional.size:
            raise InvalidArgumentError(f"{name} must be a whole number, got {fractional.flat[0]!r}")
        if arr.size and arr.max() >= 2.0**63:
            raise InvalidArgumentError(f"{name} must be at most 2**63 - 1, got {arr.max()!r}")
        arr = arr.astype(np.int64)
    elif kind == "u":
        if arr.size and arr.max() > INT64_MAX:
            raise InvalidArgumentError(f"{name} must be at most 2**63 - 1, got {arr.max()}")
        arr = arr.astype(np.int64)
    elif kind == "i":
        arr = arr.astype(np.int64, copy=False)
    else:
        raise ArgumentTypeError(f"{name} must hold integers, got an array of {arr.dtype}")
    if arr.size:
        low = arr.min()
        if low < minimum:
            raise InvalidArgumentError(f"{name} must be at least {minimum}, got {low}")
    return arr


def flags(name: str, value: Any) -> np.ndarray:
    """``value`` as an int64 array of 0/1; only bools are accepted."""
    if isinstance(value, (bool, np.bool_)):
        return np.asarray(int(value), dtype=np.int64)
    arr = _to_array(name, value)
    if arr.dtype.kind == "O" and all(isinstance(x, (bool, np.bool_)) for x in arr.ravel().tolist()):
        arr = arr.astype(bool)
    if arr.dtype.kind != "b":
        raise ArgumentTypeError(f"{name} must be True/False or an array of bools, got {_describe(value)}")
    return arr.astype(np.int64)


def scalar_size(name: str, value: Any, *, minimum: int) -> int:
    """A single whole number >= minimum (budgets, byte limits)."""
    if not is_scalar(value) or isinstance(value, np.ndarray):
        raise ArgumentTypeError(f"{name} must be a single integer, got {_describe(value)}")
    return int(sizes(name, value, minimum=minimum))
