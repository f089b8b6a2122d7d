"""Functional models: layers called on tensors, merge layers, and what a graph counts; checked against
real Keras functional models (tests/data/keras_graphs.jsonl, by tools/make_graph_fixture.py)."""

import itertools
import json
import os
from pathlib import Path

import pytest

import archsweep as asw
from archsweep._spec import _layer

L = asw.layers
DATA = Path(os.environ.get("ARCHSWEEP_FIXTURES", Path(__file__).parent / "data"))
with open(DATA / "keras_graphs.jsonl") as _f:
    GRAPHS = [json.loads(line) for line in _f if line.strip()]


def build(case):
    """The archsweep Model of a fixture line, written as its Keras model was: inputs, then each node
    called on its inbound tensors in the order written."""
    tensors = {i["name"]: asw.Input(tuple(i["shape"])) for i in case["inputs"]}
    for node in case["nodes"]:
        layer = _layer(node["layer"], node["name"])
        inbound = [tensors[n] for n in node["inbound"]]
        if node["layer"]["type"] == "MultiHeadAttention":
            tensors[node["name"]] = layer(*inbound)
        elif isinstance(layer, L._Merge):
            tensors[node["name"]] = layer(inbound)
        else:
            (one,) = inbound
            tensors[node["name"]] = layer(one)
    outputs = [tensors[n] for n in case["outputs"]]
    inputs = [tensors[i["name"]] for i in case["inputs"]]
    return asw.Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0])


def test_fixture_covers_the_graphs_people_write():
    names = " ".join(c["name"] for c in GRAPHS)
    for what in ("resnet", "bottleneck", "unet", "dense", "transformer", "concat", "two_inputs", "random"):
        assert what in names, what
    assert sum("error" in c for c in GRAPHS) >= 5 and len(GRAPHS) >= 50


@pytest.mark.parametrize("case", [c for c in GRAPHS if "error" not in c], ids=lambda c: c["name"])
def test_matches_keras_functional_models(case):
    model = build(case)
    table = model.summary()
    got = [(r["name"], r["type"], r["output_shape"], r["params"], r["trainable"], r["non_trainable"], r["connected_to"])
           for r in table.iter_rows(named=True)]  # fmt: skip
    expected = [(r["name"], r["class"], str(tuple(r["output_shape"])), r["params"], r["trainable"], r["non_trainable"],
                 r["inbound"]) for r in case["summary"]]  # fmt: skip
    assert got == expected
    assert (model.count_params(), model.trainable_params, model.non_trainable_params) == (
        case["total"], case["trainable"], case["non_trainable"])


@pytest.mark.parametrize("case", [c for c in GRAPHS if "error" in c], ids=lambda c: c["name"])
def test_what_keras_refuses_is_refused(case):
    with pytest.raises((asw.ArchsweepError, TypeError)):
        build(case)


def residual_block(x, filters, strides=1):
    y = L.Conv2D(filters, 3, strides=strides, padding="same")(x)
    y = L.BatchNormalization()(y)
    y = L.ReLU()(y)
    y = L.Conv2D(filters, 3, padding="same")(y)
    y = L.BatchNormalization()(y)
    shortcut = x if strides == 1 else L.BatchNormalization()(L.Conv2D(filters, 1, strides=strides)(x))
    return L.ReLU()(L.Add()([shortcut, y]))


def test_a_chain_written_functionally_is_the_sequential_model():
    layers = [L.Conv2D(8, 3), L.BatchNormalization(), L.MaxPooling2D(), L.Flatten(), L.Dense(10)]
    x = asw.Input((12, 12, 3))
    y = x
    for layer in layers:
        y = layer(y)
    for convention in ("keras", "torch"):
        graph, chain = asw.Model(x, y, convention=convention), asw.Model((12, 12, 3), layers, convention=convention)
        assert graph.count_params() == chain.count_params()
        assert (graph.trainable_params, graph.non_trainable_params) == (chain.trainable_params,
                                                                       chain.non_trainable_params)  # fmt: skip
        assert graph.output_shape == chain.output_shape
        for training in (False, True):
            assert graph.count_flops(training=training) == chain.count_flops(training=training)
        assert graph.summary()["name"].to_list()[1:] == chain.summary()["name"].to_list()
    assert asw.memory(graph, optimizer="adam") == asw.memory(chain, optimizer="adam")


