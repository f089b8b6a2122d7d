"""Sweeps as sharded Parquet datasets, computed and written in parallel on Dask.

A sweep's rows are its blocks' grid points in order (``_sweep``'s row order); a shard is a range
of one block's grid points, ``shard_rows`` long, so any shard can be recomputed anywhere from the
sweep's arguments alone. A shard is one task: it plans the sweep, computes its rows with the Rust
kernel (budgets included: rows that do not fit are never stored) and streams them to its own
Parquet file, written atomically (a temporary name, then a rename). Files are named by the shard's
index and the arguments' checksum, so a rerun of the same call finds the shards already written,
checks each (its footer readable, its row count right), and computes only the missing or damaged
ones; ``_sweep.json`` (written first) refuses a folder holding another sweep, and
``_manifest.json`` (written last) lists every shard: a dataset with a manifest is whole.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ._errors import ArgumentTypeError, InvalidArgumentError, optional
from ._names import CONVENTIONS

SWEEP, MANIFEST, FORMAT = "_sweep.json", "_manifest.json", 1


class Shard(NamedTuple):
    index: int
    block: int  # the sweep's block (one layer kind)
    layer: str
    start: int  # grid points start..stop of the block
    stop: int
    conventions: tuple[str, ...]  # one file each when partitioned; () when not


def _describe(value: Any) -> Any:
    """A JSON form of an argument that names it exactly (a range by its ends, an array by its bytes)."""
    if isinstance(value, range):
        return {"range": [value.start, value.stop, value.step]}
    if isinstance(value, np.ndarray):
        return {"array": value.dtype.str, "shape": list(value.shape),
                "sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()}  # fmt: skip
    if isinstance(value, Mapping):
        return {str(k): _describe(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return {"repr": repr(value)}


class Call(NamedTuple):
    """The sweep's arguments, as a task receives them."""

    layer: Any
    convention: Any
    quantity: Any
    budget: Any
    backend: str
    given: dict[str, Any]
    partition: bool

    def plan(self) -> Any:
        from ._sweep import plan

        return plan(self.layer, self.convention, self.quantity, self.budget, self.backend, self.given)

    def described(self) -> dict[str, Any]:
        return _describe(self._asdict())  # type: ignore[no-any-return]

    def checksum(self) -> str:
        """Of the arguments and archsweep's version: shards of another release are not mixed in."""
        from . import __version__

        text = json.dumps({"format": FORMAT, "archsweep": __version__, **self.described()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def shards_of(call: Call, shard_rows: int) -> list[Shard]:
    p = call.plan()
    out: list[Shard] = []
    for b, block in enumerate(p.blocks):
        conventions = ()
        if call.partition:
            codes = sorted({int(c) for c in block.values("convention")})
            conventions = tuple(CONVENTIONS[c] for c in codes)
        for start in range(0, max(block.points, 1), shard_rows):
            out.append(Shard(len(out), b, block.kind.name, start, min(start + shard_rows, block.points), conventions))
    return out


def shard_files(root: Path, shard: Shard, tag: str) -> list[Path]:
    """The files of one shard: one, or with Hive partitions one per convention."""
    name = f"part-{shard.index:06d}-{tag[:16]}.parquet"  # the checksum's head: another sweep's files never match
    if not shard.conventions:
        return [root / name]
    return [root / f"layer={shard.layer}" / f"convention={c}" / name for c in shard.conventions]


def _frames(p: Any, shard: Shard) -> Any:
    """The shard's rows, frame by frame, in the sweep's order (the first frame holds the schema)."""
    from ._sink import PIECE

    block = p.blocks[shard.block]
    yield p.build(next(block.pieces()), range(0))
    offset = 0
    for piece in block.pieces():
        lo, hi = max(shard.start - offset, 0), min(shard.stop - offset, piece.points)
        for start in range(lo, hi, PIECE):
            yield p.build(piece, range(start, min(start + PIECE, hi)))
        offset += piece.points
        if offset >= shard.stop:
            return


def write_shard(call: Call, shard: Shard, root: str, tag: str) -> int:
    """Computes one shard and writes its file(s) atomically; the rows written."""
    import polars as pl

    from ._sink import _stream

    p = call.plan()
    rows = 0
    files = shard_files(Path(root), shard, tag)
    for convention, path in zip(shard.conventions or (None,), files):
        path.parent.mkdir(parents=True, exist_ok=True)
        schema = dict(p.schema)
        frames = _frames(p, shard)
        if convention is not None:
            del schema["layer"], schema["convention"]  # in the folder names, as Hive partitions are
            frames = (f.filter(pl.col("convention") == convention).drop("layer", "convention") for f in frames)
        counted = []

        def counting(frames: Any = frames, counted: list[int] = counted) -> Any:
            for f in frames:
                counted.append(f.height)
                yield f

        _stream(path, schema, counting())
        rows += sum(counted)
    return rows


def verified_rows(call: Call, shard: Shard, root: Path, tag: str) -> int | None:
    """The rows of a shard already written, or None where a file is missing, unreadable or short."""
    import polars as pl

    total = 0
    for path in shard_files(root, shard, tag):
        try:
            total += int(pl.scan_parquet(path, hive_partitioning=False).select(pl.len()).collect().item())
        except Exception:  # noqa: BLE001 - missing, truncated or not Parquet: recomputed
            return None
    if call.budget is None and total != shard.stop - shard.start:
        return None
    return total


def _dask() -> Any:
    return optional("dask", "dask", "sweep_to_dataset")


def _client(client: Any) -> Any:
    """The Dask client to run on: the one given, the current one, or None (local processes)."""
    if client is not None:
        return client
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:  # no client running
        return None


def _run(call: Call, todo: list[Shard], root: str, tag: str, client: Any, bar: Any) -> dict[int, int]:
    """Runs the shards' tasks, on the client's workers or on local processes; rows by shard index."""
    dask = _dask()
    rows: dict[int, int] = {}
    client = _client(client)
    if client is not None:
        from distributed import as_completed

        futures = client.map(write_shard, [call] * len(todo), todo, [root] * len(todo), [tag] * len(todo),
                             key=[f"archsweep-shard-{tag[:12]}-{s.index}" for s in todo], pure=False)  # fmt: skip
        index = {f.key: s.index for f, s in zip(futures, todo)}
        try:
            for future in as_completed(futures):
                rows[index[future.key]] = future.result()
                bar.update(1)
        except BaseException:
            client.cancel(futures)
            raise
        return rows
    from dask.callbacks import Callback

    tasks = [dask.delayed(write_shard, pure=False)(call, s, root, tag) for s in todo]
    with Callback(posttask=lambda *_: bar.update(1)):
        results = dask.compute(*tasks, scheduler="processes")
    return {s.index: r for s, r in zip(todo, results)}


def sweep_to_dataset(
    path: str | os.PathLike[str],
    layer: Any,
    n_features: Any = None,
    n_units: Any = None,
    *,
    convention: Any = None,
    quantity: Any = None,
    budget: Any = None,
    shard_rows: Any = 10_000_000,
    partition: bool = False,
    client: Any = None,
    progress: bool | None = None,
    backend: str = "auto",
    **arguments: Any,
) -> int:
    """Writes the table ``sweep`` would return as a folder of Parquet files, one per shard of
    ``shard_rows`` grid points (rows before the budget), computed in parallel on Dask, and returns
    the number of rows. ``client``: a ``distributed.Client`` (default: the current one, else local
    processes). ``partition``: Hive folders ``layer=<kind>/convention=<name>/`` (those two columns
    then live in the folder names only). Rerunning the same call completes an interrupted
    dataset: shards already written and intact are kept; a folder holding another sweep is
    refused. ``_manifest.json``, written last, lists every shard."""
    from . import _args, __version__
    from ._count import sizes_given
    from ._worker import progress_bar

    _dask()
    rows_per = _args.scalar_size("shard_rows", shard_rows, minimum=1)
    if not isinstance(partition, bool):
        raise ArgumentTypeError(f"partition must be True or False, got {partition!r}")
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise ArgumentTypeError(f"path must be a folder path, got {type(path).__name__}")
    root = Path(os.fsdecode(path))
    if root.exists() and not root.is_dir():
        raise InvalidArgumentError(f"path {str(root)!r} is not a folder")
    if not root.parent.is_dir():
        raise InvalidArgumentError(f"path {str(root)!r}: the folder {str(root.parent)!r} does not exist")
    call = Call(layer, convention, quantity, budget, backend, sizes_given(n_features, n_units, arguments), partition)
    shards = shards_of(call, rows_per)  # validates the sweep before anything is written
    tag = call.checksum()
    described = {"format": FORMAT, "archsweep": __version__, "checksum": tag, "shard_rows": rows_per,
                 "arguments": call.described()}  # fmt: skip
    root.mkdir(exist_ok=True)
    sweep_file = root / SWEEP
    if sweep_file.exists():
        try:
            held = json.loads(sweep_file.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidArgumentError(f"{sweep_file}: not an archsweep dataset's description ({exc})") from None
        if held.get("checksum") != tag or held.get("shard_rows") != rows_per:
            raise InvalidArgumentError(f"{str(root)!r} holds a dataset of other arguments or another archsweep "
                                       f"(checksum {str(held.get('checksum'))[:12]}, {held.get('shard_rows')} rows a "
                                       "shard; "
                                       f"this call: {tag[:12]}, {rows_per}); write it to another folder, or remove "
                                       "that one")  # fmt: skip
    else:
        if any(root.rglob("*.parquet")):
            raise InvalidArgumentError(f"{str(root)!r} holds Parquet files of no archsweep dataset; give an empty or "
                                       "new folder")  # fmt: skip
        _write_json(sweep_file, described)
    done = {s.index: r for s in shards if (r := verified_rows(call, s, root, tag)) is not None}
    todo = [s for s in shards if s.index not in done]
    bar = progress_bar(len(shards), "shard", "sweep_to_dataset", progress)
    bar.update(len(done))
    try:
        done.update(_run(call, todo, str(root), tag, client, bar))
    finally:
        bar.close()
    manifest = {**described, "rows": sum(done.values()), "partition": partition,
                "shards": [{"index": s.index, "layer": s.layer, "start": s.start, "stop": s.stop,
                            "rows": done[s.index],
                            "files": [str(f.relative_to(root)) for f in shard_files(root, s, tag)]}
                           for s in shards]}  # fmt: skip
    _write_json(root / MANIFEST, manifest)
    return manifest["rows"]


def _write_json(path: Path, value: Any) -> None:
    from ._sink import write_atomically

    text = json.dumps(value, indent=1, sort_keys=True) + "\n"

    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)

    write_atomically(path, write)



def shard_table(call: Call, shard: Shard) -> Any:
    """One shard's rows as a polars DataFrame (``archsweep.dask.sweep``'s partitions)."""
    import polars as pl

    return pl.concat(list(_frames(call.plan(), shard)))
