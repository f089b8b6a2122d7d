"""Searching an archsweep model space with Optuna, never training an architecture over budget.

Optuna is an optional extra (``pip install 'archsweep[optuna]'``), imported when a function
here is called::

    import archsweep as asw, optuna

    def objective(trial):
        model = asw.optuna.suggest(trial, space, budget)   # over budget: TrialPruned, nothing built
        return train_and_score(model)                       # a concrete asw.Model (model.to_keras() ...)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    asw.optuna.enqueue(study, space, budget, 10, seed=0)   # TPE's random start: 10 uniform fitting models
    study.optimize(objective, n_trials=100)

- ``suggest`` asks the trial for each choice of the space (a repeat's depth first, then the
  choices of the repetitions that are there: Optuna's define-by-run, conditional parameters),
  and evaluates the architecture from the space's compiled tables, exactly, without building
  it. Over budget (or a combination whose shapes do not connect), it raises
  ``optuna.TrialPruned`` before anything is built; ``prune=False`` returns it instead, for the
  constrained samplers, with the excess recorded for ``constraints``.
- The excess over each limit (``<= 0``: within) is set as the trial's constraint
  (``trial.set_constraint``, Optuna 5), which the constrained samplers read (TPESampler,
  NSGAIISampler, NSGAIIISampler, GPSampler); with Optuna 4, pass ``constraints`` as their
  ``constraints_func``.
- ``enqueue`` queues ``n`` architectures drawn uniformly from those that fit
  (``sample_models``), so a sampler's random start-up trials are all within budget.

Which to use with which sampler: pruning works with every sampler (a pruned trial costs a
suggestion and a table walk, microseconds); TPE learns from pruned trials only that they were
bad, so where many combinations are over budget prefer ``prune=False`` and a constrained
sampler, which models feasibility (an infeasible trial must still return a value: return one
without training: ``return 0.0 if model is None or not asw.optuna.fits(trial) else ...``).
GridSampler and BruteForceSampler would visit every over-budget combination: sample or list
the fitting ones with ``sample_models`` / ``search_models`` instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._errors import optional
from ._model import Model, _model_arg, _space_budget, sample_models

ATTR = "archsweep"  # the user attribute a suggested trial records: its costs and budget excess


def _optuna() -> Any:
    return optional("optuna", "optuna", "archsweep.optuna")


class _Walk:
    """A space's compiled tables (every budgeted quantity), read one architecture at a time."""

    def __init__(self, space: Model, quantities: tuple[str, ...]) -> None:
        space._single_path()
        self.costs = [space._cost if q == "params" else space._flops_cost for q in quantities]
        self.next = space._next
        sizes = [s * len(p.options) for s, p in zip(space._n_states, space._positions)]
        self.offsets = np.concatenate(([0], np.cumsum(sizes)))[:-1].tolist()

    def cost(self, space: Model, options: list[int]) -> list[int] | None:
        """The architecture's quantities, or None where its layers do not connect."""
        state, totals = 0, [0] * len(self.costs)
        for p, o in enumerate(options):
            i = self.offsets[p] + state * len(space._positions[p].options) + o
            state = int(self.next[i])
            if state < 0:
                return None
            for q, table in enumerate(self.costs):
                c = int(table[i])
                totals[q] = -1 if c < 0 or totals[q] < 0 else totals[q] + c  # -1: beyond int64
        return totals


def _ask(trial: Any) -> Any:
    """The trial as ``Model._options`` asks: a depth as an int, a choice as a categorical."""

    def ask(name: str, allowed: list[Any], depth: bool) -> Any:
        return trial.suggest_int(name, allowed[0], allowed[-1]) if depth else trial.suggest_categorical(name, allowed)

    return ask


def suggest(trial: Any, space: Model, budget: Any, *, prune: bool = True) -> Model | None:
    """The architecture of ``space`` the trial suggests, as a concrete ``asw.Model``; over
    ``budget`` (a number of parameters, or ``{"params": P, "flops": F}``), ``optuna.TrialPruned``
    before anything is built, or with ``prune=False`` the model anyway (None where its layers do
    not connect), its excess recorded for ``constraints``. The trial's user attribute
    ``"archsweep"`` holds the quantities and the excess."""
    optuna = _optuna()
    space = _model_arg(space)
    budgets = _space_budget(space, budget)
    quantities = tuple(budgets)
    walks = space.__dict__.setdefault("_walks", {})
    walk = walks.get(quantities) or walks.setdefault(quantities, _Walk(space, quantities))
    options = space._options(_ask(trial))
    totals = walk.cost(space, options)
    # Beyond int64, or layers that do not connect: infinitely over, as a finite number (Optuna's
    # samplers compare constraint values).
    never = float(2**63)
    if totals is None:
        excess = [never] * len(quantities)
    else:
        excess = [never if t < 0 else float(t - budgets[q]) for q, t in zip(quantities, totals)]
    trial.set_user_attr(ATTR, {"quantities": dict(zip(quantities, totals or [None] * len(quantities))),
                               "excess": excess})  # fmt: skip
    if hasattr(trial, "set_constraint"):  # Optuna 5: the samplers read the trial's own constraints
        for q, e in zip(quantities, excess):
            trial.set_constraint(f"archsweep.{q}", e)
    if prune and max(excess) > 0:
        shown = ", ".join(f"{q} {t:,}" for q, t in zip(quantities, totals)) if totals else "layers that do not connect"
        raise optuna.TrialPruned(f"over budget: {shown}")
    return None if totals is None else space._pick(options)


def fits(trial: Any) -> bool:
    """Whether the architecture ``suggest`` gave this trial is within its budget."""
    return max(constraints(trial)) <= 0


def constraints(trial: Any) -> list[float]:
    """A ``constraints_func`` for Optuna's constrained samplers: per budgeted quantity, how far
    the trial's architecture is over its limit (``<= 0``: within), as ``suggest`` recorded it."""
    record = trial.user_attrs.get(ATTR)
    if record is None:
        raise ValueError(f"trial {trial.number} has no archsweep record: call asw.optuna.suggest in the objective")
    return list(record["excess"])


def enqueue(study: Any, space: Model, budget: Any, n: int, *, seed: Any = None) -> None:
    """Queues ``n`` distinct architectures drawn uniformly from those of ``space`` within
    ``budget`` (``sample_models``), as the next trials of ``study``: ``suggest`` then asks for
    exactly their choices."""
    _optuna()
    table = sample_models(space, budget, n, seed=seed)
    names = set(_model_arg(space).choices)
    for row in table.iter_rows(named=True):
        study.enqueue_trial({k: v for k, v in row.items() if k in names}, skip_if_exists=True)
