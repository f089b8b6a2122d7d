"""FLOPs of real PyTorch modules, counted by torch.utils.flop_counter.FlopCounterMode
on the meta device, one JSON object per line (tests/data/torch_flops.jsonl).

Each case builds a module and its input on ``torch.device("meta")`` (no memory,
no compute: only shapes) and records what FlopCounterMode counts for

- ``flops``: the forward pass;
- ``training_flops``: forward and ``out.sum().backward()`` with the input
  requiring its gradient (a layer inside a network);
- ``training_flops_first``: the same with an input that needs no gradient
  (a model's first layer).

Counts are per sample: the batch is 2 and every count is divided by it (the
script checks it divides). The case list comes from a fixed seed and holds no
expected values; ``args`` are archsweep's arguments for the same layer (its
kind, convention torch). Keras kinds with a PyTorch equivalent of the same
matmul shapes (Keras' separable conv: depthwise then pointwise Conv) are
recorded with ``convention`` keras.

    /tmp/fw-torch/bin/python tools/make_flops_fixture.py > tests/data/torch_flops.jsonl
    /tmp/fw-torch/bin/python tools/make_flops_fixture.py models > tests/data/torch_flops_models.jsonl
"""

from __future__ import annotations

import json
import os
import random
import sys
import warnings
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

warnings.filterwarnings("ignore")
META = torch.device("meta")
BATCH = 2
# ARCHSWEEP_FIXTURE_SEED draws other cases (tools/README.md: checking a release against unseen cases).
rng = random.Random(int(os.environ.get("ARCHSWEEP_FIXTURE_SEED", "20261202")))


def counted(module: nn.Module, inputs: list[torch.Tensor], backward: bool, input_grad: bool) -> int:
    module.train()
    inputs = [x.detach().requires_grad_(input_grad and x.is_floating_point()) for x in inputs]
    with FlopCounterMode(display=False) as counter:
        out = module(*inputs)
        if backward:
            (out[0] if isinstance(out, tuple) else out).sum().backward()
    total = counter.get_total_flops()
    assert total % BATCH == 0, (module, total)
    return total // BATCH


def record(kind: str, convention: str, args: dict, module: nn.Module, inputs: list[torch.Tensor], what: str) -> None:
    row = {"kind": kind, "convention": convention, "args": args, "torch": what,
           "flops": counted(module, inputs, False, False),
           "training_flops": counted(module, inputs, True, True),
           "training_flops_first": counted(module, inputs, True, False)}  # fmt: skip
    print(json.dumps(row, sort_keys=True))


def size(*choices: int) -> int:
    return rng.choice(choices)


def linear_cases(n: int) -> None:
    for _ in range(n):
        f, u, bias = size(1, 3, 7, 64, 513), size(1, 5, 16, 100), rng.random() < 0.7
        length = rng.choice([None, 1, 3, 17])
        shape = (BATCH, f) if length is None else (BATCH, length, f)
        args = {"n_features": f, "n_units": u, "bias": bias, **({"length": length} if length else {})}
        record("dense", "torch", args, nn.Linear(f, u, bias=bias, device=META), [torch.empty(shape, device=META)],
               f"Linear({f}, {u}, bias={bias}) on {shape}")


def conv_cases(n: int, rank: int) -> None:
    done = 0
    while done < n:
        g = size(1, 1, 2, 3)
        f, u = g * size(1, 2, 5), g * size(1, 3, 4)
        k = tuple(size(1, 2, 3, 5) for _ in range(rank))
        s = tuple(size(1, 1, 2, 3) for _ in range(rank))
        d = tuple(size(1, 1, 2) for _ in range(rank))
        spatial = tuple(size(1, 5, 9, 16, 33) for _ in range(rank))
        padding = rng.choice(["valid", "same", 0, 1, 2])
        if padding == "same" and any(x > 1 for x in s):
            continue  # PyTorch refuses padding='same' for strided convolutions
        p = padding if isinstance(padding, str) else padding
        if any((n_ + (0 if isinstance(p, str) else 2 * p) - dd * (kk - 1) - 1) < 0 and p != "same"
               for n_, kk, dd in zip(spatial, k, d)):
            continue  # the dilated kernel does not fit
        bias = rng.random() < 0.7
        cls = getattr(nn, f"Conv{rank}d")
        module = cls(f, u, k, stride=s, padding=p, dilation=d, groups=g, bias=bias, device=META)
        args = {"n_features": f, "n_units": u, "kernel": list(k), "bias": bias, "groups": g,
                "input_size": list(spatial), "strides": list(s), "dilation": list(d), "padding": padding}  # fmt: skip
        record(f"conv{rank}d", "torch", args, module, [torch.empty((BATCH, f, *spatial), device=META)],
               f"Conv{rank}d({f}, {u}, {k}, stride={s}, padding={p!r}, dilation={d}, groups={g}) on {spatial}")
        done += 1


