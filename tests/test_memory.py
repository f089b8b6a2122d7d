"""Memory bounds come before allocation: a long range stays lazy from the
argument to the kernel, a refusal is decided from arithmetic on the axes,
and grids far larger than memory are counted in bounded memory.

The subprocess tests run under an address-space limit (RLIMIT_AS) a
gigabyte above what the interpreter holds after importing archsweep: any
call that listed a 10**9-value axis (8 GB) would die with MemoryError."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import archsweep as asw
from archsweep import _sweep
from archsweep._axis import Chain

HUGE = range(1, 10**9 + 1)


def run_limited(body: str) -> subprocess.CompletedProcess:
    """``body`` in a fresh interpreter whose address space is capped 1 GB
    above its size once archsweep is imported."""
    script = textwrap.dedent(
        """
        import resource
        import archsweep as asw
        from archsweep._axis import Chain
        asw.sweep("lstm", range(1, 50), range(1, 50))  # threads and pools started before the cap
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + 2**30, vm + 2**30))
        """
    ) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)


def test_the_cap_bites():
    # The harness is meaningful: listing the axis under the cap fails.
    proc = run_limited("import numpy as np\nnp.arange(1, 10**9 + 1)\n")
    assert proc.returncode != 0 and "MemoryError" in proc.stderr


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_refusals_and_counts_under_the_cap(backend):
    proc = run_limited(
        f"""
        b = {backend!r}
        for call in (lambda: asw.sweep("dense", 1, range(1, 3 * 10**8), max_bytes=10**6, backend=b),
                     lambda: asw.sweep("lstm", 128, range(1, 10**11), backend=b),
                     lambda: asw.sweep("dense", 1, Chain([range(1, 10**9), 2 * 10**9]), backend=b)):
            try:
                call()
            except asw.SweepTooLargeError as exc:
                assert "rows" in str(exc) and "bytes" in str(exc), exc
            else:
                raise AssertionError("not refused")
        # Counted, trimmed or searched without listing the long axis.
        assert asw.count_fitting("dense", range(1, 10**11), 5, budget=100, backend=b) == 19
        assert asw.sweep("dense", 1, range(1, 3 * 10**8), budget=1000, backend=b).height == 500
        assert asw.search("dense", range(1, 10**12), range(1, 10**12), budget=100, backend=b).height == 99
        assert asw.count_fitting("dense", 3, range(1, 10**10), backend=b) == 10**10 - 1
        print("ok")
        """
    )
    assert proc.stdout.strip() == "ok", proc.stderr


def test_count_fitting_without_budget_overflows_where_sweep_does(backend):
    args = ("dense", [2, 2**62], [1, 4])
    with pytest.raises(asw.ParamOverflowError) as from_sweep:
        asw.sweep(*args, backend=backend)
    with pytest.raises(asw.ParamOverflowError) as from_count:
        asw.count_fitting(*args, backend=backend)
    assert str(from_count.value) == str(from_sweep.value)
    # A lazy axis overflows at the same first point as the listed one.
    with pytest.raises(asw.ParamOverflowError) as lazy:
        asw.count_fitting("dense", range(2**61, 2**61 + 2 * 10**7), 4, backend=backend)
    with pytest.raises(asw.ParamOverflowError) as listed:
        asw.sweep("dense", range(2**61, 2**61 + 3), 4, backend=backend)
    assert str(lazy.value) == str(listed.value)


def test_search_is_bounded_by_max_bytes(backend):
    with pytest.raises(asw.SweepTooLargeError, match="combinations"):
        asw.search("dense", range(1, 10**7), range(1, 10**9), budget=10**15, max_bytes=10**6, backend=backend)
    # Trimmed by the budget first, the same search fits.
    df = asw.search("dense", range(1, 10**7), range(1, 10**9), budget=1000, max_bytes=10**6, backend=backend)
    assert df["params"].max() <= 1000 and df.height == 999  # n_features 1..999 (u = 1)


ranges = st.builds(
    lambda start, length, step, up: range(start, start + length * step, step) if up
    else range(start + (length - 1) * step, start - 1, -step),
    st.integers(1, 40), st.integers(0, 6), st.integers(1, 5), st.booleans(),
)  # fmt: skip
chains = st.lists(st.one_of(ranges, st.integers(1, 60)), min_size=1, max_size=4).map(Chain).filter(bool)


@given(f=chains, u=chains, budget=st.one_of(st.none(), st.integers(0, 4000)), layer=st.sampled_from(["dense", "gru", "lstm"]),
       data=st.data())  # fmt: skip
def test_lazy_pieces_and_trimming_match_the_listed_sweep(f, u, budget, layer, data):
    # With tiny pieces every chain is lazy, trimmed and listed piece by piece:
    # the table is the one of the same values given as lists.
    backend = data.draw(st.sampled_from(["rust", "python"]))
    kw = dict(budget=budget, bias=[False, True], convention=["keras", "torch"], backend=backend)
    expected = asw.sweep(layer, list(f), list(u), **kw)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_sweep, "AXIS_PIECE", data.draw(st.integers(1, 5)))
        got = asw.sweep(layer, f, u, **kw)
        fitting = asw.count_fitting(layer, f, u, **kw)
    assert got.equals(expected)
    assert fitting == expected.height


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_a_descending_axis_keeps_its_least_valid_value_under_groups(backend):
    """Found by the property test below: n_features descending (12, 10, ..., 4) with groups 3, whose
    least multiple is 6, not the first one met (12); trimming n_units at 12 dropped (6, 6, g=3)."""
    kw = dict(kernel=[1, 2], groups=[1, 3], budget=18, backend=backend)
    expected = asw.sweep("conv1d", list(range(12, 3, -2)), [1, 6], **kw)
    assert expected.filter(n_units=6).height == 1
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_sweep, "AXIS_PIECE", 1)
        assert asw.sweep("conv1d", Chain([range(12, 3, -2)]), Chain([range(1, 11, 5)]), **kw).equals(expected)


@given(f=chains, u=chains, budget=st.integers(0, 5000), g=st.sampled_from([1, 2, 3]), data=st.data())
def test_lazy_groups_and_search_match_the_listed_axes(f, u, budget, g, data):
    backend = data.draw(st.sampled_from(["rust", "python"]))
    kw = dict(kernel=[1, 2], groups=[1, g], budget=budget, backend=backend)
    try:
        expected = asw.sweep("conv1d", list(f), list(u), **kw)
    except asw.InvalidArgumentError:
        return  # groups that divide nothing: refused either way
    with pytest.MonkeyPatch.context() as m:
        m.setattr(_sweep, "AXIS_PIECE", data.draw(st.integers(1, 5)))
        assert asw.sweep("conv1d", f, u, **kw).equals(expected)
        assert asw.count_fitting("conv1d", f, u, **kw) == expected.height
        found = asw.search("conv1d", f, u, **kw)
    best = asw.search("conv1d", list(f), list(u), **kw)
    assert found.equals(best)


def test_to_file_lists_a_piece_at_a_time(tmp_path, monkeypatch, backend):
    monkeypatch.setattr(_sweep, "AXIS_PIECE", 3)
    path = tmp_path / "t.parquet"
    rows = asw.sweep_to_file(path, "lstm", range(1, 12), Chain([range(9, 0, -2), 40]), budget=2000, progress=False,
                             backend=backend)  # fmt: skip
    import polars as pl

    expected = asw.sweep("lstm", list(range(1, 12)), [9, 7, 5, 3, 1, 40], budget=2000, backend=backend)
    assert rows == expected.height and pl.read_parquet(path).equals(expected)


def test_chain_is_arithmetic():
    c = Chain([range(1, 10**18, 7), 5, range(10**19, 10**19 + 3)])
    assert c.size == len(range(1, 10**18, 7)) + 4
    assert c.extremes() == (1, 10**19 + 2) and not c.is_sorted
    assert c[-1] == 10**19 + 2 and c.take(0, 3).tolist() == [1, 8, 15]
    assert np.array_equal(Chain([range(5, 0, -2)]).take(0, 3), [5, 3, 1])


def test_a_long_lazy_axis_is_listed_a_piece_at_a_time(monkeypatch):
    """Pieces list at most AXIS_PIECE values of a lazy axis at once, whichever axis it is."""
    from archsweep import _sweep
    from archsweep._axis import Chain

    spans = []
    take = Chain.take

    def spy(self, start, stop):
        spans.append(stop - start)
        return take(self, start, stop)

    monkeypatch.setattr(_sweep, "AXIS_PIECE", 100)
    monkeypatch.setattr(Chain, "take", spy)
    for layer, sizes in (("batchnorm", (range(1, 1001),)), ("dense", (range(1, 251), range(1, 301)))):
        spans.clear()
        df = asw.sweep(layer, *sizes)
        assert max(spans) <= 100, (layer, max(spans))
        monkeypatch.setattr(Chain, "take", take)
        assert df.equals(asw.sweep(layer, *(list(s) for s in sizes)))
        monkeypatch.setattr(Chain, "take", spy)


@pytest.mark.parametrize(
    "options", [{"proj_size": range(0, 10**9)}, {"num_layers": range(1, 4000), "proj_size": range(0, 4000)}]
)
def test_arguments_of_one_convention_are_refused_before_they_are_listed_too_long(options, backend):
    """The variant axis (the convention with its own arguments) is listed: too long, it is refused from arithmetic."""
    with pytest.raises(asw.InvalidArgumentError, match="only some conventions"):
        asw.sweep("lstm", 8, 10**5, convention="torch", backend=backend, **options)


def test_an_argument_no_kind_takes_is_refused_without_listing_it(backend):
    """A huge range for an argument the sweep's kinds lack is refused by name, never listed."""
    with pytest.raises(asw.InvalidArgumentError, match="groups is not an argument of lstm"):
        asw.sweep("lstm", 8, 5, groups=range(1, 10**12), backend=backend)
    assert asw.sweep("lstm", 8, 5, groups=range(1, 2), backend=backend).height == 1  # 0.1's default: accepted
