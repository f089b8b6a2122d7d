"""Keras Tuner under a parameter budget, without building a model that does not fit.

Keras Tuner enforces a budget by building each candidate and failing it afterwards, and gives up
after a few failures in a row (keras-tuner#175, #989). Two hypermodels that never build an
over-budget architecture:

- ``SampledHyperModel``: the trial picks one of ``pool`` architectures archsweep drew uniformly
  from those that fit (``asw.sample_models``), so every trial builds one that fits. Right for
  ``RandomSearch``, which is then uniform over the fitting architectures.
- ``CheckedHyperModel``: the trial picks each choice of the space (``hp.Choice``, ``hp.Int`` for
  a repeat's depth), archsweep counts the architecture from its tables (microseconds), and one
  over budget fails the trial before Keras builds it. Right for ``BayesianOptimization`` and
  ``Hyperband``, which learn from the choices; pass ``max_consecutive_failed_trials`` large enough
  for the fraction of the space that does not fit.

Run (Keras 3 on any backend; random data, so no download)::

    pip install archsweep keras-tuner keras jax
    python examples/keras_tuner_budget.py
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

import archsweep as asw  # noqa: E402

L = asw.layers
BUDGET = 20_000
SPACE = asw.Model((16, 16, 1), [
    asw.repeat(L.Conv2D(asw.choice(8, 16, 32, 64), asw.choice(3, 5), padding="same"), 1, 3),
    L.GlobalAveragePooling2D(),
    L.Dense(asw.choice(16, 64, 256)),
    L.Dense(10),
])  # fmt: skip


def compiled(model: asw.Model):
    built = model.to_keras()
    built.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return built


class SampledHyperModel(keras_tuner.HyperModel):
    def __init__(self, space: asw.Model, budget: int, pool: int = 1000, seed: int = 0) -> None:
        super().__init__()
        self.space = space
        fitting = asw.count_models(space, budget)
        self.rows = asw.sample_models(space, budget, min(pool, fitting), seed=seed).to_dicts()
        self.built: list[int] = []

    def build(self, hp):
        model = self.space.select(self.rows[hp.Int("architecture", 0, len(self.rows) - 1)])
        self.built.append(model.count_params())
        return compiled(model)


class CheckedHyperModel(keras_tuner.HyperModel):
    def __init__(self, space: asw.Model, budget: int) -> None:
        super().__init__()
        self.space, self.budget = space, budget
        self.built: list[int] = []

    def build(self, hp):
        def ask(name, allowed, depth):
            return hp.Int(name, allowed[0], allowed[-1]) if depth else hp.Choice(name, allowed)

        model = self.space.choose(ask)
        if model.count_params() > self.budget:  # before Keras builds anything
            raise keras_tuner.errors.FailedTrialError(f"{model.count_params():,} parameters, over {self.budget:,}")
        self.built.append(model.count_params())
        return compiled(model)


def search(hypermodel: keras_tuner.HyperModel, tuner: type, trials: int, seed: int = 0) -> keras_tuner.Tuner:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(64, 16, 16, 1)).astype("float32"), rng.integers(0, 10, size=64)
    with tempfile.TemporaryDirectory() as directory:
        found = tuner(hypermodel, objective="val_accuracy", max_trials=trials, seed=seed, directory=directory,
                      overwrite=True, max_consecutive_failed_trials=trials)  # fmt: skip
        found.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    return found


def main(trials: int = 4) -> tuple[list[int], list[int]]:
    sampled = SampledHyperModel(SPACE, BUDGET)
    search(sampled, keras_tuner.RandomSearch, trials)
    checked = CheckedHyperModel(SPACE, BUDGET)
    search(checked, keras_tuner.RandomSearch, trials)  # BayesianOptimization too, with keras-tuner[bayesian]
    print(f"{asw.count_models(SPACE, BUDGET):,} of {SPACE.size:,} architectures fit {BUDGET:,} parameters")
    print("RandomSearch over uniform fitting samples built:", sampled.built)
    print("RandomSearch over the choices, checked before building, built:", checked.built)
    return sampled.built, checked.built


if __name__ == "__main__":
    main()
