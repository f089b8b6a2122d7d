"""Parameters and FLOPs of PyTorch's transformer blocks, nn.TransformerEncoderLayer and
nn.TransformerDecoderLayer, one JSON object per line (tests/data/torch_transformer.jsonl).

Each case builds the layer and its inputs on ``torch.device("meta")`` (no memory, no
compute: only shapes), batch 1, and records

- ``params`` / ``trainable`` / ``buffers``: ``numel`` summed over ``parameters()``, those
  with ``requires_grad``, and ``buffers()``;
- ``flops`` and ``flops_by_op``: what ``torch.utils.flop_counter.FlopCounterMode`` counts
  for one forward pass with the module in train mode (the Python path: in_proj, attention,
  out_proj, the two feed-forward linears), in total and per aten op;
- ``training_flops``: forward and ``out.sum().backward()`` with every input requiring its
  gradient (a block inside a network), as tools/make_flops_fixture.py defines it;
  ``training_flops_first``: the same with inputs that need no gradient;
- ``flops_eval_no_grad``: the forward in ``eval()`` under ``torch.no_grad()`` on meta.
  PyTorch's inference fast path (``torch._transformer_encoder_layer_fwd``,
  ``torch._native_multi_head_attention``) accepts only cpu/cuda/xpu tensors, so on meta
  the Python path runs and this equals ``flops``;
- ``flops_eval_no_grad_cpu``, ``flops_by_op_eval_no_grad_cpu`` and ``eval_no_grad_cpu_path``:
  the same forward on real CPU tensors (the meta module moved with ``to_empty`` and
  zeroed), where the fast path does run when its conditions hold (batch_first, bias,
  an even nhead, ...). FlopCounterMode has no formula for the fused op, so it counts
  it as 0. ``eval_no_grad_cpu_path`` names the fused ops that ran, or is ``python``.

``args`` are the constructor's keyword arguments; ``input`` maps the forward's
arguments (``src``; ``tgt`` and ``memory``) to their shapes. Refused cases (nhead not
dividing d_model, an unknown activation, ...) carry ``error`` ("<type>: <first line>")
instead of counts. The case list comes from ``random.Random("<seed>/<class name>")``,
seed 20261202 (``ARCHSWEEP_FIXTURE_SEED`` overrides it), and holds no expected values.

    /tmp/fw-torch/bin/python tools/make_transformer_fixture.py > tests/data/torch_transformer.jsonl
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import warnings
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

warnings.filterwarnings("ignore")
META, CPU = torch.device("meta"), torch.device("cpu")
# ARCHSWEEP_FIXTURE_SEED draws other cases (tools/README.md: checking a release against unseen cases).
SEED = int(os.environ.get("ARCHSWEEP_FIXTURE_SEED", "20261202"))
CASES = 200  # per class, the 16 option combinations first
FUSED = ("aten._transformer_encoder_layer_fwd", "aten._native_multi_head_attention")


class _Ops(TorchDispatchMode):
    """Names the fused fast-path ops a forward dispatches."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        name = str(func.overloadpacket)
        if name in FUSED:
            self.seen.add(name)
        return func(*args, **(kwargs or {}))


def by_op(counter: FlopCounterMode) -> dict[str, int]:
    return {str(op): n for op, n in counter.get_flop_counts().get("Global", {}).items()}


def counted(module: nn.Module, inputs: list[torch.Tensor], backward: bool, input_grad: bool) -> FlopCounterMode:
    module.train()
    inputs = [x.detach().requires_grad_(input_grad) for x in inputs]
    with FlopCounterMode(display=False) as counter:
        out = module(*inputs)
        if backward:
            out.sum().backward()
    return counter


def eval_no_grad(module: nn.Module, inputs: list[torch.Tensor]) -> tuple[FlopCounterMode, list[str]]:
    module.eval()
    with torch.no_grad(), _Ops() as ops, FlopCounterMode(display=False) as counter:
        module(*inputs)
    return counter, sorted(ops.seen)


def on_cpu(module: nn.Module) -> nn.Module:
    module = module.to_empty(device=CPU)
    with torch.no_grad():
        for t in (*module.parameters(), *module.buffers()):
            t.zero_()
    return module


def shapes(cls: type, args: dict, lengths: dict[str, int]) -> dict[str, list[int]]:
    names = ["src"] if cls is nn.TransformerEncoderLayer else ["tgt", "memory"]
    d = max(args["d_model"], 1)
    return {n: [1, lengths[n], d] if args["batch_first"] else [lengths[n], 1, d] for n in names}


