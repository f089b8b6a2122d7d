"""The registry of layer kinds: every formula against the real frameworks,
and the invariants the fast paths rely on, checked for every kind, every
convention and every option by iterating the registry (not stated in
comments).

- Each formula is a polynomial with non-negative integer coefficients in its
  sizes (checked symbolically: the formula evaluated on ``Poly`` symbols), so
  it never decreases as a size grows and is largest at the sizes' maxima.
- The seed's seven kinds agree with the pure-Python core they will replace.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import archsweep as asw
from archsweep import _kinds
from archsweep._poly import Poly

DATA = Path(os.environ.get("ARCHSWEEP_FIXTURES", Path(__file__).parent / "data"))
# Arguments that change no count: PyTorch uses them in the forward pass only.
SHAPE_ONLY = {"output_padding", "dilation", "padding_idx"}


def records(framework: str):
    with open(DATA / f"{framework}_catalogue.jsonl") as f:
        for line in f:
            yield json.loads(line)


def arguments(record: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in record["args"].items() if k not in SHAPE_ONLY}


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_every_formula_matches_the_framework(framework):
    cases = [r for r in records(framework) if "error" not in r]
    assert len(cases) > 300
    for r in cases:
        kind = _kinds.find(r["layer"])
        values = _kinds.validate(kind, framework, arguments(r))
        q = _kinds.evaluate(kind, framework, values)
        got = {"params": q.params, "trainable": q.trainable, "non_trainable": q.non_trainable, "buffers": q.buffers}
        assert got == {k: r[k] for k in got}, r


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_the_public_api_matches_the_framework(framework, backend):
    # One call per kind and quantity over all its fixture cases at once: the
    # cases' arguments as arrays, broadcast together.
    by_kind: dict[tuple, list[dict]] = {}
    for r in records(framework):
        if "error" not in r:
            by_kind.setdefault((r["layer"], tuple(sorted(arguments(r)))), []).append(r)
    for (layer, names), rows in by_kind.items():
        kernel_rank = _kinds.find(layer).rank
        columns = {}
        for name in names:
            values = [arguments(r)[name] for r in rows]
            if name == "kernel":
                dims = [v if isinstance(v, tuple) else (v,) * kernel_rank for v in values]
                columns[name] = tuple(np.array([d[i] for d in dims]) for i in range(kernel_rank))
            elif any(v is None for v in values):
                columns = None  # None is one value for the whole call: checked case by case below
                break
            else:
                columns[name] = np.array(values)
        for quantity in ("params", "trainable", "non_trainable", "buffers"):
            expected = [r[quantity] for r in rows]
            if columns is None:
                got = [asw.count(layer, quantity=quantity, convention=framework, backend=backend, **arguments(r))
                       for r in rows]  # fmt: skip
            else:
                got = asw.count(layer, quantity=quantity, convention=framework, backend=backend, **columns).tolist()
            assert got == expected, (layer, quantity)
        if columns is not None:
            params = asw.count_params(layer, convention=framework, backend=backend, **columns)
            assert params.tolist() == [r["params"] for r in rows]


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_what_the_framework_refuses_is_refused(framework):
    refused = [r for r in records(framework) if "error" in r]
    assert len(refused) > 20
    for r in refused:
        if any(name in r["error"].lower().replace(" ", "_") for name in SHAPE_ONLY):
            # Refused in PyTorch's forward pass (output_padding) or over an argument archsweep has not
            # (padding_idx): no count depends on them; shape inference checks output_padding.
            continue
        kind = _kinds.find(r["layer"])
        with pytest.raises(asw.ArchsweepError):
            _kinds.validate(kind, framework, arguments(r))


def test_the_seed_kinds_match_the_0_1_fixture():
    rows = [json.loads(line) for fw in ("keras", "torch") for line in open(DATA / f"{fw}.jsonl")]
    for r in rows:
        kind = _kinds.find(r["layer"])
        values = {"n_features": r["n_features"], "n_units": r["n_units"], "bias": r["bias"]}
        if r["kernel"] is not None:
            values["kernel"] = tuple(r["kernel"])
        for name in ("groups", "bidirectional", "reset_after"):
            if r[name] is not None:
                values[name] = r[name]
        q = _kinds.evaluate(kind, r["framework"], _kinds.validate(kind, r["framework"], values))
        assert q.params == r["params"] and q.non_trainable == 0 and q.buffers == 0, r



def _small_grid(kind):
    """Two values of every argument of ``kind``, chosen to keep its rules; past the ninth argument one
    value, the first or second in turn (a language model's 25 arguments would make 2**25 rows)."""
    grid = {}
    for i, arg in enumerate(kind.args):
        if arg.type == _kinds.FLAG:
            grid[arg.name] = [False, True]
        elif arg.type == _kinds.KERNEL:
            grid[arg.name] = [2, tuple(range(1, kind.rank + 1))]
        elif arg.name in ("n_features", "n_units"):
            grid[arg.name] = [4, 6]
        elif arg.name == "proj_size":
            grid[arg.name] = [0, 2]
        elif arg.nullable:
            grid[arg.name] = [None, 5]
        else:
            grid[arg.name] = [1, 2]
        if i >= 9 and len(kind.args) > 12:
            grid[arg.name] = grid[arg.name][i % 2 : i % 2 + 1]
    return grid


def _row_arguments(kind, row):
    """The arguments of one sweep row, for ``count``."""
    values = {}
    for arg in kind.args:
        if arg.type == _kinds.KERNEL:
            dims = tuple(row[f"kernel_{'dhw'[3 - kind.rank + i]}"] for i in range(kind.rank))
            values["kernel"] = dims
        elif arg.applies(row["convention"]):
            values[arg.name] = row[arg.name]
    return values


@pytest.mark.parametrize("kind", _kinds.KINDS, ids=lambda k: k.name)
def test_every_kind_sweeps_counts_and_searches_as_count_does(kind, backend):
    """sweep, count_fitting and search take every registered kind, with every
    argument as an axis, under every convention; each row is count's answer."""
    grid = _small_grid(kind)
    quantities = ["params", "trainable", "non_trainable", "buffers"]
    df = asw.sweep(kind.name, convention=list(kind.conventions), quantity=quantities, backend=backend, **grid)
    assert df.height > 0 and set(df["layer"]) == {kind.name}
    for row in df.iter_rows(named=True):
        for q in quantities:
            assert row[q] == asw.count(kind.name, convention=row["convention"], quantity=q,
                                       **_row_arguments(kind, row)), (row, q)  # fmt: skip
    budget = int(df["params"].median())
    kept = asw.sweep(kind.name, convention=list(kind.conventions), budget=budget, backend=backend, **grid)
    assert kept.height == (df["params"] <= budget).sum() == asw.count_fitting(
        kind.name, convention=list(kind.conventions), budget=budget, backend=backend, **grid)
    maximize = next(n for n in ("n_units", "n_features", "d_model") if n in grid)
    others = [c for c in df.columns if c not in (maximize, *quantities)]
    brute = (df.filter(pl.col("params") <= budget).group_by(others, maintain_order=True)
             .agg(pl.col(maximize).max()))  # fmt: skip
    found = asw.search(kind.name, convention=list(kind.conventions), budget=budget, maximize=maximize,
                       backend=backend, **grid)  # fmt: skip
    assert found.height == brute.height
    assert found.select(*others, maximize).rows() == brute.select(*others, maximize).rows()


def test_readme_holds_the_registry_tables():
    """The README's formula tables are tools/conventions_table.py's output: they cannot drift from the registry."""
    import importlib.util

    root = Path(__file__).parent.parent
    spec = importlib.util.spec_from_file_location("conventions_table", root / "tools" / "conventions_table.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    readme = (root / "README.md").read_text()
    for quantity in ("params", "macs", "elementwise"):
        assert tables.table(quantity) in readme, f"run python tools/conventions_table.py {quantity}"
