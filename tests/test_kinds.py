"""The registry of layer kinds: every formula against the real frameworks,
and the invariants the fast paths rely on, checked for every kind, every
convention and every option by iterating the registry (not stated in
comments).

- Each formula is a polynomial with non-negative integer coefficients in its
  sizes (checked symbolically: the formula evaluated on ``Poly`` symbols), so
  it never decreases as a size grows and is largest at the sizes' maxima.
- The seed's seven kinds agree with the pure-Python core they will replace.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import archsweep as asw
from archsweep import _kinds, _pycore
from archsweep._poly import Poly

DATA = Path(os.environ.get("ARCHSWEEP_FIXTURES", Path(__file__).parent / "data"))
# Arguments that change no count: PyTorch uses them in the forward pass only.
SHAPE_ONLY = {"output_padding", "dilation", "padding_idx"}


def records(framework: str):
    with open(DATA / f"{framework}_catalogue.jsonl") as f:
        for line in f:
            yield json.loads(line)


def arguments(record: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in record["args"].items() if k not in SHAPE_ONLY}


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_every_formula_matches_the_framework(framework):
    cases = [r for r in records(framework) if "error" not in r]
    assert len(cases) > 300
    for r in cases:
        kind = _kinds.find(r["layer"])
        values = _kinds.validate(kind, framework, arguments(r))
        q = _kinds.evaluate(kind, framework, values)
        got = {"params": q.params, "trainable": q.trainable, "non_trainable": q.non_trainable, "buffers": q.buffers}
        assert got == {k: r[k] for k in got}, r


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_the_public_api_matches_the_framework(framework, backend):
    # One call per kind and quantity over all its fixture cases at once: the
    # cases' arguments as arrays, broadcast together.
    by_kind: dict[tuple, list[dict]] = {}
    for r in records(framework):
        if "error" not in r:
            by_kind.setdefault((r["layer"], tuple(sorted(arguments(r)))), []).append(r)
    for (layer, names), rows in by_kind.items():
        kernel_rank = _kinds.find(layer).rank
        columns = {}
        for name in names:
            values = [arguments(r)[name] for r in rows]
            if name == "kernel":
                dims = [v if isinstance(v, tuple) else (v,) * kernel_rank for v in values]
                columns[name] = tuple(np.array([d[i] for d in dims]) for i in range(kernel_rank))
            elif any(v is None for v in values):
                columns = None  # None is one value for the whole call: checked case by case below
                break
            else:
                columns[name] = np.array(values)
        for quantity in ("params", "trainable", "non_trainable", "buffers"):
            expected = [r[quantity] for r in rows]
            if columns is None:
                got = [asw.count(layer, quantity=quantity, convention=framework, backend=backend, **arguments(r))
                       for r in rows]  # fmt: skip
            else:
                got = asw.count(layer, quantity=quantity, convention=framework, backend=backend, **columns).tolist()
            assert got == expected, (layer, quantity)
        if columns is not None:
            params = asw.count_params(layer, convention=framework, backend=backend, **columns)
            assert params.tolist() == [r["params"] for r in rows]


@pytest.mark.parametrize("framework", ["keras", "torch"])
def test_what_the_framework_refuses_is_refused(framework):
    refused = [r for r in records(framework) if "error" in r]
    assert len(refused) > 20
    for r in refused:
        if any(name in r["error"].lower().replace(" ", "_") for name in SHAPE_ONLY):
            # Refused in PyTorch's forward pass (output_padding) or over an argument archsweep has not
            # (padding_idx): no count depends on them; shape inference checks output_padding.
            continue
        kind = _kinds.find(r["layer"])
        with pytest.raises(asw.ArchsweepError):
            _kinds.validate(kind, framework, arguments(r))


def test_the_seed_kinds_agree_with_the_python_core():
    rows = [json.loads(line) for fw in ("keras", "torch") for line in open(DATA / f"{fw}.jsonl")]
    for r in rows:
        kind = _kinds.find(r["layer"])
        values = {"n_features": r["n_features"], "n_units": r["n_units"], "bias": r["bias"]}
        if r["kernel"] is not None:
            values["kernel"] = tuple(r["kernel"])
        for name in ("groups", "bidirectional", "reset_after"):
            if r[name] is not None:
                values[name] = r[name]
        q = _kinds.evaluate(kind, r["framework"], _kinds.validate(kind, r["framework"], values))
        assert q.params == r["params"] and q.non_trainable == 0 and q.buffers == 0, r


@given(f=st.integers(1, 300), u=st.integers(1, 300), k=st.tuples(*[st.integers(1, 7)] * 3), g=st.integers(1, 4),
       bias=st.booleans(), bidirectional=st.booleans(), reset_after=st.booleans(),
       convention=st.sampled_from(["keras", "torch", "tf1"]),
       layer=st.sampled_from(["dense", "conv1d", "conv2d", "conv3d", "rnn", "lstm", "gru"]))  # fmt: skip
def test_the_seed_kinds_equal_today_s_formula(f, u, k, g, bias, bidirectional, reset_after, convention, layer):
    kind = _kinds.find(layer)
    values = {"n_features": f * g, "n_units": u * g, "bias": bias}
    rank = kind.rank
    if rank:
        values |= {"kernel": k[:rank], "groups": g}
    else:
        values["bidirectional"] = bidirectional if layer in ("rnn", "lstm", "gru") else False
    if layer == "gru" and convention == "keras":
        values["reset_after"] = reset_after
    if layer == "dense":
        del values["bidirectional"]
    q = _kinds.evaluate(kind, convention, _kinds.validate(kind, convention, values))
    kernel = (1,) * (3 - rank) + k[:rank]
    expected = _pycore.params(layer, f * g, u * g, kernel, bias, values.get("bidirectional", False), convention,
                              values.get("reset_after", True), g if rank else 1)  # fmt: skip
    assert q.params == expected


def variants(kind: _kinds.Kind, convention: str):
    """Every assignment of the kind's options under a convention, with its
    sizes as symbols: flags both ways, nullable sizes None or a symbol, each
    case (proj_size > 0 or not) both ways."""
    flags = [a for a in kind.args if a.type == _kinds.FLAG and a.applies(convention)]
    nullable = [a for a in kind.args if a.nullable and a.applies(convention)]
    for bits in itertools.product([False, True], repeat=len(flags) + len(nullable) + len(kind.cases)):
        values = {}
        for arg in kind.args:
            if not arg.applies(convention):
                values[arg.name] = None if arg.default is _kinds.REQUIRED else arg.default
            elif arg.type == _kinds.KERNEL:
                values[arg.name] = tuple(Poly.var(f"kernel[{i}]") for i in range(kind.rank))
            elif arg.type == _kinds.SIZE:
                values[arg.name] = Poly.var(arg.name)
        for arg, bit in zip(flags, bits):
            values[arg.name] = bit
        for arg, bit in zip(nullable, bits[len(flags) :]):
            values[arg.name] = Poly.var(arg.name) if bit else None
        cases = dict(zip([name for name, _ in kind.cases], bits[len(flags) + len(nullable) :]))
        yield values, cases


def test_every_formula_is_a_polynomial_with_non_negative_coefficients():
    checked = 0
    for kind in _kinds.KINDS:
        for convention in kind.conventions:
            for values, cases in variants(kind, convention):
                q = kind.formula(convention, **values, **cases)
                for name in ("trainable", "non_trainable", "buffers"):
                    poly = Poly.lift(getattr(q, name))
                    assert all(c > 0 for c in poly.terms.values()), (kind.name, convention, values, name, poly)
                    assert all(p >= 1 for m in poly.terms for _, p in m)
                checked += 1
    assert checked >= sum(len(k.conventions) for k in _kinds.KINDS)  # at least one variant of each


def test_names_find_their_kind():
    for kind in _kinds.KINDS:
        for name in (kind.name, *kind.names):
            for spelling in (name, name.upper(), name.lower()):
                assert _kinds.find(spelling) is kind
    assert _kinds.find("ConvTranspose2d") is _kinds.find("conv2d_transpose") is _kinds.find("Conv2DTranspose")
    owners: dict[str, set[str]] = {}
    for kind in _kinds.KINDS:
        for name in (kind.name, *kind.names):
            owners.setdefault(name.lower().replace("_", ""), set()).add(kind.name)
    assert all(len(kinds) == 1 for kinds in owners.values()), owners  # no name stands for two kinds


def test_options_are_refused_where_they_do_not_apply():
    lstm, gru, dense, conv = (_kinds.find(n) for n in ("lstm", "gru", "dense", "conv2d"))
    mha, layernorm = _kinds.find("mha"), _kinds.find("layernorm")
    for kind, convention, values, words in [
        (gru, "torch", {"n_features": 3, "n_units": 4, "proj_size": 2}, "not an argument"),
        (dense, "keras", {"n_features": 3, "n_units": 4, "num_heads": 2}, "not an argument"),
        (conv, "keras", {"n_features": 3, "n_units": 4, "kernel": 3, "depth_multiplier": 2}, "not an argument"),
        (mha, "keras", {"n_features": 8, "num_heads": 2, "key_dim": 4, "add_bias_kv": True}, "only under"),
        (layernorm, "torch", {"n_features": 8, "rms_scaling": True}, "only under"),
        (lstm, "torch", {"n_features": 3, "n_units": 4, "proj_size": 4}, "proj_size must be less"),
        (mha, "torch", {"n_features": 6, "num_heads": 4}, "num_heads must divide"),
        (conv, "keras", {"n_features": 6, "n_units": 4, "kernel": 3, "groups": 4}, "groups must divide"),
        (lstm, "keras", {"n_features": 3, "n_units": 4, "num_layers": 2}, "only under"),
    ]:
        with pytest.raises(asw.InvalidArgumentError, match=words):
            _kinds.validate(kind, convention, values)


def test_the_readme_table_is_the_registry_s():
    import subprocess
    import sys

    root = Path(__file__).parent.parent
    table = subprocess.run([sys.executable, str(root / "tools" / "conventions_table.py")], capture_output=True,
                           text=True, check=True).stdout.strip()  # fmt: skip
    assert table in (root / "README.md").read_text()


def test_the_readme_examples_of_count():
    assert asw.count("batchnorm", 64) == 256
    assert asw.count("batchnorm", 64, quantity="non_trainable") == 128
    assert asw.count("BatchNorm2d", 64, convention="torch", quantity="buffers") == 129
    assert asw.count("lstm", 32, 64, num_layers=2, proj_size=16, convention="torch") == 23552
    assert asw.count("mha", 512, num_heads=8, key_dim=64) == 1050624
    assert asw.count("mha", 512, num_heads=8, kdim=128, vdim=128, convention="torch") == 657408
    assert asw.count_params("SeparableConv2D", 32, 64, kernel=3, depth_multiplier=2) == 4736


def test_sweeps_refuse_the_kinds_they_do_not_take_yet_saying_so(backend):
    for call in (lambda: asw.sweep("BatchNorm2d", 3, 4, backend=backend),
                 lambda: asw.count_fitting("mha", 8, 2, backend=backend),
                 lambda: asw.search("layernorm", 3, range(1, 9), budget=10, backend=backend)):  # fmt: skip
        with pytest.raises(asw.InvalidArgumentError, match="for now; count .* with asw.count"):
            call()
