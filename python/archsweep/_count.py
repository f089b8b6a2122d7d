"""``count_params``: the count for one layer kind over broadcast arguments."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _args
from ._backend import KERNEL_ERRORS, MODULES, core, raise_kernel_error
from ._errors import ArgumentTypeError, InvalidArgumentError
from ._names import ALIASES, CONV_RANK, CONVENTIONS, LAYERS, RECURRENT, convention_name, layer_name

_ONE = np.ones((), dtype=np.int64)


def kernel_operands(layer: str, kernel: Any) -> list[np.ndarray]:
    """``kernel`` as the (kernel_d, kernel_h, kernel_w) operands of ``layer``,
    read by ``_args.kernels`` (the rule sweep shares): an int or array is
    square kernels, a tuple one kernel (entries may be arrays), a list a
    collection of kernels, which becomes one array of shape (n,) per
    dimension. Dimensions a layer does not have are 1."""
    rank = CONV_RANK.get(layer)
    if rank is None:
        if kernel is not None:
            raise InvalidArgumentError(f"kernel applies only to conv layers; {layer} has none (got kernel={kernel!r})")
        return [_ONE, _ONE, _ONE]
    if kernel is None:
        raise InvalidArgumentError(
            f"kernel is required for {layer}: an int (the same size in every dimension) or a tuple of {rank}"
        )
    read = _args.kernels(kernel)
    for k in read if isinstance(read, list) else [read]:
        if k.rank not in (0, rank):
            raise InvalidArgumentError(
                f"kernel {k.written!r} has {k.rank} entries; {layer} takes a tuple of {rank} "
                "(one per dimension) or a single int"
            )
    if isinstance(read, list):
        dims = [np.array([k.dims(rank)[d] for k in read], dtype=np.int64).reshape(-1) for d in range(rank)]
    else:
        dims = list(read.dims(rank))
    return [_ONE] * (3 - rank) + dims


def check_options(layer: str, convention: str, *, bidirectional: bool, reset_after: bool, groups: bool) -> None:
    """Refuses an option given a non-default value on a layer that has no such option."""
    if bidirectional and layer not in RECURRENT:
        raise InvalidArgumentError(f"bidirectional applies only to rnn, lstm and gru, not {layer}")
    if reset_after and not (layer == "gru" and convention == "keras"):
        raise InvalidArgumentError(
            f"reset_after applies only to a Keras GRU (layer='gru', convention='keras'), not {layer} "
            f"with convention={convention!r}"
        )
    if groups and layer not in CONV_RANK:
        raise InvalidArgumentError(f"groups applies only to conv layers, not {layer}")


_LAYER_CODE = {name: LAYERS.index(name) for name in LAYERS} | {a: LAYERS.index(n) for a, n in ALIASES.items()}
_CONVENTION_CODE = {name: i for i, name in enumerate(CONVENTIONS)}
_INT64_MAX = 2**63 - 1
_RANK = [CONV_RANK.get(name, 0) for name in LAYERS]
_IS_RECURRENT = [name in RECURRENT for name in LAYERS]
_GRU = LAYERS.index("gru")


def _scalar_values(layer, n_features, n_units, kernel, bias, bidirectional, convention, reset_after, groups):
    """(layer code, field values) when every argument is a plain, valid scalar
    (the common interactive call), else None: the general path then takes
    over, with its full checks and messages. Written for speed (checks
    inline, no helper calls): a scalar call should cost little more than the
    formula in plain Python."""
    code = _LAYER_CODE.get(layer) if type(layer) is str else None
    if code is None and type(layer) is str:
        code = _LAYER_CODE.get(layer.lower())
    conv = _CONVENTION_CODE.get(convention) if type(convention) is str else None
    if (
        code is None
        or conv is None
        or type(bias) is not bool
        or type(bidirectional) is not bool
        or type(n_features) is not int
        or type(n_units) is not int
        or type(groups) is not int
        or not (0 < n_features <= _INT64_MAX and 0 < n_units <= _INT64_MAX and 0 < groups <= _INT64_MAX)
    ):
        return None
    rank = _RANK[code]
    if rank:
        k = (kernel,) * rank if type(kernel) is int else kernel
        if type(k) is not tuple or len(k) != rank:
            return None
        for v in k:
            if type(v) is not int or not 0 < v <= _INT64_MAX:
                return None
        kd, kh, kw = (1,) * (3 - rank) + k
    elif kernel is None and groups == 1:
        kd = kh = kw = 1
    else:
        return None
    if bidirectional and not _IS_RECURRENT[code]:
        return None
    if reset_after is None:
        reset_after = True
    elif type(reset_after) is not bool or code != _GRU or conv != 0:
        return None
    return code, (n_features, n_units, kd, kh, kw, bias, bidirectional, conv, reset_after, groups)


def count_params(
    layer: str,
    n_features: Any,
    n_units: Any,
    *,
    kernel: Any = None,
    bias: Any = True,
    bidirectional: Any = False,
    convention: str = "keras",
    reset_after: Any = None,
    groups: Any = 1,
    backend: str = "auto",
    out: np.ndarray | None = None,
) -> int | np.ndarray:
    """The exact parameter count of a ``layer`` with ``n_features`` inputs and ``n_units`` units.

    Every numeric argument (and ``bias``, ``bidirectional``, ``reset_after``)
    may be a scalar or array-like; arrays broadcast as numpy does. All scalars
    give a Python ``int``; any array gives a numpy int64 array of the
    broadcast shape. ``out``, a C-contiguous int64 array of that shape,
    receives the counts instead of a new array (and is returned).

    >>> count_params("lstm", n_features=32, n_units=64)
    24832
    >>> count_params("gru", 32, 64, convention="tf1")
    18624
    """
    module = MODULES.get(backend) if type(backend) is str else None
    module = module or core(backend)
    if out is None:
        scalar = _scalar_values(layer, n_features, n_units, kernel, bias, bidirectional, convention, reset_after, groups)
        if scalar is not None:
            code, values = scalar
            try:
                return module.count_one(code, *values)
            except KERNEL_ERRORS as exc:
                raise_kernel_error(exc, LAYERS[code], (), [np.asarray(v, dtype=np.int64) for v in values])
    layer = layer_name(layer)
    convention = convention_name(convention)
    operand = {
        "n_features": _args.sizes("n_features", n_features),
        "n_units": _args.sizes("n_units", n_units),
        "bias": _args.flags("bias", bias),
        "bidirectional": _args.flags("bidirectional", bidirectional),
        "reset_after": _ONE if reset_after is None else _args.flags("reset_after", reset_after),
        "groups": _args.sizes("groups", groups),
    }
    check_options(
        layer, convention,
        bidirectional=bool(operand["bidirectional"].any()),
        reset_after=reset_after is not None,
        groups=bool((operand["groups"] != 1).any()),
    )  # fmt: skip
    kd, kh, kw = kernel_operands(layer, kernel)
    operands = [
        operand["n_features"], operand["n_units"], kd, kh, kw, operand["bias"], operand["bidirectional"],
        np.asarray(CONVENTIONS.index(convention), dtype=np.int64), operand["reset_after"], operand["groups"],
    ]  # fmt: skip
    try:
        shape = np.broadcast_shapes(*(op.shape for op in operands))
    except ValueError:
        named = {**operand, "kernel": np.broadcast(kd, kh, kw)}
        shapes = ", ".join(f"{name} {op.shape}" for name, op in named.items() if op.shape)
        raise InvalidArgumentError(f"arguments do not broadcast together: {shapes}") from None
    if out is None:
        result = np.empty(shape, dtype=np.int64)
    else:
        _check_out(out, shape)
        # out may alias an input (int64 inputs are used in place): read such
        # inputs from a copy, so both cores compute as numpy's out= does.
        operands = [op.copy() if np.may_share_memory(op, out) else op for op in operands]
        result = out
    try:
        module.count(LAYERS.index(layer), operands, result)
    except KERNEL_ERRORS as exc:
        raise_kernel_error(exc, layer, shape, operands)
    # Only plain scalars give an int: a 0-d array, a list or a kernel tuple
    # holding an array gives an array, as numpy would.
    kernel_entries = kernel if isinstance(kernel, tuple) else (kernel,)
    given = (n_features, n_units, bias, bidirectional, reset_after, groups, *kernel_entries)
    if out is None and all(_args.is_scalar(v) or v is None for v in given):
        return int(result[()])
    return result


def _check_out(out: Any, shape: tuple[int, ...]) -> None:
    if not isinstance(out, np.ndarray):
        raise ArgumentTypeError(f"out must be a numpy int64 array of shape {shape}, got {type(out).__name__}")
    problems = [
        f"dtype {out.dtype} (needs int64)" if out.dtype != np.int64 else "",
        f"shape {out.shape} (needs {shape})" if out.shape != shape else "",
        "not C-contiguous" if not out.flags.c_contiguous else "",
        "read-only" if not out.flags.writeable else "",
    ]
    problems = [p for p in problems if p]
    if problems:
        raise InvalidArgumentError(f"out must be a writeable C-contiguous int64 array of shape {shape}; it is "
                                   + ", ".join(problems))  # fmt: skip
