"""Sweeps on Dask (``pip install 'archsweep[dask]'``): ``archsweep.sweep_to_dataset`` writes a
sweep as sharded Parquet in parallel; ``archsweep.dask.sweep`` is the same rows as a lazy Dask
DataFrame, one partition per shard (``dd.from_map``), each computed where it is needed."""

from __future__ import annotations

from typing import Any

from ._dataset import Call, shard_table, shards_of
from ._errors import optional


def _partition(shard: Any, call: Call) -> Any:
    return shard_table(call, shard).to_pandas()


def sweep(layer: Any, n_features: Any = None, n_units: Any = None, *, convention: Any = None, quantity: Any = None,
          budget: Any = None, shard_rows: Any = 10_000_000, backend: str = "auto", **arguments: Any) -> Any:  # fmt: skip
    """The rows ``asw.sweep`` would return, as a lazy ``dask.dataframe.DataFrame`` with one
    partition per ``shard_rows`` grid points, in the sweep's order (pandas partitions: Dask's
    DataFrame is pandas-backed)."""
    import polars as pl

    dd: Any = optional("dask.dataframe", "dask", "archsweep.dask")

    from . import _args
    from ._count import sizes_given

    rows = _args.scalar_size("shard_rows", shard_rows, minimum=1)
    call = Call(layer, convention, quantity, budget, backend, sizes_given(n_features, n_units, arguments), False)
    shards = shards_of(call, rows)
    meta = pl.DataFrame(schema=call.plan().schema).to_pandas()
    return dd.from_map(_partition, shards, call=call, meta=meta, enforce_metadata=False)
