"""sample_models: uniform draws from the architectures that fit, checked statistically against the
fitting set listed by search_models (itself checked against brute force in test_space.py), with a
chi-square test at a fixed seed that a deliberately biased sampler fails."""

import math
import random
import time
from collections import Counter

import polars as pl
import pytest

import archsweep as asw

L = asw.layers


def key(row):
    return tuple(v for k, v in row.items() if k != "bin")


def chi_square_critical(df, z=3.09):
    """The 0.999 quantile of chi-square with df degrees of freedom (Wilson-Hilferty)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def uniform_fit(counts: Counter, population: list) -> bool:
    """Whether counts over ``population`` pass a chi-square test of uniformity at p = 0.001."""
    n = sum(counts.values())
    assert set(counts) <= set(population)
    expected = n / len(population)
    statistic = sum((counts.get(x, 0) - expected) ** 2 / expected for x in population)
    return statistic < chi_square_critical(len(population) - 1)


def fitting(space, budget, band=None):
    rows = [key(r) for r in asw.search_models(space, budget).iter_rows(named=True)]
    return rows if band is None else [r for r in rows if band[0] <= r[-1 if isinstance(budget, int) else -2] <= band[1]]


def test_frequencies_are_uniform_over_the_fitting_models(conv_space):
    space, budget = conv_space, 3000
    population = fitting(space, budget)
    assert 40 < len(population) < space.size
    draws = asw.sample_models(space, budget, 60 * len(population), seed=20261202, replace=True)
    assert draws.columns == asw.search_models(space, budget).columns
    assert uniform_fit(Counter(key(r) for r in draws.iter_rows(named=True)), population)


def test_the_chi_square_test_rejects_a_sampler_biased_as_stepwise_samplers_are(conv_space):
    """Choosing each position's option uniformly among those that can still fit (what a tuner
    drawing choices one at a time does) favours the models in small branches: the test sees it."""
    space, budget = conv_space, 3000
    population = fitting(space, budget)
    rng, draws = random.Random(20261202), Counter()
    for _ in range(60 * len(population)):
        candidates = population
        for i in range(len(population[0]) - 1):
            option = rng.choice(sorted({m[i] for m in candidates}))
            candidates = [m for m in candidates if m[i] == option]
        draws[rng.choice(candidates)] += 1
    assert not uniform_fit(draws, population)


@pytest.mark.parametrize("budget", [{"params": 3000, "flops": 600_000}, {"flops": 600_000, "params": 3000}])
def test_two_budgets_and_a_band_on_the_first(conv_space, budget):
    space = conv_space
    listed = asw.search_models(space, budget)
    first = list(budget)[0]
    lo, hi = sorted(listed[first].to_list())[len(listed) // 4], sorted(listed[first].to_list())[3 * len(listed) // 4]
    population = [key(r) for r in listed.filter(pl.col(first).is_between(lo, hi)).iter_rows(named=True)]
    assert len(population) > 20
    draws = asw.sample_models(space, budget, 60 * len(population), band=(lo, hi), seed=7, replace=True)
    assert draws.columns == listed.columns
    assert uniform_fit(Counter(key(r) for r in draws.iter_rows(named=True)), population)


def test_bins_draw_k_from_each_uniformly(conv_space):
    space, budget = conv_space, 3000
    bins = [(0, 999), (1000, 1999), (2000, 3000)]
    draws = asw.sample_models(space, budget, 2000, bins=bins, seed=1, replace=True)
    assert draws.columns[0] == "bin" and draws["bin"].value_counts().sort("bin")["count"].to_list() == [2000] * 3
    for i, band in enumerate(bins):
        population = fitting(space, budget, band)
        rows = draws.filter(pl.col("bin") == i).drop("bin")
        assert rows["params"].is_between(*band).all()
        assert uniform_fit(Counter(key(r) for r in rows.iter_rows(named=True)), population)


def test_without_replacement_all_of_them_is_each_once_and_a_seed_repeats(conv_space):
    space, budget = conv_space, 3000
    population = fitting(space, budget)
    every = asw.sample_models(space, budget, len(population), seed=3)
    assert sorted(key(r) for r in every.iter_rows(named=True)) == sorted(population)
    some = asw.sample_models(space, budget, 10, seed=3)
    assert some.n_unique() == 10
    assert some.equals(asw.sample_models(space, budget, 10, seed=3))
    assert not some.equals(asw.sample_models(space, budget, 10, seed=4))
    assert asw.sample_models(space, budget, 0).height == 0


def test_a_space_of_more_than_1e12_is_sampled_in_a_band_at_once():
    space = asw.Model((32, 32, 3), [
        asw.repeat(L.Conv2D(asw.choice(16, 32, 64, 128, 256), asw.choice(1, 3, 5), padding="same"), 2, 12),
        L.GlobalAveragePooling2D(),
        L.Dense(asw.choice(64, 128, 256, 512)),
        L.Dense(10),
    ])  # fmt: skip
    assert space.size > 10**12
    start = time.perf_counter()
    draws = asw.sample_models(space, 5_000_000, 20, band=(4_500_000, 5_000_000), seed=0)
    assert time.perf_counter() - start < 20  # about 2 s on 2 cores
    assert draws.height == 20 and draws["params"].is_between(4_500_000, 5_000_000).all()
    depth = [c for c in draws.columns if c.endswith("depth")][0]
    for row in draws.iter_rows(named=True):
        n = row[depth]
        layers = [L.Conv2D(row[f"0.{i}.filters"], row[f"0.{i}.kernel"], padding="same") for i in range(n)]
        model = asw.Model((32, 32, 3), [*layers, L.GlobalAveragePooling2D(), L.Dense(row["2.units"]), L.Dense(10)])
        assert model.count_params() == row["params"]


def test_residual_and_functional_spaces_are_sampled_too():
    block = asw.layers.Residual([L.Dense(asw.choice(8, 16, 32)), L.Dense(16)])
    space = asw.Model((16,), [asw.repeat(block, 1, 3), L.Dense(asw.choice(1, 4))])
    x = asw.Input((16, 16, 8))
    y = L.Conv2D(asw.choice(8, 16, 32), asw.choice(1, 3, 5), padding="same")(x)
    graph = asw.Model(x, L.Dense(asw.choice(2, 4))(L.Add()([x, L.Conv2D(8, asw.choice(1, 3), padding="same")(y)])))
    for space, budget in ((space, 2500), (graph, 4000)):
        population = fitting(space, budget)
        assert 5 < len(population) < space.size
        draws = asw.sample_models(space, budget, 60 * len(population), seed=5, replace=True)
        assert uniform_fit(Counter(key(r) for r in draws.iter_rows(named=True)), population)


def test_bad_arguments_are_refused_by_name(conv_space):
    space = conv_space
    for kwargs, error, match in [
        ({"k": -1}, asw.InvalidArgumentError, "k"),
        ({"k": 2.5}, asw.InvalidArgumentError, "k"),
        ({"k": 10**6}, asw.InvalidArgumentError, "only .* fit budget=3,000; lower k or pass replace=True"),
        ({"k": 1, "band": (10, 5)}, asw.InvalidArgumentError, r"band must have lo <= hi"),
        ({"k": 1, "band": 5}, asw.ArgumentTypeError, r"band must be a pair"),
        ({"k": 1, "band": (0, 1)}, asw.InvalidArgumentError, r"no model of the space fits budget=3,000 with params in \[0, 1\]"),
        ({"k": 1, "bins": []}, asw.InvalidArgumentError, "bins is empty"),
        ({"k": 1, "bins": [(0, 1)], "band": (0, 1)}, asw.InvalidArgumentError, "not both"),
        ({"k": 1, "seed": "x"}, asw.ArgumentTypeError, "seed must be an int"),
        ({"k": 1, "replace": 1}, asw.ArgumentTypeError, "replace must be True or False"),
    ]:  # fmt: skip
        with pytest.raises(error, match=match):
            asw.sample_models(space, 3000, **kwargs)
    with pytest.raises(asw.SweepTooLargeError, match="sampled models take about"):
        asw.sample_models(space, 3000, 10**6, replace=True, max_bytes=10**6)
