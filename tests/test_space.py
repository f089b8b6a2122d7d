"""Model spaces: asw.choice / asw.repeat, search_models and count_models,
against brute force (every architecture built as its own asw.Model)."""

import itertools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import archsweep as asw

L = asw.layers
WIDTHS = (16, 32, 64, 128, 256, 384, 512, 1024, 2048, 4096)


@dataclass
class Pos:
    """One layer position of a test space: its choices (name, labels as the
    result shows them), the element for asw.Model, and the concrete layer
    (or None) for one label per choice."""

    columns: list[tuple[str, list[Any]]]
    element: Any
    make: Callable[..., Any]


def brute(input_shape, positions):
    """Every architecture, in enumeration order: ({column: label}, params),
    leaving out those asw.Model refuses as one model."""
    names = [name for p in positions for name, _ in p.columns]
    out = []
    for labels in itertools.product(*(values for p in positions for _, values in p.columns)):
        layers, at = [], 0
        for p in positions:
            layer = p.make(*labels[at : at + len(p.columns)])
            at += len(p.columns)
            if layer is not None:
                layers.append(layer)
        try:
            model = asw.Model(input_shape, layers)
        except asw.InvalidArgumentError:
            continue
        out.append((dict(zip(names, labels)), model.count_params()))
    return out


def expected_frame(found, budget, columns, limit=None):
    rows = [(labels, p) for labels, p in found if p <= budget]
    rows.sort(key=lambda r: -r[1])  # stable: ties stay in enumeration order
    rows = rows[:limit]
    data = {name: [labels[name] for labels, _ in rows] for name in columns}
    return pl.DataFrame({**data, "params": [p for _, p in rows]}, schema_overrides={"params": pl.Int64})


def check(input_shape, positions, budgets):
    space = asw.Model(input_shape, [p.element for p in positions])
    found = brute(input_shape, positions)
    assert space.size == len(found)
    for budget in budgets:
        expected = expected_frame(found, budget, space.choices)
        got = asw.search_models(space, budget)
        assert got.to_dicts() == expected.to_dicts(), budget
        assert asw.count_models(space, budget) == expected.height
        for k in (1, 2, 5):
            assert asw.search_models(space, budget, limit=k).to_dicts() == expected.head(k).to_dicts()


# -- random small spaces -------------------------------------------------------------------------------------------


def dense_pos(draw, i, last=False):
    widths = draw(st.lists(st.integers(1, 40), min_size=1, max_size=4, unique=True))
    if not last and draw(st.booleans()):
        w = widths[0]
        return Pos([(f"c{i}", ["Dense", None])], asw.choice(L.Dense(w), None, name=f"c{i}"),
                   lambda label: None if label is None else L.Dense(w))  # fmt: skip
    bias = draw(st.booleans())
    return Pos([(f"c{i}", widths)], L.Dense(asw.choice(*widths, name=f"c{i}"), bias=bias),
               lambda u: L.Dense(u, bias=bias))  # fmt: skip


def conv_pos(draw, i, rank):
    conv = {1: L.Conv1D, 2: L.Conv2D}[rank]
    filters = draw(st.lists(st.integers(1, 6), min_size=1, max_size=2, unique=True))
    kernels = draw(st.lists(st.integers(1, 7), min_size=1, max_size=3, unique=True))
    paddings = draw(st.lists(st.sampled_from(["valid", "same", "causal"][: 2 if rank > 1 else 3]),
                             min_size=1, max_size=2, unique=True))  # fmt: skip
    strides = draw(st.sampled_from([1, 2]))
    element = conv(asw.choice(*filters, name=f"c{i}f"), asw.choice(*kernels, name=f"c{i}k"), strides=strides,
                   padding=asw.choice(*paddings, name=f"c{i}p"))  # fmt: skip
    columns = [(f"c{i}f", filters), (f"c{i}k", kernels), (f"c{i}p", paddings)]
    return Pos(columns, element, lambda f, k, p: conv(f, k, strides=strides, padding=p))


