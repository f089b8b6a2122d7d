"""Writing tables to files, whole or not at all, interruptibly.

Every file archsweep writes goes through ``write_atomically``: the bytes go
to a temporary file beside the target, renamed onto it only when complete,
so an error, a full disk, Ctrl-C, SIGTERM or SIGHUP leaves the previous file
untouched and no temporary file. A target is checked before any work
(``check_output_path``). Tables are streamed by polars from a generator of
frames on a worker thread (``_stream``): memory holds a few frames whatever
the table's size, and the calling thread stays free to take a signal, which
ends the stream at the next frame.

SIGKILL cannot be caught: it may leave a ``.NAME.<pid>-<host>-<token>.tmp``.
Temporary files carry their writer's process id and host, so the next write
to the same target removes those whose writer is dead, and only those.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import polars as pl
from polars.io.plugins import register_io_source

from ._count import sizes_given
from ._errors import ArgumentTypeError, InvalidArgumentError
from ._signals import cleanup_on_termination, raise_if_lost
from ._sweep import plan
from ._worker import progress_bar, run_in_worker

# Grid points per piece: ~2M points is at most ~45 MB of table, and a
# kernel call of a few milliseconds between checks for a signal.
PIECE = 1 << 21
# Bytes of table per frame handed to polars: a frame is encoded in
# milliseconds, and streams as fast as larger ones.
FRAME_BYTES = 1 << 20
WRITERS = {".parquet": "sink_parquet", ".csv": "sink_csv"}
TABLES = (".csv", ".parquet")


def _writer_tag() -> str:
    """This host and process namespace, hashed: a process id is only
    meaningful where it was taken (a shared folder may be written from other
    machines or containers)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{zlib.crc32(f'{socket.gethostname()}/{namespace}'.encode()):08x}"


class _Stopped(Exception):
    """Raised in the stream's source to abort the sink: ending the stream
    instead would make polars write out every frame it has taken."""


_TAG = _writer_tag()
_TEMP = re.compile(r"(\d+)-([0-9a-f]{8})-[0-9a-f]+\.tmp")
_live: set[str] = set()  # temporary files this process is writing (its pid may be a dead writer's, reused)


def _temp_prefix(target: Path) -> str:
    # The target's name, cut so that the temporary name fits 255 bytes.
    name = os.fsdecode(os.fsencode(target.name)[:200])
    return f".{name}."


def _remove_stale(target: Path) -> None:
    """Removes temporary files of ``target`` whose writer is dead (killed by
    SIGKILL, or a power cut). A live writer's file, or one written from
    another host or process namespace, is kept."""
    if os.name != "posix":
        return  # os.kill(pid, 0) would end the process on Windows
    prefix = _temp_prefix(target)
    with suppress(OSError), os.scandir(target.parent) as entries:
        for entry in entries:
            m = entry.name.startswith(prefix) and _TEMP.fullmatch(entry.name, len(prefix))
            if m and m[2] == _TAG and not _alive(int(m[1]), entry.name):
                with suppress(OSError):
                    os.unlink(entry.path)


def _alive(pid: int, name: str) -> bool:
    if pid == os.getpid():
        return name in _live
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process
        return True
    return True


def write_atomically(path: str | os.PathLike[str], write: Callable[[str], Any]) -> None:
    """Calls ``write(temporary_path)``, then renames the temporary file onto
    ``path``. On any failure or interruption (Ctrl-C, SIGTERM, SIGHUP) the
    temporary file is removed and ``path``, if it existed, is untouched.

    An existing file keeps its mode; a new one gets the mode ``open()`` would
    give (the umask applies). A symlink is followed: the file it points to is
    replaced (the temporary file is made in that file's folder, so the rename
    is atomic) and the link is kept.
    """
    target = Path(os.path.realpath(path))
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
    _remove_stale(target)
    tmp = str(target.parent / f"{_temp_prefix(target)}{os.getpid()}-{_TAG}-{secrets.token_hex(4)}.tmp")
    _live.add(os.path.basename(tmp))
    try:
        with cleanup_on_termination():
            try:
                # Private while written over an existing file; else 0o666, which
                # the kernel narrows by the umask (and a default ACL) as for open().
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if old else 0o666))
                write(tmp)
                if old is not None:
                    with suppress(OSError):  # only root may give a file to another owner
                        os.chown(tmp, old.st_uid, old.st_gid)
                    os.chmod(tmp, stat.S_IMODE(old.st_mode))
                raise_if_lost()  # a signal the interpreter dropped still keeps the previous file
                os.replace(tmp, target)
            except BaseException:
                with suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
    finally:
        _live.discard(os.path.basename(tmp))


