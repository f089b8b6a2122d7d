"""Bytes against real PyTorch and bitsandbytes: tests/data/torch_memory.jsonl is
written by tools/make_memory_fixture.py (weights at each dtype, gradients,
every optimizer's state after a step); running the tests needs neither."""

import json
import os
from pathlib import Path

import pytest

import archsweep as asw
from archsweep import _kinds, _memory

L = asw.layers
DATA = Path(os.environ.get("ARCHSWEEP_FIXTURES", Path(__file__).parent / "data"))
with open(DATA / "torch_memory.jsonl") as _f:
    CASES = {c["name"]: c for c in map(json.loads, _f)}

DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16", "float8_e4m3fn": "fp8", "float64": "fp64"}
OPTIMIZERS = {"SGD": "sgd", "SGD_momentum": "momentum", "Adam": "adam", "AdamW": "adamw", "Adam_amsgrad": "amsgrad"}


def layer_of(module):
    """archsweep's layer for a PyTorch module of the fixture (channels-last models, as Keras)."""
    kind, a = module["module"], module["args"]
    if kind == "Linear":
        return L.Dense(a["out_features"], bias=a.get("bias", True))
    if kind == "Conv2d":
        return L.Conv2D(a["out_channels"], a["kernel_size"], bias=a.get("bias", True))
    if kind == "BatchNorm2d":
        return L.BatchNormalization()
    if kind == "ReLU":
        return L.ReLU()
    if kind == "Embedding":
        return L.Embedding(a["num_embeddings"], a["embedding_dim"])
    if kind == "LayerNorm":
        return L.LayerNormalization()
    if kind == "MultiheadAttention":
        return L.MultiHeadAttention(a["num_heads"], a["embed_dim"] // a["num_heads"], bias=a.get("bias", True))
    raise KeyError(kind)


def model_of(case):
    shape = case["model"]["input"]["shape"][1:]
    if case["model"]["layers"][0]["module"] == "Conv2d":
        shape = [*shape[1:], shape[0]]  # channels last
    return asw.Model(shape, [layer_of(m) for m in case["model"]["layers"]], convention="torch")


MODELS = ["mlp_bias", "mlp_nobias", "conv_bn", "mha", "embedding_layernorm"]


@pytest.mark.parametrize("name", MODELS)
def test_a_model_takes_the_bytes_pytorch_measures(name):
    case = CASES[name]
    model = model_of(case)
    assert model.count_params() == case["params"] and model.buffers == case["buffers"]
    for torch_dtype, dtype in DTYPES.items():
        m = asw.memory(model, dtype=dtype)
        assert m.weights == case["weight_bytes"][torch_dtype], dtype
        assert m.buffers == case["buffer_bytes"][torch_dtype], dtype
        assert m.gradients == m.optimizer_state == m.master_weights == 0
    for torch_dtype in ("float32", "bfloat16"):
        dtype = DTYPES[torch_dtype]
        for name_, optimizer in OPTIMIZERS.items():
            m = asw.memory(model, dtype=dtype, optimizer=optimizer)
            assert m.gradients == case["grad_bytes"][torch_dtype]
            assert m.optimizer_state == case["optimizer_state"][torch_dtype][name_]["total_bytes"], (dtype, optimizer)
        for name_, optimizer in (("Adam8bit", "adam8bit"), ("AdamW8bit", "adamw8bit")):
            m = asw.memory(model, dtype=dtype, optimizer=optimizer)
            assert m.optimizer_state == case["bitsandbytes"][torch_dtype][name_]["total_unique_bytes"], dtype


@pytest.mark.parametrize("name", ["lstm_2layer_bidir_proj", "mha_bias_kv_nobias", *MODELS])
def test_each_kind_has_pytorch_tensors(name):
    """The registry's tensors are PyTorch's parameters, one by one (the order aside)."""
    case = CASES[name]
    numels = []
    for module in case["model"]["layers"]:
        kind, a = module["module"], module["args"]
        if kind == "LSTM":
            values = dict(n_features=a["input_size"], n_units=a["hidden_size"], num_layers=a["num_layers"],
                          bidirectional=a["bidirectional"], proj_size=a["proj_size"])
            q = _kinds.evaluate(_kinds.BY_NAME["lstm"], "torch", _kinds.validate(_kinds.BY_NAME["lstm"], "torch", values))
        elif kind == "MultiheadAttention":
            mha = _kinds.BY_NAME["mha"]
            values = dict(n_features=a["embed_dim"], num_heads=a["num_heads"], bias=a.get("bias", True),
                          add_bias_kv=a.get("add_bias_kv", False))
            q = _kinds.evaluate(mha, "torch", _kinds.validate(mha, "torch", values))
        else:
            continue
        numels += [n for n, copies in q.tensors.trainable for _ in range(copies)]
    if not numels:
        model = model_of(case)
        numels = [n for _, _, q in model._trace if q.tensors for n, c in q.tensors.trainable for _ in range(c)]
    assert sorted(numels) == sorted(case["param_numels"])


def test_mixed_precision_keeps_an_fp32_master_copy():
    model = model_of(CASES["mlp_bias"])
    p = model.count_params()
    m = asw.memory(model, dtype="bf16", optimizer="adamw", mixed_precision=True)
    assert (m.weights, m.gradients, m.master_weights) == (2 * p, 2 * p, 4 * p)
    assert m.optimizer_state == 8 * p + 4 * 6  # fp32 moments, a float32 step per tensor (6 tensors)
    assert m.total == sum(m[:5])
    int4 = asw.memory(model, dtype="int4")
    assert int4.weights == sum((n + 1) // 2 for n in CASES["mlp_bias"]["param_numels"])


def test_attention_caches_keys_and_values_per_token():
    m = asw.Model((10, 64), [L.MultiHeadAttention(4, 16), L.MultiHeadAttention(2, 8, value_dim=4)])
    assert asw.memory(m, dtype="bf16").kv_cache_per_token == 2 * (4 * (16 + 16) + 2 * (8 + 4))


def test_bad_memory_questions_are_refused_by_name():
    model = model_of(CASES["mlp_bias"])
    with pytest.raises(asw.InvalidArgumentError, match="Did you mean 'adamw'"):
        asw.memory(model, optimizer="adamww")
    with pytest.raises(asw.InvalidArgumentError, match="dtype 'fp33'"):
        asw.memory(model, dtype="fp33")
    with pytest.raises(asw.InvalidArgumentError, match="master copy of fp16 or bf16"):
        asw.memory(model, dtype="fp32", mixed_precision=True)
    with pytest.raises(asw.InvalidArgumentError, match="not trained"):
        asw.memory(model, dtype="int4", optimizer="adam")
    with pytest.raises(asw.InvalidArgumentError, match="space of 2"):
        asw.memory(asw.Model((4,), [L.Dense(asw.choice(1, 2))]))
    assert asw.memory(model, dtype="bfloat16") == asw.memory(model, dtype="bf16")


BYTE_QUANTITIES = ["weight_bytes[fp32]", "weight_bytes[int8]", "training_bytes[bf16,adamw]",
                   "training_bytes[fp16,momentum,mixed]", "training_bytes[fp32,amsgrad]", "training_bytes[bf16,sgd]"]


@pytest.mark.parametrize("backend", ["rust", "python"])
@pytest.mark.parametrize("quantity", BYTE_QUANTITIES)
def test_byte_quantities_of_every_kind_are_memory_tensor_by_tensor(backend, quantity):
    """A byte quantity over grids is memory()'s sum over the layer's tensors (checked against PyTorch
    above), for every kind and convention at random sizes."""
    import random

    _, dtype, optimizer, mixed = _memory.parse(quantity)
    rng = random.Random(quantity)
    for kind in _kinds.KINDS:
        for convention in kind.conventions:
            values = {}
            for arg in kind.args:
                if arg.applies(convention) and arg.type == _kinds.SIZE and not arg.nullable:
                    values[arg.name] = rng.choice([1, 2, 3, 8]) if arg.minimum else 0
                elif arg.applies(convention) and arg.type == _kinds.FLAG:
                    values[arg.name] = rng.random() < 0.5
                elif arg.type == _kinds.KERNEL:
                    values[arg.name] = tuple(rng.choice([1, 3]) for _ in range(kind.rank))
            for rule in kind.rules_under(convention):  # make the rules hold: divisors divide, proj_size < n_units
                if rule.test == "divides":
                    values[rule.large] = values[rule.small] * values[rule.large]
                else:
                    values[rule.small] = values[rule.large] - 1
            q = _kinds.evaluate(kind, convention, _kinds.validate(kind, convention, values))
            t = q.tensors
            want = _memory.of_tensors(t.trainable, t.non_trainable, t.buffers, t.counters, dtype=dtype,
                                      optimizer=optimizer, mixed_precision=mixed)  # fmt: skip
            got = asw.count(kind.name, quantity=quantity, convention=convention, backend=backend, **values)
            assert got == (want.weights + want.buffers if quantity.startswith("weight") else want.total), (kind.name, convention, values)


def test_a_budget_on_training_bytes_over_a_grid():
    q = "training_bytes[bf16,adamw,mixed]"
    found = asw.search("lstm", [64, 128], range(1, 10**9), convention="torch", budget={q: 24 * 2**30})
    for row in found.iter_rows(named=True):
        m = asw.Model((10, row["n_features"]), [L.LSTM(row["n_units"])], convention="torch")
        assert asw.memory(m, dtype="bf16", optimizer="adamw", mixed_precision=True).total == row[q] <= 24 * 2**30
        wider = asw.Model((10, row["n_features"]), [L.LSTM(row["n_units"] + 1)], convention="torch")
        assert asw.memory(wider, dtype="bf16", optimizer="adamw", mixed_precision=True).total > 24 * 2**30
    with pytest.raises(asw.InvalidArgumentError, match="needs an optimizer"):
        asw.count("dense", 3, 4, quantity="training_bytes")
    with pytest.raises(asw.InvalidArgumentError, match="tensor by tensor.*asw.memory"):
        asw.count("dense", 3, 4, quantity="training_bytes[bf16,adam8bit]")
    with pytest.raises(asw.InvalidArgumentError, match="Did you mean 'adamw'"):
        asw.count("dense", 3, 4, quantity="training_bytes[bf16,adamww]")
