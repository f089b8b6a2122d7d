"""The generic kernel (``poly_*``) on both cores: today's seven kinds through
``_terms`` give exactly what today's kernels give (values, kept rows, columns,
and the same refusal at the same point), and the two cores agree on random
polynomials over random meshes, including the int64 edge."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archsweep import _core, _polycore, _pycore, _terms
from archsweep._names import CONVENTIONS, LAYERS, RECURRENT

CORES = {"rust": (_core, _core), "python": (_pycore, _polycore)}  # (today's core, the generic one)
INT64_MAX = 2**63 - 1
EDGES = [1, 2, 3_037_000_499, 3_037_000_500, 2**31, 2**32, 2**62, INT64_MAX]
SIZES = st.one_of(st.integers(1, 40), st.integers(1, 2**40), st.sampled_from(EDGES))


def outcome(fn, *args, **kw):
    """The result, or the refusal's args (kernel errors of either core)."""
    try:
        return ("ok", fn(*args, **kw))
    except (_core.KernelError, _pycore.KernelError) as exc:
        return ("error", exc.args)


def same_refusal(old, new):
    """Today's kernel refusal (kind, index, message) against the generic one's."""
    kind, index, _ = old
    new_kind, new_index, _, subject = new
    if kind == "groups":
        return (new_kind, new_index) == ("invalid", index) and subject in _terms.GROUPS_FACTORS
    return (new_kind, new_index, subject) == (kind, index, 0)


# --------------------------------------------------------------------------
# Today's kinds: a sweep's mesh (n_features, n_units, kernel, bias,
# bidirectional, variant, groups), as _sweep._Block.operands() lays it out.


def along(axis, values, rank=7):
    shape = [1] * rank
    shape[axis] = -1
    return np.asarray(values, dtype=np.int64).reshape(shape)


@st.composite
def blocks(draw):
    layer = draw(st.sampled_from(LAYERS))
    rank = {"conv1d": 1, "conv2d": 2, "conv3d": 3}.get(layer, 0)
    sizes = st.lists(SIZES, min_size=1, max_size=5)
    kernels = [(1, 1, 1)]
    groups = [1]
    if rank:
        kernels = draw(st.lists(st.tuples(*[st.sampled_from([1, 2, 3, 7, 2**31, 2**62])] * rank), min_size=1,
                                max_size=3))  # fmt: skip
        kernels = [(1,) * (3 - rank) + k for k in kernels]
        groups = draw(st.lists(st.sampled_from([1, 2, 3, 4]), min_size=1, max_size=3))
    bias = draw(st.lists(st.booleans(), min_size=1, max_size=2))
    bidirectional = draw(st.lists(st.booleans(), min_size=1, max_size=2)) if layer in RECURRENT else [False]
    variants = []
    for convention in draw(st.lists(st.sampled_from(range(len(CONVENTIONS))), min_size=1, max_size=3)):
        resets = draw(st.lists(st.booleans(), min_size=1, max_size=2)) if layer == "gru" and convention == 0 else [0]
        variants += [(convention, int(r)) for r in resets]
    f, u = draw(sizes), draw(sizes)
    k = np.asarray(kernels, dtype=np.int64)
    fields = [
        along(0, f), along(1, u), along(2, k[:, 0]), along(2, k[:, 1]), along(2, k[:, 2]), along(3, bias),
        along(4, bidirectional), along(5, [c for c, _ in variants]), along(5, [r for _, r in variants]),
        along(6, groups),
    ]  # fmt: skip
    shape = [len(f), len(u), len(kernels), len(bias), len(bidirectional), len(variants), len(groups)]
    return layer, shape, fields


def compare_count(core, layer, shape, fields):
    old_core, new_core = CORES[core]
    old_out, new_out = np.empty(shape, dtype=np.int64), np.empty(shape, dtype=np.int64)
    old = outcome(old_core.count, LAYERS.index(layer), fields, old_out)
    operands, factors, quantities = _terms.block(layer, fields)
    new = outcome(new_core.poly_count, shape, operands, factors, quantities, [new_out])
    if old[0] == "ok":
        assert new[0] == "ok", new
        assert np.array_equal(new_out, old_out)
    else:
        assert new[0] == "error" and same_refusal(old[1], new[1]), (old, new)


