"""Transformer blocks against real PyTorch: tests/data/torch_transformer.jsonl is written by
tools/make_transformer_fixture.py (nn.TransformerEncoderLayer / DecoderLayer on the meta
device, their parameters and FlopCounterMode's FLOPs in train mode); running the tests needs
no framework."""

import json
import os
from pathlib import Path

import pytest

import archsweep as asw

DATA = Path(os.environ.get("ARCHSWEEP_FIXTURES", Path(__file__).parent / "data"))
with open(DATA / "torch_transformer.jsonl") as _f:
    CASES = [json.loads(line) for line in _f if line.strip()]
BUILT = [c for c in CASES if "error" not in c]
L = asw.layers


def arguments(case):
    """The kind, and its arguments, of one fixture line: lengths read off the inputs (batch first or not)."""
    a, shapes = case["args"], case["input"]
    axis = 1 if a["batch_first"] else 0
    kind = "transformer_encoder" if case["class"] == "TransformerEncoderLayer" else "transformer_decoder"
    values = dict(n_features=a["d_model"], num_heads=a["nhead"], dim_feedforward=a["dim_feedforward"],
                  bias=a["bias"], norm_first=a["norm_first"], length=(shapes.get("src") or shapes["tgt"])[axis])  # fmt: skip
    if "memory" in shapes:
        values["kv_length"] = shapes["memory"][axis]
    return kind, values


def test_fixture_covers_both_blocks_and_their_options():
    for cls in ("TransformerEncoderLayer", "TransformerDecoderLayer"):
        args = [c["args"] for c in BUILT if c["class"] == cls]
        assert len(args) > 100
        for flag in ("bias", "norm_first", "batch_first"):
            assert {a[flag] for a in args} == {True, False}
        assert {a["activation"] for a in args} == {"relu", "gelu"}
    assert any(c["input"]["memory"] != c["input"]["tgt"] for c in BUILT if "memory" in c["input"])
    assert any("error" in c for c in CASES)


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_matches_pytorch(backend):
    wrong = []
    for case in BUILT:
        kind, values = arguments(case)
        got = [asw.count(kind, quantity=q, convention="torch", backend=backend, **values)
               for q in ("params", "trainable", "buffers", "flops", "training_flops")]  # fmt: skip
        expected = [case[q] for q in ("params", "trainable", "buffers", "flops", "training_flops")]
        if got != expected:
            wrong.append((case["class"], case["args"], got, expected))
    assert not wrong, f"{len(wrong)} of {len(BUILT)} differ, e.g. {wrong[:2]}"


def test_an_encoder_layer_in_a_model_counts_as_pytorch_counts_it_first():
    """In a Model the first layer's input takes no gradient: the fixture's training_flops_first."""
    for case in [c for c in BUILT if c["class"] == "TransformerEncoderLayer"][::9]:
        a = case["args"]
        kind, values = arguments(case)
        layer = L.TransformerEncoderLayer(a["d_model"], a["nhead"], a["dim_feedforward"], dropout=a["dropout"],
                                          activation=a["activation"], batch_first=a["batch_first"],
                                          norm_first=a["norm_first"], bias=a["bias"])  # fmt: skip
        model = asw.Model((values["length"], a["d_model"]), [layer], convention="torch")
        assert model.count_params() == case["params"]
        assert model.count_flops() == case["flops"]
        assert model.count_flops(training=True) == case["training_flops_first"]


def test_the_first_layer_of_a_network_takes_no_input_gradient():
    """The fixture's training_flops_first (inputs that need no gradient) is forward + backward without
    the block's input gradient: with norm_first the self-attention's inputs take theirs all the same."""
    from archsweep import _kinds

    for case in BUILT:
        kind, values = arguments(case)
        q = _kinds.evaluate(_kinds.BY_NAME[kind], "torch", values)
        assert 2 * (q.macs + q.grad_macs) == case["training_flops_first"], case


def test_the_frameworks_refusals_are_refused():
    """Every module PyTorch refuses to build: the layer (its activation and dropout checked) or its kind."""
    for case in [c for c in CASES if "error" in c]:
        kind, values = arguments(case)
        a = case["args"]
        if kind == "transformer_decoder" and ("activation" in case["error"] or "dropout" in case["error"]):
            continue  # the decoder is a kind alone (no Sequential layer), and the kind takes neither
        with pytest.raises(asw.ArchsweepError):
            asw.count(kind, convention="torch", **values)
            layer = L.TransformerEncoderLayer(a["d_model"], a["nhead"], a["dim_feedforward"], dropout=a["dropout"],
                                              activation=a["activation"])  # fmt: skip
            asw.Model((values["length"], max(a["d_model"], 1)), [layer], convention="torch")


