"""Whole models against real Keras 3: tests/data/keras_models.jsonl is written
by tools/make_model_fixture.py from the same specs (see tools/README.md);
running the tests needs no framework."""

import json
import os
from pathlib import Path

import pytest

import archsweep as asw
from archsweep._spec import model_from_spec

L = asw.layers
# ARCHSWEEP_FIXTURES points the tests at freshly generated fixtures (tools/README.md).
DATA = Path(os.environ.get("ARCHSWEEP_FIXTURES", Path(__file__).parent / "data"))

with open(DATA / "keras_models.jsonl") as _f:
    CASES = [json.loads(line) for line in _f if line.strip()]
VALID = [c for c in CASES if "error" not in c]
REFUSED = [c for c in CASES if "error" in c]


def build(case, backend="auto"):
    return model_from_spec({"input_shape": case["input_shape"], "layers": case["layers"]}, backend=backend)


def spec_values(case, key):
    """Every value of ``key`` anywhere in a case's layer specs."""
    found = []

    def walk(x):
        if isinstance(x, dict):
            found.extend([x[key]] if key in x else [])
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(case["layers"])
    return found


def test_fixture_covers_every_layer_and_option():
    assert len(VALID) >= 40 and len(REFUSED) >= 10
    types = {row["type"] for c in VALID for row in c["summary"]}
    assert types == {getattr(L, name).keras_type for name in L.__all__ if name != "Layer"}  # every kind archsweep has
    assert {"valid", "same", "causal"} <= {p for c in VALID for p in spec_values(c, "padding")}
    assert {"concat", "sum", "mul", "ave"} <= {m for c in VALID for m in spec_values(c, "merge")}
    assert any(s != 1 for c in VALID for s in spec_values(c, "strides"))
    assert any(d != 1 for c in VALID for d in spec_values(c, "dilation"))
    assert any(g > 1 for c in VALID for g in spec_values(c, "groups"))
    assert {True, False} <= set(spec_values({"layers": [c["layers"] for c in VALID]}, "return_sequences"))
    assert False in spec_values({"layers": [c["layers"] for c in VALID]}, "reset_after")
    assert any(None in c["input_shape"] for c in VALID)


@pytest.mark.parametrize("case", VALID, ids=[c["name"] for c in VALID])
def test_summary_matches_keras(case, backend):
    model = build(case, backend)
    expected = [(r["name"], r["type"], str(tuple(r["output_shape"])), r["params"]) for r in case["summary"]]
    assert list(model.summary().iter_rows()) == expected
    assert model.count_params() == case["total"]
    assert model.output_shape == tuple(case["summary"][-1]["output_shape"])
    assert model.size == 1 and model.is_concrete


@pytest.mark.parametrize("case", REFUSED, ids=[c["name"] for c in REFUSED])
def test_refused_like_keras(case):
    with pytest.raises(asw.InvalidArgumentError, match=r"^layer \d+ \(\w+\): "):
        build(case)


def test_issue_examples():
    m = asw.Model(input_shape=(28, 28, 1), layers=[
        L.Conv2D(32, 3, padding="same"), L.MaxPool2D(2), L.Conv2D(64, 3), L.MaxPool2D(2),
        L.Flatten(), L.Dense(128), L.Dense(10)], convention="keras")  # fmt: skip
    assert m.count_params() == 315_146 and m.output_shape == (None, 10)
    m = asw.Model(input_shape=(100,), layers=[
        L.Embedding(20000, 128), L.Bidirectional(L.LSTM(64, return_sequences=True)),
        L.Bidirectional(L.GRU(32)), L.Dense(1)])  # fmt: skip
    assert m.summary()["params"].to_list() == [2_560_000, 98_816, 31_104, 65]
    assert m.summary()["output_shape"].to_list()[:2] == ["(None, 100, 128)", "(None, 100, 128)"]


def test_counts_come_from_the_convention(backend):
    m = asw.Model((10, 32), [L.GRU(64, return_sequences=True), L.Bidirectional(L.LSTM(8))], convention="torch",
                  backend=backend)  # fmt: skip
    assert m.summary()["params"].to_list() == [
        asw.count_params("gru", 32, 64, convention="torch"),
        asw.count_params("lstm", 64, 8, bidirectional=True, convention="torch"),
    ]
    with pytest.raises(asw.InvalidArgumentError, match=r"layer 0 \(GRU\): reset_after"):
        asw.Model((10, 32), [L.GRU(64, reset_after=False)], convention="torch")


