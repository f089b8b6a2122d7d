#!/usr/bin/env python3
"""Print the README's table of formulas, one row per layer kind and
convention, from the registry itself (``archsweep._kinds``): each formula
evaluated on symbols at the kind's default options, so the table cannot
drift from the code. ``tests/test_kinds.py`` checks the README holds it.

    python tools/conventions_table.py
"""

from __future__ import annotations

from archsweep import _kinds
from archsweep._poly import Poly

SHORT = {"n_features": "f", "n_units": "u", "groups": "g", "num_layers": "L", "proj_size": "p", "num_heads": "h",
         "key_dim": "k", "depth_multiplier": "m"}  # fmt: skip


def formula(kind: _kinds.Kind, convention: str) -> str:
    values = {}
    for arg in kind.args:
        if arg.type == _kinds.KERNEL:
            values[arg.name] = tuple(Poly.var(f"k{i}") for i in range(kind.rank))
        elif arg.type == _kinds.SIZE and arg.applies(convention) and (arg.default is _kinds.REQUIRED or arg.default == 1):
            values[arg.name] = Poly.var(SHORT.get(arg.name, arg.name))  # sizes as symbols; groups, num_layers too
        else:
            values[arg.name] = None if arg.default is _kinds.REQUIRED else arg.default
    q = kind.formula(convention, **values, **{name: False for name, _ in kind.cases})
    text = str(Poly.lift(q.params)).replace("L-1", "(L-1)")
    extra = []
    if q.non_trainable:
        extra.append(f"non-trainable {Poly.lift(q.non_trainable)}")
    if q.buffers:
        extra.append(f"buffers {Poly.lift(q.buffers)}")
    return f"`{text}`" + (f" ({'; '.join(extra)})" if extra else "")


def table() -> str:
    lines = ["| kind | names | " + " | ".join(("keras", "torch", "tf1")) + " |", "| --- | --- | --- | --- | --- |"]
    for kind in _kinds.KINDS:
        cells = [formula(kind, c) if c in kind.conventions else "—" for c in ("keras", "torch", "tf1")]
        lines.append(f"| `{kind.name}` | {', '.join(kind.names)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
