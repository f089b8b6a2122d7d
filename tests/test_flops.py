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
        args = _window.take(kind, case["convention"], args_of(case), args_of(case).get("kernel"))
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
