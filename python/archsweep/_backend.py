"""Choosing a core: the Rust extension or the pure-Python reference."""

from __future__ import annotations

from types import ModuleType

from . import _polycore
from ._errors import ArchsweepError
from ._names import backend_name

try:
    from . import _core
except ImportError as exc:  # pragma: no cover - only without a built extension
    _core = None
    _IMPORT_ERROR: ImportError | None = exc
else:
    _IMPORT_ERROR = None

KERNEL_ERRORS: tuple[type[Exception], ...] = (_polycore.KernelError,) + ((_core.KernelError,) if _core else ())


# The modules by exact backend name, for a lookup that costs nothing.
MODULES: dict[str, ModuleType] = {"python": _polycore} | ({"auto": _core, "rust": _core} if _core else {})


def core(backend: object) -> ModuleType:
    """The module that computes: the Rust extension for "auto"/"rust", the
    pure-Python core for "python". Both expose poly_count, poly_sweep_count
    and poly_sweep_fill (``_polycore``)."""
    name = backend_name(backend)
    if name == "python":
        return _polycore
    if _core is None:
        raise ArchsweepError(
            f"backend={name!r} needs the compiled extension archsweep._core, which failed to import "
            f"({_IMPORT_ERROR}); reinstall archsweep, or pass backend='python'"
        )
    return _core