def pool_pos(draw, i, rank):
    pool = {1: L.MaxPool1D, 2: L.AvgPool2D}[rank]
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=2, unique=True))
    return Pos([(f"c{i}", sizes)], pool(asw.choice(*sizes, name=f"c{i}")), lambda s: pool(s))


def rnn_pos(draw, i, last):
    units = draw(st.integers(1, 9))
    seq = not last
    kinds = draw(st.lists(st.sampled_from(["LSTM", "GRU", "SimpleRNN", "Bidirectional(LSTM)"]),
                          min_size=1, max_size=3, unique=True))  # fmt: skip

    def make(label):
        if label.startswith("Bidirectional"):
            return L.Bidirectional(L.LSTM(units, return_sequences=seq))
        return getattr(L, label)(units, return_sequences=seq)

    return Pos([(f"c{i}", kinds)], asw.choice(*(make(k) for k in kinds), name=f"c{i}"), make)


@st.composite
def small_spaces(draw):
    kind = draw(st.sampled_from(["vector", "sequence", "image"]))
    if kind == "vector":
        shape = (draw(st.integers(1, 30)),)
        positions = [dense_pos(draw, i) for i in range(draw(st.integers(1, 3)))] + [dense_pos(draw, 9, last=True)]
    elif kind == "sequence":
        shape = (draw(st.integers(2, 16)), draw(st.integers(1, 4)))
        positions = [conv_pos(draw, 0, 1)]
        if draw(st.booleans()):
            positions.append(pool_pos(draw, 1, 1))
        if draw(st.booleans()):
            positions += [rnn_pos(draw, 2, last=True)]
        else:
            positions += [Pos([], L.Flatten(), lambda: L.Flatten())]
        positions.append(dense_pos(draw, 9, last=True))
    else:
        shape = (draw(st.integers(3, 12)), draw(st.integers(3, 12)), draw(st.integers(1, 3)))
        positions = [conv_pos(draw, 0, 2)]
        if draw(st.booleans()):
            positions.append(pool_pos(draw, 1, 2))
        positions += [Pos([], L.Flatten(), lambda: L.Flatten()), dense_pos(draw, 9, last=True)]
    return shape, positions


