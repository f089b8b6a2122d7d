"""Budgets on several quantities at once (params and FLOPs): the kernel's
filter, count_fitting and search against the unfiltered table filtered by
polars, on both cores."""

import polars as pl
import pytest

import archsweep as asw

GRIDS = [
    ("lstm", dict(n_features=range(1, 40), n_units=range(1, 300), length=[1, 7, 100], convention=["keras", "torch"]),
     {"params": 60_000, "flops": 4_000_000}),
    ("conv2d", dict(n_features=[3, 8, 12], n_units=range(1, 200), kernel=3, groups=[1, 4], positions=[1, 49, 3136]),
     {"flops": 10_000_000, "params": 20_000}),
    ("mha", dict(n_features=[8, 16, 64], num_heads=[1, 4], key_dim=range(1, 100), length=[4, 64]),
     {"training_flops": 20_000_000, "params": 60_000, "flops": 10_000_000}),
]


@pytest.mark.parametrize("backend", ["rust", "python"])
@pytest.mark.parametrize("layer, grid, budget", GRIDS, ids=[g[0] for g in GRIDS])
def test_two_budgets_keep_exactly_the_rows_within_both(backend, layer, grid, budget):
    full = asw.sweep(layer, quantity=list(budget), backend="rust", **grid)
    within = full.filter(pl.all_horizontal([pl.col(q) <= limit for q, limit in budget.items()]))
    assert 0 < within.height < full.height
    assert asw.sweep(layer, budget=budget, backend=backend, **grid).equals(within)
    assert asw.count_fitting(layer, budget=budget, backend=backend, **grid) == within.height
    # Each budget alone keeps more: the filter really is on every one.
    for q, limit in budget.items():
        assert asw.count_fitting(layer, quantity=list(budget), budget={q: limit}, **grid) > within.height


def test_search_under_two_budgets_is_the_largest_within_both():
    budget = {"params": 2_000_000, "flops": 30_000_000}
    found = asw.search("lstm", [16, 128], range(1, 10**9), length=[10, 100], convention="torch", budget=budget)
    table = asw.sweep("lstm", [16, 128], range(1, 3000), length=[10, 100], convention="torch", budget=budget)
    best = table.group_by("n_features", "length", maintain_order=True).agg(pl.col("n_units").max())
    assert found.select("n_features", "length", "n_units").equals(best)
    assert found.columns[-2:] == ["slack_params", "slack_flops"]
    assert (found["slack_params"] >= 0).all() and (found["slack_flops"] >= 0).all()
    # At the answer one budget binds: one more unit breaks it.
    for row in found.iter_rows(named=True):
        more = asw.count("lstm", row["n_features"], row["n_units"] + 1, length=row["length"], convention="torch",
                         quantity="flops")
        params = asw.count("lstm", row["n_features"], row["n_units"] + 1, convention="torch")
        assert more > budget["flops"] or params > budget["params"]


def test_a_budget_must_be_on_what_the_call_computes():
    with pytest.raises(asw.InvalidArgumentError, match="budget on flops, which the call does not compute"):
        asw.sweep("lstm", 8, 8, length=5, quantity="params", budget={"flops": 1000})
    with pytest.raises(asw.InvalidArgumentError, match="Did you mean 'flops'"):
        asw.sweep("lstm", 8, 8, length=5, budget={"flop": 1000})
    with pytest.raises(asw.InvalidArgumentError, match=r"names weight_bytes\[fp32\] twice"):
        asw.sweep("dense", 8, 8, budget={"weight_bytes": 100, "weight_bytes[fp32]": 200})
    with pytest.raises(asw.InvalidArgumentError, match="empty mapping"):
        asw.count_fitting("lstm", 8, 8, budget={})
    with pytest.raises(asw.InvalidArgumentError, match=r"budget\['flops'\]"):
        asw.sweep("lstm", 8, 8, length=5, budget={"flops": -1})
    with pytest.raises(asw.InvalidArgumentError, match="flops of lstm needs length"):
        asw.sweep("lstm", 8, 8, budget={"flops": 1000})
    # Without quantity, a mapping's quantities are computed, in its order.
    assert asw.sweep("lstm", 8, 8, length=5, budget={"flops": 10**6, "params": 10**6}).columns[-2:] == ["flops",
                                                                                                     "params"]


def test_sweep_to_file_takes_the_same_budgets(tmp_path):
    out = tmp_path / "t.parquet"
    grid = dict(n_features=range(1, 40), n_units=range(1, 300), length=[7, 100])
    budget = {"params": 60_000, "flops": 4_000_000}
    rows = asw.sweep_to_file(out, "lstm", budget=budget, **grid)
    assert pl.read_parquet(out).equals(asw.sweep("lstm", budget=budget, **grid)) and rows > 0
