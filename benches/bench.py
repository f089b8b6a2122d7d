"""archsweep's benchmark suite: configs/s of each way to get the same counts,
as ratios against baselines measured in the same run, and peak memory.

    python benches/bench.py             # everything; prints tables, rewrites benches/README.md
    python benches/bench.py --quick     # small grids, a smoke run; writes nothing
    python benches/bench.py --only startup   # one section; prints it, writes nothing
    python benches/bench.py --only compute --framework-python /tmp/fw-torch/bin/python   # section 11 alone

Rates are configurations (grid points, or table rows) per second: the median
of several runs after a warm-up run. Outputs are allocated afresh in every run,
as a user's call does, except where a case says "into a touched buffer".
Cases that need a thread count or a clean peak-memory reading run in a child
process (rayon reads RAYON_NUM_THREADS once, at start).
"""

from __future__ import annotations

import argparse
import datetime
import json
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
from archsweep import _core

HERE = Path(__file__).parent
WIDTH = 10_000  # grids are n_features (rows) × n_units (WIDTH columns)


# --------------------------------------------------------------------------
# Timing and child processes


def timed(fn, repeats: int = 5) -> float:
    """Median seconds of ``repeats`` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
        del result
    return statistics.median(times)


def timed_together(fns: dict, repeats: int = 7) -> dict:
    """Median seconds of each function, run in turns (one warm-up turn
    first): on a machine whose memory speed drifts, methods compared in a
    ratio see the same conditions."""
    times: dict = {name: [] for name in fns}
    for turn in range(repeats + 1):
        for name, fn in fns.items():
            t = time.perf_counter()
            result = fn()
            if turn:
                times[name].append(time.perf_counter() - t)
            del result
    return {name: statistics.median(ts) for name, ts in times.items()}


def child(expr: str, threads: int | None = None, setup: str = "") -> dict:
    """Runs ``expr`` (after ``setup``) in a fresh interpreter: seconds of the
    median run and the peak memory growth over the setup's."""
    code = f"""
import json, os, statistics, threading, time, numpy as np, polars as pl, archsweep as asw, sys
sys.path.insert(0, {str(HERE)!r})
from bench import *
{setup}
asw.sweep("lstm", range(1, 100), range(1, 100), budget=10**6)  # start the thread pools before measuring
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
peak, done = [0], threading.Event()
def sample():  # the kernels release the GIL, so this thread keeps sampling
    while not done.is_set():
        peak[0] = max(peak[0], rss())
        time.sleep(0.002)
base = rss()
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
times = []
for _ in range(REPEATS):
    t = time.perf_counter(); result = {expr}; times.append(time.perf_counter() - t); del result
done.set(); sampler.join()
print(json.dumps({{"seconds": statistics.median(times), "peak_growth": max(peak[0], rss()) - base}}))
"""
    env = dict(os.environ)
    if threads:
        env["RAYON_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_together(exprs: dict, threads: int, repeats: int = 31, setup: str = "") -> dict:
    """Median seconds of each expression, run in turns (``timed_together``) in one fresh interpreter
    with ``threads`` rayon threads, after ``setup``: for calls too short for ``child``, whose memory
    sampler holds the GIL (the main thread can wait a switch interval, 5 ms, to get it back)."""
    fns = ", ".join(f"{name!r}: lambda: {expr}" for name, expr in exprs.items())
    code = f"""
import json, sys, numpy as np, archsweep as asw
sys.path.insert(0, {str(HERE)!r})
from bench import *
{setup}
print(json.dumps(timed_together({{{fns}}}, {repeats})))
"""
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


REPEATS = 3


# --------------------------------------------------------------------------
# Grids and the baselines a user would write instead


def grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """An n-point broadcast grid: n_features down, n_units across."""
    return np.arange(1, n // WIDTH + 1).reshape(-1, 1), np.arange(1, WIDTH + 1)


def numpy_straight(f, u):
    """The Keras LSTM count written the obvious way: 4·((f+u)·u + u)."""
    return 4 * ((f + u) * u + u)


def numpy_blocked(f, u, block_rows: int = 16):
    """The best numpy rewrite found: 4u·(f + u + 1) in two in-place passes per
    cache-sized block of rows."""
    out = np.empty((f.shape[0], u.shape[0]), dtype=np.int64)
    four_u, u1 = 4 * u, u + 1
    for r in range(0, f.shape[0], block_rows):
        block = out[r : r + block_rows]
        np.add(f[r : r + block_rows], u1, out=block)
        np.multiply(block, four_u, out=block)
    return out


def numpy_blocked_count(f, u, budget: int, block_rows: int = 16) -> int:
    """How many fit, numpy's best: the same two passes into one reused
    cache-sized buffer, then a compare-and-count."""
    buf = np.empty((block_rows, u.shape[0]), dtype=np.int64)
    four_u, u1, n = 4 * u, u + 1, 0
    for r in range(0, f.shape[0], block_rows):
        rows = f[r : r + block_rows]
        block = buf[: rows.shape[0]]
        np.add(rows, u1, out=block)
        np.multiply(block, four_u, out=block)
        n += int(np.count_nonzero(block <= budget))
    return n


def _polars_grid(f, u) -> pl.LazyFrame:
    fs = pl.LazyFrame({"n_features": f.ravel().astype(np.uint16)})
    us = pl.LazyFrame({"n_units": u.astype(np.uint16)})
    return fs.join(us, how="cross")


_LSTM = 4 * ((pl.col("n_features").cast(pl.Int64) + pl.col("n_units")) * pl.col("n_units") + pl.col("n_units"))


def polars_params(f, u) -> pl.Series:
    """polars lazy computing the params column only."""
    return _polars_grid(f, u).select(params=_LSTM).collect().to_series()


def polars_table(f, u) -> pl.DataFrame:
    """polars lazy cross join building the same table a sweep returns."""
    return _polars_grid(f, u).with_columns(params=_LSTM).collect()


def polars_filter(f, u, budget: int) -> pl.DataFrame:
    return _polars_grid(f, u).with_columns(params=_LSTM).filter(pl.col("params") <= budget).collect()


def write_new(n: int, threads: int) -> np.ndarray:
    """The limit: allocate a new int64 array (through numpy) and write it."""
    out = np.empty(n, dtype=np.int64)
    _core.fill(out, 1, threads)
    return out


def copy_new(x: np.ndarray, threads: int) -> np.ndarray:
    """The limit for a count that reads an input of its size: a new int64 array written from ``x``."""
    out = np.empty_like(x)
    _core.copy(x, out, threads)
    return out


def sweep_lstm(n: int, **kw) -> pl.DataFrame:
    return asw.sweep("lstm", range(1, n // WIDTH + 1), range(1, WIDTH + 1), **kw)


def one_percent_budget(n: int) -> int:
    """The budget that keeps about 1% of the n-point LSTM grid's rows, found by
    bisection with count_fitting (which counts without storing)."""
    nf, lo, hi = n // WIDTH, 0, asw.count_params("lstm", n // WIDTH, WIDTH)
    while lo < hi:
        mid = (lo + hi) // 2
        if asw.count_fitting("lstm", range(1, nf + 1), range(1, WIDTH + 1), budget=mid) < n // 100:
            lo = mid + 1
        else:
            hi = mid
    return lo


# --------------------------------------------------------------------------
# Sections


class Report:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def section(self, title: str, text: str = "") -> None:
        self.lines += ["", f"## {title}", ""] + ([text, ""] if text else [])
        print(f"\n== {title}", file=sys.stderr)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(header))) + "|")
        for r in rows:
            self.lines.append("| " + " | ".join(r) + " |")
            print("  " + " | ".join(r), file=sys.stderr)
        self.lines.append("")

    def note(self, text: str) -> None:
        self.lines += [text, ""]
        print("  " + text, file=sys.stderr)


def rate(points: float, seconds: float) -> str:
    return f"{points / seconds:.3g}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def section_count(report: Report, sizes: list[int]) -> dict:
    report.section(
        "1. count_params over a broadcast grid (LSTM)",
        "archsweep on both cores; numpy on one, as numpy is. Ratio: archsweep's rate over the method's.",
    )
    found = {}
    for n in sizes:
        f, u = grid(n)
        py_points = min(n, 10**6)
        small_f, _ = grid(py_points)
        cases = [
            ("archsweep count_params (2 threads)", n, lambda: asw.count_params("lstm", f, u)),
            ("limit: new int64 array, 1 thread", n, lambda: write_new(n, 1)),
            ("limit: new int64 array, 2 threads", n, lambda: write_new(n, 2)),
            ("numpy straight broadcast", n, lambda: numpy_straight(f, u)),
            ("numpy best rewrite (2 passes, blocked, out=)", n, lambda: numpy_blocked(f, u)),
            ("polars lazy, params column only", n, lambda: polars_params(f, u)),
            (f"pure-Python core ({py_points:.0e} points)", py_points,
             lambda: asw.count_params("lstm", small_f, u, backend="python")),
        ]  # fmt: skip
        # Two groups of turns, each with archsweep in it: the limits, then numpy and polars, whose freed
        # N-value temporaries can slow the allocation that follows them (a count right after polars
        # measured 9.4 ms against 7.1 ms after a limit). Each ratio is read within its group.
        ours, limits = cases[0][0], {name for name, _, _ in cases if name.startswith("limit")}
        groups = [[ours, *limits], [name for name, _, _ in cases if name not in limits and "Python" not in name]]
        fns, rates, ratios = {name: fn for name, _, fn in cases}, {}, {}
        for group in groups:
            t = timed_together({name: fns[name] for name in group})
            for name in group:
                ratios[name] = t[name] / t[ours]
                rates.setdefault(name, n / t[name])  # archsweep's rate: the limits' group
        python, points, fn = cases[-1]
        rates[python] = points / timed(fn, 1)
        ratios[python] = rates[ours] / rates[python]
        ratios[ours] = 1.0
        report.note(f"**N = {n:.0e}**")
        report.table(
            ["method", "configs/s", "archsweep ÷ method"], [[k, f"{v:.3g}", f"{ratios[k]:.2f}"] for k, v in rates.items()]
        )
        found[n] = rates
    return found


def section_sweep(report: Report, sizes: list[int]) -> None:
    report.section(
        "2. sweep returning the whole DataFrame (LSTM, n_features × n_units)",
        "The table holds n_features and n_units (UInt16) and params (Int64); the other columns are constant or "
        "null, which polars stores as scalars (no per-row bytes). The write limit is for the table's bytes with "
        "2 threads. Peak memory growth is measured in a fresh process.",
    )
    rows = []
    for n in sizes:
        f, u = grid(n)
        table = sweep_lstm(n)
        nbytes = table.estimated_size()
        del table
        t = timed_together({"sweep": lambda: sweep_lstm(n), "polars": lambda: polars_table(f, u),
                            "limit": lambda: write_new(nbytes // 8, 2)}, 5)  # fmt: skip
        t_sweep, t_polars, t_limit = t["sweep"], t["polars"], t["limit"]
        mem = child(f"sweep_lstm({n})")
        rows.append([
            f"{n:.0e}", rate(n, t_sweep), rate(n, t_polars), f"{t_polars / t_sweep:.2f}",
            f"{t_limit / t_sweep:.2f}", f"{nbytes / 2**20:.0f} MiB",
            f"{mem['peak_growth'] / 2**20:.0f} MiB ({mem['peak_growth'] / nbytes:.2f}x table)",
        ])  # fmt: skip
    report.table(
        ["N", "sweep rows/s", "polars cross join rows/s", "sweep ÷ polars", "sweep ÷ write limit (table bytes)",
         "table", "peak memory growth"],
        rows,
    )  # fmt: skip


def section_budget(report: Report, sizes: list[int]) -> None:
    report.section(
        "3. Sweeps under a budget that keeps ~1% of rows",
        "LSTM; the budget is chosen for each N to keep 1% of its rows. 'sorted' grids have n_units ascending, so each row's counts grow and a budget "
        "keeps a prefix, found by binary search; 'shuffled' n_units forces a test of every point. count_fitting "
        "stores nothing; its single-thread rate is measured in a child process with RAYON_NUM_THREADS=1.",
    )
    rows = []
    for n in sizes:
        f, u = grid(n)
        rng = np.random.default_rng(0)
        shuffled = rng.permutation(u)
        nf, budget = n // WIDTH, one_percent_budget(n)
        kept = asw.count_fitting("lstm", range(1, nf + 1), range(1, WIDTH + 1), budget=budget)
        t = timed_together({
            "sorted": lambda: sweep_lstm(n, budget=budget),
            "shuffled": lambda: asw.sweep("lstm", range(1, nf + 1), shuffled, budget=budget),
            "numpy": lambda: numpy_blocked_count(f, u, budget),
            "polars": lambda: polars_filter(f, u, budget),
        }, 5)  # fmt: skip
        t_sweep, t_sweep_shuffled, t_numpy, t_polars = t["sorted"], t["shuffled"], t["numpy"], t["polars"]
        one = child(f"asw.count_fitting('lstm', range(1, {nf} + 1), range(1, WIDTH + 1), budget={budget})", threads=1)
        one_shuffled = child(
            f"asw.count_fitting('lstm', range(1, {nf} + 1), U, budget={budget})", threads=1,
            setup="U = np.random.default_rng(0).permutation(np.arange(1, WIDTH + 1))",
        )  # fmt: skip
        rows.append([
            f"{n:.0e}", f"{kept / n:.2%}", rate(n, t_sweep), rate(n, t_sweep_shuffled), rate(n, t_numpy),
            rate(n, t_polars), f"{t_numpy / t_sweep_shuffled:.2f}", f"{t_polars / t_sweep_shuffled:.2f}",
            rate(n, one["seconds"]), rate(n, one_shuffled["seconds"]),
        ])  # fmt: skip
    report.table(
        ["N", "kept", "sweep sorted", "sweep shuffled", "numpy blocked count", "polars lazy filter",
         "shuffled sweep ÷ numpy", "shuffled sweep ÷ polars", "count_fitting 1 thread, sorted",
         "count_fitting 1 thread, shuffled"],
        rows,
    )  # fmt: skip


def section_out(report: Report, n: int) -> None:
    report.section(
        "4. count_params into a caller's buffer (out=)",
        "Against writing a constant into the same buffer, already touched (np.ones, not the lazily mapped np.zeros).",
    )
    rows = []
    for threads in (1, 2):
        t_limit = child(f"_core.fill(FLAT, 1, {threads})", threads=threads,
                        setup=f"from archsweep import _core\nFLAT = np.ones({n}, dtype=np.int64)")["seconds"]  # fmt: skip
        t_ours = child("asw.count_params('lstm', F, U, out=OUT)", threads=threads,
                       setup=f"F, U = grid({n})\nOUT = np.ones((F.shape[0], WIDTH), dtype=np.int64)")["seconds"]  # fmt: skip
        rows.append([str(threads), rate(n, t_ours), rate(n, t_limit), f"{t_limit / t_ours:.2f}"])
    report.table(["threads", "count_params(out=) configs/s", "write into touched buffer", "ratio to limit"], rows)


def section_small(report: Report) -> None:
    report.section(
        "5. Small inputs",
        "A scalar call against a plain Python function computing the same formula; then the grid size where "
        "two threads start to beat one (the kernel stays on one thread below `PARALLEL_MIN` = "
        f"{_core.PARALLEL_MIN:,} points).",
    )

    def plain_lstm(f, u):
        return 4 * ((f + u) * u + u)

    import timeit

    n = 200_000
    t_plain = min(timeit.repeat(lambda: plain_lstm(32, 64), number=n, repeat=5)) / n
    t_ours = min(timeit.repeat(lambda: asw.count_params("lstm", 32, 64), number=n, repeat=5)) / n
    t_conv = min(timeit.repeat(lambda: asw.count_params("conv2d", 3, 64, kernel=(3, 3)), number=n, repeat=5)) / n
    report.table(
        ["call", "µs", "÷ plain Python"],
        [
            ["plain Python function, LSTM formula", f"{t_plain * 1e6:.2f}", "1.00"],
            ["asw.count_params('lstm', 32, 64)", f"{t_ours * 1e6:.2f}", f"{t_ours / t_plain:.1f}"],
            ["asw.count_params('conv2d', 3, 64, kernel=(3, 3))", f"{t_conv * 1e6:.2f}", f"{t_conv / t_plain:.1f}"],
        ],
    )
    rows = []
    for n in (2**12, 2**14, 2**16, 2**17, 2**18, 2**20):
        u = f"np.arange(1, {n} + 1)"
        one, two = (child_together({"count": "asw.count_params('lstm', 128, U)"}, threads, setup=f"U = {u}")["count"]
                    for threads in (1, 2))  # fmt: skip
        rows.append([f"{n:,}", f"{one * 1e6:.0f}", f"{two * 1e6:.0f}", f"{one / two:.2f}"])
    report.table(["points", "1 thread µs", "2 threads µs", "speed-up"], rows)


def _lstm_torch_projected(f, u, p: int = 16):
    """PyTorch's 2-layer LSTM with proj_size p, by hand (``_kinds._recurrent``'s torch branch, one
    direction, with bias): per layer W_ih, W_hh (4h × p), b_ih, b_hh and W_hr (p × h); layer 2 reads p."""
    per_direction = 4 * u * p + 2 * 4 * u + p * u
    return (4 * u * f + per_direction) + (4 * u * p + per_direction)


def section_layers(report: Report, n: int) -> None:
    report.section(
        "6. Every layer kind",
        f"count_params and sweep at N = {n:.0e} (2 threads) against the new-array write limit (2 threads; for "
        "the kinds of one size, which read an N-value input, a read-and-write pass: a new array copied from it) "
        "and numpy's straight broadcast of the same formula. Kinds with two sizes count over the n_features × "
        "n_units grid (n_units from 17 for the projected LSTM, as proj_size < n_units); kinds with one count "
        f"over n_features = 1 … {n:.0e}. Kind arguments are given to `asw.count` by keyword.",
    )
    f, u = grid(n)
    nf = n // WIDTH
    u17 = u + 16  # proj_size=16 needs n_units >= 17
    x = np.arange(1, n + 1)  # one size axis: n_features
    mha = dict(num_heads=8, key_dim=64)
    # name: (layer, arguments, sizes, numpy formula on those sizes); sizes "grid" is f × u, "grid17" f × u17,
    # "line" the 1-D x.
    cases = {
        "dense": ("dense", {}, "grid", lambda f, u: f * u + u),
        "rnn": ("rnn", {}, "grid", lambda f, u: (f + u) * u + u),
        "gru": ("gru", {}, "grid", lambda f, u: 3 * ((f + u) * u) + 6 * u),
        "lstm": ("lstm", {}, "grid", numpy_straight),
        "conv2d (1×7)": ("conv2d", dict(kernel=(1, 7)), "grid", lambda f, u: 7 * f * u + u),
        "conv3d (3×1×2)": ("conv3d", dict(kernel=(3, 1, 2)), "grid", lambda f, u: 6 * f * u + u),
        "depthwise_conv2d (3×3, depth_multiplier 2)": (
            "depthwise_conv2d", dict(kernel=(3, 3), depth_multiplier=2), "line", lambda f: 9 * f * 2 + f * 2),
        "separable_conv2d (3×3)": ("separable_conv2d", dict(kernel=(3, 3)), "grid", lambda f, u: 9 * f + f * u + u),
        "conv2d_transpose (3×3)": ("conv2d_transpose", dict(kernel=(3, 3)), "grid", lambda f, u: 9 * f * u + u),
        "embedding": ("embedding", {}, "grid", lambda f, u: f * u),
        "batchnorm (keras)": ("batchnorm", {}, "line", lambda f: 2 * f + 2 * f),  # trainable 2f + non_trainable 2f
        "layernorm (keras)": ("layernorm", {}, "line", lambda f: 2 * f),
        "mha (keras, 8 heads × 64)": ("mha", mha, "line", lambda f: (f + f) * 8 * 64 + f * 8 * 64 + 8 * 64 * f
                                      + 2 * 8 * 64 + 8 * 64 + f),
        "lstm (torch, num_layers 2, proj_size 16)": (
            "lstm", dict(num_layers=2, proj_size=16, convention="torch"), "grid17", _lstm_torch_projected),
    }  # fmt: skip
    seeds = list(cases)[:6]  # the rows timed before the registry: through count_params, as then
    sizes = {"grid": (f, u), "grid17": (f, u17), "line": (x,)}
    ranges = {"grid": (range(1, nf + 1), range(1, WIDTH + 1)), "grid17": (range(1, nf + 1), range(17, WIDTH + 17)),
              "line": (range(1, n + 1),)}  # fmt: skip
    small = {"grid": (f[:3], u[:50]), "grid17": (f[:3], u17[:50]), "line": (x[:1000],)}
    # The numpy baseline is the same work: its formula gives archsweep's counts (on a small slice, once).
    assert asw.count("mha", 512, **mha) == cases["mha (keras, 8 heads × 64)"][3](512)
    for name, (layer, kw, axes, formula) in cases.items():
        ours = asw.count(layer, *small[axes], **kw)
        assert np.array_equal(formula(*small[axes]), ours), f"{name}: numpy formula differs from asw.count"
    rows = []
    for name, (layer, kw, axes, formula) in cases.items():
        args = sizes[axes]
        counter = asw.count_params if name in seeds else asw.count
        # The count and its limit run in turns by themselves: numpy's formula frees several N-value
        # temporaries, and the allocation right after it can pay for the kernel's reclaiming them.
        t = timed_together({
            "count": lambda: counter(layer, *args, **kw),
            # A one-size kind reads its n values as it writes its counts: its limit reads and writes.
            "limit": (lambda: copy_new(x, 2)) if axes == "line" else (lambda: write_new(n, 2)),
        }, 7)  # fmt: skip
        t |= timed_together({"sweep": lambda: asw.sweep(layer, *ranges[axes], **kw), "numpy": lambda: formula(*args)}, 5)
        t_count, t_sweep, t_numpy, t_limit = t["count"], t["sweep"], t["numpy"], t["limit"]
        rows.append([name, rate(n, t_count), f"{t_limit / t_count:.2f}", f"{t_numpy / t_count:.2f}", rate(n, t_sweep)])
    mixed = dict(layer=["dense", "conv2d", "rnn", "lstm", "gru"], n_features=range(1, nf // 5 + 1),
                 n_units=range(1, WIDTH + 1), kernel=[(1, 7)], convention=["keras", "torch"])  # fmt: skip
    total = asw.count_fitting(**mixed)
    t_mixed = timed(lambda: asw.sweep(**mixed), 3)
    rows.append(["mixed sweep (5 kinds × 2 conventions)", "", "", "", rate(total, t_mixed)])
    example = dict(layer=["rnn", "lstm", "gru"], n_features=range(1, 513), n_units=range(1, 1025),
                   bidirectional=[False, True])  # fmt: skip
    t_example = timed(lambda: asw.sweep(**example), 5)
    rows.append(["sweep(rnn/lstm/gru, 512 × 1024, bidirectional both): options vary fastest", "", "", "",
                 rate(asw.count_fitting(**example), t_example)])  # fmt: skip
    report.table(["layer", "count_params configs/s", "÷ write limit", "÷ numpy straight", "sweep rows/s"], rows)


def section_huge(report: Report, full: bool) -> None:
    n = 10**9 if full else 10**7
    budget = one_percent_budget(n)
    report.section(
        "7. Sweeps larger than memory",
        f"{n:.0e} grid points (LSTM, {n // WIDTH:,} n_features × {WIDTH:,} n_units). Each run in a fresh process; "
        "peak memory is the process's growth over its start.",
    )
    nf = n // WIDTH
    rows = []
    kept = asw.count_fitting("lstm", range(1, nf + 1), range(1, WIDTH + 1), budget=budget)
    r = child(f"asw.sweep('lstm', range(1, {nf} + 1), range(1, WIDTH + 1), budget={budget})")
    rows.append([f"sweep with budget {budget:,} (keeps {kept:,} rows, {kept / n:.1%})", f"{r['seconds']:.2f}",
                 rate(n, r["seconds"]), f"{r['peak_growth'] / 2**20:.0f} MiB"])  # fmt: skip
    path = HERE / "_huge.parquet"
    try:
        r = child(f"asw.sweep_to_file({str(path)!r}, 'lstm', range(1, {nf} + 1), range(1, WIDTH + 1), progress=False)",
                  setup="REPEATS = 1")  # fmt: skip
        size = path.stat().st_size
    finally:
        path.unlink(missing_ok=True)
    rows.append([f"sweep_to_file, all {n:,} rows to Parquet ({size / 2**20:.0f} MiB file)", f"{r['seconds']:.2f}",
                 rate(n, r["seconds"]), f"{r['peak_growth'] / 2**20:.0f} MiB"])  # fmt: skip
    report.table(["run", "seconds", "configs/s", "peak memory growth"], rows)


FRAMEWORK_TIMING = """
import json, os, statistics, sys, time, timeit
os.environ.setdefault("KERAS_BACKEND", "jax")
def timed(fn, repeats=20):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return statistics.median(times)
def best(fn, number=200, repeats=7):
    fn()
    return min(timeit.repeat(fn, number=number, repeat=repeats)) / number
out, models = [], []
try:
    import keras
    def keras_count():
        layer = keras.layers.LSTM(64)
        layer.build((None, 5, 32))
        return layer.count_params()
    out.append([f"Keras {keras.__version__} (jax): build LSTM(64) on 32 features, count", timed(keras_count)])
    def keras_model():
        m = keras.Sequential([keras.Input((100, 32)), keras.layers.LSTM(128, return_sequences=True),
                              keras.layers.LSTM(64), keras.layers.Dense(10)])
        return m.count_params()
    out.append([f"Keras {keras.__version__} (jax): build a 3-layer Sequential, count", timed(keras_model)])
except ImportError:
    pass
try:
    import torch
    out.append([f"PyTorch {torch.__version__}: build nn.LSTM(32, 64), count",
                timed(lambda: sum(p.numel() for p in torch.nn.LSTM(32, 64).parameters()))])
    meta = torch.device("meta")
    def torch_model():
        m = torch.nn.Sequential(torch.nn.Linear(784, 256, device=meta), torch.nn.Linear(256, 128, device=meta),
                                torch.nn.Linear(128, 10, device=meta))
        return sum(p.numel() for p in m.parameters())
    assert torch_model() == 235146
    models.append([f"PyTorch {torch.__version__}: nn.Sequential(Linear(784, 256), Linear(256, 128), "
                   "Linear(128, 10)) on the meta device, sum(p.numel())", best(torch_model)])
except ImportError:
    pass
print(json.dumps({"builds": out, "models": models}))
"""


MODEL_TARGET = 10e-6  # seconds: the target for building and counting one small model


def section_framework(report: Report, pythons: list[str]) -> None:
    report.section(
        "8. Building the layer in a framework, for reference",
        "Median of 20 builds after a warm-up, in the interpreters given with `--framework-python` (default: this "
        "one); a framework that is not installed there is left out. The second table times building and "
        "counting one model (784 inputs, Dense 256, 128, 10: 235,146 parameters), best of 7 repeats, against "
        f"the target of {MODEL_TARGET * 1e6:.0f} µs for archsweep's build + count; PyTorch builds on the meta "
        "device (no weights allocated).",
    )
    rows, model_rows = [], []
    for python in pythons:
        out = subprocess.run([python, "-c", FRAMEWORK_TIMING], capture_output=True, text=True, check=False)
        found = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {}
        rows += [[name, f"{seconds * 1e3:.3f} ms"] for name, seconds in found.get("builds", [])]
        model_rows += found.get("models", [])
    if not rows:
        report.note("Neither Keras nor PyTorch is installed in the interpreters given: skipped (see tools/README.md).")
    import timeit

    t = min(timeit.repeat(lambda: asw.count_params("lstm", 32, 64), number=100_000, repeat=3)) / 100_000
    rows.append(["archsweep count_params('lstm', 32, 64)", f"{t * 1e3:.4f} ms"])
    space = asw.Model(input_shape=(100, 32), layers=[
        asw.layers.LSTM(128, return_sequences=True), asw.layers.LSTM(64), asw.layers.Dense(10)])  # fmt: skip
    rows.append(["archsweep Model(...) of the same 3 layers, count_params()",
                 f"{timed(lambda: asw.Model(input_shape=(100, 32), layers=space.layers).count_params(), 20) * 1e3:.3f} ms"])  # fmt: skip
    report.table(["how", "time per model"], rows)

    def build_and_count() -> int:
        dense = asw.layers.Dense
        return asw.Model((784,), [dense(256), dense(128), dense(10)]).count_params()

    assert build_and_count() == 235146
    build_and_count()
    t_model = min(timeit.repeat(build_and_count, number=2_000, repeat=7)) / 2_000
    table = [["archsweep Model((784,), [Dense(256), Dense(128), Dense(10)]).count_params()",
              f"{t_model * 1e6:.1f}", f"{t_model / MODEL_TARGET:.2f}", verdict(t_model <= MODEL_TARGET), "1.00"]]
    table += [[name, f"{seconds * 1e6:.1f}", f"{seconds / MODEL_TARGET:.2f}", "", f"{t_model / seconds:.2f}"]
              for name, seconds in model_rows]  # fmt: skip
    if not model_rows:
        report.note("PyTorch is not installed in the interpreters given: its meta-device row is left out.")
    report.table(["build + count one model", "µs", f"÷ {MODEL_TARGET * 1e6:.0f} µs target",
                  f"target ≤ {MODEL_TARGET * 1e6:.0f} µs", "archsweep ÷ this"], table)  # fmt: skip


def yardstick() -> asw.Model:
    """Issue 4's yardstick: 12 Dense layers of 10 widths each on 784 inputs, then Dense(10): 10^12 models."""
    widths = asw.choice(16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096)
    return asw.Model(input_shape=(784,), layers=[asw.layers.Dense(widths) for _ in range(12)] + [asw.layers.Dense(10)])


def section_search(report: Report) -> None:
    report.section(
        "9. Searching under a budget",
        "Single-layer `search` bisects the maximized axis, so its size should not matter; the model-space "
        "yardstick has 10¹² architectures (12 × `Dense(choice of 10 widths)` on 784 inputs, then `Dense(10)`). "
        "Median of 3 runs after a warm-up, 2 threads.",
    )
    rows = []
    for stop in (100, 10**9):
        kw = dict(layer=["rnn", "lstm", "gru"], n_features=range(1, 1025), n_units=range(1, stop),
                  convention=["keras", "torch"], budget=5_000_000)  # fmt: skip
        rows.append([f"search: rnn/lstm/gru × 1024 n_features × 2 conventions, n_units in range(1, {stop:.0e})",
                     f"{asw.search(**kw).height:,} rows", f"{timed(lambda: asw.search(**kw), 3):.3f} s"])  # fmt: skip
    space = yardstick()
    cases = [
        ("search_models(yardstick, 30_000): every fitting model", lambda: asw.search_models(space, 30_000).height),
        ("count_models(yardstick, 500_000)", lambda: asw.count_models(space, 500_000)),
        ("search_models(yardstick, 500_000, limit=10)", lambda: asw.search_models(space, 500_000, limit=10).height),
        # Two budgets that both bind (a Dense chain's params and FLOPs differ by its biases).
        ("search_models(yardstick, {params: 30_000, flops: 50_000}): every fitting model",
         lambda: asw.search_models(space, {"params": 30_000, "flops": 50_000}).height),
        ("count_models(yardstick, {params: 500_000, flops: 800_000})",
         lambda: asw.count_models(space, {"params": 500_000, "flops": 800_000})),
    ]
    for name, fn in cases:
        rows.append([name, f"{fn():,}", f"{timed(fn, 3):.3f} s"])
    report.table(["call", "result", "seconds"], rows)


SAMPLE_WIDTHS = (16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096)
SAMPLE_DEPTH = 9  # Dense layers of 10 widths each on 784 inputs, then Dense(10): 10^9 architectures

REJECTION_IN_KERAS = """
import json, os, random, statistics, sys, time
os.environ.setdefault("KERAS_BACKEND", "jax")
try:
    import keras
except ImportError:
    print(json.dumps({})); sys.exit(0)
widths, depth = json.loads(sys.argv[1]), int(sys.argv[2])
rng, times = random.Random(0), []
for _ in range(21):
    drawn = [rng.choice(widths) for _ in range(depth)]
    t = time.perf_counter()
    model = keras.Sequential([keras.Input((784,)), *[keras.layers.Dense(w) for w in drawn], keras.layers.Dense(10)])
    model.count_params()
    times.append(time.perf_counter() - t)
print(json.dumps({"seconds": statistics.median(times[1:]), "version": keras.__version__}))
"""


def section_sample(report: Report, pythons: list[str]) -> None:
    report.section(
        "13. Sampling what fits",
        f"`sample_models` draws uniformly from the fitting architectures by unranking uniform ranks through the "
        f"search's exact counts; rejection sampling draws uniformly from the whole space and keeps what fits. The "
        f"space: {SAMPLE_DEPTH} × `Dense(choice of 10 widths)` on 784 inputs, then `Dense(10)` (10^{SAMPLE_DEPTH} "
        "architectures, every draw of one width per layer equally likely), under the budget that keeps about 0.1% "
        "of them. Rejection's cost per kept model is its cost per draw over the fraction kept; archsweep's is its "
        "whole call (search built, ranks drawn, models unranked and decoded) over k. Median of 3 after a warm-up.",
    )
    dense = asw.layers.Dense
    space = asw.Model((784,), [dense(asw.choice(*SAMPLE_WIDTHS)) for _ in range(SAMPLE_DEPTH)] + [dense(10)])
    lo, hi = 0, 10**9  # the smallest budget that keeps 0.1%
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if asw.count_models(space, mid) >= space.size // 1000 else (mid + 1, hi)
    budget, fits = lo, asw.count_models(space, lo)
    fraction = fits / space.size

    def draws(count):  # rejection with archsweep's own single-model count
        import random

        rng, kept = random.Random(0), 0
        for _ in range(count):
            model = asw.Model((784,), [dense(rng.choice(SAMPLE_WIDTHS)) for _ in range(SAMPLE_DEPTH)] + [dense(10)])
            kept += model.count_params() <= budget
        return kept

    def closed_form(count):  # rejection with the closed form typed out: the fastest a rejection loop gets
        import random

        rng, kept = random.Random(0), 0
        for _ in range(count):
            widths = [784, *(rng.choice(SAMPLE_WIDTHS) for _ in range(SAMPLE_DEPTH)), 10]
            kept += sum(a * b + b for a, b in zip(widths, widths[1:])) <= budget
        return kept

    ours = {k: timed(lambda: asw.sample_models(space, budget, k, seed=0), 3) / k * 1e6 for k in (100, 10_000)}
    base = ours[10_000]
    rows = [[f"archsweep sample_models(space, {budget:,}, {k:,})", f"{t:,.1f}", f"{t / base:,.1f}"]
            for k, t in ours.items()]  # fmt: skip
    for name, fn, n in (("rejection: asw.Model(...).count_params() per draw", draws, 20_000),
                        ("rejection: the closed form in plain Python per draw", closed_form, 200_000)):  # fmt: skip
        t = timed(lambda: fn(n), 3) / n / fraction
        rows.append([name, f"{t * 1e6:,.1f}", f"{t * 1e6 / base:,.0f}"])
    for python in pythons:
        out = subprocess.run([python, "-c", REJECTION_IN_KERAS, json.dumps(SAMPLE_WIDTHS), str(SAMPLE_DEPTH)],
                             capture_output=True, text=True, check=False)  # fmt: skip
        found = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else {}
        if found:
            t = found["seconds"] / fraction
            rows.append([f"rejection: Keras {found['version']} (jax) builds the Sequential, count_params()",
                         f"{t * 1e6:,.0f}", f"{t * 1e6 / base:,.0f}"])  # fmt: skip
    report.note(f"{fits:,} of {space.size:,} architectures fit {budget:,} parameters ({fraction:.3%}).")
    report.table(["how", "µs per model that fits", "÷ archsweep (k = 10,000)"], rows)
    big = asw.Model((32, 32, 3), [
        asw.repeat(asw.layers.Conv2D(asw.choice(16, 32, 64, 128, 256), asw.choice(1, 3, 5), padding="same"), 2, 12),
        asw.layers.GlobalAveragePooling2D(), dense(asw.choice(64, 128, 256, 512)), dense(10)])  # fmt: skip
    t = timed(lambda: asw.sample_models(big, 5_000_000, 20, band=(4_500_000, 5_000_000), seed=0), 3)
    report.note(f"The README's example, a space of {big.size:.2e} conv nets (2 to 12 Conv2D of 15 options, a Dense "
                f"of 4): `sample_models(space, 5_000_000, 20, band=(4.5e6, 5e6), seed=0)` takes {t:.2f} s, almost "
                "all of it building the search's tables.")  # fmt: skip


def _peak_rss() -> int:
    """This process's peak resident memory, in bytes (Linux: VmHWM)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))


def section_dataset(report: Report, full: bool) -> None:
    n = 10**9 if full else 10**7
    nf = n // WIDTH
    shard = 50_000_000 if full else 500_000
    report.section(
        "14. Sweeps to a sharded dataset on Dask",
        f"{n:.0e} rows (LSTM, {nf:,} n_features × {WIDTH:,} n_units) written as Parquet: one file by "
        f"`sweep_to_file` in a fresh process, against `sweep_to_dataset` on a `distributed.LocalCluster` of 2 "
        f"worker processes (1 thread each, `RAYON_NUM_THREADS=1`), {n // shard} shards of {shard:,} rows. One run "
        "each; peak memory is each worker's peak resident set (VmHWM).",
    )
    import shutil

    from distributed import Client, LocalCluster

    path = HERE / "_huge.parquet"
    try:
        r = child(f"asw.sweep_to_file({str(path)!r}, 'lstm', range(1, {nf} + 1), range(1, WIDTH + 1), progress=False)",
                  setup="REPEATS = 1")  # fmt: skip
        single, file_bytes = r["seconds"], path.stat().st_size
    finally:
        path.unlink(missing_ok=True)
    folder = HERE / "_dataset"
    shutil.rmtree(folder, ignore_errors=True)
    os.environ["RAYON_NUM_THREADS"] = "1"  # inherited by the workers: one core each
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, silence_logs=40) as cluster, Client(cluster) as client:  # fmt: skip
            client.run(lambda: asw.sweep("lstm", range(1, 10), range(1, 10)))  # imports done before timing
            t = time.perf_counter()
            rows = asw.sweep_to_dataset(folder, "lstm", range(1, nf + 1), range(1, WIDTH + 1), shard_rows=shard,
                                        client=client, progress=False)  # fmt: skip
            sharded = time.perf_counter() - t
            peaks = sorted(client.run(_peak_rss).values())
        data_bytes = sum(f.stat().st_size for f in folder.glob("*.parquet"))
    finally:
        os.environ.pop("RAYON_NUM_THREADS", None)
        shutil.rmtree(folder, ignore_errors=True)
    assert rows == n
    report.table(["run", "seconds", "rows/s", "rows/s per worker", "bytes per row", "peak memory"], [
        [f"sweep_to_file, one process, {file_bytes / 2**20:,.0f} MiB", f"{single:.1f}", rate(n, single), "",
         f"{file_bytes / n:.2f}", f"{r['peak_growth'] / 2**20:,.0f} MiB growth"],
        [f"sweep_to_dataset, 2 workers, {data_bytes / 2**20:,.0f} MiB", f"{sharded:.1f}", rate(n, sharded),
         rate(n / 2, sharded), f"{data_bytes / n:.2f}", " / ".join(f"{p / 2**20:,.0f}" for p in peaks) + " MiB"],
    ])  # fmt: skip
    per_worker = n / 2 / sharded
    report.note(f"Speed-up {single / sharded:.2f}x on 2 workers. On paper, 10^12 rows at {per_worker:.2e} rows/s "
                f"per worker take {1e12 / per_worker / 3600:,.0f} worker-hours ({1e12 / per_worker / 3600 / 100:,.1f} h "
                f"on 100 workers) and {1e12 * data_bytes / n / 2**40:,.1f} TiB of Parquet at these bytes per row.")


STARTUP_CALL = ["count", "lstm", "--n-features", "32", "--n-units", "64"]


def _children_env(cache: str) -> dict:
    """The environment of start-up children: bytecode cached (in ``cache``) as
    in an installed package, even where PYTHONDONTWRITEBYTECODE is set."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": cache}


def _import_times(code: str, env: dict) -> dict[str, int]:
    """Self time (µs) of each module ``code`` imports, from ``python -X importtime``."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=env)
    times = {}
    for line in r.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if line.startswith("import time:") and parts[0].strip().isdigit():
            times[parts[2].strip()] = int(parts[0])
    return times


def section_startup(report: Report, runs: int = 20) -> None:
    import tempfile

    report.section(
        "10. Start-up of the command line",
        "Wall time of whole processes (each a fresh interpreter; bytecode cached, as in an installed package), "
        f"median of {runs} runs taken in turns after a warm-up. archsweep's share is timed inside a child that has "
        "imported numpy: importing the CLI, then running the count; the modules that cost most are those of "
        "`python -X importtime -c 'import archsweep.cli'` that `import numpy` does not import.",
    )
    cmds = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
        "python -c 'import archsweep'": [sys.executable, "-c", "import archsweep"],
        "archsweep " + " ".join(STARTUP_CALL): [sys.executable, "-m", "archsweep", *STARTUP_CALL],
        "python -c 'import polars' (for reference)": [sys.executable, "-c", "import polars"],
    }
    with tempfile.TemporaryDirectory() as cache:
        env = _children_env(cache)
        times: dict = {name: [] for name in cmds}
        for turn in range(runs + 1):
            for name, cmd in cmds.items():
                t = time.perf_counter()
                subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
                if turn:
                    times[name].append(time.perf_counter() - t)
        numpy_ms = statistics.median(times["python -c 'import numpy'"]) * 1e3
        report.table(["command", "wall ms (median)", "÷ import numpy"],
                     [[name, f"{statistics.median(ts) * 1e3:.1f}", f"{statistics.median(ts) * 1e3 / numpy_ms:.2f}"]
                      for name, ts in times.items()])  # fmt: skip
        imports, mains, own = [], [], {}
        probe = ("import io, contextlib, time, numpy\nt0 = time.perf_counter()\nfrom archsweep import cli\n"
                 "t1 = time.perf_counter()\nwith contextlib.redirect_stdout(io.StringIO()):\n    cli.main(%r)\n"
                 "print((t1 - t0) * 1e3, (time.perf_counter() - t1) * 1e3)") % STARTUP_CALL  # fmt: skip
        for _ in range(runs):
            base = _import_times("import numpy", env)
            for m, us in _import_times("import archsweep.cli", env).items():
                if m not in base:
                    own.setdefault(m, []).append(us)
            out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
            imported, ran = map(float, out.stdout.split())
            imports.append(imported)
            mains.append(ran)
        loaded = subprocess.run(
            [sys.executable, "-c", "import sys, io, contextlib\nfrom archsweep import cli\n"
             f"with contextlib.redirect_stdout(io.StringIO()): cli.main({STARTUP_CALL!r})\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'polars', 'tqdm', 'matplotlib'}) + "
             "sorted({'importlib.metadata'} & set(sys.modules)))"],
            capture_output=True, text=True, env=env, check=True).stdout.strip()  # fmt: skip
    top = sorted(own.items(), key=lambda kv: -statistics.median(kv[1]))[:6]
    report.table(["archsweep's share of `archsweep count`", "ms (median)"], [
        ["`from archsweep import cli` after numpy (archsweep's modules, argparse, ...)",
         f"{statistics.median(imports):.1f}"],
        ["`cli.main(...)`: argparse for the one command, and the count", f"{statistics.median(mains):.1f}"],
    ])  # fmt: skip
    report.note("Largest self times beyond numpy: " + ", ".join(
        f"{m} {statistics.median(us) / 1e3:.1f} ms" for m, us in top) + f". Imported by `archsweep count` of "
        f"polars, tqdm, matplotlib, importlib.metadata: {loaded} (tests/test_cli_edges.py asserts none).")  # fmt: skip



LENGTH = 100  # the sequence length of section 11's compute quantities


def flops_lstm(f, u, length: int = LENGTH):
    """FlopCounterMode's forward FLOPs of an LSTM (either convention): 2·length·4u·(f + u)."""
    return 8 * length * u * (f + u)


def numpy_blocked_count2(f, u, params_budget: int, flops_budget: int, length: int = LENGTH,
                         block_rows: int = 16) -> int:  # fmt: skip
    """How many fit both budgets, numpy's best as for one: each formula in two in-place passes into
    its own reused cache-sized buffer, a compare of each into a reused mask, the masks combined."""
    shape = (block_rows, u.shape[0])
    bp, bq = np.empty(shape, dtype=np.int64), np.empty(shape, dtype=np.int64)
    mp, mq = np.empty(shape, dtype=bool), np.empty(shape, dtype=bool)
    four_u, u1, gate_u, n = 4 * u, u + 1, 8 * length * u, 0
    for r in range(0, f.shape[0], block_rows):
        rows = f[r : r + block_rows]
        k = rows.shape[0]
        p, q, a, b = bp[:k], bq[:k], mp[:k], mq[:k]
        np.add(rows, u1, out=p)
        np.multiply(p, four_u, out=p)
        np.less_equal(p, params_budget, out=a)
        np.add(rows, u, out=q)
        np.multiply(q, gate_u, out=q)
        np.less_equal(q, flops_budget, out=b)
        np.logical_and(a, b, out=a)
        n += int(np.count_nonzero(a))
    return n


_FLOPS = 8 * LENGTH * pl.col("n_units").cast(pl.Int64) * (pl.col("n_features").cast(pl.Int64) + pl.col("n_units"))


def polars_filter2(f, u, params_budget: int, flops_budget: int) -> pl.DataFrame:
    """polars lazy: both columns, then a filter on both conditions."""
    return (_polars_grid(f, u).with_columns(params=_LSTM, flops=_FLOPS)
            .filter((pl.col("params") <= params_budget) & (pl.col("flops") <= flops_budget)).collect())  # fmt: skip


def one_percent_budget_of(n: int, quantity: str, **kw) -> int:
    """The budget on ``quantity`` alone that keeps about 1% of the n-point LSTM grid's rows
    (bisection with count_fitting, as one_percent_budget)."""
    nf = n // WIDTH
    axes = (range(1, nf + 1), range(1, WIDTH + 1))
    lo, hi = 0, asw.count("lstm", nf, WIDTH, quantity=quantity, **kw)
    while lo < hi:
        mid = (lo + hi) // 2
        if asw.count_fitting("lstm", *axes, quantity=quantity, budget=mid, **kw) < n // 100:
            lo = mid + 1
        else:
            hi = mid
    return lo


FLOPS_TIMING = """
import json, statistics, time
try:
    import torch
    from torch.utils.flop_counter import FlopCounterMode
except ImportError:
    print(json.dumps({})); raise SystemExit
meta = torch.device("meta")
def build():
    return torch.nn.LSTM(128, 256, device=meta)
def build_and_count():
    layer, x = build(), torch.empty(100, 1, 128, device=meta)
    with FlopCounterMode(display=False) as counter:
        layer(x)
    return counter.get_total_flops()
def timed(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return statistics.median(times)
print(json.dumps({"version": torch.__version__, "flops": build_and_count(), "seconds": timed(build_and_count, 5),
                  "build_seconds": timed(build, 20)}))
"""


def section_compute(report: Report, sizes: list[int], pythons: list[str]) -> None:
    report.section(
        "11. Compute quantities and budgets on several quantities",
        f"LSTM with length = {LENGTH}, n_features × n_units as in sections 2 and 3: params = 4u·(f + u + 1), "
        f"flops = 2·{LENGTH}·4u·(f + u) (PyTorch's FlopCounterMode; the same in both conventions). Every baseline's "
        "numbers or counts are asserted equal to archsweep's. Rates are medians of runs taken in turns (2 "
        "threads; more turns at 1e7, whose calls are short); count_fitting's single-thread rates are medians of "
        "31 runs taken in turns in one child process with RAYON_NUM_THREADS=1.",
    )
    # -- 1. The whole table with two quantity columns.
    rows = []
    for n in sizes:
        kw = dict(length=LENGTH, quantity=["params", "flops"])
        table = sweep_lstm(n, **kw)
        nbytes = table.estimated_size()
        sample = table.gather_every(997)
        sf, su = sample["n_features"].to_numpy().astype(np.int64), sample["n_units"].to_numpy().astype(np.int64)
        assert table.height == n and table.columns[-2:] == ["params", "flops"]
        assert np.array_equal(sample["params"].to_numpy(), numpy_straight(sf, su))
        assert np.array_equal(sample["flops"].to_numpy(), flops_lstm(sf, su))
        del table, sample
        t = timed_together({"two": lambda: sweep_lstm(n, **kw), "one": lambda: sweep_lstm(n, length=LENGTH),
                            "limit": lambda: write_new(nbytes // 8, 2)}, 11 if n <= 10**7 else 5)  # fmt: skip
        mem = child(f"sweep_lstm({n}, length={LENGTH}, quantity=['params', 'flops'])")
        rows.append([f"{n:.0e}", rate(n, t["two"]), rate(n, t["one"]), f"{t['limit'] / t['two']:.2f}",
                     verdict(t["limit"] / t["two"] >= 0.7), f"{nbytes / 2**20:.0f} MiB",
                     f"{mem['peak_growth'] / 2**20:.0f} MiB ({mem['peak_growth'] / nbytes:.2f}x table)"])  # fmt: skip
    report.note("**The whole table, params and flops columns** (n_features, n_units UInt16; params, flops Int64: "
                "20 bytes a row). The write limit is for the table's bytes with 2 threads, as in section 2.")  # fmt: skip
    report.table(["N", "sweep rows/s (params, flops)", "sweep rows/s (params only)",
                  "÷ write limit (table bytes)", "target ≥ 0.7", "table", "peak memory growth"], rows)  # fmt: skip

    # -- 2. Two budgets on the sorted grid.
    rows, baselines = [], []
    for n in sizes:
        f, u = grid(n)
        nf = n // WIDTH
        axes = (range(1, nf + 1), range(1, WIDTH + 1))
        p_budget = one_percent_budget_of(n, "params", length=LENGTH)
        f_budget = one_percent_budget_of(n, "flops", length=LENGTH)
        both = {"params": p_budget, "flops": f_budget}
        kept = asw.count_fitting("lstm", *axes, length=LENGTH, budget=both)
        kept_params = asw.count_fitting("lstm", *axes, length=LENGTH, budget=p_budget)
        kept_flops = asw.count_fitting("lstm", *axes, length=LENGTH, budget={"flops": f_budget})
        only_params, only_flops = kept_flops - kept, kept_params - kept  # rows each budget alone cuts
        # On --quick's small grids the two 1% boundaries coincide; from 1e7 rows each budget cuts rows of its own.
        assert n < 10**7 or (only_params > 0 and only_flops > 0), "both budgets should bind somewhere"
        ours = sweep_lstm(n, length=LENGTH, budget=both)
        theirs = polars_filter2(f, u, p_budget, f_budget).sort("n_features", "n_units")  # its order is not kept
        assert ours.height == theirs.height == kept == numpy_blocked_count2(f, u, p_budget, f_budget)
        for c in ("n_features", "n_units", "params", "flops"):
            assert np.array_equal(ours[c].to_numpy().astype(np.int64), theirs[c].to_numpy().astype(np.int64)), c
        assert sweep_lstm(n, length=LENGTH, budget=p_budget).height == kept_params
        assert kept_params == numpy_blocked_count(f, u, p_budget)
        del ours, theirs
        turns = 21 if n <= 10**7 else 7
        two = lambda: sweep_lstm(n, length=LENGTH, budget=both)  # noqa: E731
        # The two sweeps in turns with each other only: a sweep right after a large numpy or polars run pays
        # ~1 ms more (the first after it; caches refilled), which would go to whichever came first.
        t = timed_together({"two": two, "one": lambda: sweep_lstm(n, length=LENGTH, budget=p_budget)}, turns)
        # The baselines in turns with the two-budget sweep, timed warm (the call after the first after them)
        # and cold (that first call).
        b = timed_together({
            "numpy": lambda: numpy_blocked_count2(f, u, p_budget, f_budget),
            "polars": lambda: polars_filter2(f, u, p_budget, f_budget),
            "cold": two, "warm": two,
        }, turns)  # fmt: skip
        counting = f"asw.count_fitting('lstm', range(1, {nf} + 1), range(1, WIDTH + 1), length={LENGTH}, budget=%s)"
        c = child_together({"two": counting % repr(both), "one": counting % p_budget}, threads=1)
        r_one, r_count = t["one"] / t["two"], c["one"] / c["two"]
        r_numpy, r_polars = b["numpy"] / b["warm"], b["polars"] / b["warm"]
        rows.append([
            f"{n:.0e}", f"{p_budget:,} / {f_budget:,}", f"{kept / n:.3%} ({only_params:,} / {only_flops:,})",
            rate(n, t["two"]), rate(n, t["one"]), f"{r_one:.2f}", rate(n, c["two"]), rate(n, c["one"]),
            f"{r_count:.2f}", f"{verdict(r_one >= 0.8)} / {verdict(r_count >= 0.8)}",
        ])  # fmt: skip
        baselines.append([
            f"{n:.0e}", rate(n, b["warm"]), rate(n, b["cold"]), rate(n, b["numpy"]), f"{r_numpy:.2f}",
            f"{b['numpy'] / b['cold']:.2f}", rate(n, b["polars"]), f"{r_polars:.2f}", f"{b['polars'] / b['cold']:.2f}",
            f"{verdict(r_numpy >= 3)} / {verdict(r_polars >= 10)}",
        ])  # fmt: skip
    report.note("**Two budgets, params and flops, on the sorted grid.** Each budget alone keeps 1% of the rows "
                "(the params budget is the one of the one-budget sweep it is compared with); 'cut only by' counts "
                "the rows that fit one budget and not the other, so both bind. The two sweeps are timed in turns "
                "with each other; count_fitting on one thread in a child process.")  # fmt: skip
    report.table(["N", "budgets params / flops", "kept (cut only by params / flops)", "sweep, two budgets",
                  "sweep, params budget only", "two ÷ one", "count_fitting 1 thread, two budgets",
                  "… params budget only", "two ÷ one", "targets ≥ 0.8 / 0.8"], rows)  # fmt: skip
    report.note("Against the baselines, timed in turns with the two-budget sweep: numpy computes both formulas "
                "blockwise and combines the masks, polars filters on both conditions. The first sweep after "
                "them ('cold', caches refilled) is slower than the next ('warm'); the targets are read on the warm one.")  # fmt: skip
    report.table(["N", "sweep, two budgets (warm)", "(cold)", "numpy blocked count, both", "warm ÷ numpy",
                  "cold ÷ numpy", "polars lazy filter, both", "warm ÷ polars", "cold ÷ polars",
                  "targets ≥ 3 / 10"], baselines)  # fmt: skip

    # -- 3. Two-budget search: the maximized axis's size should not matter.
    budget = {"params": 5_000_000, "flops": 100_000_000}
    cases = [("128", "100", 128, LENGTH), ("1024", "10", 1024, 10), ("16", "1000", 16, 1000),
             ("range(1, 1025)", "[10, 100, 1000]", range(1, 1025), [10, 100, 1000])]  # fmt: skip
    rows = []
    for f_label, l_label, nf_arg, length in cases:
        kws = {stop: dict(n_features=nf_arg, n_units=range(1, stop), length=length, budget=budget)
               for stop in (100, 10**9)}  # fmt: skip
        found = {stop: asw.search("lstm", **kw) for stop, kw in kws.items()}
        seconds = timed_together({stop: (lambda kw=kw: asw.search("lstm", **kw)) for stop, kw in kws.items()}, 21)
        big, small = found[10**9], found[100]
        bf, bu, bl = (big[c].to_numpy().astype(np.int64) for c in ("n_features", "n_units", "length"))

        params_fit = lambda uu: numpy_straight(bf, uu) <= budget["params"]  # noqa: E731
        flops_fit = lambda uu: flops_lstm(bf, uu, bl) <= budget["flops"]  # noqa: E731
        assert (params_fit(bu) & flops_fit(bu)).all(), "search's n_units does not fit"
        assert not (params_fit(bu + 1) & flops_fit(bu + 1)).any(), "search's n_units is not the largest that fits"
        assert np.array_equal(np.minimum(bu, 99), small["n_units"].to_numpy()), "range(1, 100) disagrees"
        by_params, by_flops = int((~params_fit(bu + 1)).sum()), int((~flops_fit(bu + 1)).sum())
        if big.height == 1:
            result = f"n_units {bu[0]:,}; one more exceeds " + " and ".join(
                name for name, k in (("params", by_params), ("flops", by_flops)) if k)  # fmt: skip
        else:
            result = f"{big.height:,} rows; one more unit exceeds params in {by_params:,}, flops in {by_flops:,}"
        rows.append([f"n_features {f_label}, length {l_label}", result, f"{seconds[100]:.4f}", f"{seconds[10**9]:.4f}",
                     f"{seconds[10**9] / seconds[100]:.2f}"])  # fmt: skip
    report.note(f"**Two-budget search** (`budget={budget}`), n_units maximized over range(1, 100) and "
                "range(1, 1e9): seconds, median of 21 runs taken in turns; each row's n_units is checked to be the "
                "largest that fits both (by the formulas), and the range(1, 100) answer to be its min with 99.")  # fmt: skip
    report.table(["search('lstm', ...)", "result (range(1, 1e9))", "range(1, 100) s", "range(1, 1e9) s",
                  "1e9 ÷ 100"], rows)  # fmt: skip

    # -- 4. The framework's count of the same number.
    import timeit

    expected = 2 * 100 * 4 * 256 * (128 + 256)
    call = lambda: asw.count("lstm", 128, 256, length=100, quantity="flops", convention="torch")  # noqa: E731
    assert call() == expected
    t_ours = statistics.median(timeit.repeat(call, number=20_000, repeat=7)) / 20_000
    rows = []
    for python in pythons:
        out = subprocess.run([python, "-c", FLOPS_TIMING], capture_output=True, text=True, check=False)
        found = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else {}
        if found:
            assert found["flops"] == expected, f"FlopCounterMode counts {found['flops']}, archsweep {expected}"
            rows.append([f"PyTorch {found['version']}: nn.LSTM(128, 256) on the meta device + FlopCounterMode "
                         "forward on a (100, 1, 128) meta input", f"{found['flops']:,}",
                         f"{found['seconds'] * 1e3:.1f} ms (build alone {found['build_seconds'] * 1e3:.2f} ms)",
                         f"{found['seconds'] / t_ours:,.0f}"])  # fmt: skip
    rows.append(["asw.count('lstm', 128, 256, length=100, quantity='flops', convention='torch')",
                 f"{expected:,}", f"{t_ours * 1e6:.2f} µs", "1"])  # fmt: skip
    report.note("**Against the framework**: one layer's forward FLOPs, PyTorch median of 5 after a warm-up "
                "(in the interpreters given with `--framework-python`), archsweep median of 7 × 20,000 calls.")  # fmt: skip
    if len(rows) == 1:
        report.note("PyTorch is not installed in the interpreters given: its row is left out.")
    report.table(["how", "flops", "time per layer", "÷ archsweep"], rows)


# --------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    try:
        text = open("/proc/cpuinfo").read()
        cpu = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
        simd = "AVX-512" if "avx512f" in text else ("AVX2" if "avx2" in text else "no AVX2")
    except (OSError, StopIteration):
        simd = "?"
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores ({simd}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


def versions() -> str:
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip() or "rustc ?"
    return (
        f"archsweep {asw.__version__}, Python {platform.python_version()}, numpy {np.__version__}, "
        f"polars {pl.__version__}, {rustc}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small grids, a smoke run; README left alone")
    parser.add_argument("--only", choices=["count", "budget", "small", "layers", "startup", "compute", "search", "lm", "sample", "dataset"],
                        help="run only this section; prints it, writes nothing")  # fmt: skip
    parser.add_argument("--framework-python", action="append", metavar="PYTHON",
                        help="an interpreter with Keras and/or PyTorch for sections 8 and 11 (repeatable; default: this one)")  # fmt: skip
    args = parser.parse_args()
    pythons = args.framework_python or [sys.executable]
    if args.only:
        report = Report()
        sizes = [10**5, 10**6] if args.quick else [10**7, 10**8]
        {"count": lambda: section_count(report, sizes),
         "budget": lambda: section_budget(report, sizes),
         "small": lambda: section_small(report),
         "layers": lambda: section_layers(report, sizes[0]),
         "startup": lambda: section_startup(report),
         "compute": lambda: section_compute(report, sizes, pythons),
         "search": lambda: section_search(report),
         "lm": lambda: section_lm(report, pythons),
         "sample": lambda: section_sample(report, pythons),
         "dataset": lambda: section_dataset(report, not args.quick)}[args.only]()  # fmt: skip
        print("\n".join(report.lines))
        return 0
    sizes = [10**5, 10**6] if args.quick else [10**7, 10**8]
    report = Report()
    started = time.time()
    section_count(report, sizes)
    section_sweep(report, sizes)
    section_budget(report, sizes)
    section_out(report, sizes[-1])
    section_small(report)
    section_layers(report, sizes[0])
    section_huge(report, full=not args.quick)
    section_framework(report, pythons)
    section_search(report)
    section_startup(report)
    section_compute(report, sizes, pythons)
    section_lm(report, pythons)
    section_sample(report, pythons)
    section_dataset(report, full=not args.quick)
    body = "\n".join(report.lines)
    print(body)
    if not args.quick:
        write_readme(body, time.time() - started)
    return 0


LM_FRAMEWORK_TIMING = """
import json, statistics, sys, time
try:
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig
except ImportError:
    print(json.dumps({})); sys.exit(0)
times = []
for d, n in [(512, 4), (1024, 8), (2048, 16), (4096, 32)] * 2:
    config = LlamaConfig(vocab_size=32000, hidden_size=d, num_hidden_layers=n, num_attention_heads=d // 128,
                         intermediate_size=256 * ((8 * d // 3 + 255) // 256))
    t = time.perf_counter()
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    model.num_parameters(); model.num_parameters(exclude_embeddings=True)
    times.append(time.perf_counter() - t)
import transformers
print(json.dumps({"seconds": statistics.median(times[4:]), "version": transformers.__version__}))
"""


def _llama_closed_form(d: int, n: int, h: int, kv: int, hd: int, ff: int, v: int = 32000, t: int = 2048):
    """Llama's params, non-embedding params and forward FLOPs of t tokens, typed out: the loop baseline."""
    layer = d * h * hd + 2 * d * kv * hd + h * hd * d + 3 * d * ff + 2 * d
    params = 2 * v * d + n * layer + d
    flops = 2 * (n * (t * (d * (h + 2 * kv) * hd + h * hd * d + 3 * d * ff) + 2 * h * t * t * hd) + t * d * v)
    return params, params - v * d, flops


def section_lm(report: Report, pythons: list[str]) -> None:
    report.section(
        "12. Language-model families",
        "The README's worked example (`examples/scaling_laws.py`): every Llama-style configuration of d_model "
        "512..8192 step 128, n_layers 4..64, head_dim 64/128, GQA 1/2/4/8 (17,385 of them), with params, "
        "non-embedding params and forward FLOPs at a 2,048 context; median of 5 runs. Against the same three "
        "numbers from a Python loop over the closed form typed out by hand, archsweep's pure-Python core, and "
        "`transformers` building each model from its config on the meta device (where installed; per model, "
        "median over Llama configs of 512 to 4096 wide).",
    )
    import importlib.util

    spec = importlib.util.spec_from_file_location("scaling_laws", HERE.parent / "examples" / "scaling_laws.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    n = 17_385  # of the 29,768 combinations, those whose head_dim divides d_model and ratio the heads
    t_asw = timed(example.table, 5)
    grid = example.table()  # the rows the loop recomputes, to check it agrees

    def loop() -> list:
        out = []
        for d in range(512, 8193, 128):
            for hd in (64, 128):
                for r in (1, 2, 4, 8):
                    h = d // hd
                    if d % hd or h % r:
                        continue
                    ff = 256 * ((8 * d // 3 + 255) // 256)
                    out.extend(_llama_closed_form(d, layers, h, h // r, hd, ff) for layers in range(4, 65))
        return out

    looped = loop()
    assert len(looped) == n and sorted(p for p, _, _ in looped if p < 7 * 10**9) == sorted(grid["params"].to_list())
    t_loop = timed(loop, 5)
    lm = asw.from_hf_config({"model_type": "llama", "vocab_size": 32000}).args
    d = np.arange(512, 8193, 128).reshape(-1, 1)
    arch = dict(lm, d_model=d, n_layers=np.arange(4, 65).reshape(1, -1), n_heads=d // 128, n_kv_heads=d // 128,
                head_dim=128, d_ff=example.llama_d_ff(d))  # fmt: skip
    points = 61 * 61
    t_py = timed(lambda: [asw.count("lm", **arch, quantity=q, backend="python", **extra)
                          for q, extra in (("params", {}), ("non_embedding_params", {}), ("flops", {"length": 2048}))], 5)  # fmt: skip
    per = lambda seconds, count: f"{seconds / count * 1e6:.3f}"  # noqa: E731
    rows = [["archsweep (Rust core): 3 broadcast counts", f"{t_asw:.4f} s", per(t_asw, n), "1"],
            ["Python loop over the closed form, typed out", f"{t_loop:.4f} s", per(t_loop, n), f"{t_loop / t_asw:.1f}"],
            [f"archsweep, backend='python' ({points:,} configurations, head_dim 128, no GQA)", f"{t_py:.4f} s",
             per(t_py, points), f"{t_py / points / (t_asw / n):.1f}"]]  # fmt: skip
    for python in pythons:
        out = subprocess.run([python, "-c", LM_FRAMEWORK_TIMING], capture_output=True, text=True, check=False)
        found = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else {}
        if found:
            s_model = found["seconds"]
            rows.append([f"transformers {found['version']}: from_config on meta + num_parameters() both ways, per model",
                         f"{s_model * n:.1f} s (extrapolated)", per(s_model, 1), f"{s_model / (t_asw / n):,.0f}"])  # fmt: skip
    report.table(["how", "the 17,385 configurations", "µs per configuration", "÷ archsweep"], rows)


def write_readme(body: str, seconds: float) -> None:
    today = datetime.date.today().isoformat()
    head = f"""# Benchmarks

Produced by `python benches/bench.py` on {today} in {seconds / 60:.0f} minutes (the script rewrites this
file; `--quick` runs a small smoke version). Nothing in the test suite times anything.

- Machine: {machine()}
- Versions: {versions()}

Rates are configurations (grid points or table rows) per second, the median of several runs after a
warm-up; outputs are allocated afresh in every run, as a user's call does. "÷" columns are ratios
measured in the same run.
"""
    analysis = (HERE / "ANALYSIS.md").read_text() if (HERE / "ANALYSIS.md").exists() else ""
    (HERE / "README.md").write_text(head + body + "\n" + analysis)


if __name__ == "__main__":
    raise SystemExit(main())
