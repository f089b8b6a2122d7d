"""all_flops against the frameworks' own decomposition: tests/data/torch_elementwise.jsonl and
keras_elementwise.jsonl are written by tools/make_elementwise_fixture.py (PyTorch's make_fx with its
decompositions, Keras' jaxpr, one weight table; see tools/README.md); running the tests needs no framework."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archsweep as asw

DATA = Path(os.environ.get("ARCHSWEEP_FIXTURES", Path(__file__).parent / "data"))


def load(name):
    with open(DATA / name) as f:
        return [json.loads(line) for line in f if line.strip()]


TORCH = load("torch_elementwise.jsonl")
KERAS = load("keras_elementwise.jsonl")


def args_of(case):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in case["args"].items()}


def test_fixture_covers_every_kind():
    kinds = {"dense", "conv1d", "conv2d", "conv3d", "conv1d_transpose", "conv2d_transpose", "rnn", "lstm", "gru",
             "mha", "depthwise_conv1d", "depthwise_conv2d", "embedding", "batchnorm", "layernorm", "groupnorm",
             "rmsnorm"}
    assert {c["kind"] for c in TORCH} >= kinds
    assert {c["kind"] for c in KERAS} >= kinds - {"conv3d"} | {"separable_conv1d", "separable_conv2d"}


@pytest.mark.parametrize("backend", ["rust", "python"])
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_all_flops_match_the_framework(backend, framework):
    wrong = []
    for case in TORCH if framework == "torch" else KERAS:
        got = asw.count_flops(case["kind"], convention=case["convention"], backend=backend, elementwise=True,
                              **args_of(case))
        flops = asw.count_flops(case["kind"], convention=case["convention"], backend=backend, **args_of(case))
        if framework == "torch" and flops != case["flops"]:
            wrong.append(("flops", case["torch"], flops, case["flops"]))
        if got - flops != case["elementwise"]:
            wrong.append((case.get("torch") or case["keras"], got - flops, case["elementwise"]))
    assert not wrong, f"{len(wrong)} differ, e.g. {wrong[:3]}"


def test_only_norms_do_work_once_a_call():
    """per_call (work whatever the batch) is left out of the per-sample counts: under torch only BatchNorm
    has any (rsqrt of its running variance); Keras' norms also a few scalar ops of their moments."""
    assert {c["kind"] for c in TORCH if c["per_call"]} <= {"batchnorm"}
    assert {c["kind"] for c in KERAS if c["per_call"]} <= {"batchnorm", "layernorm", "groupnorm"}


def test_elementwise_refusals():
    with pytest.raises(asw.InvalidArgumentError, match="forward pass only"):
        asw.count_flops("dense", 3, 4, training=True, elementwise=True)
    with pytest.raises(asw.ArgumentTypeError, match="elementwise must be True or False"):
        asw.count_flops("dense", 3, 4, elementwise="yes")
    with pytest.raises(asw.InvalidArgumentError, match="all_flops of layernorm needs positions"):
        asw.count_flops("layernorm", 8, elementwise=True)
    assert asw.count_flops("layernorm", 8) == 0  # flops need no positions
    with pytest.raises(asw.InvalidArgumentError, match="all_flops of conv2d_transpose needs input_size"):
        asw.count_flops("conv2d_transpose", 3, 4, kernel=2, positions=9, elementwise=True)
    assert asw.count_flops("conv2d_transpose", 3, 4, kernel=2, positions=9, bias=False, elementwise=True) == \
        asw.count_flops("conv2d_transpose", 3, 4, kernel=2, positions=9)


def test_a_model_sums_its_layers():
    L = asw.layers
    model = asw.Model((6, 6, 2), [L.Conv2DTranspose(3, 2, strides=2), L.BatchNormalization(), L.Conv2D(4, 3),
                                  L.Flatten(), L.Dense(5), L.LayerNormalization()], convention="torch")
    per_layer = [asw.count_flops("conv2d_transpose", 2, 3, kernel=2, input_size=6, strides=2, elementwise=True,
                                 convention="torch"),
                 asw.count_flops("batchnorm", 3, positions=144, elementwise=True, convention="torch"),
                 asw.count_flops("conv2d", 3, 4, kernel=3, input_size=12, elementwise=True, convention="torch"),
                 asw.count_flops("dense", 400, 5, elementwise=True, convention="torch"),
                 asw.count_flops("layernorm", 5, positions=1, elementwise=True, convention="torch")]
    assert model.count_flops(elementwise=True) == sum(per_layer)
    assert model.count_flops(elementwise=True) > model.count_flops()
    with pytest.raises(asw.InvalidArgumentError, match="forward pass only"):
        model.count_flops(training=True, elementwise=True)