def record(cls: type, args: dict, lengths: dict[str, int]) -> None:
    inp = shapes(cls, args, lengths)
    row: dict[str, Any] = {"class": cls.__name__, "args": args, "input": inp}
    try:
        module = cls(**args, device=META)
        inputs = [torch.empty(s, device=META) for s in inp.values()]
        fwd = counted(module, inputs, False, False)
    except Exception as e:  # a refusal: at construction or at the first forward
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        print(json.dumps(row, sort_keys=True))
        return
    row["params"] = sum(p.numel() for p in module.parameters())
    row["trainable"] = sum(p.numel() for p in module.parameters() if p.requires_grad)
    row["buffers"] = sum(b.numel() for b in module.buffers())
    row["flops"], row["flops_by_op"] = fwd.get_total_flops(), by_op(fwd)
    row["training_flops"] = counted(module, inputs, True, True).get_total_flops()
    row["training_flops_first"] = counted(module, inputs, True, False).get_total_flops()
    row["flops_eval_no_grad"] = eval_no_grad(module, inputs)[0].get_total_flops()
    cpu = on_cpu(cls(**args, device=META))
    counter, fused = eval_no_grad(cpu, [torch.zeros(s, device=CPU) for s in inp.values()])
    row["flops_eval_no_grad_cpu"], row["flops_by_op_eval_no_grad_cpu"] = counter.get_total_flops(), by_op(counter)
    row["eval_no_grad_cpu_path"] = "+".join(fused) if fused else "python"
    print(json.dumps(row, sort_keys=True))


def log_size(rng: random.Random, top: int) -> int:
    """1..top, log-uniform, with the ends and powers of two drawn more often."""
    r = rng.random()
    if r < 0.08:
        return 1
    if r < 0.16:
        return top
    if r < 0.36:
        return 2 ** rng.randint(1, int(math.log2(top)))
    return min(top, max(1, round(2 ** rng.uniform(0, math.log2(top)))))


def draw(rng: random.Random, cls: type, flags: tuple[bool, bool, bool, str] | None) -> tuple[dict, dict]:
    d = log_size(rng, 2048)
    heads = [h for h in range(1, 33) if d % h == 0]
    nhead = rng.choice(heads)
    if flags is None:
        flags = (rng.random() < 0.7, rng.random() < 0.5, rng.random() < 0.5, rng.choice(["relu", "gelu"]))
    bias, norm_first, batch_first, activation = flags
    args = {"d_model": d, "nhead": nhead, "dim_feedforward": log_size(rng, 8192),
            "dropout": rng.choice([0.0, 0.1, 0.1, 0.5]), "activation": activation,
            "layer_norm_eps": rng.choice([1e-5, 1e-5, 1e-6, 1e-12]),
            "batch_first": batch_first, "norm_first": norm_first, "bias": bias}  # fmt: skip

    def length() -> int:
        return 1 if rng.random() < 0.1 else rng.randint(1, 64)

    names = ["src"] if cls is nn.TransformerEncoderLayer else ["tgt", "memory"]
    return args, {n: length() for n in names}


REFUSALS = [
    {"d_model": 10, "nhead": 3},  # nhead does not divide d_model
    {"d_model": 7, "nhead": 2},
    {"d_model": 2048, "nhead": 48},
    {"d_model": 8, "nhead": 0},
    {"d_model": 8, "nhead": 2, "activation": "tanh"},
    {"d_model": 8, "nhead": 2, "dropout": 1.5},
    {"d_model": 8, "nhead": 2, "dim_feedforward": -1},
    {"d_model": -4, "nhead": 2},
]


def cases(cls: type) -> None:
    rng = random.Random(f"{SEED}/{cls.__name__}")
    combos = [(b, n, f, a) for b in (True, False) for n in (False, True) for f in (True, False)
              for a in ("relu", "gelu")]  # fmt: skip
    for i in range(CASES):
        args, lengths = draw(rng, cls, combos[i] if i < len(combos) else None)
        record(cls, args, lengths)
    for refusal in REFUSALS:
        args = {"d_model": 8, "nhead": 2, "dim_feedforward": 16, "dropout": 0.1, "activation": "relu",
                "layer_norm_eps": 1e-5, "batch_first": True, "norm_first": False, "bias": True, **refusal}
        record(cls, args, {"src": 3, "tgt": 3, "memory": 2})


def main() -> None:
    if sys.argv[1:]:
        sys.exit(f"usage: {sys.argv[0]}  (PyTorch only; no arguments)")
    torch.set_num_threads(min(4, torch.get_num_threads()))
    for cls in (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer):
        cases(cls)
    print(f"torch {torch.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