def test_a_residual_network_counts_each_layer_once_and_the_shortcut_takes_no_input_gradient():
    x = asw.Input((16, 16, 8))
    y = residual_block(residual_block(x, 8), 16, strides=2)
    model = asw.Model(x, L.Dense(10)(L.GlobalAveragePooling2D()(y)), convention="torch")
    table = model.summary()
    row = {r["name"]: r for r in table.iter_rows(named=True)}
    assert model.count_params() == table["params"].sum() and model.count_flops() == table["flops"].sum()
    # Creation order, Keras' names: block 2's projection is the fifth Conv2D, added to the main branch.
    assert row["conv2d_4"]["params"] == asw.count_params("conv2d", 8, 16, kernel=1, convention="torch")
    assert row["conv2d_4"]["output_shape"] == "(None, 8, 8, 16)"
    assert row["add"]["connected_to"] == ["input_layer", "batch_normalization_1"]
    assert row["add_1"]["connected_to"] == ["batch_normalization_4", "batch_normalization_3"]
    # In training every layer's input has a gradient but the first conv's: it alone reads the model's input
    # (block 1's shortcut is the input itself, and no layer on it has weights).
    every = sum(2 * (q.macs + q.grad_macs + q.input_grad_macs) for _, _, q in model._trace)
    first = asw.count("conv2d", 8, 8, kernel=3, positions=256, convention="torch", quantity="training_flops")
    first_alone = asw.Model((16, 16, 8), [L.Conv2D(8, 3, padding="same")], convention="torch")
    assert model.count_flops(training=True) == every - (first - first_alone.count_flops(training=True))


def test_merge_layers_check_their_branches():
    a, b = asw.Input((4, 6)), asw.Input((4, 5))
    with pytest.raises(asw.InvalidArgumentError, match=r"Add needs inputs of one shape \(or broadcastable\): input_layer "
                       r"gives \(None, 4, 6\), input_layer_1 gives \(None, 4, 5\)"):  # fmt: skip
        asw.Model([a, b], L.Add()([a, b]))
    joined = asw.Model([a, b], L.Concatenate()([a, b]))
    assert joined.output_shape == (None, 4, 11) and joined.count_params() == 0
    assert asw.Model([a, a], L.Concatenate(axis=1)([a, a])).output_shape == (None, 8, 6)
    with pytest.raises(asw.InvalidArgumentError, match="equal but on that axis"):
        asw.Model([a, b], L.Concatenate(axis=1)([a, b]))
    for merge in (L.Subtract(), L.Multiply(), L.Average(), L.Maximum()):
        assert asw.Model(a, merge([a, L.Dense(6)(a)])).output_shape == (None, 4, 6)
    with pytest.raises(asw.InvalidArgumentError, match="Subtract takes exactly 2 inputs"):
        asw.Model(a, L.Subtract()([a, a, a]))
    with pytest.raises(asw.InvalidArgumentError, match="merges branches"):
        asw.Model((4, 6), [L.Add()])
    with pytest.raises(asw.ArgumentTypeError, match="takes a list of tensors"):
        L.Add()(a)
    with pytest.raises(asw.ArgumentTypeError, match="takes one tensor"):
        L.Dense(3)([a, b])


def test_what_a_graph_does_not_count_yet_is_refused():
    x = asw.Input((8,))
    shared = L.Dense(8)
    with pytest.raises(asw.InvalidArgumentError, match="called twice: shared layers"):
        asw.Model(x, L.Add()([shared(x), shared(x)]))
    other = asw.Input((8,))
    with pytest.raises(asw.InvalidArgumentError, match="not among the model's inputs"):
        asw.Model(x, L.Add()([x, other]))
    with pytest.raises(asw.ArgumentTypeError, match="archsweep tensors"):
        L.Dense(3)((8,))
    seq = asw.Input((None, 8))
    model = asw.Model(seq, L.LSTM(4)(seq))
    with pytest.raises(asw.InvalidArgumentError, match="inputs give their lengths"):
        model.count_flops(length=10)
    assert model.count_params() == asw.count_params("lstm", 8, 4)
    q, v = asw.Input((4, 8)), asw.Input((6, 5))
    cross = asw.Model([q, v], L.MultiHeadAttention(2, 4)(q, v))  # Keras' kdim and vdim: the value's width
    assert cross.count_params() == asw.count_params("mha", 8, num_heads=2, key_dim=4, kdim=5, vdim=5)
    assert cross.count_flops() == asw.count_flops("mha", 8, num_heads=2, key_dim=4, kdim=5, vdim=5, length=4,
                                                  kv_length=6)  # fmt: skip
    with pytest.raises(asw.InvalidArgumentError, match="under convention 'torch'.*self-attention"):
        asw.Model([q, v], L.MultiHeadAttention(2, 4)(q, v), convention="torch")
    with pytest.raises(asw.ArgumentTypeError, match=r"called as layer\(query, value\)"):
        L.MultiHeadAttention(2, 4)(q)


