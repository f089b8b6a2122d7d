"""Whole models against real Keras 3: tests/data/keras_models.jsonl is written
by tools/make_model_fixture.py from the same specs (see tools/README.md);
running the tests needs no framework."""

import itertools
import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archsweep as asw
from archsweep._model import summary_table
from archsweep._space import Choice
from archsweep._spec import model_from_spec
from archsweep.layers import Count

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
    assert len(VALID) >= 80 and len(REFUSED) >= 30
    types = {row["type"] for c in VALID for row in c["summary"]}
    # Every layer archsweep has but PyTorch's (test_transformer.py) and the merges of functional models
    # (test_graph.py), and Residual, which is the functional graph it stands for (test_residual.py).
    elsewhere = {"Layer", "TransformerEncoderLayer", "TransformerEncoder", "Residual", "Add", "Subtract", "Multiply", "Average", "Maximum", "Concatenate"}
    assert types == {getattr(L, name).keras_type for name in L.__all__ if name not in elsewhere}
    refused = {layer["type"] for c in REFUSED for layer in c["layers"]}
    assert {"GroupNormalization", "BatchNormalization", "DepthwiseConv1D", "SeparableConv2D", "Conv2DTranspose",
            "MultiHeadAttention"} <= refused  # fmt: skip
    everything = {"layers": [c["layers"] for c in VALID]}
    assert {"valid", "same", "causal"} <= {p for c in VALID for p in spec_values(c, "padding")}
    assert {"concat", "sum", "mul", "ave"} <= {m for c in VALID for m in spec_values(c, "merge")}
    assert any(s != 1 for c in VALID for s in spec_values(c, "strides"))
    assert any(d != 1 for c in VALID for d in spec_values(c, "dilation"))
    assert any(g > 1 for c in VALID for g in spec_values(c, "groups"))
    assert {True, False} <= set(spec_values(everything, "return_sequences"))
    assert False in spec_values(everything, "reset_after")
    assert any(None in c["input_shape"] for c in VALID)
    # the catalogue's options
    assert {0, 1, (1, 2)} <= {tuple(p) if isinstance(p, list) else p for p in spec_values(everything, "output_padding")}
    assert {2, 3} <= set(spec_values(everything, "depth_multiplier"))
    assert False in spec_values(everything, "center") and False in spec_values(everything, "scale")
    assert True in spec_values(everything, "rms_scaling") and -1 in spec_values(everything, "groups")
    assert spec_values(everything, "value_dim") and [2, 3] in spec_values(everything, "output_shape")
    assert any(row["non_trainable"] for c in VALID for row in c["summary"])


def layer_counts(model):
    """Each layer's Count, followed through the model as Model does it."""
    shape, out = model.input_shape, []
    for layer in model.layers:
        shape, count = layer.normalized().infer(shape, model.convention)
        out.append(count)
    return out


@pytest.mark.parametrize("case", VALID, ids=[c["name"] for c in VALID])
def test_summary_matches_keras(case, backend):
    model = build(case, backend)
    expected = [(r["name"], r["type"], str(tuple(r["output_shape"])), r["params"], r["trainable"], r["non_trainable"])
                for r in case["summary"]]  # fmt: skip
    weights = model.summary().drop("flops")  # Keras counts no FLOPs: test_flops checks them against PyTorch
    assert list(weights.iter_rows()) == expected
    assert weights.columns == ["name", "type", "output_shape", "params", "trainable", "non_trainable"]
    assert model.count_params() == case["total"]
    assert (model.trainable_params, model.non_trainable_params, model.buffers) == (
        case["trainable"], case["non_trainable"], 0)
    assert model.output_shape == tuple(case["summary"][-1]["output_shape"])
    assert model.size == 1 and model.is_concrete
    # Each layer's count is its registry kind's, as the chosen core computes it.
    for count, row in zip(layer_counts(model), case["summary"]):
        if isinstance(count, Count):
            values = dict(count.values)
            for quantity in ("params", "trainable", "non_trainable"):
                assert int(asw.count(count.kind, **values, quantity=quantity, backend=backend)) == row[quantity]
        else:
            assert count == 0 and row["params"] == 0


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


