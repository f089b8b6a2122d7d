"""search: against brute force (a sweep under the budget, then each
combination's largest fitting value), huge lazy ranges, groups, the int64
edge, and errors."""

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archsweep as asw
from archsweep._axis import Chain, multiples

INT64_MAX = 2**63 - 1


def brute_force(kw, maximize, budget, backend):
    """What search must return, from sweep alone: every configuration under
    the budget, each combination of the other axes keeping its largest
    fitting value, in the order sweep gives the combinations."""
    full = asw.sweep(**kw, budget=budget, backend=backend)
    keys = [c for c in full.columns if c not in (maximize, "params")]
    best = full.group_by(keys).agg(pl.col(maximize, "params").sort_by(maximize).last())
    # One row per valid combination, in sweep order: the maximized axis
    # reduced to one value that every groups value divides.
    lcm = math.lcm(*np.atleast_1d(kw.get("groups", 1)).tolist())
    order = asw.sweep(**{**kw, maximize: [lcm]}, backend=backend).select(keys)
    expected = order.join(best, on=keys, how="inner", nulls_equal=True, maintain_order="left")
    return expected.select(full.columns).with_columns(slack=budget - pl.col("params"))


def outcome(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except asw.ArchsweepError as exc:
        return type(exc), str(exc)


SMALL = st.one_of(st.integers(1, 40), st.sampled_from([4, 6, 12, 24]))  # multiples: groups > 1 often fit
# The maximized axis sometimes holds huge sizes, whose counts overflow int64.
# (The other axes stay small: brute_force's order sweep must not overflow.)
HUGE = st.one_of(SMALL, SMALL, st.integers(2**28, 2**40))


@st.composite
def axes(draw, sizes):
    """A size axis: a short list (unsorted, maybe with repeats) or a range, maybe descending."""
    if draw(st.booleans()):
        return draw(st.lists(sizes, min_size=1, max_size=6))
    start, length, step = draw(st.integers(1, 30)), draw(st.integers(1, 8)), draw(st.integers(1, 5))
    r = range(start, start + length * step, step)
    return r[::-1] if draw(st.booleans()) else r


@st.composite
def spaces(draw):
    layers = draw(st.lists(st.sampled_from(("dense", "conv1d", "conv2d", "conv3d", "rnn", "lstm", "gru")), min_size=1, max_size=3, unique=True))
    conventions = draw(st.lists(st.sampled_from(asw.CONVENTIONS), min_size=1, max_size=2, unique=True))
    maximize = draw(st.sampled_from(["n_units", "n_features"]))
    kw = dict(layer=layers, convention=conventions)
    kw.update({name: draw(axes(HUGE if name == maximize else SMALL)) for name in ("n_features", "n_units")})
    ranks = sorted({int(x[4]) for x in layers if x.startswith("conv")})
    if ranks:
        tuples = st.sampled_from(ranks).flatmap(lambda r: st.tuples(*[st.integers(1, 4)] * r))
        kernel = st.one_of(st.integers(1, 4), tuples)
        kw["kernel"] = draw(st.lists(kernel, min_size=1, max_size=2))
        kw["groups"] = draw(st.lists(st.sampled_from([1, 2, 4, 3]), min_size=1, max_size=3, unique=True))
    kw["bias"] = draw(st.sampled_from([True, False, [False, True]]))
    if {"rnn", "lstm", "gru"} & set(layers):
        kw["bidirectional"] = draw(st.sampled_from([False, True, [False, True]]))
    if "gru" in layers and "keras" in conventions:
        kw["reset_after"] = draw(st.sampled_from([None, False, [True, False]]))
    budget = draw(st.one_of(st.integers(100, 50_000), st.integers(0, 10**7), st.integers(0, INT64_MAX),
                            st.just(INT64_MAX)))  # fmt: skip
    return kw, maximize, budget


# The backend fixture is a plain string: nothing to reset between examples.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spaces())
def test_matches_brute_force(backend, space):
    kw, maximize, budget = space
    expected = outcome(brute_force, kw, maximize, budget, backend)
    got = outcome(asw.search, **kw, budget=budget, maximize=maximize, backend=backend)
    if isinstance(expected, tuple):  # the space itself is refused: search refuses it alike
        assert got == expected
        return
    assert got.schema == expected.schema
    assert got.equals(expected)


def lstm_width(f, budget, directions=1):
    """The largest u with directions·4·u·(f + u + 1) <= budget (Keras LSTM), from the quadratic's root."""
    q, a = budget // (4 * directions), f + 1
    return (math.isqrt(a * a + 4 * q) - a) // 2


def test_huge_range_is_bisected_not_listed(backend):
    f = range(1, 301) if backend == "rust" else range(1, 301, 23)
    df = asw.search("lstm", f, range(1, 10**9), bidirectional=[False, True], budget=5_000_000, backend=backend)
    assert df.height == 2 * len(f)
    expected = [(fi, bd, lstm_width(fi, 5_000_000, 2 if bd else 1)) for fi in f for bd in (False, True)]
    assert df.select("n_features", "bidirectional", "n_units").rows() == expected
    assert df["params"].to_list() == [asw.count_params("lstm", fi, u, bidirectional=bd) for fi, bd, u in expected]
    assert (df["slack"] == 5_000_000 - df["params"]).all() and (df["slack"] >= 0).all()
    assert df.schema["n_units"] == pl.UInt32 and df.schema["slack"] == pl.Int64
    # A range far too large to list (2**62 values) costs nothing more.
    big = asw.search("lstm", 128, range(1, 2**62), budget=5_000_000, backend=backend)
    assert big["n_units"].to_list() == [lstm_width(128, 5_000_000)]
    assert big.schema["n_units"] == pl.UInt64


def test_maximize_n_features(backend):
    # Dense: u·f + u <= B, so f = B // u - 1; only the listed values count.
    df = asw.search("dense", range(1, 10**12), [1, 7, 1000], budget=10**6, maximize="n_features", backend=backend)
    assert df.select("n_units", "n_features").rows() == [(1, 10**6 - 1), (7, 10**6 // 7 - 1), (1000, 999)]
    listed = asw.search("dense", [500, 7, 999, 2000, 7], 1000, budget=10**6, maximize="n_features", backend=backend)
    assert listed["n_features"].to_list() == [999]


def test_groups_keep_multiples_of_a_range(backend):
    # conv1d, kernel 3: u·(3·f/g + 1) <= B, u ≡ 3 (mod 7) from the range, and g | u.
    budget = 10**9
    df = asw.search("conv1d", [8, 12, 10], range(3, 10**12, 7), kernel=3, groups=[1, 4, 5], budget=budget,
                    backend=backend)  # fmt: skip
    expected = []
    for f in (8, 12, 10):
        for g in (1, 4, 5):
            if f % g:
                continue  # groups that do not divide n_features: no row, as in sweep
            u = budget // (3 * f // g + 1)
            while u % 7 != 3 or u % g:
                u -= 1
            expected.append((f, g, u))
    assert df.select("n_features", "groups", "n_units").rows() == expected
    assert df["params"].to_list() == [asw.count_params("conv1d", f, u, kernel=3, groups=g) for f, g, u in expected]


@given(st.integers(1, 60), st.integers(0, 80), st.integers(-9, 9).filter(bool), st.integers(1, 24))
def test_multiples_of_a_range_are_a_range(start, length, step, g):
    r = range(start, start + length * abs(step), abs(step))
    r = r if step > 0 else r[::-1]
    values = r if r.step > 0 else r[::-1]
    sub = multiples(Chain([values]), g)
    assert isinstance(sub, Chain) and len(sub.parts) <= 1  # still one range: never listed
    assert list(sub) == sorted(v for v in r if v % g == 0)


def test_int64_edge(backend):
    # Probes far past int64 (n_units up to 2**62) do not fit; the answer is at the very edge.
    df = asw.search("lstm", [1, 2**40], range(1, 2**62), budget=INT64_MAX, backend=backend)
    assert df["n_units"].to_list() == [lstm_width(1, INT64_MAX), lstm_width(2**40, INT64_MAX)]
    assert (df["params"] <= INT64_MAX).all() and (df["slack"] >= 0).all()
    # Dense maximizing n_features: u·(f + 1) <= 2**63 - 1.
    df = asw.search("dense", range(1, 2**62), [2**20, 2**40], budget=INT64_MAX, maximize="n_features",
                    backend=backend)  # fmt: skip
    assert df["n_features"].to_list() == [min(INT64_MAX // 2**20 - 1, 2**62 - 1), INT64_MAX // 2**40 - 1]
    # The widest range there is, the answer at its very top (count = n_units).
    top = asw.search("dense", 1, range(1, INT64_MAX), bias=False, budget=INT64_MAX - 4, backend=backend)
    assert top.select("n_units", "params", "slack").rows() == [(INT64_MAX - 4, INT64_MAX - 4, 0)]
    # A combination whose smallest count already overflows is left out, not an error.
    df = asw.search("lstm", [2**62, 3], range(1, 100), budget=INT64_MAX, backend=backend)
    assert df.select("n_features", "n_units").rows() == [(3, 99)]


def test_nothing_fits(backend):
    empty = asw.search(["dense", "gru"], [3, 4], range(1, 10**9), budget=0, backend=backend)
    assert empty.height == 0
    assert empty.columns == [*asw.sweep("dense", 3, 4).columns, "slack"]
    tight = asw.search("gru", [3, 4], range(5, 10), budget=asw.count_params("gru", 3, 5), backend=backend)
    assert tight.select("n_features", "n_units", "slack").rows() == [(3, 5, 0)]
    # A count equal to the maximized value (dense, one input, no bias): the budget itself fits.
    exact = asw.search("dense", 1, range(1, 10**9), bias=False, budget=1000, backend=backend)
    assert exact.select("n_units", "params", "slack").rows() == [(1000, 1000, 0)]


def test_schema_is_sweeps_plus_slack(backend):
    kw = dict(layer=["conv2d", "gru"], n_features=[3, 300], n_units=range(1, 70001), kernel=[3, (1, 7)],
              convention=["keras", "torch"], reset_after=[True, False])  # fmt: skip
    df = asw.search(**kw, budget=10**6, backend=backend)
    swept = asw.sweep(**{**kw, "n_units": [1, 70000]}, backend=backend)
    assert df.schema == pl.Schema({**swept.schema, "slack": pl.Int64})
    gru = df.filter(pl.col("layer") == "gru")
    assert gru.select("convention", "reset_after").rows()[:3] == [("keras", True), ("keras", False), ("torch", None)]
    conv = df.filter(pl.col("layer") == "conv2d")
    assert conv["kernel_d"].null_count() == conv.height and conv["bidirectional"].null_count() == conv.height


def test_errors_name_the_argument(backend):
    def refuses(exc_type, *names, **kw):
        with pytest.raises(exc_type) as info:
            asw.search(**{"layer": "lstm", "n_features": 8, "n_units": range(1, 100), "budget": 1000,
                          "backend": backend, **kw})  # fmt: skip
        for name in names:
            assert name in str(info.value)

    refuses(asw.InvalidArgumentError, "maximize", "'kernel'", "n_units, n_features", maximize="kernel")
    refuses(asw.ArgumentTypeError, "maximize", maximize=None)
    refuses(asw.InvalidArgumentError, "budget", "at least 0", "-1", budget=-1)
    refuses(asw.ArgumentTypeError, "budget", "'5M'", budget="5M")
    refuses(asw.ArgumentTypeError, "budget", "None", budget=None)
    refuses(asw.InvalidArgumentError, "n_units", "at least 1", "got 0", n_units=range(0, 10))
    refuses(asw.InvalidArgumentError, "n_units", "empty", n_units=range(5, 5))
    refuses(asw.InvalidArgumentError, "n_units", "2**63 - 1", n_units=range(1, 2**64))
    refuses(asw.InvalidArgumentError, "n_features", "empty", n_features=[], maximize="n_features")
    refuses(asw.InvalidArgumentError, "layer", "'lstm'", layer="lsmt")
    refuses(asw.InvalidArgumentError, "kernel", layer="dense", kernel=3)
    # No even width to search: groups=2 fits no row, refused as sweep refuses it.
    refuses(asw.InvalidArgumentError, "groups=2", layer="conv1d", kernel=3, n_units=range(1, 100, 2), groups=2)
    with pytest.raises(TypeError, match="budget"):
        asw.search("lstm", 8, range(1, 100))


def test_a_kind_of_one_size_is_searched_over_n_features(backend):
    with pytest.raises(asw.InvalidArgumentError, match="layernorm has no n_units to maximize.*maximize='n_features'"):
        asw.search("layernorm", range(1, 9), budget=10, backend=backend)
    found = asw.search("layernorm", range(1, 10**9), budget=10, maximize="n_features", backend=backend)
    assert found["n_features"].to_list() == [5] and found["params"].to_list() == [10]