@settings(max_examples=max(10, settings().max_examples * 2 // 5))  # 60 by default; each builds every model
@given(small_spaces(), st.data())
def test_search_and_count_agree_with_brute_force(space, data):
    shape, positions = space
    found = brute(shape, positions)
    params = sorted(p for _, p in found)
    budgets = [0, *(data.draw(st.sampled_from(params)) for _ in range(3) if params), 2**63 - 1]
    if not found:
        with pytest.raises(asw.InvalidArgumentError, match=r"layer \d+ \(\w+\): "):
            asw.Model(shape, [p.element for p in positions])
        return
    check(shape, positions, budgets)


# -- hand-picked spaces ---------------------------------------------------------------------------------------------


def test_issue_example():
    space = asw.Model(input_shape=(100, 32), layers=[
        L.LSTM(asw.choice(32, 64, 128, 256, 512), return_sequences=True),
        L.LSTM(asw.choice(32, 64, 128, 256, 512)), L.Dense(asw.choice(16, 64, 256)), L.Dense(10)])  # fmt: skip
    assert space.size == 75 and space.choices == ["0.units", "1.units", "2.units"]
    df = asw.search_models(space, budget=500_000)
    assert df.columns == ["0.units", "1.units", "2.units", "params"]
    expected = sorted(
        (asw.count_params("lstm", 32, a) + asw.count_params("lstm", a, b) + asw.count_params("dense", b, c)
         + asw.count_params("dense", c, 10), a, b, c)
        for a, b, c in itertools.product((32, 64, 128, 256, 512), (32, 64, 128, 256, 512), (16, 64, 256))
    )  # fmt: skip
    fitting = [e for e in expected if e[0] <= 500_000]
    assert sorted(df.select("params", "0.units", "1.units", "2.units").rows()) == fitting
    assert df["params"].is_sorted(descending=True)
    assert asw.count_models(space, budget=500_000) == len(fitting) == 42


def test_larger_kernel_can_make_a_smaller_model():
    """Kernel 7 costs more in its own layer but shrinks the Dense after Flatten:
    the bound must hold per shape state, not per option."""
    space = asw.Model((16, 16, 1), [L.Conv2D(8, asw.choice(3, 7)), L.Flatten(), L.Dense(10)])
    k3 = asw.Model((16, 16, 1), [L.Conv2D(8, 3), L.Flatten(), L.Dense(10)]).count_params()
    k7 = asw.Model((16, 16, 1), [L.Conv2D(8, 7), L.Flatten(), L.Dense(10)]).count_params()
    assert k7 < k3
    assert asw.search_models(space, k7).rows() == [(7, k7)]
    assert asw.search_models(space, k3).rows() == [(3, k3), (7, k7)]
    assert asw.count_models(space, k7 - 1) == 0 and asw.search_models(space, k7 - 1).height == 0


def test_kernels_too_large_for_the_input_are_not_in_the_space():
    space = asw.Model((6, 6, 1), [L.Conv2D(2, asw.choice(3, 5, 7, (1, 7))), L.Conv2D(2, asw.choice(1, 3)), L.Flatten()])
    # 7 and 1x7 never fit 6x6; 5 leaves 2x2, where a 3 no longer fits.
    assert space.size == 3
    df = asw.search_models(space, 10**9)
    assert sorted(df.select("0.kernel", "1.kernel").rows()) == [("3", 1), ("3", 3), ("5", 1)]
    assert df.schema["0.kernel"] == pl.String  # ints and a tuple: shown as text, 1x7 style


def test_repeat_depth_and_columns():
    space = asw.Model((4,), [asw.repeat(L.Dense(asw.choice(8, 16)), 1, 3), L.Dense(1)])
    assert space.size == 2 + 4 + 8
    assert space.choices == ["0.depth", "0.0.units", "0.1.units", "0.2.units"]
    df = asw.search_models(space, 10**9)
    assert df.height == 14 and df["params"].is_sorted(descending=True)
    for row in df.iter_rows(named=True):
        widths = [row[f"0.{r}.units"] for r in range(3)]
        assert widths[row["0.depth"] :] == [None] * (3 - row["0.depth"]) and None not in widths[: row["0.depth"]]
        model = asw.Model((4,), [L.Dense(w) for w in widths[: row["0.depth"]]] + [L.Dense(1)])
        assert model.count_params() == row["params"]
    assert len(set(df.drop("params").rows())) == 14


def test_repeat_of_a_block_with_a_named_choice():
    block = [L.Conv1D(asw.choice(4, 8, name="f"), 3, padding="same"), L.MaxPool1D(2)]
    space = asw.Model((16, 2), [asw.repeat(block, 0, 3), L.Flatten(), L.Dense(1)])
    assert space.choices == ["0.depth", "f.0", "f.1", "f.2"]
    assert space.size == 1 + 2 + 4 + 8
    df = asw.search_models(space, 10**9)
    for row in df.iter_rows(named=True):
        depth = row["0.depth"]
        layers = [x for r in range(depth) for x in (L.Conv1D(row[f"f.{r}"], 3, padding="same"), L.MaxPool1D(2))]
        assert asw.Model((16, 2), [*layers, L.Flatten(), L.Dense(1)]).count_params() == row["params"]


def test_layer_kind_direction_and_optional_layers():
    space = asw.Model((20, 8), [
        asw.choice(L.LSTM(asw.choice(4, 8), return_sequences=True), L.GRU(asw.choice(4, 8), return_sequences=True)),
        asw.choice(L.Bidirectional(L.LSTM(6)), L.LSTM(6), name="top"),
        asw.choice(L.Dense(32), None),
        L.Dense(1),
    ])  # fmt: skip
    assert space.choices == ["0", "0.units", "top", "2"]
    assert space.size == 4 * 2 * 2
    df = asw.search_models(space, 10**9)
    assert set(df["0"]) == {"LSTM", "GRU"} and set(df["top"]) == {"Bidirectional(LSTM)", "LSTM"}
    assert set(df["2"].to_list()) == {"Dense", None}
    best = df.row(0, named=True)
    assert best == {"0": "LSTM", "0.units": 8, "top": "Bidirectional(LSTM)", "2": "Dense", "params": best["params"]}
    model = asw.Model((20, 8), [L.LSTM(8, return_sequences=True), L.Bidirectional(L.LSTM(6)), L.Dense(32), L.Dense(1)])
    assert best["params"] == model.count_params()


def test_same_type_options_are_shown_in_full():
    space = asw.Model((3,), [asw.choice(L.Dense(4), L.Dense(4, bias=False)), L.Dense(1)])
    assert set(asw.search_models(space, 100)["0"]) == {"Dense(4)", "Dense(4, bias=False)"}


def test_ties_keep_the_order_of_the_options():
    space = asw.Model((3,), [L.Dense(2), asw.choice(L.Dropout(0.1), L.Dropout(0.5), None), L.Dense(asw.choice(1, 2))])
    df = asw.search_models(space, 100)
    assert df.columns == ["1", "2.units", "params"]
    assert df.select("1", "2.units").rows() == [
        ("Dropout(0.1)", 2), ("Dropout(0.5)", 2), (None, 2), ("Dropout(0.1)", 1), ("Dropout(0.5)", 1), (None, 1)
    ]
    for k in range(1, 7):
        assert asw.search_models(space, 100, limit=k).equals(df.head(k))


# -- the yardstick: 12 Dense layers of 10 widths on 784 inputs --------------------------------------------------------


def yardstick(n_layers):
    return asw.Model((784,), [L.Dense(asw.choice(*WIDTHS)) for _ in range(n_layers)] + [L.Dense(10)])


def test_yardstick_small_scale_against_numpy_brute_force():
    n = 4
    space = yardstick(n)
    assert space.size == 10**n
    grid = np.array(list(itertools.product(range(10), repeat=n)))
    widths = np.array(WIDTHS)[grid]
    ins = np.column_stack([np.full(len(grid), 784), widths])
    outs = np.column_stack([widths, np.full(len(grid), 10)])
    params = asw.count_params("dense", ins, outs).sum(axis=1)
    for budget in (30_000, 200_000, 2_000_000, 10**12):
        fit = params <= budget
        assert asw.count_models(space, budget) == fit.sum()
        df = asw.search_models(space, budget)
        order = np.argsort(-params[fit], kind="stable")
        assert df["params"].to_numpy().tolist() == params[fit][order].tolist()
        assert df.drop("params").to_numpy().tolist() == widths[fit][order].tolist()
        assert asw.search_models(space, budget, limit=10).equals(df.head(10))


def test_yardstick_full_scale_count_against_a_numpy_dp():
    """1e12 architectures: the exact number that fit 200k, checked against a
    dense DP over (width, count) written with numpy."""
    space, budget = yardstick(12), 200_000
    assert space.size == 10**12
    cost = lambda f, u: u * (f + 1)  # noqa: E731 - Dense, checked against the core below
    assert cost(784, 16) == asw.count_params("dense", 784, 16)
    ways = np.zeros((10, budget + 1), dtype=np.int64)  # models so far ending in width i with this count
    for i, w in enumerate(WIDTHS):
        if cost(784, w) <= budget:
            ways[i, cost(784, w)] += 1
    for _ in range(11):
        nxt = np.zeros_like(ways)
        for i, f in enumerate(WIDTHS):
            for j, u in enumerate(WIDTHS):
                c = cost(f, u)
                if c <= budget:
                    nxt[j, c:] += ways[i, : budget + 1 - c]
        ways = nxt
    total = sum(int(ways[i, : budget + 1 - cost(f, 10)].sum()) for i, f in enumerate(WIDTHS))
    assert asw.count_models(space, budget) == total > 10**8
    top = asw.search_models(space, budget, limit=10)["params"].to_list()
    final = np.zeros(budget + 1, dtype=np.int64)
    for i, f in enumerate(WIDTHS):
        final[cost(f, 10) :] += ways[i, : budget + 1 - cost(f, 10)]
    counts = np.flatnonzero(final)[::-1]  # the fitting counts, largest first, each final[c] times
    largest = np.repeat(counts[:10], final[counts[:10]])[:10].tolist()
    assert top == largest


# -- refusals --------------------------------------------------------------------------------------------------------


def test_bad_search_arguments():
    space = yardstick(2)
    with pytest.raises(asw.InvalidArgumentError, match="budget must be at least 0"):
        asw.search_models(space, -1)
    with pytest.raises(asw.ArgumentTypeError, match="budget"):
        asw.count_models(space, "5M")
    with pytest.raises(asw.InvalidArgumentError, match="limit must be at least 1"):
        asw.search_models(space, 10, limit=0)
    with pytest.raises(asw.ArgumentTypeError, match="space must be an asw.Model"):
        asw.search_models([L.Dense(3)], 10)
    with pytest.raises(asw.SweepTooLargeError, match="max_bytes=100"):
        asw.search_models(space, 10**9, max_bytes=100)
    with pytest.raises(asw.SweepTooLargeError, match="tables of completion costs"):
        asw.count_models(yardstick(8), 10**9, max_bytes=50_000)


def test_bad_spaces():
    with pytest.raises(asw.InvalidArgumentError, match="at least one option"):
        asw.choice()
    with pytest.raises(asw.InvalidArgumentError, match="given twice"):
        asw.choice(3, 3)
    with pytest.raises(asw.InvalidArgumentError, match="max must be at least min"):
        asw.repeat(L.Dense(3), 3, 2)
    with pytest.raises(asw.InvalidArgumentError, match="'w' is used at layers 0 and 1"):
        asw.Model((3,), [L.Dense(asw.choice(1, 2, name="w")), L.Dense(asw.choice(1, 2, name="w"))])
    with pytest.raises(asw.InvalidArgumentError, match="layer 0: two choices are named 'x'"):
        asw.Model((3,), [L.Conv1D(asw.choice(1, name="x"), asw.choice(1, name="x"))])
    with pytest.raises(asw.InvalidArgumentError, match="repeat"):
        asw.Model((3,), [asw.repeat(asw.repeat(L.Dense(1), 1, 2), 1, 2)])
    with pytest.raises(asw.InvalidArgumentError, match=r"no architecture of this space gets through: layer 1 \(Conv2"):
        asw.Model((8,), [L.Dense(asw.choice(1, 2)), L.Conv2D(2, 3)])
    with pytest.raises(asw.InvalidArgumentError, match=r"layer 0 \(Dense\): units must be at least 1, got 0"):
        asw.Model((8,), [L.Dense(asw.choice(4, 0))])


def test_a_listing_reports_its_progress_and_stops_on_request():
    """What the progress bar reads while the models are listed, and what Ctrl-C
    sets (the listing runs on a worker thread; see _worker.run_in_worker)."""
    from archsweep import _core
    from archsweep._model import _tables

    search = _core.SpaceSearch(*_tables(yardstick(4)), [30_000], 10**9)
    search.build()
    rows = search.rows(None)
    options, params = np.empty((rows, 5), dtype=np.uint32), np.empty((rows, 1), dtype=np.int64)
    search.fill(None, options, params)
    assert rows > 0 and search.written() == rows
    search.stop()
    with pytest.raises(_core.KernelError) as info:
        search.fill(None, options, params)
    assert info.value.args[0] == "stopped"


def test_ctrl_c_while_waiting_stops_the_worker_and_propagates():
    import threading

    from archsweep._worker import run_in_worker

    stopped = threading.Event()

    def ctrl_c() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_in_worker(lambda: stopped.wait(10), tick=ctrl_c, stop=stopped.set)
    assert stopped.is_set()
    with pytest.raises(ZeroDivisionError):  # the work's own error reaches the caller
        run_in_worker(lambda: 1 // 0)
    assert run_in_worker(lambda: 42) == 42


def test_a_space_searched_under_a_flops_budget_is_brute_force():
    """budget={"flops": F}: every architecture whose forward FLOPs fit, as each built alone counts them."""
    import itertools

    L = asw.layers
    space = asw.Model((12, 12, 3), [L.Conv2D(asw.choice(4, 8, 16), asw.choice(3, 5), padding="same"),
                                    asw.choice(L.BatchNormalization(), None), L.Conv2D(asw.choice(8, 16), 3,
                                    strides=asw.choice(1, 2)), L.Flatten(), L.Dense(asw.choice(10, 30))],
                      convention="torch")  # fmt: skip
    every = []
    for a, k, bn, b, s, u in itertools.product((4, 8, 16), (3, 5), (True, False), (8, 16), (1, 2), (10, 30)):
        layers = [L.Conv2D(a, k, padding="same"), *([L.BatchNormalization()] if bn else []), L.Conv2D(b, 3, strides=s),
                  L.Flatten(), L.Dense(u)]  # fmt: skip
        model = asw.Model((12, 12, 3), layers, convention="torch")
        every.append((model.count_flops(), model.count_params(), (a, k, bn, b, s, u)))
    for budget in (0, 500_000, 1_500_000, max(every)[0]):
        fits = sorted((f for f, _, _ in every if f <= budget), reverse=True)
        assert asw.count_models(space, {"flops": budget}) == len(fits)
        found = asw.search_models(space, {"flops": budget})
        assert found["flops"].to_list() == fits and found.columns[-1] == "flops"
    # Under both at once: the models within both, ranked by the first named, a column for each; the k largest.
    for flops, params in ((0, 10**6), (1_500_000, 20_000), (900_000, 7_000), (max(every)[0], 10**9)):
        for first, second in (("flops", "params"), ("params", "flops")):
            budget = {first: flops if first == "flops" else params, second: flops if second == "flops" else params}
            fits = sorted(((f, p) for f, p, _ in every if f <= flops and p <= params),
                          key=lambda fp: fp[first == "params"], reverse=True)  # fmt: skip
            assert asw.count_models(space, budget) == len(fits)
            found = asw.search_models(space, budget)
            assert found.columns[-2:] == [first, second] and len(found) == len(fits)
            assert sorted(zip(found["flops"], found["params"])) == sorted(fits)
            assert found[first].to_list() == [fp[first == "params"] for fp in fits]
            largest = asw.search_models(space, budget, limit=3)
            assert largest[first].to_list() == found[first].to_list()[:3]
            assert (largest["flops"] <= flops).all() and (largest["params"] <= params).all()
    with pytest.raises(asw.InvalidArgumentError, match="names flops twice"):
        asw.count_models(space, {"flops": 1, "FLOPS": 1})
    with pytest.raises(asw.InvalidArgumentError, match="empty mapping"):
        asw.count_models(space, {})
    with pytest.raises(asw.InvalidArgumentError, match="unknown length"):
        asw.count_models(asw.Model((None, 4), [L.LSTM(asw.choice(2, 3))]), {"flops": 100})
    with pytest.raises(asw.InvalidArgumentError, match="Did you mean 'flops'"):
        asw.count_models(space, {"flop": 100})