def test_a_remembered_layer_step_is_the_same_layer_only():
    """Models remember each plain layer's step; a layer that differs in an argument's type (True == 1),
    the input shape or the convention is checked afresh, never answered from another's step."""
    first = asw.Model((10,), [L.Dense(1), L.BatchNormalization()])
    assert first.count_params() == 11 + 4
    with pytest.raises(asw.ArgumentTypeError, match="units must be an integer.*not a bool"):
        asw.Model((10,), [L.Dense(True), L.BatchNormalization()])
    assert asw.Model((3,), [L.Dense(1), L.BatchNormalization()]).count_params() == 4 + 4
    torch = asw.Model((10,), [L.Dense(1), L.BatchNormalization()], convention="torch")
    assert (torch.count_params(), torch.buffers) == (11 + 2, 3)
    again = asw.Model((10,), [L.Dense(1), L.BatchNormalization()])
    assert [type(layer) for layer, _, _ in again._trace] == [L.Dense, L.BatchNormalization]
    assert (again.count_params(), again.trainable_params, again.non_trainable_params) == (15, 13, 2)
    with pytest.raises(asw.InvalidArgumentError, match="layer 0 .*Dense"):  # not cached: refused again
        asw.Model((None,), [L.Dense(1)])
    with pytest.raises(asw.InvalidArgumentError, match="layer 0 .*Dense"):
        asw.Model((None,), [L.Dense(1)])


def test_layers_print_like_their_constructors():
    assert repr(L.Conv2D(32, 3, padding="same")) == "Conv2D(32, 3, padding='same')"
    assert repr(L.Bidirectional(L.LSTM(64, return_sequences=True))) == (
        "Bidirectional(LSTM(64, return_sequences=True))"
    )
    assert repr(L.MaxPool2D(3)) == "MaxPooling2D(pool_size=3)" and L.MaxPool2D is L.MaxPooling2D
    assert L.Dense(3) == L.Dense(3) != L.Dense(3, bias=False)


# -- the trainable split and PyTorch's buffers ------------------------------------------------------------------


def cnn_with_batchnorm(convention, backend="auto"):
    return asw.Model((32, 32, 3), [L.Conv2D(16, 3, bias=False), L.BatchNormalization(), L.ReLU(), L.Flatten(),
                                   L.Dense(10)], convention=convention, backend=backend)  # fmt: skip


def test_batchnorm_statistics_are_non_trainable_under_keras_and_buffers_under_torch(backend):
    keras = cnn_with_batchnorm("keras", backend)
    assert keras.summary().row(1) == ("batch_normalization", "BatchNormalization", "(None, 30, 30, 16)", 64, 32, 32, 0)
    assert (keras.count_params(), keras.trainable_params, keras.non_trainable_params, keras.buffers) == (
        432 + 64 + 144010, 432 + 32 + 144010, 32, 0)
    torch = cnn_with_batchnorm("torch", backend)
    # nn.BatchNorm2d(16): weight and bias are parameters; running_mean, running_var, num_batches_tracked buffers.
    assert torch.summary().columns[-2:] == ["buffers", "flops"]
    assert torch.summary().row(1) == ("batch_normalization", "BatchNormalization", "(None, 30, 30, 16)", 32, 32, 0, 33,
                                      0)  # fmt: skip
    assert (torch.count_params(), torch.trainable_params, torch.non_trainable_params, torch.buffers) == (
        432 + 32 + 144010, 432 + 32 + 144010, 0, 33)


