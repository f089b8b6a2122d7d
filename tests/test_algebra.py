"""Every registered kind, compiled into the kernel's algebra, gives on both
cores what its formula gives on numbers: for every quantity, on random
valid configurations broadcast together, with the kind's rules refused by
the kernel as constraint factors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archsweep import _algebra, _kinds, _polycore
from archsweep import _core
from archsweep._errors import InvalidArgumentError
from archsweep._names import CONVENTIONS

KINDS = [k.name for k in _kinds.KINDS]


@st.composite
def configurations(draw, kind: _kinds.Kind, convention: str, compute: bool = False):
    """A configuration of ``kind`` under ``convention``: sizes small or odd or
    large, every option, and the kind's rules made to hold; with ``compute``,
    the sizes compute needs given (kv_length may still be None: self-attention)."""
    values = {}
    for arg in kind.args:
        if not arg.applies(convention):
            continue
        if arg.compute and compute and arg.name != "kv_length":
            values[arg.name] = draw(st.sampled_from([1, 2, 3, 7, 64, 4096]))
        elif arg.type == _kinds.FLAG:
            values[arg.name] = draw(st.booleans())
        elif arg.type == _kinds.KERNEL:
            values[arg.name] = tuple(draw(st.integers(1, 7)) for _ in range(kind.rank))
        elif arg.nullable and draw(st.booleans()):
            values[arg.name] = None
        else:
            values[arg.name] = draw(st.sampled_from([arg.minimum, 1, 2, 3, 7, 16, 33, 4096])) if arg.minimum else 0
    for rule in kind.rules:
        if rule.conventions is not None and convention not in rule.conventions:
            continue
        if rule.small in values and rule.large in values:
            if rule.test == "divides":
                values[rule.large] = values[rule.small] * draw(st.integers(1, 9))
            elif values[rule.small] >= values[rule.large]:
                values[rule.large] = values[rule.small] + draw(st.integers(1, 9))
    if "proj_size" in values and convention == "torch" and draw(st.booleans()):
        values["proj_size"] = draw(st.integers(0, values["n_units"] - 1))
    return _kinds.validate(kind, convention, values)


def arrays(kind: _kinds.Kind, convention: str, configs: list[dict]) -> dict[str, np.ndarray]:
    """The configurations as 1-D operand arrays (one point each)."""
    columns: dict[str, list[int]] = {n: [] for n in _algebra.operand_names(kind)}
    for values in configs:
        for arg in kind.args:
            v = values[arg.name]
            if arg.type == _kinds.KERNEL:
                for i, d in enumerate(v):
                    columns[f"kernel[{i}]"].append(d)
            elif v is None or v is _kinds.REQUIRED:
                columns[arg.name].append(_algebra.NONE if arg.nullable else 1)
            else:
                columns[arg.name].append(int(v))
        columns["convention"].append(CONVENTIONS.index(convention))
    return {n: np.asarray(c, dtype=np.int64) for n, c in columns.items()}


def defined(kind: _kinds.Kind, q: _kinds.Quantities, name: str) -> bool:
    """Whether the kind defines quantity ``name`` (a transformer block has no all_flops)."""
    try:
        _algebra.quantity_of(kind, q, name)
    except InvalidArgumentError as exc:
        if "cannot be counted" in str(exc):
            return False
        raise
    return True


@pytest.mark.parametrize("name", KINDS)
@given(data=st.data())
def test_compiled_kind_equals_its_formula(name, data):
    kind = _kinds.find(name)
    convention = data.draw(st.sampled_from(kind.conventions))
    compute = data.draw(st.booleans())
    configs = data.draw(st.lists(configurations(kind, convention, compute), min_size=1, max_size=6))
    quantities = _algebra.QUANTITIES if compute else tuple(q for q in _algebra.QUANTITIES if q not in _algebra.COMPUTE)
    expected = [_kinds.evaluate(kind, convention, v) for v in configs]
    quantities = tuple(q for q in quantities if defined(kind, expected[0], q))
    compiled = _algebra.compile(kind, arrays(kind, convention, configs), quantities)
    exact = {q: [_algebra.quantity_of(kind, e, q) for e in expected] for q in quantities}
    # Compute at large sizes can pass int64 (an lm's attention FLOPs at 4096 heads, layers and
    # tokens): both cores must then refuse, never wrap.
    overflows = any(v > 2**63 - 1 for values in exact.values() for v in values)
    for module in (_core, _polycore):
        outs = [np.empty(len(configs), dtype=np.int64) for _ in quantities]
        if overflows:
            with pytest.raises(Exception) as refusal:
                module.poly_count([len(configs)], compiled.operands, compiled.factors, compiled.polynomials, outs)
            assert refusal.value.args[0] == "overflow", (module.__name__, refusal.value)
            continue
        module.poly_count([len(configs)], compiled.operands, compiled.factors, compiled.polynomials, outs)
        for q, out in zip(quantities, outs):
            assert out.tolist() == exact[q], (module.__name__, q, configs)


def test_rules_are_constraint_factors_in_the_kernel():
    kind = _kinds.find("conv2d")
    a = arrays(kind, "keras", [_kinds.validate(kind, "keras", {"n_features": 8, "n_units": 4, "kernel": 3, "groups": 4})])
    a["n_features"] = np.asarray([6])  # groups 4 does not divide it
    compiled = _algebra.compile(kind, a, ["params"])
    for module in (_core, _polycore):
        with pytest.raises(Exception) as refusal:
            module.poly_count([1], compiled.operands, compiled.factors, compiled.polynomials, [np.empty(1, np.int64)])
        kind_of, _, _, factor = refusal.value.args
        assert kind_of == "invalid" and compiled.rule_of[factor].small == "groups"
    # A rule of one convention passes under the others: num_heads need not divide n_features in Keras.
    mha = _kinds.find("mha")
    keras = arrays(mha, "keras", [_kinds.validate(mha, "keras", {"n_features": 6, "num_heads": 4, "key_dim": 2})])
    compiled = _algebra.compile(mha, keras, ["params"])
    out = np.empty(1, np.int64)
    _polycore.poly_count([1], compiled.operands, compiled.factors, compiled.polynomials, [out])
    assert out[0] == _kinds.evaluate(mha, "keras", {"n_features": 6, "num_heads": 4, "key_dim": 2}).params
