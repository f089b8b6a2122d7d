"""The pure-Python core: the readable reference for every formula, with exact
integers. It has the same interface as the Rust extension (``_core``), so the
front end drives either one unchanged (``backend="python"``)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

import numpy as np

from ._names import CONVENTIONS, LAYERS, RECURRENT

INT64_MAX = 2**63 - 1
GATES = {"lstm": 4, "gru": 3}


class KernelError(Exception):
    """A kernel refusal: args are (kind, grid index or None, message), as in ``_core``."""


def bias_vectors(layer: str, convention: str, reset_after: bool) -> int:
    """Bias vectors per gate set: PyTorch keeps ``b_ih`` and ``b_hh``, and so does
    a Keras GRU with ``reset_after`` (its default); everything else keeps one."""
    if layer not in RECURRENT:
        return 1
    if convention == "torch" or (convention == "keras" and layer == "gru" and reset_after):
        return 2
    return 1


def params(
    layer: str,
    n_features: int,
    n_units: int,
    kernel: Sequence[int] = (1, 1, 1),
    bias: bool = True,
    bidirectional: bool = False,
    convention: str = "keras",
    reset_after: bool = True,
    groups: int = 1,
) -> int:
    """The parameter count of one layer, exactly.

    ``directions · gates · (∏kernel · (n_features / groups) · n_units
    + recurrent · n_units² + bias_vectors · n_units)``: Dense is a 1×1
    convolution; SimpleRNN, LSTM and GRU are 1, 4 and 3 gate sets of
    ``[W (f×u) | U (u×u) | b]``.
    """
    gates = GATES.get(layer, 1)
    input_weights = math.prod(kernel) * (n_features // groups) * n_units
    recurrent_weights = n_units * n_units if layer in RECURRENT else 0
    biases = bias_vectors(layer, convention, reset_after) * n_units if bias else 0
    directions = 2 if bidirectional else 1
    return directions * gates * (input_weights + recurrent_weights + biases)


def _points(shape: Sequence[int], operands: Sequence[np.ndarray]) -> Iterator[tuple[int, ...]]:
    """The operands' values at every point of ``shape``, in C order."""
    columns = [np.broadcast_to(op, tuple(shape)).ravel().tolist() for op in operands]
    return zip(*columns) if columns and math.prod(shape) else iter(())


def _count_at(layer: str, index: int, v: tuple[int, ...]) -> int:
    n_features, n_units, kd, kh, kw, bias, bidirectional, convention, reset_after, groups = v
    if n_features % groups or n_units % groups:
        raise KernelError("groups", index, f"groups does not divide n_features and n_units at grid point {index}")
    count = params(
        layer, n_features, n_units, (kd, kh, kw), bool(bias), bool(bidirectional),
        CONVENTIONS[convention], bool(reset_after), groups,
    )  # fmt: skip
    if count > INT64_MAX:
        raise KernelError("overflow", index, f"parameter count overflows int64 at grid point {index}")
    return count


def count_one(layer_code: int, *values: int) -> int:
    """The count of one configuration, its fields given in ``FIELDS`` order
    (flags as bools or 0/1)."""
    return _count_at(LAYERS[layer_code], 0, tuple(int(v) for v in values))


def count(layer_code: int, operands: Sequence[np.ndarray], out: np.ndarray) -> None:
    """Writes the count at every point of the operands' broadcast into ``out``."""
    layer = LAYERS[layer_code]
    flat = out.reshape(-1)
    for i, v in enumerate(_points(out.shape, operands)):
        flat[i] = _count_at(layer, i, v)


def _kept(
    layer: str, shape: Sequence[int], operands: Sequence[np.ndarray], budget: int | None, start: int, end: int | None
):
    """(values, count) for every point of ``start..end`` a sweep keeps, in grid order."""
    for i, v in itertools.islice(enumerate(_points(shape, operands)), start, end):
        try:
            p = _count_at(layer, i, v)
        except KernelError as exc:
            if exc.args[0] == "groups" or budget is not None:
                continue
            raise
        if budget is None or p <= budget:
            yield v, p


def sweep_count(
    layer_code: int,
    shape: Sequence[int],
    operands: Sequence[np.ndarray],
    budget: int | None = None,
    start: int = 0,
    end: int | None = None,
) -> int:
    return sum(1 for _ in _kept(LAYERS[layer_code], shape, operands, budget, start, end))


def sweep_fill(
    layer_code: int,
    shape: Sequence[int],
    operands: Sequence[np.ndarray],
    budget: int | None,
    columns: Sequence[tuple[int, int]],
    start: int = 0,
    end: int | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    rows = list(_kept(LAYERS[layer_code], shape, operands, budget, start, end))
    params = np.array([p for _, p in rows], dtype=np.int64)
    arrays = [np.array([v[field] for v, _ in rows], dtype=f"u{width}").view(np.uint8) for field, width in columns]
    return params, arrays