def depthwise_cases(n: int, rank: int) -> None:
    for _ in range(n):
        f, m = size(1, 3, 8), size(1, 2)
        k = tuple(size(1, 3, 5) for _ in range(rank))
        spatial = tuple(size(5, 7, 12) for _ in range(rank))
        padding, bias = rng.choice(["valid", "same"]), rng.random() < 0.7
        module = getattr(nn, f"Conv{rank}d")(f, f * m, k, padding=padding, groups=f, bias=bias, device=META)
        args = {"n_features": f, "kernel": list(k), "depth_multiplier": m, "bias": bias,
                "input_size": list(spatial), "padding": padding}  # fmt: skip
        record(f"depthwise_conv{rank}d", "torch", args, module, [torch.empty((BATCH, f, *spatial), device=META)],
               f"Conv{rank}d({f}, {f * m}, {k}, padding={padding!r}, groups={f}) on {spatial}")


def separable_cases(n: int, rank: int) -> None:
    for _ in range(n):
        f, m, u = size(1, 3, 8), size(1, 2), size(1, 4, 16)
        k = tuple(size(1, 3, 5) for _ in range(rank))
        spatial = tuple(size(5, 7, 12) for _ in range(rank))
        padding = rng.choice(["valid", "same"])
        conv = getattr(nn, f"Conv{rank}d")
        module = nn.Sequential(conv(f, f * m, k, padding=padding, groups=f, bias=False, device=META),
                               conv(f * m, u, 1, device=META))  # fmt: skip
        args = {"n_features": f, "n_units": u, "kernel": list(k), "depth_multiplier": m,
                "input_size": list(spatial), "padding": padding}  # fmt: skip
        record(f"separable_conv{rank}d", "keras", args, module, [torch.empty((BATCH, f, *spatial), device=META)],
               f"Sequential(Conv{rank}d({f}, {f * m}, {k}, groups={f}, bias=False), Conv{rank}d({f * m}, {u}, 1)) "
               f"on {spatial}")


def transpose_cases(n: int, rank: int) -> None:
    for _ in range(n):
        g = size(1, 1, 2)
        f, u = g * size(1, 2, 3), g * size(1, 3)
        k = tuple(size(1, 2, 3) for _ in range(rank))
        s = tuple(size(1, 2) for _ in range(rank))
        spatial = tuple(size(1, 4, 7) for _ in range(rank))
        bias = rng.random() < 0.7
        cls = getattr(nn, f"ConvTranspose{rank}d")
        module = cls(f, u, k, stride=s, groups=g, bias=bias, device=META)
        args = {"n_features": f, "n_units": u, "kernel": list(k), "bias": bias, "groups": g,
                "input_size": list(spatial), "strides": list(s)}  # fmt: skip
        record(f"conv{rank}d_transpose", "torch", args, module, [torch.empty((BATCH, f, *spatial), device=META)],
               f"ConvTranspose{rank}d({f}, {u}, {k}, stride={s}, groups={g}) on {spatial}")


