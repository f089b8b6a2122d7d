"""Known counts: the seed's worked example, the issue's examples, the rules
where frameworks differ (each checked on both cores)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archsweep as asw
from archsweep import _count


@pytest.mark.parametrize(
    ("layer", "single", "bidirectional"),
    [("rnn", 6_208, 12_416), ("lstm", 24_832, 49_664), ("gru", 18_624, 37_248)],
)
def test_seed_worked_example_tf1(backend, layer, single, bidirectional):
    kw = dict(n_features=32, n_units=64, convention="tf1", backend=backend)
    assert asw.count_params(layer, **kw) == single
    assert asw.count_params(layer, bidirectional=True, **kw) == bidirectional


def test_issue_examples(backend):
    assert asw.count_params("lstm", n_features=32, n_units=64, backend=backend) == 24832
    assert asw.count_params("gru", n_features=32, n_units=64, convention="tf1", backend=backend) == 18624
    assert asw.count_params("lstm", n_features=32, n_units=64, convention="torch", backend=backend) == 25088
    assert asw.count_params("conv2d", n_features=3, n_units=64, kernel=(3, 3), backend=backend) == 1792


def test_framework_rules(backend):
    f, u = 17, 29
    c = lambda layer, **kw: asw.count_params(layer, f, u, backend=backend, **kw)  # noqa: E731
    assert c("rnn", convention="torch") == f * u + u * u + 2 * u
    assert c("lstm", convention="torch") == 4 * (f * u + u * u) + 8 * u
    assert c("gru", convention="torch") == 3 * (f * u + u * u) + 6 * u
    assert c("gru") == 3 * (f * u + u * u) + 6 * u  # Keras 3 default reset_after=True
    assert c("gru", reset_after=False) == 3 * (f * u + u * u + u)
    assert c("gru", reset_after=True) == c("gru")
    assert c("lstm") == c("lstm", convention="tf1") == 4 * ((f + u) * u + u)
    assert c("rnn", bias=False) == c("rnn", bias=False, convention="torch") == (f + u) * u
    for conv in asw.CONVENTIONS:
        assert c("dense", convention=conv) == f * u + u
        assert c("conv3d", kernel=(2, 3, 4), convention=conv) == 24 * f * u + u


def test_grouped_convolution(backend):
    assert asw.count_params("conv2d", 64, 128, kernel=3, groups=8, backend=backend) == 9 * 8 * 128 + 128
    assert asw.count_params("conv1d", 6, 9, kernel=5, groups=3, bias=False, backend=backend) == 5 * 2 * 9


def test_aliases_and_case(backend):
    base = asw.count_params("rnn", 5, 7, backend=backend)
    assert asw.count_params("SimpleRNN", 5, 7, backend=backend) == base
    assert asw.count_params("simple_rnn", 5, 7, backend=backend) == base
    assert asw.count_params("Linear", 5, 7, backend=backend) == asw.count_params("DENSE", 5, 7, backend=backend)


def test_scalars_give_int_arrays_give_int64_of_broadcast_shape(backend):
    one = asw.count_params("lstm", 128, 64, backend=backend)
    assert type(one) is int
    assert type(asw.count_params("lstm", np.int32(128), 64.0, backend=backend)) is int
    many = asw.count_params("lstm", n_features=128, n_units=np.arange(1, 4097), backend=backend)
    assert many.dtype == np.int64 and many.shape == (4096,)
    assert many[63] == one
    grid = asw.count_params("gru", np.array([[8], [16]]), [1, 2, 3], bidirectional=[False, True, False], backend=backend)
    assert grid.shape == (2, 3)
    assert grid[1, 1] == 2 * asw.count_params("gru", 16, 2, backend=backend)
    zero_d = asw.count_params("dense", np.array(3), 4, backend=backend)
    assert isinstance(zero_d, np.ndarray) and zero_d.shape == () and zero_d == 16


def test_kernel_rules(backend):
    # An int is square; a tuple is one kernel with per-dimension entries (each
    # may be an array); a list is many kernels.
    assert asw.count_params("conv2d", 3, 8, kernel=3, backend=backend) == 9 * 3 * 8 + 8
    two = asw.count_params("conv2d", 3, 8, kernel=[1, 7], backend=backend)
    assert two.tolist() == [3 * 8 + 8, 49 * 3 * 8 + 8]
    per_dim = asw.count_params("conv2d", 3, 8, kernel=(1, [3, 7]), backend=backend)
    assert per_dim.tolist() == [3 * 3 * 8 + 8, 7 * 3 * 8 + 8]
    assert asw.count_params("conv1d", 3, 8, kernel=(5,), backend=backend) == asw.count_params(
        "conv1d", 3, 8, kernel=5, backend=backend
    )


def test_largest_counts_are_exact_at_the_int64_edge(backend):
    # Dense with f·u + u = 2**63 - 1 exactly: u = 2**31 - 1 ... choose u so the
    # count lands just below the limit.
    u = 3_037_000_499
    f = (2**63 - 1) // u - 1
    expected = f * u + u
    assert expected <= 2**63 - 1
    assert asw.count_params("dense", f, u, backend=backend) == expected
    with pytest.raises(asw.ParamOverflowError):
        asw.count_params("dense", f + 2, u, backend=backend)


def test_out_receives_the_counts(backend):
    f, u = np.arange(1, 4).reshape(-1, 1), np.arange(1, 6)
    out = np.full((3, 5), -1, dtype=np.int64)
    got = asw.count_params("gru", f, u, out=out, backend=backend)
    assert got is out
    assert out.tolist() == asw.count_params("gru", f, u, backend=backend).tolist()
    # A scalar call with out= fills a 0-d array.
    zero_d = np.zeros((), dtype=np.int64)
    assert asw.count_params("dense", 3, 4, out=zero_d, backend=backend) is zero_d and zero_d == 16


def test_a_large_out_gets_what_a_new_array_gets():
    # Past 4M values the Rust core writes a caller's buffer with streaming stores: through a grid
    # (one operand per axis), through a 1-D array of sizes (block by block), and into a buffer
    # whose first value is not on a cache line's boundary.
    f, u = np.arange(1, 2_501).reshape(-1, 1), np.arange(7, 2_007)
    sizes = np.arange(1, 4_500_001)[::-1].copy()
    for layer, args in [("lstm", (f, u)), ("batchnorm", (sizes,)), ("dense", (sizes, 3))]:
        fresh = asw.count_params(layer, *args)
        backing = np.full(fresh.size + 3, -1, dtype=np.int64)
        out = backing[3:].reshape(fresh.shape)  # 24 bytes past the buffer's start
        assert asw.count_params(layer, *args, out=out) is out
        assert np.array_equal(out, fresh) and (backing[:3] == -1).all()


def test_scalar_fast_path_agrees_with_array_path(backend):
    # Plain ints take a fast path; 0-d arrays the general one: same answers.
    for layer, kw in [("lstm", {}), ("gru", {"reset_after": False}), ("conv3d", {"kernel": (1, 2, 3), "groups": 2}),
                      ("rnn", {"bidirectional": True, "bias": False}), ("SimpleRNN", {"convention": "torch"})]:  # fmt: skip
        fast = asw.count_params(layer, 6, 10, backend=backend, **kw)
        general = asw.count_params(layer, np.array(6), 10, backend=backend, **kw)
        assert type(fast) is int and fast == int(general)


def _outcome(call):
    try:
        return ("value", np.asarray(call()).tolist())
    except asw.ArchsweepError as e:
        return ("error", type(e).__name__, str(e))


_SEED_VALUES = {  # what count_params' own options are given: defaults, valid, impossible, wrong types, arrays
    "kernel": [None, 1, 3, (1, 2), (2, 1, 3), 0, 2.0, np.array(3), [3]],
    "bias": [True, False, None, 1, np.bool_(True), np.array([True, False])],
    "bidirectional": [False, True, None, 0, np.array([False, False])],
    "reset_after": [None, True, False, "yes"],
    "groups": [1, 2, 3, None, 0, 1.0, np.int64(1), np.array([1, 1]), np.array([1, 2])],
}


@given(data=st.data())
@settings(max_examples=2 * settings().max_examples)  # cheap: 300 by default
def test_count_params_fast_path_is_the_general_path_for_every_kind(data):
    # count_params' plain-scalar path (the formula written out with its options by position) against
    # the general path (reached by giving n_features as a 0-d array): the same count or the same
    # refusal, for every kind and convention of the registry and any of count_params' options.
    from archsweep import _kinds

    kind = data.draw(st.sampled_from(_kinds.KINDS))
    convention = data.draw(st.sampled_from([None, *kind.conventions]))
    options = {name: data.draw(st.sampled_from(values)) for name, values in _SEED_VALUES.items()
               if data.draw(st.booleans())}  # fmt: skip
    f = data.draw(st.sampled_from([None, 0, 1, 6, 64, 2**40, 2**62, 5.0]))
    u = data.draw(st.sampled_from([None, 0, 1, 10, 64, 2**31, 2**62]))
    if f is not None:  # None as an array is no size: the general path cannot be reached so
        fast = _outcome(lambda: asw.count_params(kind.name, f, u, convention=convention, **options))
        general = _outcome(lambda: asw.count_params(kind.name, np.array(f), u, convention=convention, **options))
        assert fast == general
    # With count_params' defaults and the sizes it has, a kind answers from the fast path.
    fn = _count.scalar_function(kind.name, convention, "params", "auto", seed=True)
    if fn is not None and kind.arg("n_features"):
        sizes = [6 if kind.arg(n) else None for n in ("n_features", "n_units")]
        kernel = 3 if kind.rank else None
        value = fn(*sizes, kernel, True, False, None, 1)
        assert value == asw.count_params(kind.name, np.array(6), sizes[1], kernel=kernel, convention=convention)