def unet(widths, kernel, up, proj, x_shape=(16, 16, 3)):
    """A small U-Net: two encoder convs (the first's output skips to the decoder), a pooling, a
    transposed conv back up, and a concatenation; ``widths`` and ``up`` may be choices."""
    x = asw.Input(x_shape)
    e1 = L.Conv2D(widths[0], kernel, padding="same")(x)
    e2 = L.Conv2D(widths[1], 3, padding="same")(L.MaxPooling2D()(e1))
    u = L.Conv2DTranspose(up, 2, strides=2)(e2)
    skip = L.Add()([e1, L.Conv2D(proj, 1)(u)])  # widths that cannot add are not in the space
    joined = L.Concatenate()([skip, u, x])
    return asw.Model(x, L.Dense(2)(L.GlobalAveragePooling2D()(joined)))


def test_a_functional_space_is_every_architecture_built_on_its_own():
    c = asw.choice
    space = unet((c(4, 8, name="w0"), c(8, 16, name="w1")), c(1, 3, name="k"), c(4, 6, 8, name="up"), c(4, 8, name="p"))
    assert space.choices == ["w0", "k", "w1", "up", "p"]  # in the order the layers were made
    found = []
    for w0, w1, k, up, p in itertools.product((4, 8), (8, 16), (1, 3), (4, 6, 8), (4, 8)):
        if p != w0:
            continue  # the Add refuses it
        model = unet((w0, w1), k, up, p)
        found.append(({"w0": w0, "w1": w1, "k": k, "up": up, "p": p}, model.count_params(), model.count_flops()))
    assert space.size == len(found) == 24
    for budget in (1_500, 3_000, {"params": 3_000, "flops": 600_000}, {"flops": 10**9}):
        limits = budget if isinstance(budget, dict) else {"params": budget}
        fits = [r for r in found if r[1] <= limits.get("params", r[1]) and r[2] <= limits.get("flops", r[2])]
        got = asw.search_models(space, budget)
        assert got.height == asw.count_models(space, budget) == len(fits) > 0
        first = list(limits)[0]
        assert got[first].to_list() == sorted((r[1] if first == "params" else r[2] for r in fits), reverse=True)
        rows = sorted(zip(*(got[q] for q in limits), (repr(sorted(d.items())) for d in got.select(space.choices).to_dicts())))
        assert rows == sorted(tuple(r[1] if q == "params" else r[2] for q in limits) + (repr(sorted(r[0].items())),)
                              for r in fits)
    with pytest.raises(asw.InvalidArgumentError, match="single model"):
        space.count_params()


def test_a_functional_space_drops_the_branches_that_cannot_merge():
    x = asw.Input((8,))
    y = L.Add()([L.Dense(asw.choice(4, 8, name="a"))(x), L.Dense(asw.choice(8, 16, name="b"))(x)])
    space = asw.Model(x, y)
    assert space.size == 1
    assert asw.search_models(space, 1000).to_dicts() == [{"a": 8, "b": 8, "params": 144}]
    with pytest.raises(asw.InvalidArgumentError, match=r"no architecture of this space gets through: layer add "
                                                       r"\(Add\): Add needs .*dense gives \(None, 4\), dense_1 "
                                                       r"gives \(None, 8\)"):  # fmt: skip
        asw.Model(x, L.Add()([L.Dense(asw.choice(4, 2))(x), L.Dense(8)(x)]))
