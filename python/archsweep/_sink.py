"""Writing sweeps larger than memory: the table is produced a piece of the
grid at a time and streamed to Parquet or CSV by polars, so memory stays
bounded by a few pieces whatever the sweep's size.

The file appears whole or not at all: polars writes a temporary file beside
the target, renamed into place only when complete. The writer runs on a
worker thread while the calling thread waits, so Ctrl-C reaches Python at
once; the pieces check for it between kernel calls and stop the writer.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import polars as pl
from polars.io.plugins import register_io_source

from ._errors import InvalidArgumentError
from ._sweep import _build_block, _plan
from ._worker import progress_bar, run_in_worker

# Grid points per piece: ~8M points is at most ~170 MB of table, and a
# kernel call of a few tens of milliseconds between checks for Ctrl-C.
PIECE = 1 << 23
WRITERS = {".parquet": "sink_parquet", ".csv": "sink_csv"}


class _Stopped(Exception):
    """Raised inside the piece generator to stop the writer."""


def write_atomically(path: str | os.PathLike[str], write: Any) -> None:
    """Calls ``write(temporary_path)``, then renames the temporary file onto
    ``path``. On any failure or interruption the temporary file is removed and
    ``path``, if it existed, is untouched."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); give it the mode open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_path(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path with a supported extension in an existing folder."""
    path = Path(path)
    if path.suffix.lower() not in WRITERS:
        raise InvalidArgumentError(f"path {str(path)!r}: the extension must be .csv or .parquet")
    if not path.parent.is_dir():
        raise InvalidArgumentError(f"path {str(path)!r}: the folder {str(path.parent)!r} does not exist")
    return path


def sweep_to_file(
    path: str | os.PathLike[str],
    layer: Any,
    n_features: Any,
    n_units: Any,
    *,
    kernel: Any = None,
    bias: Any = True,
    bidirectional: Any = False,
    convention: Any = "keras",
    reset_after: Any = None,
    groups: Any = 1,
    budget: Any = None,
    progress: bool | None = None,
    backend: str = "auto",
) -> int:
    """Writes the table ``sweep`` would return to ``path`` (``.parquet`` or
    ``.csv``), in bounded memory, and returns the number of rows written.

    ``progress`` shows a bar on stderr for runs over a second: ``None`` (the
    default) shows it when stderr is a terminal, ``False`` never.
    """
    path = check_output_path(path)
    plan = _plan(layer, n_features, n_units, kernel, bias, bidirectional, convention, reset_after, groups,
                 budget, backend)  # fmt: skip
    sizes = [b.points for b in plan.blocks]
    stop = threading.Event()
    written = 0
    bar = progress_bar(sum(sizes), "pt", "sweep", progress)

    def pieces(with_columns, predicate, n_rows, batch_size):
        nonlocal written
        yield _build_block(next(plan.blocks[0].pieces()), plan, range(0))  # the schema, even for no rows
        for piece in (piece for block in plan.blocks for piece in block.pieces()):
            for start in range(0, piece.points, PIECE):
                if stop.is_set():
                    raise _Stopped
                points = range(start, min(start + PIECE, piece.points))
                frame = _build_block(piece, plan, points)
                written += frame.height
                bar.update(len(points))
                yield frame

    source = register_io_source(io_source=pieces, schema=pl.Schema(plan.schema))
    sink = getattr(source, WRITERS[path.suffix.lower()])

    def write(tmp: str) -> None:
        try:
            run_in_worker(lambda: sink(tmp), stop=stop.set)
        except Exception as exc:
            raise _original(exc) from None

    try:
        write_atomically(path, write)
    finally:
        bar.close()
    return written


def _original(exc: BaseException) -> BaseException:
    """The archsweep error behind a polars error raised from a piece, if any."""
    seen = exc
    while seen is not None:
        if type(seen).__module__.startswith("archsweep"):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc
