"""The element-wise FLOPs FlopCounterMode leaves out (bias adds, gates, norms,
softmax), counted from the frameworks' own decomposition of each layer's
forward pass, one JSON object per line (tests/data/*_elementwise.jsonl).

PyTorch (``torch``, run with the torch venv): the module is traced on the meta
device by ``make_fx`` with PyTorch's decompositions (``core_aten_decompositions``,
plus its own decompositions of the norms and softmax, which the core ATen set
keeps whole). Keras (``keras``, run with the Keras venv, jax backend): the
layer's ``stateless_call`` is traced by ``jax.make_jaxpr`` (scans counted
``length`` times). Every op of the trace is weighed by one table (WEIGHTS):

- ``product``: matmuls and convolutions, what ``flops`` counts; 0 here, but
  ``addmm``/``baddbmm`` and a convolution with a bias add one FLOP per output
  element (the bias add);
- ``pointwise`` arithmetic: 1 per output element (add, sub, mul, div, neg,
  sigmoid, tanh, exp, pow, rsqrt, where, max of two tensors ...);
- ``reduction``: 1 per input element (sum, mean, amax, var_mean ...);
- ``free``: 0 (views, copies, cat, slicing, indexing, creation, type casts,
  lookups, comparisons); so is any op whose result is not floating-point
  (index arithmetic on an embedding's indices, masks).

An op in no class stops the script: the table is the rule, nothing is guessed.
Modules are in eval mode (BatchNorm uses its running statistics), but
MultiheadAttention in train mode, as the FLOPs fixture counts it (dropout 0,
need_weights: the head-averaged weights); Keras layers are called in inference.

Counts are per sample: each layer is traced at batches 2, 3 and 4 (the count
checked linear in the batch), ``elementwise`` is the growth per sample and
``per_call`` what is left (work done once a call, whatever the batch: BatchNorm's
``rsqrt(running_var + eps)`` per channel). ``flops`` (torch) is
FlopCounterMode's forward count, so ``flops + elementwise`` is ``all_flops``.
The case list comes from a fixed seed and holds no expected value computed by
archsweep; ``args`` are archsweep's arguments for the same layer.

    /tmp/fw-torch/bin/python tools/make_elementwise_fixture.py torch > tests/data/torch_elementwise.jsonl
    /tmp/fw-keras/bin/python tools/make_elementwise_fixture.py keras > tests/data/keras_elementwise.jsonl
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import warnings
from collections.abc import Callable
from typing import Any

warnings.filterwarnings("ignore")
# ARCHSWEEP_FIXTURE_SEED draws other cases (tools/README.md: checking a release against unseen cases).
rng = random.Random(int(os.environ.get("ARCHSWEEP_FIXTURE_SEED", "20261203")))

# The weight table, by op name (ATen's without overload, jax's primitive names).
WEIGHTS = {
    "product": {"mm", "bmm", "addmm", "baddbmm", "convolution", "dot_general", "conv_general_dilated"},
    "pointwise": {"add", "add_", "sub", "sub_", "rsub", "mul", "mul_", "div", "div_", "neg", "sigmoid", "sigmoid_",
                  "logistic", "tanh", "tanh_", "exp", "pow", "square", "integer_pow", "sqrt", "rsqrt", "reciprocal",
                  "relu", "where", "select_n", "maximum", "minimum", "max", "min", "clamp", "abs", "log"},
    "reduction": {"sum", "mean", "amax", "amin", "var", "var_mean", "prod", "reduce_sum", "reduce_max",
                  "reduce_min"},
    "free": {"view", "_unsafe_view", "reshape", "permute", "transpose", "t", "expand", "unsqueeze", "squeeze",
             "transpose_", "select", "slice", "split", "split_with_sizes", "getitem", "alias", "clone", "_to_copy", "copy",
             "copy_", "cat", "concatenate", "repeat", "stack", "full", "empty", "zeros", "ones", "scalar_tensor",
             "embedding", "broadcast_in_dim", "convert_element_type", "stop_gradient", "rev", "gt", "lt", "ge",
             "le", "eq", "ne", "iota", "pad", "gather", "dynamic_slice", "dynamic_update_slice"},
}  # fmt: skip
CLASS = {op: cls for cls, ops in WEIGHTS.items() for op in ops}
# The products that carry an add of their output (addmm's input, a convolution's bias).
WITH_ADD = {"addmm", "baddbmm"}


def weigh(op: str, inputs: list[int], outputs: list[int], bias: bool = False) -> int:
    """One op's element-wise FLOPs by the table, from its operands' and results' element counts."""
    cls = CLASS.get(op)
    if cls is None:
        raise SystemExit(f"{op}: in no class of the weight table; add it to WEIGHTS (and the docs) first")
    if cls == "product":
        return outputs[0] if op in WITH_ADD or bias else 0
    if cls == "pointwise":
        return sum(outputs)
    if cls == "reduction":
        return inputs[0]
    return 0


def size(*choices: int) -> int:
    return rng.choice(choices)


def per_sample(trace: Callable[[int], int]) -> tuple[int, int]:
    """(the count per sample, the count per call) from traces at batches 2, 3 and 4 (PyTorch refuses batch
    statistics of one value), checked to be linear in the batch."""
    two, three, four = trace(2), trace(3), trace(4)
    assert four - three == three - two, (two, three, four)
    return three - two, two - 2 * (three - two)


# -- PyTorch -------------------------------------------------------------------------------------------------------


def torch_main() -> None:
    import torch
    from torch import nn
    from torch._decomp import core_aten_decompositions, get_decompositions
    from torch.fx.experimental.proxy_tensor import make_fx
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    meta = torch.device("meta")
    table = dict(core_aten_decompositions())
    # Core ATen keeps these whole; PyTorch's own decompositions split them into the ops the table weighs.
    table.update(get_decompositions([aten.native_batch_norm, aten._native_batch_norm_legit_no_training,
                                     aten._native_batch_norm_legit, aten._native_batch_norm_legit_functional,
                                     aten.native_layer_norm, aten.native_group_norm, aten._softmax]))  # fmt: skip

    def numel(value: Any) -> list[int]:
        if isinstance(value, torch.Tensor):
            return [value.numel()]
        if isinstance(value, (tuple, list)):
            return [n for v in value for n in numel(v)]
        return []

    def traced(module: nn.Module, make: Callable[[int], list[torch.Tensor]], train: bool) -> Callable[[int], int]:
        def trace(batch: int) -> int:
            module.train(train)
            graph = make_fx(lambda *xs: module(*xs), decomposition_table=table)(*make(batch))
            total = 0
            for node in graph.graph.nodes:
                if node.op != "call_function":
                    continue
                name = getattr(node.target, "__name__", str(node.target)).split(".")[0]
                out = node.meta.get("val")
                if isinstance(out, torch.Tensor) and not out.is_floating_point():
                    continue  # index arithmetic, comparisons: not floating-point work
                args = [a.meta.get("val") if isinstance(a, torch.fx.Node) else a for a in node.args]
                bias = name == "convolution" and node.args[2] is not None
                total += weigh(name, numel(args[1:] if name in WITH_ADD else args), numel(node.meta.get("val")),
                               bias)  # fmt: skip
            return total

        return trace

    def flops(module: nn.Module, make: Callable[[int], list[torch.Tensor]], train: bool) -> int:
        module.train(train)
        with FlopCounterMode(display=False) as counter:
            module(*make(2))
        return counter.get_total_flops() // 2

    def record(kind: str, args: dict, module: nn.Module, make: Callable[[int], list[torch.Tensor]], what: str,
               train: bool = False) -> None:  # fmt: skip
        elementwise, per_call = per_sample(traced(module, make, train))
        row = {"kind": kind, "convention": "torch", "args": args, "torch": what, "flops": flops(module, make, train),
               "elementwise": elementwise, "per_call": per_call}  # fmt: skip
        print(json.dumps(row, sort_keys=True))

    def x(*shape: int) -> Callable[[int], list[torch.Tensor]]:
        return lambda b: [torch.empty((b, *shape), device=meta)]

    for _ in range(20):
        f, u, bias = size(1, 3, 7, 64), size(1, 5, 16), rng.random() < 0.7
        length = rng.choice([None, 1, 3, 17])
        shape = (f,) if length is None else (length, f)
        record("dense", {"n_features": f, "n_units": u, "bias": bias, **({"length": length} if length else {})},
               nn.Linear(f, u, bias=bias, device=meta), x(*shape), f"Linear({f}, {u}, bias={bias}) on {shape}")
    for rank in (1, 2, 3):
        for _ in range(12 if rank < 3 else 6):
            g = size(1, 1, 2)
            f, u = g * size(1, 2, 5), g * size(1, 3)
            k = tuple(size(1, 2, 3) for _ in range(rank))
            s = tuple(size(1, 2) for _ in range(rank))
            spatial = tuple(size(3, 5, 9) for _ in range(rank))
            padding, bias = size(0, 1), rng.random() < 0.7
            module = getattr(nn, f"Conv{rank}d")(f, u, k, stride=s, padding=padding, groups=g, bias=bias, device=meta)
            record(f"conv{rank}d", {"n_features": f, "n_units": u, "kernel": list(k), "bias": bias, "groups": g,
                                    "input_size": list(spatial), "strides": list(s), "padding": padding},
                   module, x(f, *spatial), f"Conv{rank}d({f}, {u}, {k}, stride={s}, padding={padding}, groups={g}, "
                                           f"bias={bias}) on {spatial}")  # fmt: skip
    for rank in (1, 2):
        for _ in range(6):
            f, m, bias = size(1, 3, 4), size(1, 2), rng.random() < 0.7
            k = tuple(size(1, 3) for _ in range(rank))
            spatial = tuple(size(5, 7) for _ in range(rank))
            module = getattr(nn, f"Conv{rank}d")(f, f * m, k, groups=f, bias=bias, device=meta)
            record(f"depthwise_conv{rank}d", {"n_features": f, "kernel": list(k), "depth_multiplier": m, "bias": bias,
                                              "input_size": list(spatial)},
                   module, x(f, *spatial), f"Conv{rank}d({f}, {f * m}, {k}, groups={f}, bias={bias}) on {spatial}")
        for _ in range(8):
            g = size(1, 1, 2)
            f, u = g * size(1, 2, 3), g * size(1, 3)
            k = tuple(size(1, 2, 3) for _ in range(rank))
            s = tuple(size(1, 2, 3) for _ in range(rank))
            p = tuple(size(0, 0, 1) for _ in range(rank))
            extra = tuple(size(0, 1) if st > 1 else 0 for st in s)
            spatial = tuple(size(1, 4, 6) for _ in range(rank))
            if any((n - 1) * st - 2 * pp + kk + e <= 0 for n, st, pp, kk, e in zip(spatial, s, p, k, extra)):
                continue
            bias = rng.random() < 0.7
            module = getattr(nn, f"ConvTranspose{rank}d")(f, u, k, stride=s, padding=p, output_padding=extra,
                                                          groups=g, bias=bias, device=meta)  # fmt: skip
            record(f"conv{rank}d_transpose", {"n_features": f, "n_units": u, "kernel": list(k), "bias": bias,
                                              "groups": g, "input_size": list(spatial), "strides": list(s),
                                              "padding": list(p), "output_padding": list(extra)},
                   module, x(f, *spatial), f"ConvTranspose{rank}d({f}, {u}, {k}, stride={s}, padding={p}, "
                                           f"output_padding={extra}, groups={g}, bias={bias}) on {spatial}")  # fmt: skip
    for _ in range(45):
        kind = rng.choice(["rnn", "lstm", "gru"])
        f, h = size(1, 3, 8), size(1, 2, 5, 16)
        layers, bidirectional, bias = size(1, 1, 2, 3), rng.random() < 0.4, rng.random() < 0.7
        length = size(1, 2, 3, 9)
        proj = size(0, 0, 1, 2) if kind == "lstm" and h > 2 else 0
        extra = {"proj_size": proj} if proj else {}
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
        module = cls(f, h, num_layers=layers, bidirectional=bidirectional, bias=bias, batch_first=True, device=meta,
                     **extra)  # fmt: skip
        record(kind, {"n_features": f, "n_units": h, "num_layers": layers, "bidirectional": bidirectional,
                      "bias": bias, "length": length, **extra},
               module, x(length, f), f"{cls.__name__}({f}, {h}, num_layers={layers}, bidirectional={bidirectional}, "
                                     f"bias={bias}{', proj_size=' + str(proj) if proj else ''}) on {(length, f)}")  # fmt: skip
    for _ in range(25):
        heads = size(1, 2, 4)
        e, length = heads * size(1, 2, 3), size(1, 3, 6)
        cross = rng.random() < 0.5
        kv_length = size(1, 4) if cross else length
        kdim = size(3, e) if cross else e
        vdim = size(2, e) if cross else e
        bias, bias_kv = rng.random() < 0.7, rng.random() < 0.3
        module = nn.MultiheadAttention(e, heads, bias=bias, add_bias_kv=bias_kv, kdim=kdim, vdim=vdim,
                                       batch_first=True, device=meta)  # fmt: skip

        def make(b: int, e=e, length=length, kv_length=kv_length, kdim=kdim, vdim=vdim, cross=cross):
            q = torch.empty((b, length, e), device=meta)
            if not cross:
                return [q, q, q]
            return [q, torch.empty((b, kv_length, kdim), device=meta), torch.empty((b, kv_length, vdim), device=meta)]

        args = {"n_features": e, "num_heads": heads, "bias": bias, "add_bias_kv": bias_kv, "length": length,
                **({"kv_length": kv_length} if cross else {}), **({"kdim": kdim} if kdim != e else {}),
                **({"vdim": vdim} if vdim != e else {})}  # fmt: skip
        record("mha", args, module, make, f"MultiheadAttention({e}, {heads}, bias={bias}, add_bias_kv={bias_kv}, "
                                          f"kdim={kdim}, vdim={vdim}) query {length}, key {kv_length}", train=True)
    for _ in range(30):
        kind = rng.choice(["batchnorm", "layernorm", "groupnorm", "rmsnorm", "embedding"])
        f = size(1, 2, 6)
        spatial = tuple(size(1, 3, 4) for _ in range(size(0, 1, 2)))
        positions = math.prod(spatial)
        if kind == "batchnorm":
            affine, track = rng.random() < 0.7, rng.random() < 0.7
            cls = getattr(nn, f"BatchNorm{max(1, len(spatial))}d")
            shape = (f, *spatial) if spatial else (f,)
            record(kind, {"n_features": f, "affine": affine, "track_running_stats": track, "positions": positions},
                   cls(f, affine=affine, track_running_stats=track, device=meta), x(*shape),
                   f"{cls.__name__}({f}, affine={affine}, track_running_stats={track}) on {shape}")
        elif kind == "groupnorm":
            g = rng.choice([d for d in range(1, f + 1) if f % d == 0])
            affine = rng.random() < 0.7
            record(kind, {"n_features": f, "groups": g, "affine": affine, "positions": positions},
                   nn.GroupNorm(g, f, affine=affine, device=meta), x(f, *spatial),
                   f"GroupNorm({g}, {f}, affine={affine}) on {(f, *spatial)}")
        elif kind == "embedding":
            record(kind, {"n_features": 50, "n_units": f}, nn.Embedding(50, f, device=meta),
                   lambda b, s=spatial: [torch.zeros((b, *s), dtype=torch.long, device=meta)],
                   f"Embedding(50, {f}) on {spatial}")
        else:
            affine, bias = rng.random() < 0.7, rng.random() < 0.7
            shape = (*spatial, f)
            if kind == "layernorm":
                args = {"n_features": f, "elementwise_affine": affine, "bias": bias, "positions": positions}
                module, what = nn.LayerNorm(f, elementwise_affine=affine, bias=bias, device=meta), f"LayerNorm({f}, " \
                    f"elementwise_affine={affine}, bias={bias})"  # fmt: skip
            else:
                args = {"n_features": f, "elementwise_affine": affine, "positions": positions}
                module, what = nn.RMSNorm(f, elementwise_affine=affine, device=meta), \
                    f"RMSNorm({f}, elementwise_affine={affine})"  # fmt: skip
            record(kind, args, module, x(*shape), f"{what} on {shape}")
    print(f"torch {torch.__version__}", file=sys.stderr)


