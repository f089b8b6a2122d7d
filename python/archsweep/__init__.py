"""archsweep: exact parameter counts of neural-network layers from closed-form
formulas, vectorized over huge grids, without any framework installed.

>>> import archsweep as asw
>>> asw.count_params("lstm", n_features=32, n_units=64)
24832
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._count import count, count_flops, count_params
from ._errors import (
    ArchsweepError,
    ArgumentTypeError,
    InvalidArgumentError,
    ParamOverflowError,
    SweepTooLargeError,
)
from ._names import CONVENTIONS
from ._space import choice, repeat

# Imported on first use (PEP 562, ``__getattr__`` below): these modules import
# polars (~0.1 s) or importlib.metadata (~30 ms), which ``import archsweep``
# and ``archsweep count`` must not pay for.
_LAZY = {
    "Model": "_model",
    "count_models": "_model",
    "search_models": "_model",
    "sample_models": "_model",
    "plot": "_plot",
    "search": "_search",
    "sweep_to_file": "_sink",
    "sweep_to_dataset": "_dataset",
    "dask": "dask",  # a submodule; Dask itself is imported when one of its functions is called
    "count_fitting": "_sweep",
    "sweep": "_sweep",
    "layers": "layers",  # a submodule; `import inspect` there costs a few ms
    "optuna": "optuna",  # a submodule; Optuna itself is imported when one of its functions is called
    "memory": "_memory",
    "Memory": "_memory",
    "from_hf_config": "_hf",
    "from_keras": "_frameworks",
    "from_torch": "_frameworks",
    "Input": "_graph",
    "LanguageModel": "_hf",
    "MODEL_TYPES": "_hf",
}

if TYPE_CHECKING:  # what the lazy names are, for type checkers
    from . import dask, layers, optuna
    from ._frameworks import from_keras, from_torch
    from ._graph import Input
    from ._hf import MODEL_TYPES, LanguageModel, from_hf_config
    from ._memory import Memory, memory
    from ._model import Model, count_models, sample_models, search_models
    from ._plot import plot
    from ._search import search
    from ._dataset import sweep_to_dataset
    from ._sink import sweep_to_file
    from ._sweep import count_fitting, sweep

    __version__: str
    LAYERS: tuple[str, ...]

__all__ = [
    "CONVENTIONS",
    "Input",
    "LAYERS",
    "LanguageModel",
    "MODEL_TYPES",
    "Memory",
    "Model",
    "ArchsweepError",
    "ArgumentTypeError",
    "InvalidArgumentError",
    "ParamOverflowError",
    "SweepTooLargeError",
    "__version__",
    "choice",
    "count",
    "count_fitting",
    "count_flops",
    "count_models",
    "count_params",
    "dask",
    "from_hf_config",
    "from_keras",
    "from_torch",
    "layers",
    "memory",
    "optuna",
    "plot",
    "repeat",
    "sample_models",
    "search",
    "search_models",
    "sweep",
    "sweep_to_dataset",
    "sweep_to_file",
]


if not TYPE_CHECKING:  # hidden from type checkers, which see the imports above: a misspelt name stays an error

    def __getattr__(name: str) -> Any:
        if name == "__version__":
            from importlib.metadata import PackageNotFoundError, version

            try:
                value: Any = version("archsweep")
            except PackageNotFoundError:  # pragma: no cover - running from a source tree
                value = "0+unknown"
        elif name == "LAYERS":  # every registered kind (the registry is not read by import archsweep)
            from ._kinds import all_names

            value = tuple(all_names())
        elif name in _LAZY:
            module = importlib.import_module(f".{_LAZY[name]}", __name__)
            value = module if name == _LAZY[name] else getattr(module, name)
        else:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        globals()[name] = value  # later look-ups find it without calling this
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