KINDS = [("dense", {"n_features": 1, "n_units": 1, "length": 1}),
         ("conv2d", {"n_features": 2, "n_units": 2, "kernel": 2, "groups": 1, "positions": 1}),
         ("conv1d_transpose", {"n_features": 1, "n_units": 1, "kernel": 2, "positions": 1, "output_positions": 1}),
         ("lstm", {"n_features": 1, "n_units": 2, "length": 1}), ("gru", {"n_features": 1, "n_units": 2, "length": 1}),
         ("rnn", {"n_features": 1, "n_units": 2, "length": 1}),
         ("layernorm", {"n_features": 1, "positions": 1}), ("batchnorm", {"n_features": 1, "positions": 1}),
         ("groupnorm", {"n_features": 2, "groups": 1, "positions": 1}), ("rmsnorm", {"n_features": 1, "positions": 1}),
         ("mha", {"n_features": 2, "num_heads": 1, "length": 1})]  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(KINDS), st.sampled_from(["keras", "torch"]), st.data())
def test_the_cores_agree_on_random_grids(kind_args, convention, data):
    kind, base = kind_args
    extra = {"key_dim": 3} if kind == "mha" and convention == "keras" else {}
    arrays = {}
    for name, low in base.items():
        if name in ("kernel", "groups", "num_heads"):
            arrays[name] = low
        else:
            arrays[name] = np.array(data.draw(st.lists(st.integers(low, 40), min_size=1, max_size=5)))[
                (slice(None),) + (None,) * len(arrays)]
    if kind in ("groupnorm",) or (kind == "mha" and convention == "torch"):
        arrays["n_features"] = arrays["n_features"] * 2  # kept divisible
    bias = data.draw(st.booleans()) if kind not in ("layernorm", "batchnorm", "groupnorm", "rmsnorm") else None
    options = {} if bias is None else {"bias": bias}
    rust = asw.count(kind, quantity="all_flops", convention=convention, backend="rust", **arrays, **options, **extra)
    python = asw.count(kind, quantity="all_flops", convention=convention, backend="python", **arrays, **options,
                       **extra)  # fmt: skip
    assert np.array_equal(rust, python)
    point = {n: (v.reshape(-1)[0].item() if isinstance(v, np.ndarray) else v) for n, v in arrays.items()}
    assert rust.reshape(-1)[0] == asw.count(kind, quantity="all_flops", convention=convention, **point, **options,
                                            **extra)  # fmt: skip


def test_every_all_flops_formula_has_non_negative_coefficients():
    """all_flops is a polynomial with non-negative integer coefficients in the sizes under every option
    combination (so it never decreases as a size grows), as every other quantity."""
    import itertools

    from archsweep import _algebra, _kinds
    from archsweep._names import CONVENTIONS

    for kind in _kinds.KINDS:
        flags = [a.name for a in kind.args if a.type == _kinds.FLAG]
        nullable = [f"{a.name} given" for a in kind.args if a.type == _kinds.SIZE and a.nullable]
        cases = [f"case {n}" for n, _ in kind.cases]
        for convention in kind.conventions:
            for values in itertools.product((0, 1), repeat=len(flags) + len(cases)):
                key = dict(zip(flags + cases, values), convention=CONVENTIONS.index(convention))
                key.update({n: 1 for n in nullable})  # every compute size given
                try:
                    (poly,) = _algebra._symbolic(kind, key, ("all_flops",))
                except asw.InvalidArgumentError as exc:  # a kind that does not define it (a transformer block)
                    assert "cannot be counted" in str(exc)
                    continue
                assert all(type(c) is int and c >= 0 for c in poly.terms.values()), (kind.name, convention, key)
