"""Every kind of bad input: the exception type, and a message that names the
argument. Both cores must refuse alike."""

import math
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

import archsweep as asw


def refuses(exc_type, *names):
    """pytest.raises that also checks the message names each of ``names``."""

    class _Check:
        def __enter__(self):
            self._ctx = pytest.raises(exc_type)
            self.info = self._ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            result = self._ctx.__exit__(*exc)
            message = str(self.info.value)
            for name in names:
                assert name in message, f"{name!r} not in {message!r}"
            assert isinstance(self.info.value, asw.ArchsweepError)
            return result

    return _Check()


def test_hierarchy():
    assert issubclass(asw.InvalidArgumentError, ValueError)
    assert issubclass(asw.ArgumentTypeError, TypeError)
    assert issubclass(asw.ParamOverflowError, OverflowError)
    assert issubclass(asw.SweepTooLargeError, asw.ArchsweepError)


def test_unknown_layer_suggests(backend):
    with refuses(asw.InvalidArgumentError, "layer", "'lstm'"):
        asw.count_params("lsmt", 3, 4, backend=backend)
    with refuses(asw.ArgumentTypeError, "layer"):
        asw.count_params(5, 3, 4, backend=backend)


def test_unknown_convention_and_backend():
    with refuses(asw.InvalidArgumentError, "convention", "'torch'"):
        asw.count_params("lstm", 3, 4, convention="pytorch")
    with refuses(asw.InvalidArgumentError, "backend"):
        asw.count_params("lstm", 3, 4, backend="cuda")


@pytest.mark.parametrize(
    ("value", "exc"),
    [
        (0, asw.InvalidArgumentError),
        (-3, asw.InvalidArgumentError),
        (2.5, asw.InvalidArgumentError),
        (math.nan, asw.InvalidArgumentError),
        (math.inf, asw.InvalidArgumentError),
        (True, asw.ArgumentTypeError),
        (None, asw.ArgumentTypeError),
        ("64", asw.ArgumentTypeError),
        ([1, 0, 3], asw.InvalidArgumentError),
        (np.array([1.0, 2.5]), asw.InvalidArgumentError),
        (np.array([True, False]), asw.ArgumentTypeError),
        ([1, None], asw.ArgumentTypeError),
        (2**63, asw.InvalidArgumentError),
        (np.array([2**63], dtype=np.uint64), asw.InvalidArgumentError),
        (1e19, asw.InvalidArgumentError),
        (-(2**64), asw.InvalidArgumentError),
        ([4, 2**64], asw.InvalidArgumentError),
        ([3, True], asw.ArgumentTypeError),
        ([2.5, np.True_], asw.ArgumentTypeError),
        (Fraction(5, 2), asw.InvalidArgumentError),
        (Decimal("NaN"), asw.InvalidArgumentError),
        (3 + 0j, asw.ArgumentTypeError),
    ],
)
@pytest.mark.parametrize("argument", ["n_features", "n_units", "groups"])
def test_bad_sizes(backend, argument, value, exc):
    kw = {"n_features": 4, "n_units": 4, "groups": 1, "kernel": 3}
    kw[argument] = value
    with refuses(exc, argument):
        asw.count_params("conv1d", backend=backend, **kw)
    with refuses(exc, argument):
        asw.sweep("conv1d", backend=backend, **kw)


@pytest.mark.parametrize(
    ("kernel", "exc", "name"),
    [
        (0, asw.InvalidArgumentError, "kernel"),
        (-1, asw.InvalidArgumentError, "kernel"),
        ((3, 0), asw.InvalidArgumentError, "kernel"),
        ((3, 3, 3), asw.InvalidArgumentError, "kernel"),
        ((3,), asw.InvalidArgumentError, "kernel"),
        (None, asw.InvalidArgumentError, "kernel"),
        (2.5, asw.InvalidArgumentError, "kernel"),
        (True, asw.ArgumentTypeError, "kernel"),
        ((), asw.InvalidArgumentError, "kernel"),
        ((3, True), asw.ArgumentTypeError, "kernel[1]"),
        ((np.array([1, 2]), 0), asw.InvalidArgumentError, "kernel[1]"),
        ((np.array([1, 2]), np.array([1, 2, 3])), asw.InvalidArgumentError, "broadcast"),
        ([3, [1, 7]], asw.ArgumentTypeError, "kernel[1]"),
        ([3, (1, np.array([7]))], asw.ArgumentTypeError, "kernel[1][1]"),
        ([(3, 3, 3)], asw.InvalidArgumentError, "kernel"),
    ],
)
def test_bad_kernels(backend, kernel, exc, name):
    with refuses(exc, name):
        asw.count_params("conv2d", 3, 8, kernel=kernel, backend=backend)
    with refuses(exc, name):
        asw.sweep("conv2d", 3, 8, kernel=kernel, backend=backend)


def test_groups_must_divide(backend):
    with refuses(asw.InvalidArgumentError, "groups", "n_features=6"):
        asw.count_params("conv2d", 6, 8, kernel=3, groups=4, backend=backend)
    with refuses(asw.InvalidArgumentError, "groups", "n_units=9"):
        asw.count_params("conv2d", [8, 4], 9, kernel=3, groups=[1, 4], backend=backend)
    with refuses(asw.InvalidArgumentError, "groups=5"):
        asw.sweep("conv1d", [4, 6], [8, 12], kernel=3, groups=[1, 2, 5], backend=backend)