def test_summary_table_prints_keras_footer():
    keras = summary_table(cnn_with_batchnorm("keras")).splitlines()
    assert keras[-3:] == ["Total params: 144,506", "Trainable params: 144,474", "Non-trainable params: 32"]
    assert keras[3].split()[-1] == "64"  # the BatchNormalization row counts its moving statistics, as Keras does
    torch = summary_table(cnn_with_batchnorm("torch")).splitlines()
    assert torch[-4:] == ["Total params: 144,474", "Trainable params: 144,474", "Non-trainable params: 0",
                          "Buffers: 33"]  # fmt: skip


def test_attention_under_torch_is_pytorch_multihead_attention(backend):
    # nn.MultiheadAttention(512, 8): in_proj 3·512², out_proj 512², biases 4·512, whatever the heads.
    model = asw.Model((10, 512), [L.MultiHeadAttention(8, 64)], convention="torch", backend=backend)
    assert model.count_params() == 4 * 512**2 + 4 * 512 == asw.count("mha", 512, num_heads=8, convention="torch")
    assert model.count_params() == asw.Model((10, 512), [L.MultiHeadAttention(8, 64)]).count_params()  # heads split
    with pytest.raises(asw.InvalidArgumentError, match=r"layer 0 \(MultiHeadAttention\): .*key_dim \* num_heads"):
        asw.Model((10, 512), [L.MultiHeadAttention(8, 32)], convention="torch")
    with pytest.raises(asw.InvalidArgumentError, match="value_dim"):
        asw.Model((10, 512), [L.MultiHeadAttention(8, 64, 32)], convention="torch")
    assert asw.Model((10, 512), [L.MultiHeadAttention(8, 64, bias=False)], convention="torch").count_params() == (
        4 * 512**2)


@pytest.mark.parametrize(
    ("input_shape", "layers", "convention", "exc", "pieces"),
    [
        ((8, 8, 3), [L.DepthwiseConv2D(3, depth_multiplier=0)], "keras", asw.InvalidArgumentError,
         ["layer 0 (DepthwiseConv2D)", "depth_multiplier", "at least 1", "0"]),
        ((8, 8, 3), [L.DepthwiseConv2D((3, 3, 3))], "keras", asw.InvalidArgumentError, ["kernel", "2 ints"]),
        ((8, 3), [L.SeparableConv1D(4, 3, padding="causal")], "keras", asw.InvalidArgumentError,
         ["layer 0 (SeparableConv1D)", "padding", "'causal' is for Conv1D"]),
        ((8, 8, 3), [L.SeparableConv2D(4, 3)], "torch", asw.InvalidArgumentError,
         ["layer 0 (SeparableConv2D)", "separable_conv2d", "'torch'"]),
        ((8, 8, 3), [L.Conv2DTranspose(4, 3, strides=2, output_padding=-1)], "keras", asw.InvalidArgumentError,
         ["layer 0 (Conv2DTranspose)", "output_padding", "at least 0"]),
        ((8, 8, 3), [L.Conv2DTranspose(4, 3, strides=2, output_padding=(1, 2))], "keras", asw.InvalidArgumentError,
         ["layer 0 (Conv2DTranspose)", "output_padding must be less than strides", "(1, 2)"]),
        ((1, 3), [L.Conv1DTranspose(2, 2, padding="same", output_padding=0)], "keras", asw.InvalidArgumentError,
         ["layer 0 (Conv1DTranspose)", "empty axis", "(0,)"]),
        ((8, 3), [L.Conv1DTranspose(2, 3)], "tf1", asw.InvalidArgumentError, ["conv1d_transpose", "'tf1'"]),
        ((8, 6), [L.GroupNormalization(0)], "keras", asw.InvalidArgumentError, ["groups", "at least 1"]),
        ((8, 6), [L.GroupNormalization(4)], "keras", asw.InvalidArgumentError,
         ["layer 0 (GroupNormalization)", "groups=4", "(None, 8, 6)"]),
        ((8, 6), [L.BatchNormalization(center="no")], "keras", asw.ArgumentTypeError,
         ["layer 0 (BatchNormalization)", "center", "'no'"]),
        ((8, 6), [L.BatchNormalization(center=False)], "torch", asw.InvalidArgumentError,
         ["layer 0 (BatchNormalization)", "center", "keras"]),
        ((8, 6), [L.LayerNormalization(rms_scaling=True)], "torch", asw.InvalidArgumentError,
         ["layer 0 (LayerNormalization)", "rms_scaling", "keras"]),
        ((8, None), [L.RMSNormalization()], "keras", asw.InvalidArgumentError,
         ["layer 0 (RMSNormalization)", "known last axis", "(None, 8, None)"]),
        ((8, 6), [L.MultiHeadAttention(0, 4)], "keras", asw.InvalidArgumentError, ["num_heads", "at least 1"]),
        ((8, 6), [L.MultiHeadAttention(2, 4, output_shape=())], "keras", asw.InvalidArgumentError,
         ["layer 0 (MultiHeadAttention)", "output_shape", "()"]),
        ((8, 6), [L.MultiHeadAttention(2, 4, bias=1)], "keras", asw.ArgumentTypeError, ["bias", "True or False"]),
    ],
)
def test_catalogue_layers_refuse_clearly(input_shape, layers, convention, exc, pieces):
    with pytest.raises(exc) as info:
        asw.Model(input_shape, layers, convention=convention)
    for piece in pieces:
        assert piece in str(info.value)


