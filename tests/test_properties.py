"""Property tests: the Rust and pure-Python cores agree on random input,
including counts at and beyond the int64 edge."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import archsweep as asw

SEED_KINDS = ("dense", "conv1d", "conv2d", "conv3d", "rnn", "lstm", "gru")  # the kinds 0.1's options apply to
LAYERS = st.sampled_from(SEED_KINDS)
CONVENTIONS = st.sampled_from(asw.CONVENTIONS)
# Mostly small sizes, sometimes huge ones that push counts past int64.
SIZES = st.one_of(st.integers(1, 5000), st.integers(1, 2**40), st.integers(2**30, 2**62))


def outcome(fn, **kw):
    """The result, or the exception type and message, of one call."""
    try:
        r = fn(**kw)
    except asw.ArchsweepError as exc:
        return type(exc), str(exc)
    return r.tolist() if isinstance(r, np.ndarray) else r


def options(draw, layer, convention):
    kw = {}
    if layer.startswith("conv"):
        rank = int(layer[4])
        kw["kernel"] = draw(st.one_of(st.integers(1, 9), st.tuples(*[st.integers(1, 9)] * rank)))
        kw["groups"] = draw(st.sampled_from([1, 1, 2, 3]))
    if layer in ("rnn", "lstm", "gru"):
        kw["bidirectional"] = draw(st.booleans())
    if layer == "gru" and convention == "keras":
        kw["reset_after"] = draw(st.sampled_from([None, True, False]))
    kw["bias"] = draw(st.booleans())
    return kw


@st.composite
def scalar_calls(draw):
    layer, convention = draw(LAYERS), draw(CONVENTIONS)
    kw = dict(layer=layer, n_features=draw(SIZES), n_units=draw(SIZES), convention=convention)
    kw.update(options(draw, layer, convention))
    return kw


@given(scalar_calls())
def test_cores_agree_on_scalars(kw):
    # A scalar is counted by the kind's formula written out in Python; one value in an array goes through each core.
    scalar = outcome(asw.count_params, backend="rust", **kw)
    python = outcome(asw.count_params, backend="python", **kw)
    assert scalar == python
    one = {**kw, "n_features": [kw["n_features"]]}
    rust, reference = outcome(asw.count_params, backend="rust", **one), outcome(asw.count_params, backend="python", **one)
    assert rust == reference
    assert rust == ([python] if isinstance(python, int) else rust)
    if isinstance(python, int):
        assert 0 < python <= 2**63 - 1


@st.composite
def array_calls(draw):
    layer, convention = draw(LAYERS), draw(CONVENTIONS)
    ndim = draw(st.integers(1, 3))
    shape = draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim))

    def operand(elements):
        # Each operand broadcasts to `shape`: some axes kept, others 1, some dropped.
        keep = draw(st.lists(st.booleans(), min_size=ndim, max_size=ndim))
        sub = [n if k else 1 for n, k in zip(shape, keep)]
        lead = draw(st.integers(0, ndim))
        sub = sub[lead:]
        values = draw(st.lists(elements, min_size=int(np.prod(sub)), max_size=int(np.prod(sub))))
        arr = np.array(values, dtype=np.int64 if elements is not st.booleans() else bool).reshape(sub)
        return arr[::-1] if arr.ndim and draw(st.booleans()) else arr  # negative strides too

    small = st.integers(1, 300)
    big = st.one_of(small, st.integers(1, 2**33))
    kw = dict(layer=layer, convention=convention, n_features=operand(small), n_units=operand(big))
    kw.update(options(draw, layer, convention))
    if layer in ("rnn", "lstm", "gru"):
        kw["bidirectional"] = operand(st.booleans())
    return kw


@given(array_calls())
def test_cores_agree_on_broadcast_arrays(kw):
    assert outcome(asw.count_params, backend="rust", **kw) == outcome(asw.count_params, backend="python", **kw)


@st.composite
def sweeps(draw):
    layers = draw(st.lists(LAYERS, min_size=1, max_size=3))
    conventions = draw(st.lists(CONVENTIONS, min_size=1, max_size=3, unique=True))
    sizes = st.lists(st.one_of(st.integers(1, 64), st.integers(1, 2**33)), min_size=1, max_size=4)
    # Sometimes rows long enough that the kernel walks the option axes (which
    # vary fastest) transposed, a row along n_units per option value.
    long = st.lists(st.one_of(st.integers(1, 3000), st.integers(1, 2**33)), min_size=16, max_size=40)
    kw = dict(layer=layers, n_features=draw(sizes), n_units=draw(st.one_of(sizes, long)), convention=conventions)
    kw["bias"] = draw(st.sampled_from([True, False, [True, False]]))
    if any(x.startswith("conv") for x in layers):
        kw["kernel"] = draw(st.lists(st.one_of(st.integers(1, 7), st.tuples(st.integers(1, 7), st.integers(1, 7))),
                                     min_size=1, max_size=3))  # fmt: skip
        kw["groups"] = draw(st.sampled_from([1, [1, 2], [1, 3, 4]]))
    if any(x in ("rnn", "lstm", "gru") for x in layers):
        kw["bidirectional"] = draw(st.sampled_from([False, [False, True]]))
    if "gru" in layers and "keras" in conventions:
        kw["reset_after"] = draw(st.sampled_from([None, False, [True, False]]))
    kw["budget"] = draw(st.one_of(st.none(), st.integers(0, 10**6), st.just(2**63 - 1)))
    return kw


@given(sweeps())
def test_cores_agree_on_sweeps(kw):
    def run(backend):
        try:
            return asw.sweep(backend=backend, **kw)
        except asw.ArchsweepError as exc:
            return type(exc), str(exc)

    rust, python = run("rust"), run("python")
    if isinstance(rust, tuple):
        assert rust == python
    else:
        assert rust.schema == python.schema
        assert rust.equals(python)
        budget = kw["budget"]
        if budget is not None and rust.height:
            assert rust["params"].max() <= budget


@pytest.mark.parametrize("layer", SEED_KINDS)
def test_threaded_chunks_match_reference(layer):
    """A grid large enough for several chunks on both threads, whose chunk
    boundaries fall mid-row, against the pure-Python core on a sample."""
    from archsweep import _core

    n = _core.PARALLEL_MIN + 3 * _core.CHUNK // 2 + 7
    kw = {"kernel": (3, 1, 2)[: int(layer[4])] if layer.startswith("conv") else None}
    u = np.arange(1, n + 1)
    got = asw.count_params(layer, 37, u, backend="rust", **kw)
    idx = np.r_[0:50, _core.CHUNK - 3 : _core.CHUNK + 3, n - 50 : n]
    assert got[idx].tolist() == asw.count_params(layer, 37, u[idx], backend="python", **kw).tolist()
    # The closed form's second difference in n_units is constant: checks every element.
    second = np.diff(got, 2)
    assert (second == second[0]).all()


@st.composite
def long_unsorted_sweeps(draw):
    """Rows long enough for the threshold path (>= 64 points), in any order."""
    layer = draw(st.sampled_from(["dense", "rnn", "lstm", "gru", "conv1d"]))
    n_units = draw(st.lists(st.one_of(st.integers(1, 3000), st.integers(1, 2**32)), min_size=64, max_size=90))
    kw = dict(layer=layer, n_features=draw(st.lists(st.integers(1, 500), min_size=1, max_size=3)), n_units=n_units)
    if layer == "conv1d":
        kw["kernel"] = draw(st.integers(1, 5))
    kw["budget"] = draw(st.one_of(st.integers(0, 10**7), st.just(2**63 - 1)))
    if draw(st.booleans()):  # n_features along the rows instead
        kw["n_features"], kw["n_units"] = [min(v, 2**20) for v in kw["n_units"]], kw["n_features"]
    return kw


@given(long_unsorted_sweeps())
def test_cores_agree_on_thresholded_rows(kw):
    rust = asw.sweep(backend="rust", **kw)
    assert rust.equals(asw.sweep(backend="python", **kw))
    assert asw.count_fitting(backend="rust", **kw) == rust.height


@st.composite
def option_axes_last(draw):
    """count_params with the sizes outer and option arrays on the last axes."""
    layer = draw(st.sampled_from(["rnn", "lstm", "gru", "conv2d"]))
    convention = draw(CONVENTIONS)
    n = draw(st.integers(16, 70))
    big = st.one_of(st.integers(1, 5000), st.integers(1, 2**33))
    kw = dict(layer=layer, convention=convention,
              n_features=np.array(draw(st.lists(big, min_size=1, max_size=3)))[:, None, None, None],
              n_units=np.array(draw(st.lists(big, min_size=n, max_size=n)))[None, :, None, None],
              bias=np.array(draw(st.lists(st.booleans(), min_size=1, max_size=2)))[:, None])  # fmt: skip
    if layer == "conv2d":
        kw["kernel"] = (np.array(draw(st.lists(st.integers(1, 7), min_size=1, max_size=3))), 3)
        kw["groups"] = np.array(draw(st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=2)))
    else:
        kw["bidirectional"] = np.array(draw(st.lists(st.booleans(), min_size=1, max_size=2)))
    return kw


@given(option_axes_last())
def test_cores_agree_with_option_axes_innermost(kw):
    assert outcome(asw.count_params, backend="rust", **kw) == outcome(asw.count_params, backend="python", **kw)