@pytest.mark.parametrize(
    ("layer", "options", "name"),
    [
        ("dense", {"kernel": 3}, "kernel"),
        ("lstm", {"kernel": (3,)}, "kernel"),
        ("dense", {"bidirectional": True}, "bidirectional"),
        ("conv1d", {"bidirectional": [False, True], "kernel": 3}, "bidirectional"),
        ("lstm", {"reset_after": False}, "reset_after"),
        ("dense", {"reset_after": True}, "reset_after"),
        ("rnn", {"groups": 2}, "groups"),
        ("dense", {"groups": [1, 2]}, "groups"),
    ],
)
def test_option_on_layer_without_it(backend, layer, options, name):
    with refuses(asw.InvalidArgumentError, name):
        asw.count_params(layer, 4, 4, backend=backend, **options)
    with refuses(asw.InvalidArgumentError, name):
        asw.sweep(layer, 4, 4, backend=backend, **options)


def test_reset_after_outside_keras(backend):
    with refuses(asw.InvalidArgumentError, "reset_after", "torch"):
        asw.count_params("gru", 4, 4, convention="torch", reset_after=False, backend=backend)
    with refuses(asw.InvalidArgumentError, "reset_after"):
        asw.sweep("gru", 4, 4, convention=["torch", "tf1"], reset_after=[True, False], backend=backend)


def test_flags_must_be_bools(backend):
    with refuses(asw.ArgumentTypeError, "bias"):
        asw.count_params("dense", 4, 4, bias=1, backend=backend)
    with refuses(asw.ArgumentTypeError, "bidirectional"):
        asw.count_params("lstm", 4, 4, bidirectional="yes", backend=backend)
    with refuses(asw.ArgumentTypeError, "reset_after"):
        asw.count_params("gru", 4, 4, reset_after=[1, 0], backend=backend)


def test_shapes_that_do_not_broadcast(backend):
    with refuses(asw.InvalidArgumentError, "n_features", "n_units", "broadcast"):
        asw.count_params("lstm", [1, 2, 3], [1, 2], backend=backend)


def test_overflow(backend):
    with refuses(asw.ParamOverflowError, "lstm", "n_units=3037000499"):
        asw.count_params("lstm", 1, 3_037_000_499, backend=backend)
    with refuses(asw.ParamOverflowError, "n_units=4294967296"):
        asw.count_params("rnn", 1, [5, 2**32], backend=backend)
    with refuses(asw.ParamOverflowError, "n_features=8", "kernel=(3, 3, 3)"):
        asw.count_params("conv3d", [1, 8], 2**58, kernel=(3, 3, 3), bias=False, backend=backend)
    with refuses(asw.ParamOverflowError, "n_units"):
        asw.sweep("lstm", 1, [5, 3_037_000_499], backend=backend)


def test_sweep_axis_that_applies_to_no_row(backend):
    with refuses(asw.InvalidArgumentError, "kernel", "(1, 7)"):
        asw.sweep(["conv1d", "conv3d"], 3, 8, kernel=[3, (1, 7)], backend=backend)
    with refuses(asw.InvalidArgumentError, "conv3d"):
        asw.sweep(["conv2d", "conv3d"], 3, 8, kernel=[(1, 7)], backend=backend)
    with refuses(asw.InvalidArgumentError, "bidirectional"):
        asw.sweep(["dense", "conv1d"], 3, 8, kernel=3, bidirectional=[False, True], backend=backend)
    with refuses(asw.InvalidArgumentError, "kernel"):
        asw.sweep(["dense", "lstm"], 3, 8, kernel=3, backend=backend)
    with refuses(asw.InvalidArgumentError, "layer"):
        asw.sweep([], 3, 8, backend=backend)
    with refuses(asw.InvalidArgumentError, "n_units"):
        asw.sweep("lstm", 3, [], backend=backend)


def test_budget_and_max_bytes_arguments(backend):
    with refuses(asw.InvalidArgumentError, "budget"):
        asw.sweep("lstm", 3, 8, budget=-1, backend=backend)
    with refuses(asw.ArgumentTypeError, "budget"):
        asw.sweep("lstm", 3, 8, budget=[5], backend=backend)
    with refuses(asw.ArgumentTypeError, "max_bytes"):
        asw.sweep("lstm", 3, 8, max_bytes="1GB", backend=backend)


def test_sweep_over_max_bytes_is_refused_before_allocating(backend):
    # 1e12 rows would need terabytes: refused from the row count alone.
    with refuses(asw.SweepTooLargeError, "rows", "bytes", "budget"):
        asw.sweep("lstm", range(1, 10**6 + 1), range(1, 10**6 + 1), backend="rust")
    with refuses(asw.SweepTooLargeError, "max_bytes=3,000"):
        asw.sweep("dense", range(1, 100), range(1, 100), max_bytes=3000, backend=backend)
    # With a budget, only the rows that fit count against the limit, besides the listed axes (8 bytes a value).
    df = asw.sweep("dense", range(1, 100), range(1, 100), budget=20, max_bytes=3000, backend=backend)
    assert 0 < df.height * 20 + 8 * 198 <= 3000


def test_bad_out(backend):
    f = np.arange(1, 4)
    with refuses(asw.InvalidArgumentError, "out", "int64"):
        asw.count_params("lstm", f, 4, out=np.empty(3, dtype=np.int32), backend=backend)
    with refuses(asw.InvalidArgumentError, "out", "shape"):
        asw.count_params("lstm", f, 4, out=np.empty(4, dtype=np.int64), backend=backend)
    with refuses(asw.InvalidArgumentError, "out", "C-contiguous"):
        asw.count_params("lstm", f, 4, out=np.empty(6, dtype=np.int64)[::2], backend=backend)
    frozen = np.empty(3, dtype=np.int64)
    frozen.flags.writeable = False
    with refuses(asw.InvalidArgumentError, "out", "read-only"):
        asw.count_params("lstm", f, 4, out=frozen, backend=backend)
    with refuses(asw.ArgumentTypeError, "out"):
        asw.count_params("lstm", f, 4, out=[0, 0, 0], backend=backend)
