"""archsweep.optuna against a space whose fitting set search_models lists (itself checked
against brute force): suggestions are pruned exactly when over budget, enqueued trials are
uniform fitting draws, and the constrained samplers see the excess. Optuna is in the test
extras (pure Python); Model.select, which these rely on, is checked here too."""

import sys

import pytest

import archsweep as asw

optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.WARNING)
L = asw.layers
BUDGET = 3000


def architecture(space, choices):
    """A model's identity: the option of each position, as select() reads them from ``choices``."""
    return tuple(type(l).__name__ + repr(l._args) for l in space.select(choices).layers)


def test_select_gives_each_listed_architecture_with_its_counts(conv_space):
    space = conv_space
    rows = asw.search_models(space, {"params": BUDGET, "flops": 10**6})
    assert rows.height > 100
    for row in rows.iter_rows(named=True):
        model = space.select(row)
        assert model.is_concrete and (model.count_params(), model.count_flops()) == (row["params"], row["flops"])
    with pytest.raises(asw.InvalidArgumentError, match=r"choices\['0.filters'\] is 5, which this space does not offer there: 4, 8, 16, 24, 32"):
        space.select({**rows.row(0, named=True), "0.filters": 5})
    with pytest.raises(asw.InvalidArgumentError, match="choices has no value for '1.depth'"):
        space.select({"0.filters": 4, "0.kernel": 3})
    with pytest.raises(asw.ArgumentTypeError, match="choices must be a mapping"):
        space.select([4, 3])


def test_select_in_a_functional_space_rebuilds_the_graph():
    x = asw.Input((16, 16, 8))
    y = L.Conv2D(asw.choice(8, 16), asw.choice(1, 3), padding="same")(x)
    z = L.Add()([x, L.Conv2D(8, 1)(y)])
    space = asw.Model(x, L.Dense(asw.choice(2, 4))(z))
    rows = asw.search_models(space, 10**6)
    assert rows.height == space.size == 8
    for row in rows.iter_rows(named=True):
        model = space.select(row)
        assert model.count_params() == row["params"]
        assert model.summary()["name"].to_list()[-1].startswith("dense")


def test_suggestions_are_pruned_exactly_when_over_budget_and_never_built(conv_space):
    space = conv_space
    fitting = {architecture(space, r) for r in asw.search_models(space, BUDGET).iter_rows(named=True)}

    def objective(trial):
        model = asw.optuna.suggest(trial, space, BUDGET)
        assert architecture(space, trial.params) in fitting
        return model.count_params()

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=200)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(pruned) > 20 and len(done) > 20 and len(pruned) + len(done) == 200
    for t in pruned:
        assert architecture(space, t.params) not in fitting
        assert t.user_attrs["archsweep"]["quantities"]["params"] > BUDGET
    for t in done:
        assert t.value == t.user_attrs["archsweep"]["quantities"]["params"] <= BUDGET


def test_enqueued_trials_are_distinct_uniform_draws_that_fit(conv_space):
    space = conv_space
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    asw.optuna.enqueue(study, space, BUDGET, 12, seed=3)
    drawn = asw.sample_models(space, BUDGET, 12, seed=3)
    study.optimize(lambda trial: asw.optuna.suggest(trial, space, BUDGET).count_params(), n_trials=12)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert [t.value for t in study.trials] == drawn["params"].to_list()
    assert len({architecture(space, t.params) for t in study.trials}) == 12


def test_a_constrained_sampler_sees_the_excess_of_each_budget(conv_space):
    space = conv_space
    budget = {"params": BUDGET, "flops": 400_000}
    listed = asw.search_models(space, budget)
    fitting = {architecture(space, r) for r in listed.iter_rows(named=True)}

    def objective(trial):
        model = asw.optuna.suggest(trial, space, budget, prune=False)
        return 0.0 if model is None or not asw.optuna.fits(trial) else float(model.count_params())

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=10))
    study.optimize(objective, n_trials=60)
    for t in study.trials:
        excess = asw.optuna.constraints(t)
        quantities = t.user_attrs["archsweep"]["quantities"]
        assert excess == [quantities["params"] - BUDGET, quantities["flops"] - 400_000]
        assert (max(excess) <= 0) == (architecture(space, t.params) in fitting)
    assert study.best_value <= listed["params"].max()
    with pytest.raises(ValueError, match="no archsweep record"):
        asw.optuna.constraints(optuna.trial.create_trial(value=1.0))


def test_a_single_model_is_suggested_with_its_counts():
    model = asw.Model((8,), [L.Dense(16), L.Dense(2)])
    study = optuna.create_study()
    study.optimize(lambda t: asw.optuna.suggest(t, model, 1000).count_params(), n_trials=1)
    assert study.trials[0].user_attrs["archsweep"]["quantities"] == {"params": model.count_params()}
    study.optimize(lambda t: asw.optuna.suggest(t, model, 100).count_params(), n_trials=1)
    assert study.trials[1].state == optuna.trial.TrialState.PRUNED


def test_without_optuna_the_error_names_the_extra(conv_space, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"pip install 'archsweep\[optuna\]'"):
        asw.optuna.suggest(None, conv_space, BUDGET)