def compare_sweep(core, layer, shape, fields, budget, span):
    old_core, new_core = CORES[core]
    columns = [(k, 8) for k in range(len(_terms.FIELDS))]
    operands, factors, quantities = _terms.block(layer, fields, ("params", "non_trainable"))
    old = outcome(old_core.sweep_fill, LAYERS.index(layer), shape, fields, budget, columns, *span)
    new_budget = None if budget is None else (0, budget)
    new = outcome(new_core.poly_sweep_fill, shape, operands, factors, quantities, new_budget, columns, *span)
    count = outcome(new_core.poly_sweep_count, shape, operands, factors, quantities, new_budget, *span)
    if old[0] == "ok":
        (params, old_cols), ((new_params, zeros), new_cols) = old[1], new[1]
        assert np.array_equal(new_params, params)
        assert len(zeros) == len(params) and not zeros.any()
        assert len(new_cols) == len(old_cols) and all(map(np.array_equal, new_cols, old_cols))
        assert count == ("ok", len(params))
    else:
        assert new[0] == "error" and same_refusal(old[1], new[1]), (old, new)
        assert count == new


@pytest.mark.parametrize("core", CORES)
@given(block=blocks(), data=st.data())
def test_todays_kinds_match_todays_kernels(core, block, data):
    layer, shape, fields = block
    compare_count(core, layer, shape, fields)
    size = math.prod(shape)
    budget = data.draw(st.one_of(st.none(), st.integers(0, 10**6), st.sampled_from([0, INT64_MAX])))
    start = data.draw(st.integers(0, size))
    end = data.draw(st.one_of(st.none(), st.integers(start, size)))
    compare_sweep(core, layer, shape, fields, budget, (0, None))
    compare_sweep(core, layer, shape, fields, budget, (start, end))


@pytest.mark.parametrize("core", CORES)
@given(layer=st.sampled_from(LAYERS), data=st.data())
def test_todays_kinds_on_broadcast_arguments_match(core, layer, data):
    """count_params' layout: any numeric argument an array, broadcast."""
    f = np.asarray(data.draw(st.lists(SIZES, min_size=1, max_size=4)), dtype=np.int64).reshape(-1, 1)
    u = np.asarray(data.draw(st.lists(SIZES, min_size=1, max_size=4)), dtype=np.int64)
    flag = st.lists(st.integers(0, 1), min_size=1, max_size=len(u)).map(lambda v: np.asarray(v * len(u))[: len(u)])
    one = np.ones((), dtype=np.int64)
    rank = {"conv1d": 1, "conv2d": 2, "conv3d": 3}.get(layer, 0)
    kernel = [one] * (3 - rank) + [np.asarray(data.draw(st.sampled_from([1, 3, 2**31])), dtype=np.int64)] * rank
    groups = np.asarray(data.draw(st.sampled_from([1, 2, 3])) if rank else 1, dtype=np.int64)
    convention = np.asarray(data.draw(st.integers(0, 2)), dtype=np.int64)
    bidirectional = data.draw(flag) if layer in RECURRENT else np.zeros((), dtype=np.int64)
    reset = data.draw(flag) if layer == "gru" else one
    fields = [f, u, *kernel, data.draw(flag), bidirectional, convention, reset, groups]
    compare_count(core, layer, [len(f), len(u)], fields)


def test_todays_kinds_on_large_grids_take_the_fast_paths_and_match():
    """Several chunks and both threads, options walked transposed, budgets
    on sorted and shuffled rows: the Rust kernels, old against new."""
    rng = np.random.default_rng(1)
    for layer in ("lstm", "conv2d", "gru"):
        u = np.arange(1, 701)
        for units in (u, rng.permutation(u)):
            k = np.asarray([(1, 1, 3), (1, 2, 2)], dtype=np.int64)
            fields = [
                along(0, np.arange(1, 41)), along(1, units), along(2, k[:, 0]), along(2, k[:, 1]),
                along(2, k[:, 2]), along(3, [1, 0]), along(4, [0, 1] if layer in RECURRENT else [0]),
                along(5, [0, 1]), along(5, [1, 1]), along(6, [1, 2] if layer == "conv2d" else [1]),
            ]  # fmt: skip
            shape = [int(np.broadcast_shapes(*(op.shape for op in fields))[d]) for d in range(7)]
            compare_count("rust", layer, shape, fields)
            for budget in (None, 10**5, 10**7):
                compare_sweep("rust", layer, shape, fields, budget, (0, None))
                compare_sweep("rust", layer, shape, fields, budget, (12_345, 400_001))


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
    budget = data.draw(st.one_of(st.none(), st.tuples(st.integers(0, len(quantities) - 1),
                                                       st.one_of(st.integers(-1, 200), st.just(INT64_MAX)))))  # fmt: skip
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
    ([3], [np.arange(3)], [("axis", 0)], [[]], (1, 5), [], 0, None, "spec"),
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