def test_catalogue_layers_print_like_their_constructors():
    assert repr(L.Conv2DTranspose(16, 3, strides=2, output_padding=1)) == (
        "Conv2DTranspose(16, 3, strides=2, output_padding=1)"
    )
    assert repr(L.DepthwiseConv2D(3, depth_multiplier=2)) == "DepthwiseConv2D(3, depth_multiplier=2)"
    assert repr(L.MultiHeadAttention(4, 8, output_shape=10)) == "MultiHeadAttention(4, 8, output_shape=10)"
    assert repr(L.BatchNormalization()) == "BatchNormalization()" != repr(L.BatchNormalization(scale=False))
    assert repr(L.GroupNormalization(8, center=False)) == "GroupNormalization(groups=8, center=False)"


def test_toml_spaces_choose_among_catalogue_layers():
    space = model_from_spec({"input_shape": [16, 16, 3], "layers": [
        {"type": "Conv2D", "filters": 8, "kernel": 3, "padding": "same"},
        {"choice": [{"type": "BatchNormalization"}, {"type": "GroupNormalization", "groups": 4}, "none"],
         "name": "norm"},
        {"choice": [{"type": "Conv2D", "filters": 16, "kernel": 3},
                    {"type": "SeparableConv2D", "filters": 16, "kernel": 3, "depth_multiplier": {"choice": [1, 2]}}]},
        {"type": "Conv2DTranspose", "filters": 4, "kernel": 3, "strides": 2, "output_padding": [1, 0]},
        {"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 1}]})  # fmt: skip
    assert space.size == 9 and space.choices == ["norm", "2", "2.depth_multiplier"]
    best = asw.search_models(space, budget=10**9)
    assert best["norm"].to_list()[:3] == ["BatchNormalization", "GroupNormalization", None]
    assert best["2"].to_list()[0] == "Conv2D"
    # Each row's count is that architecture built alone.
    top = asw.Model((16, 16, 3), [L.Conv2D(8, 3, padding="same"), L.BatchNormalization(), L.Conv2D(16, 3),
                                  L.Conv2DTranspose(4, 3, strides=2, output_padding=(1, 0)),
                                  L.GlobalAveragePooling2D(), L.Dense(1)])  # fmt: skip
    assert best["params"][0] == top.count_params() and top.output_shape == (None, 1)
    assert top.summary()["output_shape"][3] == "(None, 30, 29, 4)"  # (14 - 1)·2 + 3 + (1, 0)


# -- model spaces with the catalogue's layers, against brute force --------------------------------------------


def concretes(value):
    """Every concrete value a (possibly chosen) value stands for, in the order the options are listed."""
    if isinstance(value, Choice):
        for option in value.options:
            yield from concretes(option)
    elif isinstance(value, L.Layer):
        names = list(value.args)
        for combo in itertools.product(*(list(concretes(value.args[n])) for n in names)):
            yield value.replace(**dict(zip(names, combo)))
    else:
        yield value


def choose(draw, options, name):
    picked = draw(st.lists(st.sampled_from(options), min_size=1, max_size=min(3, len(options)), unique_by=repr))
    return asw.choice(*picked, name=name) if len(picked) > 1 else picked[0]


@st.composite
def catalogue_spaces(draw):
    """Small spaces that choose among the catalogue's layers: sizes that make later layers shrink or
    fail (kernels against small inputs, groups that do not divide, heads that do not split the width
    under torch), optional normalizations, conv kinds."""
    convention = draw(st.sampled_from(["keras", "torch"]))
    if draw(st.booleans()):
        side, channels = draw(st.integers(2, 9)), draw(st.sampled_from([2, 3, 4, 6]))
        shape = (side, side, channels)
        filters = [draw(st.sampled_from([2, 4, 6])) for _ in range(2)]
        kernel = choose(draw, [1, 2, 3, (1, 3), 5], "k")
        convs = [L.Conv2D(filters[0], kernel), L.DepthwiseConv2D(kernel, depth_multiplier=choose(draw, [1, 2], "m"))]
        if convention == "keras":
            convs.append(L.SeparableConv2D(filters[1], kernel, padding=choose(draw, ["valid", "same"], "p")))
        norms = [L.BatchNormalization(), L.GroupNormalization(choose(draw, [1, 2, 3], "g")), L.LayerNormalization(),
                 None]  # fmt: skip
        up = L.Conv2DTranspose(filters[1], choose(draw, [1, 2, 3], "tk"), strides=choose(draw, [1, 2], "ts"),
                               padding=choose(draw, ["valid", "same"], "tp"))  # fmt: skip
        layers = [choose(draw, convs, "conv"), choose(draw, norms, "norm"), up, L.GlobalMaxPool2D(), L.Dense(2)]
    else:
        width = draw(st.sampled_from([4, 6, 8]))
        shape = (draw(st.integers(1, 5)), width)
        attention = L.MultiHeadAttention(choose(draw, [1, 2, 3], "h"), choose(draw, [2, 3, 4], "kd"),
                                         bias=draw(st.booleans()))  # fmt: skip
        norms = [L.LayerNormalization(), L.RMSNormalization(), L.BatchNormalization(), None]
        layers = [L.Dense(choose(draw, [4, 6, 8], "d")), attention, choose(draw, norms, "norm"), L.Flatten(),
                  L.Dense(1)]  # fmt: skip
    return shape, [layer for layer in layers if layer is not None], convention


@settings(max_examples=max(10, settings().max_examples // 5))  # 30 by default; each builds every model
@given(catalogue_spaces(), st.data())
def test_catalogue_spaces_agree_with_brute_force(space, data):
    shape, elements, convention = space
    found = []
    for combo in itertools.product(*(list(concretes(e)) for e in elements)):
        try:
            model = asw.Model(shape, [layer for layer in combo if layer is not None], convention=convention)
        except asw.InvalidArgumentError:
            continue
        found.append(model.count_params())
    if not found:
        with pytest.raises(asw.InvalidArgumentError, match=r"layer \d+ \(\w+\): "):
            asw.Model(shape, elements, convention=convention)
        return
    model = asw.Model(shape, elements, convention=convention)
    assert model.size == len(found)
    for budget in [0, data.draw(st.sampled_from(found)), data.draw(st.sampled_from(found)), 2**63 - 1]:
        fits = sorted((p for p in found if p <= budget), reverse=True)
        assert asw.count_models(model, budget) == len(fits)
        assert asw.search_models(model, budget)["params"].to_list() == fits
        assert asw.search_models(model, budget, limit=2)["params"].to_list() == fits[:2]
