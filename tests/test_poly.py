"""The generic kernel (``poly_*``) on both cores: every registered kind,
compiled by ``_algebra`` over random meshes, gives on both cores what the
registry's formula gives exactly (values, kept rows, columns, and the same
refusal at the same point), and the two cores agree on random polynomials
over random meshes, including the int64 edge."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import archsweep as asw
from archsweep import _algebra, _core, _kinds, _polycore, _sweep
from archsweep._errors import ArchsweepError
from archsweep._names import CONVENTIONS

CORES = {"rust": _core, "python": _polycore}
INT64_MAX = 2**63 - 1
EDGES = [1, 2, 3_037_000_499, 3_037_000_500, 2**31, 2**32, 2**62, INT64_MAX]
SIZES = st.one_of(st.integers(1, 40), st.integers(1, 2**40), st.sampled_from(EDGES))


def outcome(fn, *args, **kw):
    """The result, or the refusal's args (kernel errors of either core)."""
    try:
        return ("ok", fn(*args, **kw))
    except (_core.KernelError, _polycore.KernelError) as exc:
        return ("error", exc.args)


# --------------------------------------------------------------------------
# Every registered kind: a sweep's mesh, as _sweep.Block lays it out.


@st.composite
def kind_blocks(draw):
    kind = draw(st.sampled_from(_kinds.KINDS))
    conventions = draw(st.lists(st.sampled_from(kind.conventions), min_size=1, max_size=3, unique=True))
    grid = {}
    for arg in kind.args:
        if arg.type == _kinds.FLAG:
            grid[arg.name] = draw(st.lists(st.booleans(), min_size=1, max_size=2, unique=True))
        elif arg.type == _kinds.KERNEL:
            dim = st.sampled_from([1, 2, 3, 7, 2**31, 2**62])
            grid[arg.name] = draw(st.lists(st.tuples(*[dim] * kind.rank), min_size=1, max_size=3))
        elif arg.name in ("n_features", "n_units"):
            grid[arg.name] = draw(st.lists(SIZES, min_size=1, max_size=5))
        elif arg.nullable:
            grid[arg.name] = draw(st.lists(st.one_of(st.none(), SIZES), min_size=1, max_size=3))
        else:
            grid[arg.name] = draw(st.lists(st.sampled_from([arg.minimum, 1, 2, 3, 4]), min_size=1, max_size=3,
                                           unique=True))  # fmt: skip
    # A language model has 25 arguments: keep the grid to a few thousand points, the last axes at one value.
    for name in reversed(list(grid)):
        if math.prod(map(len, grid.values())) * len(conventions) <= 4096:
            break
        grid[name] = grid[name][:1]
    try:
        (block,) = _sweep.blocks_of(kind.name, conventions, grid)
    except ArchsweepError:
        assume(False)  # e.g. groups that divide no size
    return block


def exact(block, fast=False):
    """Every point's params and non_trainable from the registry's formula, in
    Python ints, or None where a rule fails. ``fast``: params alone, from the
    formula written out as Python (``_algebra.scalar_function``)."""
    kind, out = block.kind, []
    functions = {c: _algebra.scalar_function(kind, c, "params") for c in kind.conventions}
    for values in itertools.product(*(axis.values.tolist() for axis in block.axes)):
        point = {name: v for axis, row in zip(block.axes, values) for name, v in zip(axis.operands, row)}
        convention = CONVENTIONS[point["convention"]]
        given = {}
        for arg in kind.args:
            if arg.type == _kinds.KERNEL:
                given["kernel"] = tuple(point[f"kernel[{i}]"] for i in range(kind.rank))
            elif arg.type == _kinds.FLAG:
                given[arg.name] = bool(point[arg.name])
            elif arg.nullable and point[arg.name] == _algebra.NONE:
                given[arg.name] = None
            else:
                given[arg.name] = point[arg.name]
        if fast:
            given = {k: v for k, v in given.items() if k == "kernel" or kind.arg(k).applies(convention)}
            n_features, n_units = given.pop("n_features", None), given.pop("n_units", None)
            out.append(functions[convention](n_features, n_units, **given))
        elif _kinds.check(kind, convention, given):
            out.append(None)
        else:
            q = _kinds.evaluate(kind, convention, given)
            out.append((q.params, q.non_trainable))
    return out


