"""asw.layers.Residual: the short form of a residual (or DenseNet) block. A concrete model is the
functional model it stands for (whose counts are checked against Keras in test_graph.py); in a space
it is one position, and search and count agree with every architecture built on its own."""

import itertools

import pytest

import archsweep as asw

L = asw.layers


def block(filters, kernel, width):
    return [L.Conv2D(filters, kernel, padding="same"), L.BatchNormalization(), L.ReLU(),
            L.Conv2D(width, 3, padding="same")]  # fmt: skip


def test_a_residual_model_is_the_functional_model_it_stands_for():
    layers = [L.Conv2D(16, 3, padding="same"), L.Residual(block(16, 3, 32), projection=L.Conv2D(32, 1)),
              L.Residual(block(8, 5, 32)), L.Residual([L.Conv2D(8, 1)], merge="concatenate"),
              L.GlobalAveragePooling2D(), L.Dense(10)]  # fmt: skip
    short = asw.Model((12, 12, 3), layers)
    x = asw.Input((12, 12, 3))
    y = L.Conv2D(16, 3, padding="same")(x)
    z = y
    for layer in block(16, 3, 32):
        z = layer(z)
    y = L.Add()([L.Conv2D(32, 1)(y), z])
    z = y
    for layer in block(8, 5, 32):
        z = layer(z)
    y = L.Add()([y, z])
    y = L.Concatenate()([y, L.Conv2D(8, 1)(y)])
    y = L.Dense(10)(L.GlobalAveragePooling2D()(y))
    written = asw.Model(x, y)
    assert short.summary().to_dicts() == written.summary().to_dicts()
    assert short.summary()["output_shape"][-3] == "(None, 12, 12, 40)"
    for what in ("count_params", "count_flops"):
        assert getattr(short, what)() == getattr(written, what)()
    assert short.count_flops(training=True) == written.count_flops(training=True)
    assert short.count_flops(elementwise=True) == written.count_flops(elementwise=True)
    assert (short.trainable_params, short.non_trainable_params) == (written.trainable_params,
                                                                    written.non_trainable_params)  # fmt: skip
    assert asw.memory(short, optimizer="adam") == asw.memory(written, optimizer="adam")
    assert short.layers == layers


def test_an_unknown_length_is_given_at_count_time():
    model = asw.Model((None, 8), [L.Residual([L.LSTM(8, return_sequences=True)]), L.LSTM(4)])
    fixed = asw.Model((10, 8), [L.Residual([L.LSTM(8, return_sequences=True)]), L.LSTM(4)])
    assert model.count_flops(length=10) == fixed.count_flops() > 0
    assert model.count_params() == 2 * asw.count_params("lstm", 8, 8) - asw.count_params("lstm", 8, 8) + \
        asw.count_params("lstm", 8, 4)


def test_shapes_that_do_not_add_up_are_refused_naming_both_sides():
    with pytest.raises(asw.InvalidArgumentError, match=r"add \(Add\): Add needs inputs of one shape.*input_layer "
                                                       r"gives \(None, 8\), dense gives \(None, 4\)"):  # fmt: skip
        asw.Model((8,), [L.Residual([L.Dense(4)])])
    with pytest.raises(asw.InvalidArgumentError, match=r"no architecture of this space gets through: layer 0 "
                                                       r"\(Residual\): Add needs .*the shortcut gives \(None, 8\), "
                                                       r"block\[0\] \(Dense\) gives \(None, 4\)"):  # fmt: skip
        asw.Model((8,), [L.Residual([L.Dense(asw.choice(4, 2))])])
    with pytest.raises(asw.ArgumentTypeError, match=r"block\[1\] must be a layer of one input"):
        asw.Model((8,), [L.Residual([L.Dense(8), L.Add()])])
    with pytest.raises(asw.ArgumentTypeError, match="projection must be a layer"):
        asw.Model((8,), [L.Residual([L.Dense(8)], projection=3)])
    with pytest.raises(asw.InvalidArgumentError, match="merge must be one of"):
        asw.Model((8,), [L.Residual([L.Dense(8)], merge="sum")])
    with pytest.raises(asw.InvalidArgumentError, match=r"repeat\(\) may only stand directly"):
        asw.Model((8,), [L.Residual([asw.repeat(L.Dense(8), 1, 2)])])


def resnet_space():
    """A stage of residual blocks, 1 to 3 of them, each with its width, kernel and an optional
    projection chosen; the widths the Add cannot take are not in the space."""
    residual = L.Residual(block(asw.choice(8, 16, name="f"), asw.choice(1, 3, name="k"), asw.choice(16, 24, name="w")),
                          projection=asw.choice(None, L.Conv2D(24, 1), name="p"))  # fmt: skip
    return [L.Conv2D(16, 3), asw.repeat(residual, 1, 3), L.GlobalAveragePooling2D(), L.Dense(5)]


def concrete(depth, picks):
    layers = [L.Conv2D(16, 3)]
    for f, k, w, p in picks[:depth]:
        layers.append(L.Residual(block(f, k, w), projection=None if p is None else L.Conv2D(24, 1)))
    return layers + [L.GlobalAveragePooling2D(), L.Dense(5)]


def test_a_space_of_residual_blocks_is_every_architecture_built_on_its_own():
    space = asw.Model((10, 10, 3), resnet_space())
    found = []
    options = list(itertools.product((8, 16), (1, 3), (16, 24), (None, "Conv2D")))
    for depth in (1, 2, 3):
        for picks in itertools.product(options, repeat=depth):
            try:
                model = asw.Model((10, 10, 3), concrete(depth, list(picks)))
            except asw.InvalidArgumentError:
                continue
            row = {"1.depth": depth}
            for r in range(3):
                for name, value in zip("fkwp", picks[r] if r < depth else (None,) * 4):
                    row[f"{name}.{r}"] = value
            found.append((row, model.count_params(), model.count_flops()))
    assert space.size == len(found) > 100
    for budget in (20_000, 40_000, {"params": 40_000, "flops": 3_000_000}):
        got = asw.search_models(space, budget)
        limits = budget if isinstance(budget, dict) else {"params": budget}
        fits = [(row, p, f) for row, p, f in found if p <= limits["params"] and f <= limits.get("flops", f)]
        fits.sort(key=lambda r: -r[1])
        assert got.height == asw.count_models(space, budget) == len(fits) > 0
        assert got["params"].to_list() == [p for _, p, _ in fits]
        costs = [q for q in ("params", "flops") if q in limits]  # ties are each in the space's own order
        listed = sorted(zip(*(got[q] for q in costs), map(repr, got.select(space.choices).to_dicts())))
        assert listed == sorted((p, f, repr(row))[: len(costs)] + (repr(row),) for row, p, f in fits)
