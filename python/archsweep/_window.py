"""A convolution's input size, strides, padding and dilation, as the one size
its compute reads: ``positions``, the output positions per sample (the
product of the output's spatial sizes; for a transposed conv, of the
input's, where FlopCounterMode counts it).

Output lengths follow the frameworks: ``valid`` keeps the positions where the
dilated kernel fits, ``(n - d·(k - 1) - 1) // s + 1``; ``same`` (and Keras'
``causal``) every ``s``-th one, ``(n - 1) // s + 1``; PyTorch's explicit
padding ``p`` on each side, ``(n + 2p - d·(k - 1) - 1) // s + 1``.

A transposed conv's bias is added at its *output* positions (``output_positions``,
for ``all_flops``): PyTorch's ``(n - 1)·s - 2p + d·(k - 1) + output_padding + 1``;
Keras' ``valid`` ``(n - 1)·s + span + output_padding`` (by default ``max(span, s) - span``)
and ``same`` ``n·s`` (or ``(n - 1)·s + span % 2 + output_padding``), ``span = d·(k - 1) + 1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _args
from ._errors import ArgumentTypeError, InvalidArgumentError

ARGS = ("input_size", "strides", "padding", "dilation", "output_padding")
INT64_MAX = 2**63 - 1


def _dims(name: str, value: Any, rank: int, minimum: int = 1) -> list[np.ndarray]:
    """An int or array (the same in every dimension) or a tuple (list) of ``rank`` entries."""
    if isinstance(value, (tuple, list)):
        if len(value) != rank:
            raise InvalidArgumentError(f"{name} must be an int or {rank} entries (one per dimension), got {value!r}")
        return [_args.sizes(f"{name}[{i}]", v, minimum=minimum) for i, v in enumerate(value)]
    return [_args.sizes(name, value, minimum=minimum)] * rank


def _padding(value: Any, rank: int, kind: Any, convention: str) -> list[Any]:
    """One padding per dimension: "valid", "same", "causal" (Keras' Conv1D) or PyTorch's explicit ints."""
    names = ("valid", "same", "causal") if rank == 1 and convention != "torch" else ("valid", "same")
    if isinstance(value, str):
        if value.lower() not in names:
            raise InvalidArgumentError(f"padding must be one of {', '.join(map(repr, names))} or, under torch, "
                                       f"an int per side; got {value!r} ({kind.name})")  # fmt: skip
        return [value.lower()] * rank
    if convention != "torch":
        raise InvalidArgumentError(
            f"padding {value!r}: explicit padding is PyTorch's (convention='torch'); {kind.name} under "
            f"{convention!r} takes {', '.join(map(repr, names))}"
        )
    return list(_dims("padding", value, rank, minimum=0))


def positions(kind: Any, convention: str, given: dict[str, Any], kernel: list[np.ndarray]) -> np.ndarray:
    """The output positions per sample of conv ``kind`` for the window
    arguments in ``given`` (``input_size`` required; strides and dilation
    default to 1, padding to "valid"), broadcast with ``kernel`` (one array
    per dimension). A kernel that does not fit its input is refused, naming
    both."""
    rank = kind.rank
    if "input_size" not in given:
        extra = ", ".join(n for n in ARGS if n in given)
        raise InvalidArgumentError(f"{extra} of {kind.name} need input_size (the input's spatial size)")
    if "positions" in given:
        raise InvalidArgumentError(f"{kind.name}: give input_size (with strides, padding, dilation) or positions, "
                                   "not both")  # fmt: skip
    sizes = _dims("input_size", given["input_size"], rank)
    strides = _dims("strides", given.get("strides", 1), rank)
    dilation = _dims("dilation", given.get("dilation", 1), rank)
    padding = _padding(given.get("padding", "valid"), rank, kind, convention)
    if kind.name.endswith("_transpose"):  # counted at the input positions: the window does not matter
        outs = sizes
    else:
        outs = []
        for i in range(rank):
            n, s, d, k, p = sizes[i], strides[i], dilation[i], kernel[i], padding[i]
            if isinstance(p, str) and p != "valid":
                if convention == "torch" and p == "same" and np.any(s > 1):
                    raise InvalidArgumentError("padding='same' needs strides 1 under torch (PyTorch refuses strided "
                                               f"'same' convolutions); got strides {given.get('strides')!r}")  # fmt: skip
                outs.append((n - 1) // s + 1)
                continue
            pad = 0 if isinstance(p, str) else p
            # int64 arithmetic below: its largest intermediate values are checked first, never wrapped.
            if max(int(np.max(n)) + 2 * int(np.max(pad)), int(np.max(d)) * (int(np.max(k)) - 1)) > INT64_MAX:
                raise InvalidArgumentError(f"input_size, padding, dilation or kernel of {kind.name} beyond int64")
            room = n + 2 * pad - d * (k - 1) - 1
            if np.any(room < 0):
                at = np.unravel_index(int(np.argmin(room)), np.shape(room)) if np.ndim(room) else ()
                n_, d_, k_, p_ = (int(np.broadcast_to(a, np.shape(room))[at]) for a in (n, d, k, pad))
                raise InvalidArgumentError(
                    f"kernel {k_} (dilation {d_}) is larger than input_size {n_}"
                    + ("" if isinstance(p, str) else f" with padding {p_} on each side")
                    + f" in dimension {i} ({kind.name}, padding={given.get('padding', 'valid')!r})"
                )
            outs.append(room // s + 1)
    bound = 1
    for o in outs:
        bound *= int(np.max(o))
    if bound > INT64_MAX:
        raise InvalidArgumentError(f"input_size {given['input_size']!r}: the output positions of {kind.name} do "
                                   "not fit in int64")  # fmt: skip
    result = outs[0]
    for o in outs[1:]:
        result = result * o
    return np.asarray(result, dtype=np.int64)


def output_positions(kind: Any, convention: str, given: dict[str, Any], kernel: list[np.ndarray]) -> np.ndarray | None:
    """A transposed conv's output positions per sample (see the module's doc), or None where PyTorch
    has no such layer (a string padding other than "valid" under torch)."""
    rank = kind.rank
    sizes = _dims("input_size", given["input_size"], rank)
    strides = _dims("strides", given.get("strides", 1), rank)
    dilation = _dims("dilation", given.get("dilation", 1), rank)
    padding = _padding(given.get("padding", "valid"), rank, kind, convention)
    extra = given.get("output_padding")
    extras = [None] * rank if extra is None else _dims("output_padding", extra, rank, minimum=0)
    result: Any = 1
    for i in range(rank):
        n, s, d, k, p, e = sizes[i], strides[i], dilation[i], kernel[i], padding[i], extras[i]
        span = d * (k - 1) + 1
        if convention == "torch":
            if p == "same":
                return None
            out = (n - 1) * s - 2 * (0 if isinstance(p, str) else p) + span + (0 if e is None else e)
        elif p == "valid":
            out = (n - 1) * s + span + (np.maximum(span, s) - span if e is None else e)
        else:
            out = n * s if e is None else (n - 1) * s + span % 2 + e
        if np.any(out < 1):
            raise InvalidArgumentError(f"the output of {kind.name} is empty in dimension {i} (input_size "
                                       f"{given['input_size']!r}, padding {given.get('padding', 'valid')!r})")  # fmt: skip
        result = result * out
    return np.asarray(result, dtype=np.int64)


def take(kind: Any, convention: str, given: dict[str, Any]) -> dict[str, Any]:
    """``given`` (a kind's arguments) with its window arguments replaced by ``positions``, read with
    its kernel (unchanged without any)."""
    if not any(n in given for n in ARGS):
        return given
    if not kind.rank:
        name = next(n for n in ARGS if n in given)
        raise InvalidArgumentError(f"{name} is not an argument of {kind.name}: it is a convolution's")
    from ._count import kernel_dims

    kernel = given.get("kernel")
    if kernel is None:
        raise ArgumentTypeError(f"kernel is required for {kind.name}")
    rest = {n: v for n, v in given.items() if n not in ARGS}
    dims = kernel_dims(kind.name, kind.rank, kernel)
    if "output_padding" in given and not kind.name.endswith("_transpose"):
        raise InvalidArgumentError(f"output_padding is not an argument of {kind.name}: it is a transposed conv's")
    found = positions(kind, convention, given, dims)
    rest["positions"] = int(found) if found.ndim == 0 else found  # plain values give a plain int
    if kind.name.endswith("_transpose"):
        if "output_positions" in given:
            raise InvalidArgumentError(f"{kind.name}: give input_size (with strides, padding, dilation, "
                                       "output_padding) or output_positions, not both")  # fmt: skip
        out = output_positions(kind, convention, given, dims)
        if out is not None:
            rest["output_positions"] = int(out) if out.ndim == 0 else out
    return rest
