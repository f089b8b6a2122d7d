"""Class 2 of issue 8: every size, kernel, group, budget and limit is read
exactly, by one rule shared by count_params and sweep, and both cores give the
same result or the same refusal.

Hostile inputs (every numeric type and width, bools, junk, nested and mixed
lists, values around 2**53, 2**63 and -2**64) are checked against an oracle
written here with exact rational arithmetic: an exact result equal to Python
integer arithmetic, or an ArchsweepError of the expected type whose message
names the argument, identical (type and message) on both backends.
"""

from __future__ import annotations

import warnings
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import archsweep as asw

BACKENDS = ("rust", "python")
INT64_MAX = 2**63 - 1
INT_DTYPES = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
FLOAT_DTYPES = (np.float16, np.float32, np.float64)
EDGES = (0, 1, 2, 3, 5, -1, 2**31, 2**32 + 1, 2**53 - 1, 2**53, 2**53 + 1, 2**62, 2**63 - 1, 2**63, 2**64 - 1,
         2**64, -(2**63), -(2**64), 10**30)  # fmt: skip

# -- hostile values ---------------------------------------------------------------------------------------------

ints = st.one_of(st.integers(1, 40), st.sampled_from(EDGES), st.integers(-(2**70), 2**70))


@st.composite
def numpy_ints(draw):
    dtype = draw(st.sampled_from(INT_DTYPES))
    info = np.iinfo(dtype)
    edges = [v for v in EDGES if info.min <= v <= info.max]
    return dtype(draw(st.one_of(st.integers(info.min, info.max), st.sampled_from(edges))))


floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    ints.map(float),
    st.sampled_from([2.5, -0.0, 0.5, 3.0, 2.0**53, 2.0**63, 1e19, 2.0**63 - 1024]),
)


def _numpy_float(dtype, x):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # float16(1e30) is inf: a hostile value like any other
        return dtype(x)


numpy_floats = st.builds(_numpy_float, st.sampled_from(FLOAT_DTYPES), floats)
fractions = st.builds(Fraction, ints, st.sampled_from([1, 1, 2, 3]))
decimals = st.one_of(
    ints.map(Decimal),
    st.sampled_from([Decimal(s) for s in ("2.5", "NaN", "sNaN", "Infinity", "-Infinity", "3.000", "1E+2",
                                          "9223372036854775807.0", "9223372036854775808", "-0")]),
)  # fmt: skip
bools = st.sampled_from([True, False, np.True_, np.False_])
junk = st.sampled_from([None, "3", b"3", np.str_("3"), 3 + 0j, complex(3, 1), np.complex64(3), object(),
                        np.timedelta64(3, "s"), np.datetime64("2020")])  # fmt: skip
numbers = st.one_of(ints, bools, numpy_ints(), floats, numpy_floats, fractions, decimals, junk)
# Mostly valid values, so that results (not only refusals) are checked often.
friendly = st.one_of(st.integers(1, 40), st.integers(1, 40).map(float), st.integers(1, 40).map(Fraction),
                     st.integers(1, 40).map(Decimal), st.integers(1, 40).map(np.uint8))  # fmt: skip
elements = st.one_of(friendly, friendly, numbers)


@st.composite
def typed_arrays(draw):
    """numpy arrays of every width, filled with values that fit it (or bools)."""
    n = draw(st.integers(0, 4))
    kind = draw(st.sampled_from(["int", "float", "bool"]))
    if kind == "bool":
        return np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    if kind == "float":
        dtype = draw(st.sampled_from(FLOAT_DTYPES))
        values = draw(st.lists(st.one_of(floats, st.integers(1, 40).map(float)), min_size=n, max_size=n))
        return np.array([_numpy_float(dtype, x) for x in values], dtype=dtype)
    dtype = draw(st.sampled_from(INT_DTYPES))
    info = np.iinfo(dtype)
    values = st.one_of(st.integers(1, min(40, int(info.max))), st.integers(int(info.min), int(info.max)))
    return np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=dtype)


sizes = st.one_of(
    elements,
    st.lists(elements, max_size=4),
    st.tuples(elements, elements),
    st.integers(1, 2).flatmap(lambda w: st.lists(st.lists(elements, min_size=w, max_size=w), min_size=1, max_size=2)),
    typed_arrays(),
    typed_arrays().filter(len).map(lambda a: a[:1].reshape(())),  # 0-d arrays
)

