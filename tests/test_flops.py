"""Compute against real PyTorch: tests/data/torch_flops.jsonl is written by
tools/make_flops_fixture.py (FlopCounterMode on the meta device; see
tools/README.md); running the tests needs no framework."""

import json
import os
from pathlib import Path

import pytest

import archsweep as asw

DATA = Path(os.environ.get("ARCHSWEEP_FIXTURES", Path(__file__).parent / "data"))
with open(DATA / "torch_flops.jsonl") as _f:
    CASES = [json.loads(line) for line in _f if line.strip()]


def args_of(case):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in case["args"].items()}


def test_fixture_covers_every_kind_with_compute():
    kinds = {c["kind"] for c in CASES}
    assert kinds >= {"dense", "conv1d", "conv2d", "conv3d", "conv1d_transpose", "conv2d_transpose", "rnn", "lstm",
                     "gru", "mha", "depthwise_conv1d", "depthwise_conv2d", "separable_conv2d", "embedding",
                     "batchnorm", "layernorm", "groupnorm", "rmsnorm"}
    recurrent = [c["args"] for c in CASES if c["kind"] in ("rnn", "lstm", "gru")]
    assert any(a.get("proj_size") for a in recurrent) and any(a["num_layers"] == 3 for a in recurrent)
    assert {a["length"] for a in recurrent} >= {1, 64} and any(a["bidirectional"] for a in recurrent)
    convs = [c["args"] for c in CASES if c["kind"].startswith("conv") and "transpose" not in c["kind"]]
    assert {str(a["padding"]) for a in convs} >= {"valid", "same", "0", "2"} and any(a["groups"] > 1 for a in convs)
    attention = [c["args"] for c in CASES if c["kind"] == "mha"]
    assert any("kv_length" in a for a in attention) and any("kdim" in a for a in attention)
    assert any(a["add_bias_kv"] for a in attention)


@pytest.mark.parametrize("backend", ["rust", "python"])
@pytest.mark.parametrize("quantity", ["flops", "training_flops"])
def test_matches_flop_counter_mode(backend, quantity):
    wrong = []
    for case in CASES:
        got = asw.count(case["kind"], quantity=quantity, convention=case["convention"], backend=backend,
                        **args_of(case))
        if got != case[quantity]:
            wrong.append((case["torch"], got, case[quantity]))
    assert not wrong, f"{len(wrong)} of {len(CASES)} differ, e.g. {wrong[:3]}"


def test_count_flops_is_count_of_flops():
    case = next(c for c in CASES if c["kind"] == "lstm")
    assert asw.count_flops("lstm", convention="torch", **args_of(case)) == case["flops"]
    assert asw.count_flops("lstm", convention="torch", training=True, **args_of(case)) == case["training_flops"]
    with pytest.raises(asw.ArgumentTypeError, match="training must be True or False"):
        asw.count_flops("lstm", 3, 4, length=2, training="yes")


def test_macs_are_half_the_flops():
    for case in CASES[::7]:
        macs = asw.count(case["kind"], quantity="macs", convention=case["convention"], **args_of(case))
        assert 2 * macs == case["flops"]


def test_a_first_layer_takes_no_input_gradient():
    """training_flops_first: FlopCounterMode with an input that needs no gradient, as a model's first layer,
    is the registry's forward, weight-gradient and inner parts without the input's gradient (what Model sums)."""
    from archsweep import _kinds, _window

    for case in CASES:
        kind = _kinds.BY_NAME[case["kind"]]
        args = _window.take(kind, case["convention"], args_of(case))
        q = _kinds.evaluate(kind, case["convention"], _kinds.validate(kind, case["convention"], args))
        assert 2 * (q.macs + q.grad_macs) == case["training_flops_first"], case["torch"]


with open(DATA / "torch_flops_models.jsonl") as _f:
    MODELS = [json.loads(line) for line in _f if line.strip()]


@pytest.mark.parametrize("case", MODELS, ids=[m["torch"] for m in MODELS])
def test_models_match_flop_counter_mode(case):
    from archsweep._spec import model_from_spec

    for backend in ("rust", "python"):
        model = model_from_spec(case["model"], backend=backend)
        assert model.count_params() == case["params"]
        assert model.count_flops() == case["flops"]
        assert model.count_flops(training=True) == case["training_flops"]
        assert model.summary()["flops"].sum() == case["flops"]


def test_a_model_of_unknown_length_needs_it():
    L = asw.layers
    m = asw.Model((None, 5), [L.LSTM(7, return_sequences=True), L.Dense(3)], convention="torch")
    with pytest.raises(asw.InvalidArgumentError, match=r"count_flops\(\) needs length=.*\(None, 5\)"):
        m.count_flops()
    assert m.summary()["flops"].null_count() == 2
    known = asw.Model((12, 5), m.layers, convention="torch")
    assert m.count_flops(length=12) == known.count_flops() == 2 * 12 * (4 * 7 * (5 + 7) + 7 * 3)
    with pytest.raises(asw.InvalidArgumentError, match="has none"):
        known.count_flops(length=12)


@pytest.mark.parametrize("quantity", ["flops", "training_flops"])
def test_keras_kinds_count_what_their_pytorch_equivalents_count(quantity):
    """Keras has no FLOP counter: each Keras kind counts the matmuls of its PyTorch equivalent, whose
    FlopCounterMode counts the fixture checks."""
    import random

    rng = random.Random(7)
    for _ in range(60):
        f, u, t, g = rng.choice([1, 3, 16]), rng.choice([2, 5, 64]), rng.choice([1, 9, 50]), rng.choice([1, 2])
        pairs = [
            ("dense", dict(n_features=f, n_units=u, length=t), {}),
            ("conv2d", dict(n_features=f * g, n_units=u * g, kernel=(3, 1), groups=g, positions=t), {}),
            ("conv1d_transpose", dict(n_features=f, n_units=u, kernel=2, positions=t), {}),
            ("depthwise_conv2d", dict(n_features=f, kernel=3, depth_multiplier=g, positions=t), {}),
            ("gru", dict(n_features=f, n_units=u, length=t, bidirectional=g == 2), {}),  # reset_after: PyTorch's GRU
            ("lstm", dict(n_features=f, n_units=u, length=t), {}),
            ("mha", dict(n_features=u * g, num_heads=g, length=t, kv_length=f), {"key_dim": u}),
        ]
        for kind, common, keras_only in pairs:
            keras = asw.count(kind, quantity=quantity, convention="keras", **common, **keras_only)
            assert keras == asw.count(kind, quantity=quantity, convention="torch", **common), (kind, common)
