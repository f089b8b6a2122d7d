#!/usr/bin/env python3
"""Exact bytes of training state (weights, gradients, optimizer state) of real
PyTorch models, one JSON object per line (tests/data/torch_memory.jsonl).

Run (throwaway venv with torch, optionally bitsandbytes; never the system Python):

    /tmp/fw-torch/bin/pip install torch bitsandbytes
    /tmp/fw-torch/bin/python tools/make_memory_fixture.py > tests/data/torch_memory.jsonl   # ~15 s (8 s of it imports)

Each model is plain data (``MODELS`` below): an ``input`` (shape, dtype), a
chain of ``layers`` (``{"module": <torch.nn class>, "args": {...}}``, called
in order; a MultiheadAttention is called as self-attention ``layer(x, x, x)``
and a recurrent layer's output is ``out[0]``) and optional extras: ``frozen``
(parameter names given ``requires_grad=False``), ``tied`` (pairs of names, the
second made the same Parameter as the first), ``extra_parameters`` (a
trainable parameter the forward never uses) and ``extra_buffers``
(persistent or not).  The model is built by ``build()``; every number written
is measured on it, none is computed by a formula:

- ``params``/``tensors``: ``sum(p.numel())`` / ``len`` over
  ``module.parameters()`` (which yields a tied Parameter once);
  ``trainable_*`` the same over those with ``requires_grad``; ``buffers``,
  ``buffer_tensors``, ``persistent_buffers`` (those in ``state_dict``);
  ``param_numels``/``trainable_numels`` list each tensor's numel, in
  ``parameters()`` order.
- ``weight_bytes[dtype]`` / ``buffer_bytes[dtype]``: ``sum(numel *
  element_size)`` after ``module.to(dtype)`` on the meta device, for every
  floating dtype ``.to`` accepts (float64, float32, float16, bfloat16,
  float8_e4m3fn, float8_e5m2).  Integer dtypes (int8) are refused by
  ``nn.Module.to`` ("only accepts floating point or complex dtypes") and are
  not recorded; integer buffers (BatchNorm's ``num_batches_tracked``) keep
  their dtype.
- ``grad_bytes[dtype]``: after ``module.to(dtype)``, one forward and
  ``out.sum().backward()`` on meta, ``sum(p.grad.numel() *
  p.grad.element_size())`` over parameters whose ``grad`` is not None
  (``grad_tensors``, ``grad_params``: their count and numel; ``grad_dtypes``).
  float8 is not recorded (its forward is not implemented).
  ``grad_bytes_autocast_bfloat16``: float32 parameters, forward under
  ``torch.autocast("cpu", torch.bfloat16)`` on CPU (autocast does not act on
  meta), then backward; the grads' bytes and dtypes.
- ``optimizer_state[param_dtype][optimizer]``: after the backward above
  (meta device, params at float32 and bfloat16) and ONE ``optimizer.step()``
  over ``module.parameters()`` (frozen/unused ones included), the state
  broken down by key name and then by dtype: ``bytes`` (sum of numel *
  element_size), ``tensors``, ``unique_bytes`` (each tensor object counted
  once), ``device`` and ``shape_0dim`` (how many are 0-dim); ``total_bytes``
  and ``total_unique_bytes`` over all keys.
  Checked: a second step leaves every size unchanged.  torch optimizers:
  SGD (no momentum), SGD(momentum=0.9), Adam, AdamW, Adam(amsgrad=True),
  default arguments otherwise (foreach/fused left at their defaults).
- ``bitsandbytes[param_dtype][optimizer]``: the same for bitsandbytes
  ``Adam8bit``/``AdamW8bit`` (default ``min_8bit_size``, block-wise), run on
  CPU with real tensors (seeded); a non-tensor value (its ``step`` is a
  Python int) is recorded as ``{"python_int": {"count": n}}``.  ``unique_bytes``
  matters here: ``qmap1``/``qmap2`` are one tensor shared by every parameter
  of the optimizer.  ``null`` when bitsandbytes is not importable.

Output is deterministic for given versions (``versions`` on each line); keys
are sorted.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import json
import logging
import sys
import warnings

import torch
from torch import nn

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
META = torch.device("meta")
CPU = torch.device("cpu")

try:  # bitsandbytes logs/prints a note about optional CPU kernels on import
    with contextlib.redirect_stdout(io.StringIO()):
        import bitsandbytes as bnb
except Exception:  # noqa: BLE001 - any failure means "not available"
    bnb = None

MODELS: list[dict] = [
    {"name": "mlp_bias", "input": {"shape": [2, 64], "dtype": "float32"},
     "layers": [{"module": "Linear", "args": {"in_features": 64, "out_features": 64, "bias": True}},
                {"module": "ReLU", "args": {}},
                {"module": "Linear", "args": {"in_features": 64, "out_features": 128, "bias": True}},
                {"module": "ReLU", "args": {}},
                {"module": "Linear", "args": {"in_features": 128, "out_features": 10, "bias": True}}]},
    {"name": "mlp_nobias", "input": {"shape": [2, 63], "dtype": "float32"},
     "layers": [{"module": "Linear", "args": {"in_features": 63, "out_features": 65, "bias": False}},
                {"module": "ReLU", "args": {}},
                {"module": "Linear", "args": {"in_features": 65, "out_features": 65, "bias": False}},
                {"module": "ReLU", "args": {}},
                {"module": "Linear", "args": {"in_features": 65, "out_features": 10, "bias": False}}]},
    {"name": "conv_bn", "input": {"shape": [2, 3, 12, 12], "dtype": "float32"},
     "layers": [{"module": "Conv2d", "args": {"in_channels": 3, "out_channels": 16, "kernel_size": 3}},
                {"module": "BatchNorm2d", "args": {"num_features": 16}},
                {"module": "ReLU", "args": {}},
                {"module": "Conv2d", "args": {"in_channels": 16, "out_channels": 32, "kernel_size": 3, "bias": False}},
                {"module": "BatchNorm2d", "args": {"num_features": 32}}]},
    {"name": "lstm_2layer_bidir_proj", "input": {"shape": [2, 5, 16], "dtype": "float32"},
     "layers": [{"module": "LSTM", "args": {"input_size": 16, "hidden_size": 64, "num_layers": 2,
                                            "bidirectional": True, "proj_size": 8, "batch_first": True}}]},
    {"name": "mha", "input": {"shape": [2, 5, 64], "dtype": "float32"},
     "layers": [{"module": "MultiheadAttention", "args": {"embed_dim": 64, "num_heads": 4, "batch_first": True}}]},
    {"name": "mha_bias_kv_nobias", "input": {"shape": [2, 5, 32], "dtype": "float32"},
     "layers": [{"module": "MultiheadAttention", "args": {"embed_dim": 32, "num_heads": 2, "bias": False,
                                                          "add_bias_kv": True, "batch_first": True}}]},
    {"name": "embedding_layernorm", "input": {"shape": [2, 7], "dtype": "int64", "high": 1000},
     "layers": [{"module": "Embedding", "args": {"num_embeddings": 1000, "embedding_dim": 32}},
                {"module": "LayerNorm", "args": {"normalized_shape": 32}}]},
    {"name": "embedding_tied_head", "input": {"shape": [2, 7], "dtype": "int64", "high": 200},
     "layers": [{"module": "Embedding", "args": {"num_embeddings": 200, "embedding_dim": 32}},
                {"module": "LayerNorm", "args": {"normalized_shape": 32}},
                {"module": "Linear", "args": {"in_features": 32, "out_features": 200, "bias": False}}],
     "tied": [["0.weight", "2.weight"]]},
    {"name": "frozen_unused_buffers", "input": {"shape": [4, 32], "dtype": "float32"},
     "layers": [{"module": "Linear", "args": {"in_features": 32, "out_features": 160, "bias": True}},
                {"module": "BatchNorm1d", "args": {"num_features": 160}},
                {"module": "ReLU", "args": {}},
                {"module": "Linear", "args": {"in_features": 160, "out_features": 8, "bias": True}}],
     "frozen": ["0.weight"],
     "extra_parameters": [{"name": "unused", "shape": [16], "requires_grad": True}],
     "extra_buffers": [{"name": "scale", "shape": [8], "persistent": True},
                       {"name": "mask", "shape": [4, 4], "persistent": False}]},
]

WEIGHT_DTYPES = ["float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"]
GRAD_DTYPES = ["float32", "float16", "bfloat16"]
STATE_DTYPES = ["float32", "bfloat16"]
TORCH_OPTIMIZERS = {
    "SGD": lambda ps: torch.optim.SGD(ps, lr=0.1),
    "SGD_momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    "Adam": lambda ps: torch.optim.Adam(ps),
    "AdamW": lambda ps: torch.optim.AdamW(ps),
    "Adam_amsgrad": lambda ps: torch.optim.Adam(ps, amsgrad=True),
}
BNB_OPTIMIZERS = ["Adam8bit", "AdamW8bit"]


class Chain(nn.Sequential):
    """The layers called in order (self-attention, recurrent output [0])."""

    def forward(self, x):  # type: ignore[override]
        for layer in self:
            if isinstance(layer, nn.MultiheadAttention):
                x = layer(x, x, x)[0]
            elif isinstance(layer, nn.RNNBase):
                x = layer(x)[0]
            else:
                x = layer(x)
        return x


def build(spec: dict, device: torch.device) -> Chain:
    torch.manual_seed(0)
    layers = []
    for layer in spec["layers"]:
        cls = getattr(nn, layer["module"])
        kinds = {q.kind for q in inspect.signature(cls.__init__).parameters.values()}
        takes_device = "device" in inspect.signature(cls.__init__).parameters or inspect.Parameter.VAR_KEYWORD in kinds
        layers.append(cls(**layer["args"], device=device) if takes_device else cls(**layer["args"]))
    model = Chain(*layers)
    for first, second in spec.get("tied", []):
        owner, _, attr = second.rpartition(".")
        setattr(model.get_submodule(owner), attr, model.get_parameter(first))
    for name in spec.get("frozen", []):
        model.get_parameter(name).requires_grad_(False)
    for extra in spec.get("extra_parameters", []):
        param = nn.Parameter(torch.randn(extra["shape"], device=device), requires_grad=extra["requires_grad"])
        model.register_parameter(extra["name"], param)
    for extra in spec.get("extra_buffers", []):
        model.register_buffer(extra["name"], torch.ones(extra["shape"], device=device), persistent=extra["persistent"])
    assert all(t.device == device for t in [*model.parameters(), *model.buffers()]), spec["name"]
    return model


def make_input(spec: dict, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    torch.manual_seed(1)
    shape = spec["input"]["shape"]
    if spec["input"]["dtype"] == "int64":
        return torch.randint(0, spec["input"]["high"], shape, device=device)
    return torch.randn(shape, device=device, dtype=dtype)


def nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def backward(model: Chain, spec: dict, device: torch.device, dtype: torch.dtype, autocast: bool = False) -> None:
    model.train()
    x = make_input(spec, device, dtype)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if autocast else contextlib.nullcontext()
    with ctx:
        out = model(x)
    out.float().sum().backward()


def grads(model: Chain) -> list[torch.Tensor]:
    return [p.grad for p in model.parameters() if p.grad is not None]


def state_summary(optimizer: torch.optim.Optimizer) -> dict:
    keys: dict[str, dict] = {}
    seen: set[int] = set()
    total = 0
    for state in optimizer.state.values():
        for key, value in state.items():
            slot = keys.setdefault(key, {})
            if not torch.is_tensor(value):
                entry = slot.setdefault("python_" + type(value).__name__, {"count": 0})
                entry["count"] += 1
                continue
            entry = slot.setdefault(str(value.dtype).removeprefix("torch."),
                                    {"bytes": 0, "tensors": 0, "unique_bytes": 0, "shape_0dim": 0, "device": value.device.type})
            size = value.numel() * value.element_size()
            entry["bytes"] += size
            entry["tensors"] += 1
            entry["shape_0dim"] += value.dim() == 0
            assert entry["device"] == value.device.type, (key, value.device)
            total += size
            if id(value) not in seen:
                seen.add(id(value))
                entry["unique_bytes"] += size
    unique = sum(e["unique_bytes"] for slot in keys.values() for e in slot.values() if "unique_bytes" in e)
    return {"keys": keys, "total_bytes": total, "total_unique_bytes": unique}


def sizes(optimizer: torch.optim.Optimizer) -> list:
    return sorted((str(k), str(v.dtype), tuple(v.shape), v.device.type)
                  for s in optimizer.state.values() for k, v in s.items() if torch.is_tensor(v))


def optimizer_states(spec: dict, device: torch.device, ctors: dict) -> dict:
    result = {}
    for dtype_name in STATE_DTYPES:
        per_opt = {}
        for name, ctor in ctors.items():
            model = build(spec, device).to(getattr(torch, dtype_name))
            backward(model, spec, device, getattr(torch, dtype_name))
            optimizer = ctor(model.parameters())
            optimizer.step()
            per_opt[name] = state_summary(optimizer)
            first = sizes(optimizer)
            optimizer.step()
            assert sizes(optimizer) == first, (spec["name"], name)
        result[dtype_name] = per_opt
    return result


def measure(spec: dict) -> dict:
    model = build(spec, META)
    params = list(model.parameters())
    trainable = [p for p in params if p.requires_grad]
    buffers = list(model.buffers())
    row: dict = {
        "name": spec["name"],
        "model": {k: v for k, v in spec.items() if k != "name"},
        "params": sum(p.numel() for p in params),
        "tensors": len(params),
        "trainable_params": sum(p.numel() for p in trainable),
        "trainable_tensors": len(trainable),
        "param_numels": [p.numel() for p in params],
        "trainable_numels": [p.numel() for p in trainable],
        "buffers": sum(b.numel() for b in buffers),
        "buffer_tensors": len(buffers),
        "buffer_dtypes": sorted({str(b.dtype).removeprefix("torch.") for b in buffers}),
        "persistent_buffers": sum(v.numel() for k, v in model.state_dict().items()
                                  if k in dict(model.named_buffers())),
    }
    row["weight_bytes"], row["buffer_bytes"] = {}, {}
    for dtype_name in WEIGHT_DTYPES:
        converted = build(spec, META).to(getattr(torch, dtype_name))
        row["weight_bytes"][dtype_name] = nbytes(converted.parameters())
        row["buffer_bytes"][dtype_name] = nbytes(converted.buffers())
    row["grad_bytes"], row["grad_dtypes"] = {}, {}
    for dtype_name in GRAD_DTYPES:
        converted = build(spec, META).to(getattr(torch, dtype_name))
        backward(converted, spec, META, getattr(torch, dtype_name))
        g = grads(converted)
        row["grad_bytes"][dtype_name] = nbytes(g)
        row["grad_dtypes"][dtype_name] = sorted({str(t.dtype).removeprefix("torch.") for t in g})
        row["grad_tensors"], row["grad_params"] = len(g), sum(t.numel() for t in g)
    mixed = build(spec, CPU)
    backward(mixed, spec, CPU, torch.float32, autocast=True)
    g = grads(mixed)
    row["grad_bytes_autocast_bfloat16"] = nbytes(g)
    row["grad_dtypes_autocast_bfloat16"] = sorted({str(t.dtype).removeprefix("torch.") for t in g})
    row["optimizer_state"] = optimizer_states(spec, META, TORCH_OPTIMIZERS)
    if bnb is None:
        row["bitsandbytes"] = None
    else:
        ctors = {name: getattr(bnb.optim, name) for name in BNB_OPTIMIZERS}
        row["bitsandbytes"] = optimizer_states(spec, CPU, ctors)
    row["versions"] = {"torch": torch.__version__, "bitsandbytes": None if bnb is None else bnb.__version__,
                       "python": "%d.%d.%d" % sys.version_info[:3]}
    return row


def main() -> None:
    for spec in MODELS:
        print(json.dumps(measure(spec), sort_keys=True))


if __name__ == "__main__":
    main()
