"""Round trips with the frameworks: Model.to_keras() / asw.from_keras() against real Keras 3 (in
the test extras, jax backend) on every valid model of the model and graph fixtures, and
Model.to_torch() / asw.from_torch() where PyTorch is installed (the fixture venv; skipped
otherwise). The framework's own counts are the reference: the fixtures' totals, and
count_params()/numel() of what was built."""

import json
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")
import archsweep as asw  # noqa: E402
from archsweep._spec import model_from_spec  # noqa: E402

DATA = Path(os.environ.get("ARCHSWEEP_FIXTURES", Path(__file__).parent / "data"))
L = asw.layers


def lines(name):
    with open(DATA / name) as f:
        return [json.loads(line) for line in f if line.strip()]


MODELS = [c for c in lines("keras_models.jsonl") if "error" not in c]
GRAPHS = [c for c in lines("keras_graphs.jsonl") if "error" not in c]


def sizes(weights):
    total = 0
    for w in weights:
        n = 1
        for d in w.shape:
            n *= d
        total += n
    return total




def counted(model):
    """A model's layers as (type, params), inputs left out."""
    return [(r["type"], r["params"]) for r in model.summary().iter_rows(named=True) if r["type"] != "InputLayer"]


def keras():
    return pytest.importorskip("keras")


@pytest.mark.parametrize("case", MODELS[::6], ids=lambda c: c["name"])
def test_sequential_fixture_models_go_to_keras_and_back(case):
    k = keras()
    k.backend.clear_session()
    model = model_from_spec({"input_shape": case["input_shape"], "layers": case["layers"]})
    built = model.to_keras()
    assert (built.count_params(), sizes(built.trainable_weights), sizes(built.non_trainable_weights)) == (
        case["total"], case["trainable"], case["non_trainable"])
    back = asw.from_keras(built)  # a Sequential, or (attention in the chain) the functional model it became
    assert counted(back) == counted(model) and back.output_shape == model.output_shape


@pytest.mark.parametrize("case", GRAPHS[::4], ids=lambda c: c["name"])
def test_functional_fixture_models_go_to_keras_and_back(case):
    from test_graph import build

    k = keras()
    k.backend.clear_session()
    model = build(case)
    built = model.to_keras()
    assert (built.count_params(), sizes(built.trainable_weights)) == (case["total"], case["trainable"])
    back = asw.from_keras(built)
    assert counted(back) == counted(model)


def test_a_sampled_architecture_is_built_in_keras_with_the_same_summary():
    keras()
    widths = asw.choice(16, 32, 64, 128, 256)
    space = asw.Model((64,), [L.Dense(widths) for _ in range(4)] + [L.Dense(10)])
    row = asw.sample_models(space, 50_000, 1, band=(40_000, 50_000), seed=0).row(0, named=True)
    model = space.select(row)
    built = model.to_keras()
    assert built.count_params() == row["params"] == model.count_params()
    assert [layer.count_params() for layer in built.layers] == model.summary()["params"].to_list()


def test_from_keras_refuses_what_it_cannot_count_by_name(monkeypatch):
    k = keras()
    lora = k.Sequential([k.Input((8,)), k.layers.Dense(4, lora_rank=2)])
    with pytest.raises(asw.InvalidArgumentError, match=r"Keras layer 'dense\w*' \(Dense\) has 60 parameters, "
                                                       "archsweep counts 36"):  # fmt: skip
        asw.from_keras(lora)
    x = k.Input((8,))
    shared = k.layers.Dense(8)
    with pytest.raises(asw.InvalidArgumentError, match="called 3 times: shared layers"):
        asw.from_keras(k.Model(x, k.layers.Add()([shared(x), shared(shared(x))])))
    with pytest.raises(asw.InvalidArgumentError, match=r"\(Lambda\) has no archsweep counterpart"):
        asw.from_keras(k.Sequential([k.Input((8,)), k.layers.Lambda(lambda t: t * 2)]))
    with pytest.raises(asw.InvalidArgumentError, match="channels_first"):
        asw.from_keras(k.Sequential([k.Input((3, 8, 8)), k.layers.Conv2D(4, 3, data_format="channels_first")]))
    with pytest.raises(asw.InvalidArgumentError, match="takes a keras.Model"):
        asw.from_keras(k.layers.Dense(3))
    with pytest.raises(asw.InvalidArgumentError, match="TransformerEncoderLayer is PyTorch's"):
        asw.Model((4, 8), [L.TransformerEncoderLayer(8, 2)], convention="torch").to_keras()
    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(ImportError, match=r"pip install 'archsweep\[keras\]'"):
        asw.Model((8,), [L.Dense(2)]).to_keras()


def test_kerashubs_encoder_goes_to_keras_and_back():
    """Where keras-hub is installed (the fixture venv)."""
    keras()
    pytest.importorskip("keras_hub")
    model = asw.Model((16, 32), [L.TransformerEncoder(64, 4, normalize_first=True), L.GlobalAveragePooling1D(),
                                 L.Dense(3)])  # fmt: skip
    built = model.to_keras()
    assert built.count_params() == model.count_params()
    assert asw.from_keras(built).summary()["params"].to_list() == model.summary()["params"].to_list()


