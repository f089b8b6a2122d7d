#!/usr/bin/env python3
"""Print the README's tables of formulas, one row per layer kind and
convention, from the registry itself (``archsweep._kinds``): each formula
evaluated on symbols at the kind's default options, so the tables cannot
drift from the code. ``tests/test_kinds.py`` checks the README holds them.

    python tools/conventions_table.py          # params
    python tools/conventions_table.py macs     # forward multiply-accumulates per sample
    python tools/conventions_table.py elementwise  # the element-wise FLOPs all_flops adds
"""

from __future__ import annotations

from archsweep import _kinds
from archsweep._poly import Poly

SHORT = {"n_features": "f", "n_units": "u", "groups": "g", "num_layers": "L", "proj_size": "p", "num_heads": "h",
         "key_dim": "k", "depth_multiplier": "m", "length": "T", "positions": "P", "kv_length": "S", "output_positions": "O",
         "dim_feedforward": "ff", "vocab_size": "V", "d_model": "D", "n_layers": "N", "n_heads": "nh",
         "n_kv_heads": "kv", "head_dim": "hd", "d_ff": "ff", "norms_per_layer": "nl"}  # fmt: skip


def formula(kind: _kinds.Kind, convention: str, quantity: str = "params") -> str:
    values = {}
    for arg in kind.args:
        if arg.type == _kinds.KERNEL:
            values[arg.name] = tuple(Poly.var(f"k{i}") for i in range(kind.rank))
        elif arg.compute and quantity != "params" and arg.name != "kv_length":
            values[arg.name] = Poly.var(SHORT[arg.name])
        elif arg.type == _kinds.SIZE and arg.applies(convention) and (arg.default is _kinds.REQUIRED or (
                isinstance(arg.default, int) and arg.default >= 1)):
            values[arg.name] = Poly.var(SHORT.get(arg.name, arg.name))  # sizes as symbols; groups, num_layers too
        else:
            values[arg.name] = None if arg.default is _kinds.REQUIRED else arg.default
    q = kind.formula(convention, **values, **{name: False for name, _ in kind.cases})
    if quantity != "params":
        value = getattr(q, quantity)
        if isinstance(value, _kinds.Needs):
            return "not defined"
        return f"`{str(Poly.lift(value)).replace('L-1', '(L-1)').replace('T-1', '(T-1)')}`"
    text = str(Poly.lift(q.params)).replace("L-1", "(L-1)")
    extra = []
    if q.non_trainable:
        extra.append(f"non-trainable {Poly.lift(q.non_trainable)}")
    if q.buffers:
        extra.append(f"buffers {Poly.lift(q.buffers)}")
    return f"`{text}`" + (f" ({'; '.join(extra)})" if extra else "")


def table(quantity: str = "params") -> str:
    """The params table (with each kind's names), or a compute one: ``macs``, ``grad_macs``, ``input_grad_macs``."""
    names = quantity == "params"
    lines = ["| kind | " + ("names | " if names else "") + " | ".join(("keras", "torch", "tf1")) + " |",
             "| --- | " + ("--- | " if names else "") + "--- | --- | --- |"]  # fmt: skip
    for kind in _kinds.KINDS:
        cells = [formula(kind, c, quantity) if c in kind.conventions else "—" for c in ("keras", "torch", "tf1")]
        named = f"{', '.join(kind.names)} | " if names else ""
        lines.append(f"| `{kind.name}` | {named}" + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(table(*sys.argv[1:2]))
