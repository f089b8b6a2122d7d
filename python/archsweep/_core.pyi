"""The compiled kernels (private: use archsweep's public functions)."""

from typing import TypeAlias, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "fill", "copy", "KernelError", "SpaceSearch", "CHUNK", "PARALLEL_MIN", "poly_count", "poly_sweep_count",
    "poly_sweep_fill",
]

# The generic kernel's spec: factors ("axis", i), ("quotient", i, k), ("offset", i, c), ("less", i, k) over the
# operands; a quantity is a list of terms (coefficient operand, [(factor, power 1..3), ...]).
_Factor: TypeAlias = tuple[str, int] | tuple[str, int, int]
_Term: TypeAlias = tuple[int, list[tuple[int, int]]]
_Budget: TypeAlias = tuple[int, int] | None

CHUNK: int
PARALLEL_MIN: int

class KernelError(Exception):
    """A kernel refusal: args are (kind, point index or None, message, the factor, quantity or operand at fault
    or None)."""

def fill(out: npt.NDArray[np.int64], value: int, threads: int) -> None: ...
def copy(src: npt.NDArray[np.int64], out: npt.NDArray[np.int64], threads: int) -> None: ...
def poly_count(
    shape: list[int],
    operands: list[npt.NDArray[np.int64]],
    factors: list[_Factor],
    quantities: list[list[_Term]],
    outs: list[npt.NDArray[np.int64]],
    floors: list[int] | None = None,
    mapped: bool = False,
) -> None: ...
def poly_sweep_count(
    shape: list[int],
    operands: list[npt.NDArray[np.int64]],
    factors: list[_Factor],
    quantities: list[list[_Term]],
    budget: _Budget = None,
    start: int = 0,
    end: int | None = None,
) -> int: ...
def poly_sweep_fill(
    shape: list[int],
    operands: list[npt.NDArray[np.int64]],
    factors: list[_Factor],
    quantities: list[list[_Term]],
    budget: _Budget,
    columns: list[tuple[int, int]],
    start: int = 0,
    end: int | None = None,
) -> tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.uint8]]]: ...

@final
class SpaceSearch:
    """A model space (flat transition tables) prepared for one budget or two; built on demand."""

    def __new__(
        cls,
        n_states: list[int],
        n_options: list[int],
        cost: npt.NDArray[np.int64],
        next: npt.NDArray[np.int64],
        budget: list[int],
        max_bytes: int,
    ) -> SpaceSearch: ...
    def build(self) -> None: ...
    def count_only(self) -> int: ...
    def count(self) -> int: ...
    def held_bytes(self) -> int: ...
    def written(self) -> int: ...
    def stop(self) -> None: ...
    def rows(self, limit: int | None = None) -> int: ...
    def count_range(self, lo: int, hi: int) -> int: ...
    def unrank(
        self,
        lo: int,
        hi: int,
        ranks: npt.NDArray[np.uint64],
        options: npt.NDArray[np.uint32],
        costs: npt.NDArray[np.int64],
    ) -> None: ...
    def fill(self, limit: int | None, options: npt.NDArray[np.uint32], costs: npt.NDArray[np.int64]) -> None: ...