def test_replace_sweeps_around_a_model_read_from_keras():
    k = keras()
    built = k.Sequential([k.Input((32,)), k.layers.Dense(64), k.layers.Dense(64), k.layers.Dense(10)])
    model = asw.from_keras(built)
    space = model.replace(1, units=asw.choice(32, 64, 128, 256))
    found = asw.search_models(space, built.count_params())
    assert found["1.units"].to_list() == [64, 32]
    assert found["params"].to_list()[0] == built.count_params()
    with pytest.raises(asw.InvalidArgumentError, match="Dense has no argument 'filters'"):
        model.replace(1, filters=3)
    with pytest.raises(asw.InvalidArgumentError, match="index must be a layer's position, 0 to 2"):
        model.replace(3, units=2)


# -- PyTorch (where installed) ---------------------------------------------------------------------------------------

TORCH_MODELS = [
    ((28, 28, 1), [L.Conv2D(16, 3, padding="same"), L.BatchNormalization(), L.ReLU(), L.MaxPool2D(2),
                   L.DepthwiseConv2D(3), L.Conv2D(8, 3, groups=4), L.GlobalAveragePooling2D(), L.Dense(10)]),
    ((20, 6), [L.LSTM(8, return_sequences=True), L.Bidirectional(L.GRU(5, return_sequences=True)),
               L.LayerNormalization(), L.Conv1D(4, 3), L.Flatten(), L.Dense(3)]),
    ((12,), [L.Embedding(50, 16), L.MultiHeadAttention(4, 4), L.RMSNormalization(),
             L.TransformerEncoderLayer(16, 4, 32), L.GlobalMaxPooling1D(), L.Dense(2)]),
    ((8, 8, 3), [L.Conv2DTranspose(4, 2, strides=2), L.GroupNormalization(2), L.AvgPool2D(2), L.Flatten(),
                 L.Dropout(0.1), L.Dense(5)]),
]  # fmt: skip


@pytest.mark.parametrize("shape, layers", TORCH_MODELS)
def test_to_torch_counts_and_runs_as_archsweep_says(shape, layers):
    torch = pytest.importorskip("torch")
    model = asw.Model(shape, layers, convention="torch")
    with torch.device("meta"):
        module = model.to_torch()
        x = torch.zeros((2, *shape), dtype=torch.long if isinstance(layers[0], L.Embedding) else torch.float32)
        out = module.eval()(x)
    assert sum(p.numel() for p in module.parameters()) == model.count_params()
    assert tuple(out.shape) == (2, *model.output_shape[1:])


def test_to_torch_runs_a_graph_with_merges():
    torch = pytest.importorskip("torch")
    x = asw.Input((16, 16, 8))
    y = L.Conv2D(8, 3, padding="same")(x)
    z = L.Concatenate()([L.Add()([x, y]), L.Multiply()([x, y]), L.Maximum()([x, y]), L.Average()([x, y]),
                         L.Subtract()([x, y])])  # fmt: skip
    model = asw.Model(x, L.Dense(3)(L.Flatten()(z)), convention="torch")
    module = model.to_torch()
    out = module(torch.ones((2, 16, 16, 8)))
    assert sum(p.numel() for p in module.parameters()) == model.count_params()
    assert tuple(out.shape) == (2, 3)
    block = L.Residual([L.Dense(8), L.Dense(8)])
    assert asw.Model((8,), [block, L.Dense(2)], convention="torch").to_torch()(torch.ones((3, 8))).shape == (3, 2)


def test_from_torch_reads_a_sequential_and_refuses_other_modules():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    module = nn.Sequential(nn.Conv2d(3, 16, 3, padding="same"), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                           nn.Sequential(nn.Conv2d(16, 32, 3), nn.ReLU()), nn.Flatten(), nn.Linear(32 * 14 * 14, 10))
    model = asw.from_torch(module, (3, 32, 32))
    assert model.input_shape == (32, 32, 3)
    assert model.count_params() == sum(p.numel() for p in module.parameters())
    assert model.buffers == sum(b.numel() for b in module.buffers())

    class Custom(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(asw.InvalidArgumentError, match=r"module 1 \(Custom\) is not one from_torch reads"):
        asw.from_torch(nn.Sequential(nn.Linear(4, 4), Custom()), (4,))
    with pytest.raises(asw.InvalidArgumentError, match="explicit padding"):
        asw.from_torch(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1)), (3, 8, 8))
    for layer, why in ((L.Conv2D(4, 3, strides=2, padding="same"), "or 'same' at stride 1"),
                       (L.Conv1D(4, 3, padding="causal"), "padding='causal'"),
                       (L.GRU(4, reset_after=False), "reset_after=True"),
                       (L.Bidirectional(L.LSTM(4), merge="sum"), "merge='concat'")):  # fmt: skip
        shape = (8, 8, 3) if isinstance(layer, L.Conv2D) else (8, 3)
        with pytest.raises(asw.InvalidArgumentError, match=why):
            asw.Model(shape, [layer]).to_torch()


def test_the_keras_tuner_example_never_builds_over_budget():
    """examples/keras_tuner_budget.py, where Keras Tuner is installed (the fixture venv)."""
    pytest.importorskip("keras_tuner")
    sys.path.insert(0, str(Path(__file__).parent.parent / "examples"))
    try:
        import keras_tuner_budget as example
    finally:
        sys.path.pop(0)
    sampled, checked = example.main(trials=4)
    assert len(sampled) >= 4 and all(p <= example.BUDGET for p in sampled + checked)
    fitting = set(asw.search_models(example.SPACE, example.BUDGET)["params"].to_list())
    assert set(sampled) <= fitting