@pytest.mark.parametrize("core", CORES)
@settings(max_examples=150, deadline=None)
@given(block=kind_blocks(), data=st.data())
def test_every_kind_on_both_cores_is_the_formula_exactly(core, block, data):
    module = CORES[core]
    shape = list(block.shape)
    compiled = _algebra.compile(block.kind, block.operands(), ("params", "non_trainable"))
    args = (shape, compiled.operands, compiled.factors, compiled.polynomials)
    expected = exact(block)
    outs = [np.empty(shape, dtype=np.int64) for _ in range(2)]
    got = outcome(module.poly_count, *args, outs)
    first_bad = next((i for i, e in enumerate(expected) if e is None or max(e) > INT64_MAX), None)
    if first_bad is None:
        assert got[0] == "ok", got
        assert [tuple(int(o.reshape(-1)[i]) for o in outs) for i in range(len(expected))] == expected
    else:
        kind, index = got[1][:2] if got[0] == "error" else (None, None)
        assert index == first_bad and kind == ("invalid" if expected[first_bad] is None else "overflow"), got

    budget = data.draw(st.one_of(st.none(), st.integers(0, 10**6), st.sampled_from([0, INT64_MAX])))
    size = math.prod(shape)
    start = data.draw(st.integers(0, size))
    end = data.draw(st.integers(start, size))
    kept = [(i, e) for i, e in enumerate(expected[start:end], start)
            if e is not None and (budget is None or e[0] <= budget)]  # fmt: skip
    columns = [(k, 8) for k in range(len(_algebra.operand_names(block.kind)))]
    fill = outcome(module.poly_sweep_fill, *args, None if budget is None else [(0, budget)], columns, start, end)
    count = outcome(module.poly_sweep_count, *args, None if budget is None else [(0, budget)], start, end)
    overflowing = next((i for i, e in kept if max(e) > INT64_MAX), None)
    if overflowing is not None:
        assert fill[0] == count[0] == "error" and fill[1][:2] == count[1][:2] == ("overflow", overflowing)
        return
    (params, non_trainable), cols = fill[1]
    assert count == ("ok", len(kept))
    assert list(zip(params.tolist(), non_trainable.tolist())) == [e for _, e in kept]
    points = [np.unravel_index(i, shape) for i, _ in kept]
    for k, col in enumerate(cols):
        op = np.broadcast_to(compiled.operands[k], shape)
        assert col.view(np.uint64).tolist() == [int(op[p]) for p in points]


def test_every_kind_on_large_grids_takes_the_fast_paths_and_is_exact():
    """Several chunks and both threads, options walked transposed, budgets on
    sorted and shuffled rows: the Rust kernel's sweep against its count, and
    its count against the formula evaluated by numpy (exact at these sizes)."""
    rng = np.random.default_rng(1)
    for name in ("lstm", "conv2d", "conv2d_transpose", "gru", "mha", "batchnorm"):
        kind = _kinds.BY_NAME[name]
        u = np.arange(1, 701)
        for units in (u, rng.permutation(u)):
            grid = {"n_features": np.arange(1, 21) * 2, "bias": [True, False]}
            grid.update({"n_units": units} if kind.arg("n_units") else {})
            grid.update({"affine": [True, False]} if name == "batchnorm" else {})
            grid.update({"kernel": [3, (2, 2)], "groups": [1, 2]} if kind.rank else {})
            grid.update({"bidirectional": [False, True]} if name in ("lstm", "gru") else {})
            grid.update({"num_heads": [1, 2], "key_dim": 8, "kdim": [None, 3]} if name == "mha" else {})
            if name == "batchnorm":
                grid.pop("bias")
            (block,) = _sweep.blocks_of(name, list(kind.conventions), grid)
            shape = list(block.shape)
            compiled = _algebra.compile(kind, block.operands(), ("params",))
            args = (shape, compiled.operands, compiled.factors, compiled.polynomials)
            out = np.empty(shape, dtype=np.int64)
            valid = outcome(_core.poly_count, *args, [out])
            expected = np.array([-1 if e is None else e for e in exact(block, fast=True)]).reshape(shape)
            if valid[0] == "ok":
                assert np.array_equal(out, expected)
            else:
                assert (expected == -1).any()
            for budget in (None, 10**5, 10**7):
                keep = (expected >= 0) & (True if budget is None else expected <= budget)
                for start, end in ((0, out.size), (min(12_345, out.size), min(400_001, out.size))):
                    flat = keep.reshape(-1)[start:end]
                    b = None if budget is None else [(0, budget)]
                    (params,), _ = _core.poly_sweep_fill(*args, b, [], start, end)
                    assert params.tolist() == expected.reshape(-1)[start:end][flat].tolist()
                    assert _core.poly_sweep_count(*args, b, start, end) == flat.sum()