# -- the oracle: exact rational arithmetic, independent of archsweep ---------------------------------------------


class Refused(Exception):
    """The refusal the oracle expects: an exception type (or types) and the argument it must name."""

    def __init__(self, types, name):
        super().__init__(types, name)
        self.types, self.name = types, name


def exact(x):
    """An element as an int, or "type" / "value" for what is wrong with it."""
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
    if isinstance(x, (bool, np.bool_, np.timedelta64)):  # numpy files durations under integers
        return "type"
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        if not np.isfinite(x):
            return "value"
        q = Fraction(float(x))  # float16/32 widen to float64 exactly
    elif isinstance(x, Fraction):
        q = x
    elif isinstance(x, Decimal):
        if not x.is_finite():
            return "value"
        q = Fraction(x)
    else:
        return "type"
    return q.numerator if q.denominator == 1 else "value"


def flatten(value):
    """(elements, shape) of a scalar, a rectangular nested list/tuple or an array."""
    if isinstance(value, np.ndarray):
        return list(value.ravel()), value.shape
    if isinstance(value, (list, tuple)):
        parts = [flatten(v) for v in value]
        if not parts:
            return [], (0,)
        if any(not isinstance(v, (list, tuple, np.ndarray)) for v in value):
            if any(isinstance(v, (list, tuple, np.ndarray)) for v in value):
                return [object()], (len(value),)  # ragged: refused as a type error
            return list(value), (len(value),)
        return [x for items, _ in parts for x in items], (len(value), *parts[0][1])
    return [value], ()


def read_sizes(name, value, minimum=1):
    """The exact ints of a size argument, flat, and its shape; or Refused.
    A bool or non-number anywhere is a type error, whatever else is wrong."""
    if isinstance(value, (str, bytes)) or (isinstance(value, np.ndarray) and value.dtype == bool):
        raise Refused(asw.ArgumentTypeError, name)
    items, shape = flatten(value)
    read = [exact(x) for x in items]
    if "type" in read:
        raise Refused(asw.ArgumentTypeError, name)
    if "value" in read:
        raise Refused(asw.InvalidArgumentError, name)
    if any(not minimum <= v <= INT64_MAX for v in read):
        raise Refused(asw.InvalidArgumentError, name)
    return read, shape


def is_plain_scalar(value):
    return not isinstance(value, (list, tuple, np.ndarray))


def outcome(fn, *args, **kw):
    """("ok", value) or ("refused", type, message). Any other exception fails the test."""
    try:
        r = fn(*args, **kw)
    except asw.ArchsweepError as exc:
        return ("refused", type(exc), str(exc))
    if isinstance(r, np.ndarray):
        return ("ok", "array", r.shape, r.tolist())
    if hasattr(r, "height"):
        return ("ok", "table", r["params"].to_list())
    return ("ok", type(r).__name__, r)


def both(fn, *args, **kw):
    """The outcome of a call, asserted identical on both cores."""
    results = [outcome(fn, *args, backend=b, **kw) for b in BACKENDS]
    assert results[0] == results[1], results
    return results[0]


def check_refused(got, refused: Refused, *shown):
    assert got[0] == "refused", f"expected a refusal naming {refused.name}, got {got}"
    assert issubclass(got[1], refused.types), got
    for text in (refused.name, *shown):
        assert text in got[2], got


def dense(n_features, n_units):
    f, u = n_features, n_units
    count = f * u + u
    return count if count <= INT64_MAX else None


# -- sizes ------------------------------------------------------------------------------------------------------


@given(st.sampled_from(["n_features", "n_units"]), sizes)
def test_sizes_exact_or_refused_alike(name, value):
    kw = {"n_features": 3, "n_units": 5, name: value}
    got = both(asw.count_params, "dense", **kw)
    try:
        read, shape = read_sizes(name, value)
    except Refused as refused:
        check_refused(got, refused)
        check_refused(both(asw.sweep, "dense", **kw), refused)  # one rule: sweep reads it the same way
        return
    counts = [dense(**{**kw, name: v}) for v in read]
    if None in counts:
        check_refused(got, Refused(asw.ParamOverflowError, name))
        return
    if is_plain_scalar(value):
        assert got == ("ok", "int", counts[0])
    else:
        assert got[:3] == ("ok", "array", shape) and np.ravel(got[3]).tolist() == counts
    if read:
        assert both(asw.sweep, "dense", **kw) == ("ok", "table", counts)


@given(sizes)
def test_groups_exact_or_refused_alike(value):
    width = 720720  # divisible by every number up to 16
    got = both(asw.count_params, "conv1d", width, width, kernel=1, groups=value)
    try:
        read, shape = read_sizes("groups", value)
    except Refused as refused:
        check_refused(got, refused)
        check_refused(both(asw.sweep, "conv1d", width, width, kernel=1, groups=value), refused)
        return
    if any(width % g for g in read):
        check_refused(got, Refused(asw.InvalidArgumentError, "groups"))
        return
    counts = [width // g * width + width for g in read]
    array = ("ok", "array", shape, np.reshape(counts, shape).tolist())
    assert got == (("ok", "int", counts[0]) if is_plain_scalar(value) else array)


@pytest.mark.parametrize(
    ("value", "exc", "shown"),
    [
        (-(2**64), asw.InvalidArgumentError, str(-(2**64))),
        ([4, -(2**64)], asw.InvalidArgumentError, str(-(2**64))),
        (2**64, asw.InvalidArgumentError, str(2**64)),
        (Fraction(2**70), asw.InvalidArgumentError, str(2**70)),
        (np.array([2**64 - 1], dtype=np.uint64), asw.InvalidArgumentError, str(2**64 - 1)),
        (np.array([1e19]), asw.InvalidArgumentError, str(10**19)),
        ([3, True], asw.ArgumentTypeError, "True"),
        ([2.5, True], asw.ArgumentTypeError, "n_units[1]"),  # a bool anywhere is a type error
        ([[1, 2], [3, np.False_]], asw.ArgumentTypeError, "n_units[1, 1]"),
        (Decimal("2.5"), asw.InvalidArgumentError, "Decimal('2.5')"),
        (Fraction(5, 2), asw.InvalidArgumentError, "Fraction(5, 2)"),
        ([1, float("nan")], asw.InvalidArgumentError, "nan"),
        (np.array([1.0, np.inf], dtype=np.float16), asw.InvalidArgumentError, "inf"),
        ([1, [2, 3]], asw.ArgumentTypeError, "[2, 3]"),
        (np.ma.masked_array([1, 0], mask=[False, True]), asw.ArgumentTypeError, "masked"),
        (np.timedelta64(3, "s"), asw.ArgumentTypeError, "timedelta64"),
    ],
)
def test_refusals_show_the_exact_value(value, exc, shown):
    for fn in (asw.count_params, asw.sweep):
        check_refused(both(fn, "dense", 3, value), Refused(exc, "n_units"), shown)


def test_examples_that_went_through_float64(backend):
    big = 2**53 + 1
    assert asw.count_params("dense", Fraction(big), 1, bias=False, backend=backend) == big
    assert asw.count_params("dense", Decimal(big), 1, bias=False, backend=backend) == big
    assert asw.count_params("dense", [big, 2.0], 1, bias=False, backend=backend).tolist() == [big, 2]
    assert asw.sweep("dense", [big, 2.0], 1, bias=False, backend=backend)["params"].to_list() == [big, 2]
    wide = np.array([2**62 + 1], dtype=np.uint64)
    assert asw.count_params("dense", wide, 1, bias=False, backend=backend).tolist() == [2**62 + 1]
    assert asw.count_params("dense", np.float16(2048), 1, bias=False, backend=backend) == 2048
    # A Fraction budget of 2**60 - 1 keeps no row of 2**60.
    assert asw.sweep("dense", 1, [2**60 - 1, 2**60], bias=False, budget=Fraction(2**60 - 1), backend=backend)[
        "params"
    ].to_list() == [2**60 - 1]


# -- kernels ----------------------------------------------------------------------------------------------------

kernel_entries = st.one_of(st.integers(1, 7), st.integers(1, 7).map(float), st.integers(1, 7).map(Fraction), numbers)
kernel_values = st.one_of(
    kernel_entries,
    st.lists(st.one_of(kernel_entries, st.tuples(kernel_entries, kernel_entries),
                       st.tuples(st.integers(1, 5), st.integers(1, 5)), st.tuples(st.integers(1, 5)),
                       st.lists(st.integers(1, 5), min_size=1, max_size=2)), max_size=3),
    st.lists(kernel_entries, min_size=0, max_size=3).map(tuple),
    st.tuples(st.integers(1, 5), st.integers(1, 5)),
    st.tuples(typed_arrays(), st.one_of(st.integers(1, 5), typed_arrays())),
    typed_arrays(),
)  # fmt: skip


def read_kernels(value):
    """For conv2d: (kernels as flat (h, w) pairs, count_params' result shape), or Refused."""
    if value is None:
        raise Refused(asw.InvalidArgumentError, "kernel")  # required for conv
    if isinstance(value, tuple):
        if not 1 <= len(value) <= 3:
            raise Refused(asw.InvalidArgumentError, "kernel")
        entries = [read_sizes(f"kernel[{i}]", e) for i, e in enumerate(value)]
        try:
            shape = np.broadcast_shapes(*(s for _, s in entries))
        except ValueError:
            raise Refused(asw.InvalidArgumentError, "kernel") from None
        if len(value) != 2:
            raise Refused(asw.InvalidArgumentError, "kernel")
        h, w = (np.broadcast_to(np.array(v, dtype=object).reshape(s), shape).ravel().tolist() for v, s in entries)
        return list(zip(h, w)), shape
    if isinstance(value, list):
        kernels, problems = [], set()
        for i, k in enumerate(value):
            try:
                if isinstance(k, tuple):
                    if not all(is_plain_scalar(e) for e in k):
                        raise Refused(asw.ArgumentTypeError, "kernel")
                    read = [read_sizes(f"kernel[{i}]", e)[0][0] for e in k]
                    if len(k) != 2:
                        raise Refused(asw.InvalidArgumentError, "kernel")
                    kernels.append(tuple(read))
                elif not is_plain_scalar(k):
                    raise Refused(asw.ArgumentTypeError, "kernel")  # a list in a list: write a tuple
                else:
                    (s,), _ = read_sizes("kernel", k)
                    kernels.append((s, s))
            except Refused as refused:
                problems.add(refused.types)
        if problems:
            raise Refused(tuple(problems), "kernel")
        return kernels, (len(value),)
    read, shape = read_sizes("kernel", value)
    return [(s, s) for s in read], shape


@given(kernel_values)
def test_kernels_one_rule_for_count_params_and_sweep(kernel):
    got = both(asw.count_params, "conv2d", 3, 4, kernel=kernel)
    swept = both(asw.sweep, "conv2d", 3, 4, kernel=kernel)
    try:
        kernels, shape = read_kernels(kernel)
    except Refused as refused:
        check_refused(got, refused)
        check_refused(swept, Refused(asw.ArchsweepError, "kernel"))
        return
    counts = [h * w * 3 * 4 + 4 for h, w in kernels]
    if any(c > INT64_MAX for c in counts):
        check_refused(got, Refused(asw.ParamOverflowError, "kernel"))
        return
    scalar = is_plain_scalar(kernel) or (isinstance(kernel, tuple) and all(map(is_plain_scalar, kernel)))
    assert got == (("ok", "int", counts[0]) if scalar else ("ok", "array", shape, np.reshape(counts, shape).tolist()))
    assert swept == (("ok", "table", counts) if counts else ("refused", asw.InvalidArgumentError, swept[2]))


def test_a_list_of_tuples_is_kernels_in_both(backend):
    one_by_seven, three = 1 * 7 * 3 * 4 + 4, 3 * 3 * 3 * 4 + 4
    got = asw.count_params("conv2d", 3, 4, kernel=[(1, 7), (3, 3)], backend=backend)
    assert got.shape == (2,) and got.tolist() == [one_by_seven, three]
    swept = asw.sweep("conv2d", 3, 4, kernel=[(1, 7), (3, 3)], backend=backend)
    assert swept["params"].to_list() == [one_by_seven, three]
    # broadcasting against the other arguments, per dimension
    assert asw.count_params("conv2d", [[3], [6]], 4, kernel=[(1, 7), 3], backend=backend).shape == (2, 2)
    # a tuple holding an array is the kernels of its broadcast, in both
    got = asw.count_params("conv2d", 3, 4, kernel=(np.array([1, 2]), 3), backend=backend)
    assert got.tolist() == [1 * 3 * 12 + 4, 2 * 3 * 12 + 4]
    assert asw.sweep("conv2d", 3, 4, kernel=(np.array([1, 2]), 3), backend=backend)["params"].to_list() == got.tolist()


# -- budgets and limits -----------------------------------------------------------------------------------------

small = st.integers(0, 200)
scalars = st.one_of(numbers, small, small.map(float), small.map(Fraction), small.map(Decimal), st.just(5e8),
                    st.lists(st.integers(0, 9), max_size=2))  # fmt: skip


def read_scalar(name, value, minimum):
    if not is_plain_scalar(value):
        raise Refused(asw.ArgumentTypeError, name)
    (n,), _ = read_sizes(name, value, minimum)
    return n


@given(scalars)
def test_budgets_exact_or_refused_alike(budget):
    # dense with one input and bias: 2·u parameters
    calls = {
        "sweep": lambda b: both(asw.sweep, "dense", 1, range(1, 101), budget=b),
        "count_fitting": lambda b: both(asw.count_fitting, "dense", 1, range(1, 101), budget=b),
        "search": lambda b: both(asw.search, "dense", 1, range(1, 2**40), budget=b),
    }
    got = {name: call(budget) for name, call in calls.items()}
    if budget is None:  # no budget: every row (search needs one)
        assert got["sweep"] == ("ok", "table", [2 * u for u in range(1, 101)])
        assert got["count_fitting"] == ("ok", "int", 100)
        check_refused(got["search"], Refused(asw.ArgumentTypeError, "budget"))
        return
    try:
        b = read_scalar("budget", budget, 0)
    except Refused as refused:
        for result in got.values():
            check_refused(result, refused)
        return
    fits = [2 * u for u in range(1, 101) if 2 * u <= b]
    assert got["sweep"] == ("ok", "table", fits)
    assert got["count_fitting"] == ("ok", "int", len(fits))
    largest = min(b // 2, 2**40 - 1)
    assert got["search"] == ("ok", "table", [2 * largest] if largest else [])


SPACE = asw.Model((8,), [asw.layers.Dense(asw.choice(1, 2, 3)), asw.layers.Dense(1)])  # 3 models, all under 1000


@given(scalars.filter(lambda v: v is not None))  # None is the default of both
def test_max_bytes_and_limits(value):
    sweep = both(asw.sweep, "dense", 1, range(1, 5), max_bytes=value)
    top = outcome(asw.search_models, SPACE, budget=1000, limit=value)
    try:
        read_scalar("max_bytes", value, 1)
    except Refused as refused:
        check_refused(sweep, refused)
        check_refused(top, Refused(refused.types, "limit"))
        return
    assert sweep[0] == "ok" or (sweep[1] is asw.SweepTooLargeError and "max_bytes" in sweep[2])
    k = read_scalar("limit", value, 1)
    assert top[0] == "ok" and top[1] == "table" and len(top[2]) == min(k, 3)


# -- out= aliasing an input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["n_features", "n_units", "both", "view"])
def test_out_aliasing_an_input_computes_from_the_inputs(alias):
    results = []
    for backend in BACKENDS:
        f = np.arange(1, 7, dtype=np.int64)
        u = np.arange(2, 8, dtype=np.int64)
        expected = (4 * (f * u + u * u + u)).tolist()
        out = {"n_features": f, "n_units": u, "both": f, "view": f}[alias]
        args = {"n_features": f, "n_units": f if alias == "both" else u}
        if alias == "both":
            expected = (4 * (f * f + f * f + f)).tolist()
        if alias == "view":  # out overlaps a reversed view of the input
            args["n_features"] = f[::-1]
            expected = (4 * (f[::-1] * u + u * u + u)).tolist()
        got = asw.count_params("lstm", backend=backend, out=out, **args)
        assert got is out and got.tolist() == expected
        results.append(got.tolist())
    assert results[0] == results[1]


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_a_large_int64_array_is_checked_by_the_kernel_alike(backend):
    """A large int64 array of sizes has its minimum checked on the kernel's pass: the refusal is the reader's."""
    for bad, minimum in ((0, 1), (-3, 1)):
        x = np.arange(1, 70_001)
        x[12_345] = bad
        small = x[12_340:12_350].copy()
        for call in (lambda v: asw.count("layernorm", v, backend=backend),
                     lambda v: asw.count_params("lstm", 8, v, backend=backend)):  # fmt: skip
            with pytest.raises(asw.InvalidArgumentError) as big_error:
                call(x)
            with pytest.raises(asw.InvalidArgumentError) as small_error:
                call(small)
            assert str(big_error.value) == str(small_error.value) and str(bad) in str(big_error.value)
    x = np.arange(1, 70_001)
    assert np.array_equal(asw.count("layernorm", x, backend=backend), 2 * x)
    assert np.array_equal(asw.count_params("lstm", 8, x, backend=backend), 4 * ((8 + x) * x + x))