def recurrent_cases(n: int) -> None:
    for _ in range(n):
        kind = rng.choice(["rnn", "lstm", "gru"])
        f, h = size(1, 3, 8, 33), size(1, 2, 5, 16)
        layers, bidirectional, bias = size(1, 1, 2, 3), rng.random() < 0.4, rng.random() < 0.8
        length, batch_first = size(1, 2, 3, 9, 64), rng.random() < 0.5
        proj = size(0, 0, 1, 2) if kind == "lstm" and h > 2 else 0
        extra = {"proj_size": proj} if proj else {}
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        module = cls(f, h, num_layers=layers, bidirectional=bidirectional, bias=bias, batch_first=batch_first,
                     device=META, **extra)  # fmt: skip
        shape = (BATCH, length, f) if batch_first else (length, BATCH, f)
        args = {"n_features": f, "n_units": h, "num_layers": layers, "bidirectional": bidirectional, "bias": bias,
                "length": length, **extra}  # fmt: skip
        record(kind, "torch", args, module, [torch.empty(shape, device=META)],
               f"{cls.__name__}({f}, {h}, num_layers={layers}, bidirectional={bidirectional}, bias={bias}, "
               f"batch_first={batch_first}{', proj_size=' + str(proj) if proj else ''}) on {shape}")


def attention_cases(n: int) -> None:
    for _ in range(n):
        heads = size(1, 2, 4)
        e = heads * size(1, 2, 8)
        length = size(1, 3, 10)
        cross = rng.random() < 0.5
        kv_length = size(1, 4, 7) if cross else length
        kdim = size(3, 5, e) if cross and rng.random() < 0.5 else e
        vdim = size(2, 6, e) if cross and rng.random() < 0.5 else e
        bias, bias_kv = rng.random() < 0.8, rng.random() < 0.3
        module = nn.MultiheadAttention(e, heads, bias=bias, add_bias_kv=bias_kv, kdim=kdim, vdim=vdim, device=META)
        q = torch.empty((length, BATCH, e), device=META)
        if cross:
            inputs = [q, torch.empty((kv_length, BATCH, kdim), device=META), torch.empty((kv_length, BATCH, vdim),
                                                                                         device=META)]
        else:
            inputs = [q, q, q]
        args = {"n_features": e, "num_heads": heads, "bias": bias, "add_bias_kv": bias_kv, "length": length,
                **({"kv_length": kv_length} if cross else {}), **({"kdim": kdim} if kdim != e else {}),
                **({"vdim": vdim} if vdim != e else {})}  # fmt: skip
        record("mha", "torch", args, module, inputs,
               f"MultiheadAttention({e}, {heads}, bias={bias}, add_bias_kv={bias_kv}, kdim={kdim}, vdim={vdim}) "
               f"query length {length}, key length {kv_length}{' (self)' if not cross else ''}")


def zero_cases() -> None:
    """Layers FlopCounterMode counts nothing for: lookups and normalizations."""
    cases = [
        ("embedding", {"n_features": 50, "n_units": 8}, nn.Embedding(50, 8, device=META),
         torch.zeros((BATCH, 6), dtype=torch.long, device=META)),
        ("batchnorm", {"n_features": 6}, nn.BatchNorm2d(6, device=META), torch.empty((BATCH, 6, 5, 5), device=META)),
        ("layernorm", {"n_features": 6}, nn.LayerNorm(6, device=META), torch.empty((BATCH, 4, 6), device=META)),
        ("groupnorm", {"n_features": 6, "groups": 3}, nn.GroupNorm(3, 6, device=META),
         torch.empty((BATCH, 6, 5), device=META)),
        ("rmsnorm", {"n_features": 6}, nn.RMSNorm(6, device=META), torch.empty((BATCH, 4, 6), device=META)),
    ]  # fmt: skip
    for kind, args, module, x in cases:
        record(kind, "torch", args, module, [x], f"{type(module).__name__} on {tuple(x.shape)}")


class _Last(nn.Module):
    """A recurrent layer's last output step (Keras' return_sequences=False), or all of them."""

    def __init__(self, rnn: nn.Module, sequences: bool) -> None:
        super().__init__()
        self.rnn, self.sequences = rnn, sequences

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(x)[0]
        return out if self.sequences else out[:, -1]


class _SelfAttention(nn.Module):
    def __init__(self, e: int, heads: int) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(e, heads, batch_first=True, device=META)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mha(x, x, x)[0]