# --------------------------------------------------------------------------
# Random polynomials: the two generic cores agree.


@st.composite
def calls(draw):
    shape = draw(st.lists(st.integers(0, 4), min_size=0, max_size=3))
    values = st.one_of(st.integers(0, 12), st.sampled_from([0, *EDGES]))
    n_ops = draw(st.integers(1, 5))
    operands = []
    for _ in range(n_ops):
        op_shape = [n if draw(st.booleans()) else 1 for n in shape][draw(st.integers(0, len(shape))) :]
        size = math.prod(op_shape)
        operands.append(np.asarray(draw(st.lists(values, min_size=size, max_size=size)), dtype=np.int64)
                        .reshape(op_shape))  # fmt: skip
    index = st.integers(0, n_ops - 1)
    factor = st.one_of(
        st.tuples(st.just("axis"), index),
        st.tuples(st.just("quotient"), index, index),
        st.tuples(st.just("offset"), index, st.sampled_from([-3, -1, 0, 2, 2**62])),
        st.tuples(st.just("less"), index, index),
    )
    factors = draw(st.lists(factor, min_size=1, max_size=4))
    term = st.tuples(
        index,
        st.lists(st.tuples(st.integers(0, len(factors) - 1), st.integers(1, 3)), max_size=3, unique_by=lambda p: p[0]),
    )
    quantities = draw(st.lists(st.lists(term, max_size=3), min_size=1, max_size=3))
    return shape, operands, factors, quantities


@given(call=calls(), data=st.data())
def test_cores_agree_on_random_polynomials(call, data):
    shape, operands, factors, quantities = call
    outs = {}
    for name, core in (("rust", _core), ("python", _polycore)):
        arrays = [np.full(shape, -7, dtype=np.int64) for _ in quantities]
        result = outcome(core.poly_count, shape, operands, factors, quantities, arrays)
        outs[name] = result, [a.tolist() for a in arrays] if result[0] == "ok" else None
    assert outs["rust"] == outs["python"]

    size = math.prod(shape)
    # No budget, or one to three at once (on any quantities, the same one twice too).
    budget = data.draw(st.one_of(st.none(), st.lists(st.tuples(st.integers(0, len(quantities) - 1),
                                                               st.one_of(st.integers(-1, 200), st.just(INT64_MAX))),
                                                     min_size=1, max_size=3)))  # fmt: skip
    start = data.draw(st.integers(0, size))
    end = data.draw(st.one_of(st.none(), st.integers(start, size)))
    columns = data.draw(st.lists(st.tuples(st.integers(0, len(operands) - 1), st.sampled_from([1, 2, 4, 8]))))
    got = {}
    for name, core in (("rust", _core), ("python", _polycore)):
        fill = outcome(core.poly_sweep_fill, shape, operands, factors, quantities, budget, columns, start, end)
        if fill[0] == "ok":
            fill = ("ok", ([v.tolist() for v in fill[1][0]], [c.tolist() for c in fill[1][1]]))
        count = outcome(core.poly_sweep_count, shape, operands, factors, quantities, budget, start, end)
        got[name] = fill, count
    assert got["rust"] == got["python"]


def test_a_constant_quantity_and_the_empty_polynomial():
    shape, operands = [2, 3], [np.arange(1, 4, dtype=np.int64), np.asarray(5, dtype=np.int64)]
    for core in (_core, _polycore):
        outs = [np.empty(shape, dtype=np.int64) for _ in range(2)]
        core.poly_count(shape, operands, [("axis", 0)], [[(1, [])], []], outs)
        assert outs[0].tolist() == [[5] * 3] * 2 and outs[1].tolist() == [[0] * 3] * 2