# -- Keras (jax backend) -------------------------------------------------------------------------------------------


def keras_main() -> None:
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import jax.extend
    import jax.numpy as jnp
    import keras
    from keras import layers as kl

    def walk(jaxpr: Any, times: int) -> int:
        total = 0
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "scan":  # a recurrent layer's loop over time
                total += walk(eqn.params["jaxpr"].jaxpr, times * eqn.params["length"])
                continue
            if eqn.primitive.name == "while":
                raise SystemExit("a while loop: its trip count is not in the trace")
            inner = [v for v in eqn.params.values() if isinstance(v, (jax.extend.core.ClosedJaxpr, jax.extend.core.Jaxpr))]
            if inner:  # pjit, custom_jvp_call ...: the ops inside
                total += sum(walk(getattr(j, "jaxpr", j), times) for j in inner)
                continue
            if eqn.outvars and not jnp.issubdtype(eqn.outvars[0].aval.dtype, jnp.floating):
                continue  # index arithmetic (an embedding's indices), comparisons: not floating-point work
            shapes = [math.prod(getattr(v.aval, "shape", ())) for v in eqn.invars]
            total += times * weigh(eqn.primitive.name, shapes, [math.prod(v.aval.shape) for v in eqn.outvars])
        return total

    def record(kind: str, args: dict, make: Callable[[], Any], shape: tuple, what: str, **call: Any) -> None:
        def trace(batch: int) -> int:
            layer = make()
            xs = [jnp.zeros((batch, *shape))] * (2 if kind == "mha" else 1)
            layer(*xs, **call)
            tv = [v.value for v in layer.trainable_variables]
            ntv = [v.value for v in layer.non_trainable_variables]
            closed = jax.make_jaxpr(lambda tv, ntv, *xs: layer.stateless_call(tv, ntv, *xs, **call)[0])(tv, ntv, *xs)
            return walk(closed.jaxpr, 1)

        elementwise, per_call = per_sample(trace)
        row = {"kind": kind, "convention": "keras", "args": args, "keras": what, "elementwise": elementwise,
               "per_call": per_call}  # fmt: skip
        print(json.dumps(row, sort_keys=True))

    for _ in range(8):
        f, u, bias = size(1, 3, 7), size(1, 5), rng.random() < 0.7
        length = rng.choice([None, 1, 4])
        shape = (f,) if length is None else (length, f)
        record("dense", {"n_features": f, "n_units": u, "bias": bias, **({"length": length} if length else {})},
               lambda u=u, bias=bias: kl.Dense(u, use_bias=bias), shape, f"Dense({u}, use_bias={bias}) on {shape}")
    for _ in range(16):
        kind = rng.choice(["conv1d", "conv2d", "conv1d_transpose", "conv2d_transpose", "depthwise_conv1d",
                           "depthwise_conv2d", "separable_conv1d", "separable_conv2d"])  # fmt: skip
        rank = int(next(c for c in kind if c.isdigit()))
        f, u, bias, m = size(1, 2, 3), size(1, 3), rng.random() < 0.7, size(1, 2)
        k, s = size(1, 2, 3), size(1, 2)
        padding = rng.choice(["valid", "same"])
        spatial = tuple(size(3, 5, 6) for _ in range(rank))
        name = {"depthwise": "DepthwiseConv", "separable": "SeparableConv"}.get(kind.split("_")[0], "Conv")
        cls = getattr(kl, f"{name}{rank}D{'Transpose' if 'transpose' in kind else ''}")
        options = {"depth_multiplier": m} if kind.startswith(("depthwise", "separable")) else {}
        filters = () if kind.startswith("depthwise") else (u,)
        args = {"n_features": f, **({"n_units": u} if filters else {}), "kernel": k, "bias": bias,
                "input_size": list(spatial), "strides": s, "padding": padding, **options}  # fmt: skip
        record(kind, args, lambda cls=cls, filters=filters, k=k, s=s, padding=padding, bias=bias, options=options:
               cls(*filters, k, strides=s, padding=padding, use_bias=bias, **options), (*spatial, f),
               f"{cls.__name__}({', '.join(map(str, filters))}, {k}, strides={s}, padding={padding!r}, "
               f"use_bias={bias}, {options}) on {spatial}")  # fmt: skip
    for _ in range(20):
        kind = rng.choice(["rnn", "lstm", "gru"])
        f, u, bias, length = size(1, 3), size(1, 2, 5), rng.random() < 0.7, size(1, 2, 5)
        bidirectional, reset_after = rng.random() < 0.3, rng.random() < 0.6
        options = {"reset_after": reset_after} if kind == "gru" else {}
        cls = {"rnn": kl.SimpleRNN, "lstm": kl.LSTM, "gru": kl.GRU}[kind]

        def make(cls=cls, u=u, bias=bias, options=options, bidirectional=bidirectional):
            layer = cls(u, use_bias=bias, return_sequences=True, **options)
            return kl.Bidirectional(layer) if bidirectional else layer

        record(kind, {"n_features": f, "n_units": u, "bias": bias, "bidirectional": bidirectional, "length": length,
                      **options}, make, (length, f),
               f"{'Bidirectional ' if bidirectional else ''}{cls.__name__}({u}, use_bias={bias}, {options}) on "
               f"{(length, f)}")  # fmt: skip
    for _ in range(10):
        heads, key_dim, length = size(1, 2), size(1, 3), size(1, 3, 4)
        f = size(2, 4)
        # value_dim other than key_dim: Keras 3.15 on jax refuses it (dot_product_attention shapes).
        value_dim, out, bias = rng.choice([None, key_dim]), rng.choice([None, 3]), rng.random() < 0.7
        record("mha", {"n_features": f, "num_heads": heads, "key_dim": key_dim, "value_dim": value_dim,
                       "output_shape": out, "bias": bias, "length": length},
               lambda: kl.MultiHeadAttention(heads, key_dim, value_dim, use_bias=bias, output_shape=out), (length, f),
               f"MultiHeadAttention({heads}, {key_dim}, {value_dim}, use_bias={bias}, output_shape={out}) self-"
               f"attention on {(length, f)}")  # fmt: skip
    for _ in range(24):
        kind = rng.choice(["batchnorm", "layernorm", "groupnorm", "rmsnorm", "embedding"])
        f = size(1, 2, 6)
        spatial = tuple(size(1, 3) for _ in range(size(0, 1, 2)))
        center, scale = rng.random() < 0.7, rng.random() < 0.7
        flags = {"center": center, "scale": scale}
        positions = math.prod(spatial)
        if kind == "batchnorm":
            record(kind, {"n_features": f, **flags, "positions": positions},
                   lambda: kl.BatchNormalization(**flags), (*spatial, f), f"BatchNormalization({flags}) on "
                   f"{(*spatial, f)}", training=False)  # fmt: skip
        elif kind == "layernorm":
            rms = rng.random() < 0.3
            record(kind, {"n_features": f, **flags, "rms_scaling": rms, "positions": positions},
                   lambda: kl.LayerNormalization(rms_scaling=rms, **flags), (*spatial, f),
                   f"LayerNormalization(rms_scaling={rms}, {flags}) on {(*spatial, f)}")
        elif kind == "groupnorm":
            g = rng.choice([d for d in range(1, f + 1) if f % d == 0])
            record(kind, {"n_features": f, "groups": g, **flags, "positions": positions},
                   lambda: kl.GroupNormalization(g, **flags), (*spatial, f),
                   f"GroupNormalization({g}, {flags}) on {(*spatial, f)}")
        elif kind == "rmsnorm":
            record(kind, {"n_features": f, "positions": positions}, lambda: kl.RMSNormalization(), (*spatial, f),
                   f"RMSNormalization() on {(*spatial, f)}")
        else:
            record(kind, {"n_features": 20, "n_units": f}, lambda: kl.Embedding(20, f), spatial or (1,),
                   f"Embedding(20, {f}) on {spatial or (1,)}")
    print(f"keras {keras.__version__}, jax {jax.__version__}", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:] not in (["torch"], ["keras"]):
        raise SystemExit("usage: make_elementwise_fixture.py torch|keras")
    torch_main() if sys.argv[1] == "torch" else keras_main()