def check_output_path(
    path: Any, *, name: str = "path", extensions: tuple[str, ...] = TABLES
) -> Path:
    """``path`` as a Path, refused unless it can be written: it must end in
    one of ``extensions``, not be a directory (or another non-file), and its
    folder (a symlink's target's) must exist and be writable."""
    allowed = " or ".join(extensions)
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise ArgumentTypeError(f"{name} must be a file path ending in {allowed}, got {type(path).__name__}")
    path = Path(os.fsdecode(path))
    if path.suffix.lower() not in extensions:
        raise InvalidArgumentError(f"{name} {str(path)!r}: the extension must be {allowed}")
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise InvalidArgumentError(f"{name} {str(path)!r} is a directory; give a file path ending in {allowed}")
    if target.exists() and not target.is_file():
        raise InvalidArgumentError(f"{name} {str(path)!r} is not a regular file; give a file path ending in {allowed}")
    folder = target.parent
    if not folder.is_dir():
        raise InvalidArgumentError(f"{name} {str(path)!r}: the folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidArgumentError(f"{name} {str(path)!r}: the folder {str(folder)!r} is not writable")
    return path


def _stream(path: Path, schema: Any, frames: Iterator[pl.DataFrame]) -> None:
    """Writes ``frames`` (one table in pieces, the first possibly empty) to
    ``path`` through ``write_atomically``, by polars' streaming sink on a
    worker thread."""
    stop = threading.Event()

    def source(with_columns, predicate, n_rows, batch_size):
        for frame in frames:
            # Small frames: polars takes frames ahead of its writer, and an
            # abort still waits for the frames being encoded.
            rows = max(1, FRAME_BYTES * max(frame.height, 1) // max(frame.estimated_size(), 1))
            for start in range(0, max(frame.height, 1), rows):
                if stop.is_set():
                    raise _Stopped
                yield frame.slice(start, rows)

    sink = getattr(register_io_source(io_source=source, schema=pl.Schema(schema)), WRITERS[path.suffix.lower()])

    def write(tmp: str) -> None:
        try:
            run_in_worker(lambda: sink(tmp), stop=stop.set)
        except Exception as exc:
            raise _original(exc) from None

    write_atomically(path, write)


def write_table(df: pl.DataFrame, path: str | os.PathLike[str]) -> None:
    """Writes ``df`` to ``path`` (``.csv`` or ``.parquet``) atomically; Ctrl-C,
    SIGTERM or SIGHUP stop it within a frame, leaving the previous file."""
    _stream(check_output_path(path), df.schema, iter([df]))


def sweep_to_file(
    path: str | os.PathLike[str],
    layer: Any,
    n_features: Any = None,
    n_units: Any = None,
    *,
    convention: Any = None,
    quantity: Any = None,
    budget: Any = None,
    progress: bool | None = None,
    backend: str = "auto",
    **arguments: Any,
) -> int:
    """Writes the table ``sweep`` would return to ``path`` (``.parquet`` or
    ``.csv``), in bounded memory, and returns the number of rows written.

    ``progress`` shows a bar on stderr for runs over a second: ``None`` (the
    default) shows it when stderr is a terminal, ``False`` never.
    """
    path = check_output_path(path)
    p = plan(layer, convention, quantity, budget, backend, sizes_given(n_features, n_units, arguments))
    sizes = [b.points for b in p.blocks]
    written = 0
    bar = progress_bar(sum(sizes), "pt", "sweep", progress)

    def pieces():
        nonlocal written
        yield p.build(next(p.blocks[0].pieces()), range(0))  # the schema, even for no rows
        for piece in (piece for block in p.blocks for piece in block.pieces()):
            for start in range(0, piece.points, PIECE):
                points = range(start, min(start + PIECE, piece.points))
                frame = p.build(piece, points)
                written += frame.height
                bar.update(len(points))
                yield frame

    try:
        _stream(path, p.schema, pieces())
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