BAD_CALLS = [
    # (shape, operands, factors, quantities, budget, columns, start, end): the refusal's kind
    ([3], [np.arange(3)], [("axis", 1)], [[]], None, [], 0, None, "spec"),
    ([3], [np.arange(3)], [("axis", -1)], [[]], None, [], 0, None, "spec"),
    ([3], [np.arange(3)], [("quotient", 0)], [[]], None, [], 0, None, "spec"),
    ([3], [np.arange(3)], [("axis", 0, 1)], [[]], None, [], 0, None, "spec"),
    ([3], [np.arange(3)], [("axes", 0)], [[]], None, [], 0, None, "spec"),
    ([3], [np.arange(3)], [("axis", 0)], [[(0, [(1, 1)])]], None, [], 0, None, "spec"),
    ([3], [np.arange(3)], [("axis", 0)], [[(0, [(0, 4)])]], None, [], 0, None, "spec"),
    ([3], [np.arange(3)], [("axis", 0)], [[(0, [(0, -1)])]], None, [], 0, None, "spec"),
    ([3], [np.arange(3)], [("axis", 0)], [[(0, [(0, 1), (0, 2)])]], None, [], 0, None, "spec"),
    ([3], [np.arange(3)], [("axis", 0)], [[(1, [(0, 1)])]], None, [], 0, None, "spec"),
    ([3], [np.arange(3)], [("axis", 0)], [[]], [(1, 5)], [], 0, None, "spec"),
    ([3], [np.arange(3)], [("axis", 0)], [[]], [(0, 5)] * 9, [], 0, None, "spec"),
    ([3], [np.arange(3)], [("axis", 0)] * 65, [[]], None, [], 0, None, "spec"),
    ([3], [np.arange(3)], [("axis", 0)], [[]], None, [(1, 8)], 0, None, "spec"),
    ([3], [np.arange(3)], [("axis", 0)], [[]], None, [(0, 3)], 0, None, "spec"),
    ([3], [np.arange(3) - 1], [("axis", 0)], [[]], None, [], 0, None, "operand"),
    ([3], [np.arange(4)], [("axis", 0)], [[]], None, [], 0, None, "shape"),
    ([3], [np.arange(3)], [("axis", 0)], [[]], None, [], 2, 1, "shape"),
    ([3], [np.arange(3)], [("axis", 0)], [[]], None, [], 0, 4, "shape"),
]


@pytest.mark.parametrize("call", BAD_CALLS)
def test_bad_calls_are_refused_alike(call):
    *args, kind = call
    shape, operands, factors, quantities, budget, columns, start, end = args
    operands = [np.asarray(op, dtype=np.int64) for op in operands]
    results = []
    for core in (_core, _polycore):
        fill = outcome(core.poly_sweep_fill, shape, operands, factors, quantities, budget, columns, start, end)
        assert fill[0] == "error" and fill[1][0] == kind, fill
        results.append(fill)
        if not columns:
            assert outcome(core.poly_sweep_count, shape, operands, factors, quantities, budget, start, end) == fill
    assert results[0] == results[1]


def test_outs_must_fit_the_mesh():
    operands, factors, quantities = [np.arange(3, dtype=np.int64)], [("axis", 0)], [[(0, [(0, 1)])]]
    for core in (_core, _polycore):
        for outs in ([], [np.empty(4, dtype=np.int64)], [np.empty((3, 2), dtype=np.int64)[:, 0]]):
            kind, *_ = outcome(core.poly_count, [3], operands, factors, quantities, outs)[1]
            assert kind == "shape"


def test_large_arrays_counted_block_by_block_are_exact_and_refuse_as_a_whole():
    """A large count whose large operands vary along its first axis is evaluated a cache-sized block of
    rows at a time (each block reads its operands' extremes just before evaluating them): the values
    are the formula's, and a refusal is the whole array's (an operand's refusal before any point's)."""
    rng = np.random.default_rng(5)
    n = 3 * _core.PARALLEL_MIN + 17
    f = rng.integers(1, 5000, n)
    g = rng.choice([1, 2, 4], n)
    got = asw.count("conv2d", f * g, 8, kernel=3, groups=g)
    assert np.array_equal(got, 9 * f * 8 + 8)  # (f·g / g)·9·8 + 8
    grid = rng.integers(1, 1000, (400, 1000))
    assert np.array_equal(asw.count("dense", grid[:, :1], grid), grid[:, :1] * grid + grid)
    bad = f.copy()
    bad[10] = 2**62  # overflows early
    bad[-1] = -1  # and a negative size at the very end: refused first, as by the whole array
    with pytest.raises(asw.InvalidArgumentError, match="n_features must be at least 1, got -1"):
        asw.count("dense", bad, 7)
    bad[-1] = 1
    with pytest.raises(asw.ParamOverflowError, match="n_features=4611686018427387904"):
        asw.count("dense", bad, 7)
    g[n // 2] = 3  # a groups value that divides nothing: the first such point is named
    with pytest.raises(asw.InvalidArgumentError, match="groups must divide"):
        asw.count("conv2d", f * 4, 8, kernel=3, groups=g)
