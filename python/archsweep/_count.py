"""``count_params``: the count for one layer kind over broadcast arguments."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _args
from ._backend import KERNEL_ERRORS, core, raise_kernel_error
from ._errors import InvalidArgumentError
from ._names import CONV_RANK, CONVENTIONS, LAYERS, RECURRENT, convention_name, layer_name

_ONE = np.ones((), dtype=np.int64)


def kernel_operands(layer: str, kernel: Any) -> list[np.ndarray]:
    """``kernel`` as the (kernel_d, kernel_h, kernel_w) operands of ``layer``.

    An int or array is a square kernel (the same size in every dimension, as
    Keras reads an int); a tuple is one kernel, one entry (itself an int or
    array) per dimension. Dimensions a layer does not have are 1.
    """
    rank = CONV_RANK.get(layer)
    if rank is None:
        if kernel is not None:
            raise InvalidArgumentError(f"kernel applies only to conv layers; {layer} has none (got kernel={kernel!r})")
        return [_ONE, _ONE, _ONE]
    if kernel is None:
        raise InvalidArgumentError(
            f"kernel is required for {layer}: an int (the same size in every dimension) or a tuple of {rank}"
        )
    if isinstance(kernel, tuple):
        if len(kernel) != rank:
            raise InvalidArgumentError(
                f"kernel {kernel!r} has {len(kernel)} entries; {layer} takes a tuple of {rank} "
                "(one per dimension) or a single int"
            )
        dims = [_args.sizes(f"kernel[{i}]", k) for i, k in enumerate(kernel)]
    else:
        dims = [_args.sizes("kernel", kernel)] * rank
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
) -> int | np.ndarray:
    """The exact parameter count of a ``layer`` with ``n_features`` inputs and ``n_units`` units.

    Every numeric argument (and ``bias``, ``bidirectional``, ``reset_after``)
    may be a scalar or array-like; arrays broadcast as numpy does. All scalars
    give a Python ``int``; any array gives a numpy int64 array of the
    broadcast shape.

    >>> count_params("lstm", n_features=32, n_units=64)
    24832
    >>> count_params("gru", 32, 64, convention="tf1")
    18624
    """
    layer = layer_name(layer)
    convention = convention_name(convention)
    module = core(backend)
    given = {
        "n_features": n_features, "n_units": n_units, "bias": bias, "bidirectional": bidirectional,
        "reset_after": reset_after, "groups": groups,
        **({"kernel": kernel} if not isinstance(kernel, tuple) else {f"kernel[{i}]": k for i, k in enumerate(kernel)}),
    }  # fmt: skip
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
        shapes = ", ".join(f"{name} {np.shape(v)}" for name, v in given.items() if not _args.is_scalar(v) and v is not None)
        raise InvalidArgumentError(f"arguments do not broadcast together: {shapes}") from None
    out = np.empty(shape, dtype=np.int64)
    try:
        module.count(LAYERS.index(layer), operands, out)
    except KERNEL_ERRORS as exc:
        raise_kernel_error(exc, layer, shape, operands)
    if all(_args.is_scalar(v) or v is None for v in given.values()):
        return int(out[()])
    return out