@pytest.mark.parametrize(
    ("input_shape", "layers", "exc", "pieces"),
    [
        ((128,), [L.Dense(8), L.Conv2D(8, 3)], asw.InvalidArgumentError, ["layer 1 (Conv2D)", "rank 3", "(None, 8)"]),
        ((5, 5, 3), [L.Conv2D(8, 7)], asw.InvalidArgumentError, ["layer 0 (Conv2D)", "(7, 7)", "(5, 5)", "'valid'"]),
        ((9, 2), [L.Conv1D(2, 3), L.Conv1D(2, 3, dilation=4)], asw.InvalidArgumentError,
         ["layer 1 (Conv1D)", "dilation (4,)", "spans (9,)", "(7,)"]),
        ((10,), [L.Dense(0)], asw.InvalidArgumentError, ["layer 0 (Dense)", "units", "at least 1", "0"]),
        ((10,), [L.Dense(4, bias="yes")], asw.ArgumentTypeError, ["layer 0 (Dense)", "bias", "'yes'"]),
        ((8, 8, 1), [L.Conv2D(4, (3, 3, 3))], asw.InvalidArgumentError, ["layer 0 (Conv2D)", "kernel", "2 ints"]),
        ((8, 8, 1), [L.Conv2D(4, 3, padding="causal")], asw.InvalidArgumentError, ["padding", "'causal'", "Conv1D"]),
        ((8, 4), [L.Bidirectional(L.Dense(3))], asw.ArgumentTypeError, ["layer 0 (Bidirectional)", "LSTM", "Dense(3)"]),
        ((8, 4), [L.Bidirectional(L.LSTM(3), merge="max")], asw.InvalidArgumentError, ["merge", "'ave'", "'max'"]),
        ((8, 4), [L.Bidirectional(L.LSTM(-1))], asw.InvalidArgumentError, ["layer 0 (Bidirectional)", "layer.units"]),
        ((8, 4), [L.Dropout(1.5)], asw.InvalidArgumentError, ["layer 0 (Dropout)", "rate", "1.5"]),
        ((8, 4), [L.Dense], asw.ArgumentTypeError, ["layer 0", "Dense(...)"]),
        ((8, 4), ["dense"], asw.ArgumentTypeError, ["layer 0", "'dense'"]),
        ((8, 0), [L.Dense(3)], asw.InvalidArgumentError, ["input_shape[1]", "at least 1"]),
        (8, [L.Dense(3)], asw.ArgumentTypeError, ["input_shape", "tuple"]),
        ((8,), [], asw.InvalidArgumentError, ["at least one layer"]),
        ((2**62,), [L.Dense(4)], asw.ParamOverflowError, ["layer 0 (Dense)", "int64"]),
    ],
)
def test_bad_models_are_refused_clearly(input_shape, layers, exc, pieces):
    with pytest.raises(exc) as info:
        asw.Model(input_shape, layers)
    for piece in pieces:
        assert piece in str(info.value)


def test_a_space_is_not_one_model():
    space = asw.Model((10,), [L.Dense(asw.choice(1, 2))])
    for call in (space.count_params, space.summary, lambda: space.output_shape):
        with pytest.raises(asw.InvalidArgumentError, match="space of 2 architectures"):
            call()
    assert "a space of 2 architectures" in repr(space)


def test_layers_print_like_their_constructors():
    assert repr(L.Conv2D(32, 3, padding="same")) == "Conv2D(32, 3, padding='same')"
    assert repr(L.Bidirectional(L.LSTM(64, return_sequences=True))) == (
        "Bidirectional(LSTM(64, return_sequences=True))"
    )
    assert repr(L.MaxPool2D(3)) == "MaxPooling2D(pool_size=3)" and L.MaxPool2D is L.MaxPooling2D
    assert L.Dense(3) == L.Dense(3) != L.Dense(3, bias=False)