def test_blocks_refuse_what_they_cannot_count():
    with pytest.raises(asw.InvalidArgumentError, match="needs length"):
        asw.count_flops("transformer_encoder", n_features=8, num_heads=2, convention="torch")
    with pytest.raises(asw.InvalidArgumentError, match="cannot be counted"):
        asw.count_flops("transformer_decoder", n_features=8, num_heads=2, length=3, convention="torch",
                        elementwise=True)  # fmt: skip
    with pytest.raises(asw.InvalidArgumentError, match="num_heads"):
        asw.count_params("transformer_encoder", n_features=9, num_heads=2, convention="keras")
    with pytest.raises(asw.InvalidArgumentError, match="bias"):
        asw.count_params("transformer_encoder", n_features=8, num_heads=2, bias=False, convention="keras")
    assert asw.count_params("transformer_encoder", n_features=8, num_heads=2) == asw.count_params(
        "transformer_encoder", n_features=8, num_heads=2, convention="torch")  # its own convention by default
    with pytest.raises(asw.InvalidArgumentError, match="use convention='torch'"):
        asw.Model((4, 8), [L.TransformerEncoderLayer(8, 2)])
    with pytest.raises(asw.InvalidArgumentError, match=r"takes a sequence \(length, 8\)"):
        asw.Model((4, 6), [L.TransformerEncoderLayer(8, 2)], convention="torch")
    with pytest.raises(asw.InvalidArgumentError, match="activation must be one of 'relu', 'gelu' "):
        asw.Model((4, 8), [L.TransformerEncoderLayer(8, 2, activation="swish")], convention="torch")
    with pytest.raises(asw.InvalidArgumentError, match="TransformerEncoder is KerasHub's: use convention='keras'"):
        asw.Model((4, 8), [L.TransformerEncoder(16, 2)], convention="torch")
    with pytest.raises(asw.InvalidArgumentError, match="must divide"):
        asw.Model((4, 9), [L.TransformerEncoder(16, 2)])
    with pytest.raises(asw.InvalidArgumentError, match=r"takes a sequence \(length, width\)"):
        asw.Model((8,), [L.TransformerEncoder(16, 2)])


def test_a_space_of_encoder_layers_is_searched_under_two_budgets():
    space = asw.Model((16, 64), [L.TransformerEncoderLayer(64, asw.choice(2, 4), asw.choice(64, 128, 256)),
                                 asw.repeat(L.TransformerEncoderLayer(64, 4, 128), 0, 2)],
                      convention="torch")  # fmt: skip
    found = asw.search_models(space, {"params": 80_000, "flops": 3_000_000})
    for row in found.iter_rows(named=True):
        layers = [L.TransformerEncoderLayer(64, row["0.nhead"], row["0.dim_feedforward"]),
                  *[L.TransformerEncoderLayer(64, 4, 128)] * row["1.depth"]]  # fmt: skip
        model = asw.Model((16, 64), layers, convention="torch")
        assert (model.count_params(), model.count_flops()) == (row["params"], row["flops"])
    assert 0 < found.height < space.size


with open(DATA / "keras_transformer.jsonl") as _f:
    KERAS_CASES = [json.loads(line) for line in _f if line.strip()]


def keras_arguments(case):
    """The kind and arguments of a KerasHub fixture line: a decoder without an encoder sequence
    is an encoder block (no cross-attention), with a causal mask that changes no count."""
    a, shapes = case["args"], case["input"]
    sequence = shapes.get("inputs") or shapes["decoder_sequence"]
    values = dict(n_features=sequence[1], num_heads=a["num_heads"], dim_feedforward=a["intermediate_dim"],
                  norm_first=a["normalize_first"], length=sequence[0])  # fmt: skip
    if "encoder_sequence" in shapes:
        return "transformer_decoder", {**values, "kv_length": shapes["encoder_sequence"][0]}
    return "transformer_encoder", values


def test_keras_fixture_covers_both_blocks_cross_attention_and_narrow_heads():
    assert {(c["class"], "encoder_sequence" in c["input"]) for c in KERAS_CASES} == {
        ("TransformerEncoder", False), ("TransformerDecoder", False), ("TransformerDecoder", True)}
    assert {c["args"]["normalize_first"] for c in KERAS_CASES} == {True, False}
    assert any(c["input"]["encoder_sequence"] != c["input"]["decoder_sequence"]
               for c in KERAS_CASES if "encoder_sequence" in c["input"])  # fmt: skip
    assert any(keras_arguments(c)[1]["n_features"] % c["args"]["num_heads"] for c in KERAS_CASES)


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_matches_kerashub(backend):
    """Parameters (all trainable) and the forward's multiply-accumulates as jax traces them."""
    wrong, checked = [], 0
    for case in KERAS_CASES:
        kind, values = keras_arguments(case)
        if values["n_features"] % values["num_heads"]:
            with pytest.raises(asw.InvalidArgumentError, match="num_heads"):
                asw.count(kind, convention="keras", backend=backend, **values)
            continue
        got = [asw.count(kind, quantity=q, convention="keras", backend=backend, **values)
               for q in ("params", "trainable", "flops")]  # fmt: skip
        checked += 1
        if got != [case["params"], case["trainable"], 2 * case["macs"]]:
            wrong.append((case, got))
    assert checked > 150 and not wrong, f"{len(wrong)} of {checked} differ, e.g. {wrong[:2]}"


def test_a_kerashub_encoder_in_a_model_and_a_space():
    cases = [c for c in KERAS_CASES if c["class"] == "TransformerEncoder"]
    case = next(c for c in cases if keras_arguments(c)[1]["n_features"] % c["args"]["num_heads"] == 0)
    a, shape = case["args"], tuple(case["input"]["inputs"])
    model = asw.Model(shape, [L.TransformerEncoder(a["intermediate_dim"], a["num_heads"], activation=a["activation"],
                                                   normalize_first=a["normalize_first"])])  # fmt: skip
    assert (model.count_params(), model.count_flops()) == (case["params"], 2 * case["macs"])
    assert model.summary()["name"].to_list() == ["transformer_encoder"]
    space = asw.Model((16, 64), [L.TransformerEncoder(asw.choice(64, 128, 256), asw.choice(2, 4)),
                                 asw.repeat(L.TransformerEncoder(128, 4), 0, 2)])  # fmt: skip
    found = asw.search_models(space, 100_000)
    for row in found.iter_rows(named=True):
        layers = [L.TransformerEncoder(row["0.intermediate_dim"], row["0.num_heads"]),
                  *[L.TransformerEncoder(128, 4)] * row["1.depth"]]  # fmt: skip
        assert asw.Model((16, 64), layers).count_params() == row["params"]
    assert 0 < found.height < space.size
