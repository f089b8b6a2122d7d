"""Counts against real Keras 3 and PyTorch layers. The fixtures are written by
tools/make_fixture.py (see tools/README.md); running the tests needs neither
framework."""

import json
import os
from pathlib import Path

import pytest

import archsweep as asw

# ARCHSWEEP_FIXTURES points the tests at freshly generated fixtures (tools/README.md).
DATA = Path(os.environ.get("ARCHSWEEP_FIXTURES", Path(__file__).parent / "data"))
FRAMEWORKS = ("keras", "torch")


def cases(framework):
    with open(DATA / f"{framework}.jsonl") as f:
        return [json.loads(line) for line in f if line.strip()]


def call(case, backend):
    kernel = case["kernel"]
    return asw.count_params(
        case["layer"],
        case["n_features"],
        case["n_units"],
        kernel=None if kernel is None else tuple(kernel),
        bias=case["bias"],
        bidirectional=bool(case["bidirectional"]),
        convention=case["framework"],
        reset_after=case["reset_after"],
        groups=case["groups"] or 1,
        backend=backend,
    )


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_fixture_covers_what_it_should(framework):
    data = cases(framework)
    assert len(data) >= 200
    assert {c["layer"] for c in data} == {"dense", "conv1d", "conv2d", "conv3d", "rnn", "lstm", "gru"}  # the 0.1 fixture: the seed kinds
    assert {c["bias"] for c in data} == {True, False}
    assert any((c["groups"] or 1) > 1 for c in data)
    assert any(c["kernel"] and len(set(c["kernel"])) > 1 for c in data)
    assert {c["bidirectional"] for c in data if c["layer"] in ("rnn", "lstm", "gru")} == {True, False}
    assert 4096 in {c["n_features"] for c in data} | {c["n_units"] for c in data}
    assert 1 in {c["n_features"] for c in data} | {c["n_units"] for c in data}
    if framework == "keras":
        assert {c["reset_after"] for c in data if c["layer"] == "gru"} == {True, False}


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_counts_match_framework(framework, backend):
    wrong = [(c, call(c, backend)) for c in cases(framework) if call(c, backend) != c["params"]]
    assert not wrong, f"{len(wrong)} mismatches, first: {wrong[0]}"


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_sweep_matches_framework(framework, backend):
    """The same cases through sweep (one row each) give the same counts."""
    for c in cases(framework)[::7]:
        df = asw.sweep(
            c["layer"], c["n_features"], c["n_units"],
            kernel=None if c["kernel"] is None else tuple(c["kernel"]),
            bias=c["bias"], bidirectional=bool(c["bidirectional"]), convention=framework,
            reset_after=c["reset_after"], groups=c["groups"] or 1, backend=backend,
        )  # fmt: skip
        assert df["params"].to_list() == [c["params"]], c
