"""archsweep: exact parameter counts of neural-network layers from closed-form
formulas, vectorized over huge grids, without any framework installed.

>>> import archsweep as asw
>>> asw.count_params("lstm", n_features=32, n_units=64)
24832
"""

from importlib.metadata import PackageNotFoundError, version

from . import layers
from ._count import count_params
from ._errors import (
    ArchsweepError,
    ArgumentTypeError,
    InvalidArgumentError,
    ParamOverflowError,
    SweepTooLargeError,
)
from ._model import Model, count_models, search_models
from ._names import CONVENTIONS, LAYERS
from ._plot import plot
from ._search import search
from ._sink import sweep_to_file
from ._space import choice, repeat
from ._sweep import count_fitting, sweep

try:
    __version__ = version("archsweep")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "CONVENTIONS",
    "LAYERS",
    "Model",
    "ArchsweepError",
    "ArgumentTypeError",
    "InvalidArgumentError",
    "ParamOverflowError",
    "SweepTooLargeError",
    "__version__",
    "choice",
    "count_fitting",
    "count_models",
    "count_params",
    "layers",
    "plot",
    "repeat",
    "search",
    "search_models",
    "sweep",
    "sweep_to_file",
]