class _ChannelsLast(nn.Module):
    """archsweep's models are channels-last, as Keras; PyTorch's convolutions are channels-first."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.movedim(-1, 1)).movedim(1, -1)


def model_cases() -> None:
    """Whole models: archsweep's spec (convention torch) and the same network in PyTorch, counted with the
    model's input needing no gradient (training_flops: forward and backward as a training step runs it)."""
    def conv(cin: int, cout: int, k: int, **kw: Any) -> nn.Module:
        return nn.Conv2d(cin, cout, k, device=META, **kw)

    models = [
        ([784], [{"type": "Dense", "units": 256}, {"type": "ReLU"}, {"type": "Dense", "units": 128},
                 {"type": "Dense", "units": 10}],
         nn.Sequential(nn.Linear(784, 256, device=META), nn.ReLU(), nn.Linear(256, 128, device=META),
                       nn.Linear(128, 10, device=META)), (784,), "MLP 784-256-128-10"),
        ([32, 32, 3], [{"type": "Conv2D", "filters": 16, "kernel": 3, "padding": "same"},
                       {"type": "BatchNormalization"}, {"type": "ReLU"},
                       {"type": "Conv2D", "filters": 32, "kernel": 3, "strides": 2},
                       {"type": "DepthwiseConv2D", "kernel": 3, "depth_multiplier": 2},
                       {"type": "Conv2D", "filters": 8, "kernel": 1, "groups": 4}],
         _ChannelsLast(nn.Sequential(conv(3, 16, 3, padding="same"), nn.BatchNorm2d(16, device=META), nn.ReLU(),
                                     conv(16, 32, 3, stride=2), conv(32, 64, 3, groups=32),
                                     conv(64, 8, 1, groups=4))),
         (32, 32, 3), "conv stack with BatchNorm, a depthwise and a grouped 1x1 conv"),
        ([12, 5], [{"type": "LSTM", "units": 7, "return_sequences": True}, {"type": "GRU", "units": 6},
                   {"type": "Dense", "units": 3}],
         nn.Sequential(_Last(nn.LSTM(5, 7, batch_first=True, device=META), True),
                       _Last(nn.GRU(7, 6, batch_first=True, device=META), False), nn.Linear(6, 3, device=META)),
         (12, 5), "LSTM then GRU then Linear"),
        ([9], [{"type": "Embedding", "input_dim": 100, "output_dim": 16},
               {"type": "MultiHeadAttention", "num_heads": 4, "key_dim": 4},
               {"type": "LayerNormalization"}, {"type": "Dense", "units": 5}],
         None, (9,), "Embedding, self-attention, LayerNorm, Linear"),
        ([6, 6, 2], [{"type": "Conv2DTranspose", "filters": 3, "kernel": 2, "strides": 2},
                     {"type": "Conv2D", "filters": 4, "kernel": 3}],
         _ChannelsLast(nn.Sequential(nn.ConvTranspose2d(2, 3, 2, stride=2, device=META), conv(3, 4, 3))),
         (6, 6, 2), "ConvTranspose2d then Conv2d"),
    ]  # fmt: skip
    for shape, layers, module, input_shape, what in models:
        if module is None:  # the attention model: tokens in
            module = nn.Sequential(nn.Embedding(100, 16, device=META), _SelfAttention(16, 4),
                                   nn.LayerNorm(16, device=META), nn.Linear(16, 5, device=META))  # fmt: skip
            x = torch.zeros((BATCH, *input_shape), dtype=torch.long, device=META)
        else:
            x = torch.empty((BATCH, *input_shape), device=META)
        row = {"model": {"input_shape": shape, "layers": layers, "convention": "torch"}, "torch": what,
               "params": sum(p.numel() for p in module.parameters()),
               "flops": counted(module, [x], False, False), "training_flops": counted(module, [x], True, False)}
        print(json.dumps(row, sort_keys=True))


def main() -> None:
    if sys.argv[1:] == ["models"]:
        model_cases()
        return
    linear_cases(30)
    for rank in (1, 2, 3):
        conv_cases(30 if rank < 3 else 15, rank)
    for rank in (1, 2):
        depthwise_cases(8, rank)
        separable_cases(8, rank)
        transpose_cases(15, rank)
    recurrent_cases(80)
    attention_cases(40)
    zero_cases()
    print(f"torch {torch.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
