"""Choosing a core and turning its refusals into archsweep's exceptions."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

import numpy as np

from . import _pycore
from ._errors import ArchsweepError, InvalidArgumentError, ParamOverflowError
from ._names import CONV_RANK, backend_name

try:
    from . import _core
except ImportError as exc:  # pragma: no cover - only without a built extension
    _core = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

KERNEL_ERRORS: tuple[type[Exception], ...] = (_pycore.KernelError,) + ((_core.KernelError,) if _core else ())


# The modules by exact backend name, for a lookup that costs nothing.
MODULES: dict[str, ModuleType] = {"python": _pycore} | ({"auto": _core, "rust": _core} if _core else {})


def core(backend: object) -> ModuleType:
    """The module that computes: the Rust extension for "auto"/"rust", the
    pure-Python core for "python". Both expose count/sweep_count/sweep_fill."""
    name = backend_name(backend)
    if name == "python":
        return _pycore
    if _core is None:
        raise ArchsweepError(
            f"backend={name!r} needs the compiled extension archsweep._core, which failed to import "
            f"({_IMPORT_ERROR}); reinstall archsweep, or pass backend='python'"
        )
    return _core


def describe_point(layer: str, shape: Sequence[int], operands: Sequence[np.ndarray], index: int) -> str:
    """The arguments at one grid point, as the user would write them."""
    at = np.unravel_index(index, tuple(shape)) if shape else ()
    v = [int(np.broadcast_to(op, tuple(shape))[at]) for op in operands]
    parts = [f"n_features={v[0]}", f"n_units={v[1]}"]
    rank = CONV_RANK.get(layer)
    if rank:
        kernel = tuple(v[2 + 3 - rank : 5])
        parts.append(f"kernel={kernel if rank > 1 else kernel[0]}")
        parts.append(f"groups={v[9]}")
    if v[6]:
        parts.append("bidirectional=True")
    return ", ".join(parts)


def raise_kernel_error(
    exc: Exception, layer: str, shape: Sequence[int], operands: Sequence[np.ndarray]
) -> NoReturn:
    """Re-raises a core's refusal as the exception a user should see."""
    kind, index, message = exc.args
    if kind == "overflow":
        where = describe_point(layer, shape, operands, index)
        raise ParamOverflowError(
            f"the {layer} parameter count at {where} does not fit in int64 (max 2**63 - 1)"
        ) from None
    if kind == "groups":
        where = describe_point(layer, shape, operands, index)
        raise InvalidArgumentError(f"groups must divide n_features and n_units; it does not at {where}") from None
    raise ArchsweepError(f"internal error in the {layer} kernel: {message}") from exc
