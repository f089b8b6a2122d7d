"""archsweep's benchmark: configs/s of each way to get the same counts, as
ratios against baselines measured in the same run.

    python benches/bench.py            # prints the table, rewrites benches/README.md
    python benches/bench.py --quick    # smaller grids, no README

Each case is timed as the median of several runs after one warm-up run (the
first touch of fresh memory is part of every run: outputs are new arrays).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

import archsweep as asw

HERE = Path(__file__).parent
N_UNITS = 10_000  # the grid is n_features (rows) × n_units (columns)


def timed(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
        del result
    return statistics.median(times)


def grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """An n-point broadcast grid: n_features down, n_units across."""
    return np.arange(1, n // N_UNITS + 1).reshape(-1, 1), np.arange(1, N_UNITS + 1)


def numpy_lstm(f: np.ndarray, u: np.ndarray) -> np.ndarray:
    """What a user writes without archsweep: the Keras LSTM count, broadcast."""
    return 4 * ((f + u) * u + u)


def polars_lstm_table(f: np.ndarray, u: np.ndarray) -> pl.DataFrame:
    """The same table a sweep returns for one layer kind, by a polars lazy cross join."""
    fs = pl.LazyFrame({"n_features": f.ravel().astype(np.uint16)})
    us = pl.LazyFrame({"n_units": u.astype(np.uint16)})
    table = fs.join(us, how="cross").with_columns(
        params=4 * ((pl.col("n_features").cast(pl.Int64) + pl.col("n_units")) * pl.col("n_units") + pl.col("n_units"))
    )
    return table.collect()


def write_limit(n: int) -> np.ndarray:
    """The machine's limit for producing a new int64 array: allocate and write it."""
    out = np.empty(n, dtype=np.int64)
    out.fill(1)
    return out


def cases(n: int, python_points: int):
    f, u = grid(n)
    small_f, _ = grid(python_points)
    rows = f.size
    return [
        # (name, points, callable)
        ("write limit: new int64 array (numpy fill)", n, lambda: write_limit(n)),
        ("archsweep count_params (rust)", n, lambda: asw.count_params("lstm", f, u)),
        ("numpy broadcast 4*((f+u)*u+u)", n, lambda: numpy_lstm(f, u)),
        (f"archsweep count_params (pure-Python core, {python_points:.0e} points)", python_points,
         lambda: asw.count_params("lstm", small_f, u, backend="python")),
        ("archsweep sweep, full table (rust)", n, lambda: asw.sweep("lstm", range(1, rows + 1), range(1, N_UNITS + 1))),
        ("polars lazy cross join, same table", n, lambda: polars_lstm_table(f, u)),
        ("archsweep sweep, budget keeps ~1%", n,
         lambda: asw.sweep("lstm", range(1, rows + 1), range(1, N_UNITS + 1), budget=_one_percent_budget(rows))),
    ]  # fmt: skip


def _one_percent_budget(rows: int) -> int:
    # LSTM counts grow ~4u²: u ≤ 0.1·N_UNITS keeps about 1% of each row's points... roughly.
    return asw.count_params("lstm", 1, N_UNITS // 100)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    flags = ""
    try:
        text = open("/proc/cpuinfo").read()
        flags = "AVX-512" if "avx512f" in text else ("AVX2" if "avx2" in text else "no AVX2")
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores ({flags}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def versions() -> str:
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip() or "rustc ?"
    return (
        f"archsweep {asw.__version__}, Python {platform.python_version()}, numpy {np.__version__}, "
        f"polars {pl.__version__}, {rustc}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1e5/1e6 grids, do not write the README")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sizes = [10**5, 10**6] if args.quick else [10**6, 10**7]

    lines = []
    for n in sizes:
        python_points = min(n, 10**6)
        results = []
        for name, points, fn in cases(n, python_points):
            repeats = 1 if "pure-Python" in name else args.repeats
            seconds = timed(fn, repeats)
            results.append((name, points / seconds, seconds))
            print(f"  N={n:.0e}  {name:<60} {points / seconds:>12.3g} configs/s", file=sys.stderr)
        rate = {name: r for name, r, _ in results}
        rust = rate["archsweep count_params (rust)"]
        lines.append(f"\n### Grid of {n:.0e} points (LSTM, Keras convention)\n")
        lines.append("| method | configs/s | archsweep count_params is … x faster |")
        lines.append("| --- | ---: | ---: |")
        for name, r, _ in results:
            lines.append(f"| {name} | {r:.3g} | {rust / r:.2f} |")
    report = "\n".join(lines)
    print(report)
    if not args.quick:
        write_readme(report)
    return 0


def write_readme(report: str) -> None:
    today = datetime.date.today().isoformat()
    text = f"""# Benchmarks

Produced by `python benches/bench.py` on {today} (the script rewrites this file).

- Machine: {machine()}
- Versions: {versions()}

Rates are configurations (grid points or table rows) per second, the median of
5 runs after a warm-up; every run allocates its output afresh, as a user's
call does. The pure-Python core is timed once, on at most 1e6 points (it is
linear in the grid size). Ratios compare against `count_params` on the Rust
core in the same run: above 1 means archsweep is faster.
{report}

## What the columns mean

- **write limit**: numpy allocating a new int64 array of the same size and
  filling it: no formula can produce its output faster than this.
- **numpy broadcast**: the formula written the obvious way on broadcast arrays
  (three temporaries of the full grid size).
- **sweep, full table**: `asw.sweep("lstm", …)` returning the polars
  DataFrame (n_features, n_units as UInt16, params as Int64, the other
  columns constant or null); its baseline is a polars lazy cross join
  computing the same rows.
- **sweep, budget**: the same sweep with a budget that keeps about 1% of the
  rows; the rows that do not fit are never stored.
"""
    (HERE / "README.md").write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
