#!/usr/bin/env python3
"""Reference counts for the layer catalogue (issue 9) from a real framework.

Usage (one framework per run; each lives in its own virtualenv):

    python tools/make_catalogue_fixture.py keras > tests/data/keras_catalogue.jsonl
    python tools/make_catalogue_fixture.py torch > tests/data/torch_catalogue.jsonl

The case list is pure data, drawn from a fixed seed (``ARCHSWEEP_FIXTURE_SEED``
overrides it) by this script before any framework is imported; it holds the
constructor call to make and never an expected count.  Every count written
comes from the framework:

* Keras 3 (jax backend): ``getattr(keras.layers, framework_class)(**framework_args)``,
  then ``layer.build(...)`` on ``(None, *input_shape)`` (MultiHeadAttention:
  ``layer.build(query, value, key)``; calling it on concrete inputs fails on
  jax when ``value_dim != key_dim``).  ``params = layer.count_params()``,
  ``trainable``/``non_trainable`` sum the shapes of ``trainable_weights`` /
  ``non_trainable_weights``, ``buffers = 0``.  Kernels are initialised with
  zeros (the count does not depend on it; random initialisers compile a jax
  kernel per weight shape), which is part of the recorded ``framework_args``.
* PyTorch: ``getattr(torch.nn, framework_class)(**framework_args, device="meta")``,
  then one forward pass on the meta device with a tensor of shape
  ``(1, *input_shape)`` (recurrent and attention modules put the batch second,
  so they get the unbatched ``input_shape`` itself; MultiheadAttention gets
  query, key and value) -- it checks the module is usable and lets the refusals
  made only at forward time (``output_padding``) be recorded.
  ``params = sum(p.numel() for p in m.parameters())`` (all trainable),
  ``buffers = sum(b.numel() for b in m.buffers())``.

Output: one JSON object per line, keys in this order: framework, version,
layer, args, framework_class, framework_args, input_shape, then either
params, trainable, non_trainable, buffers or, for a case the framework
refuses, error ("<exception type>: <first line of message>").  ``layer`` and
``args`` are archsweep's kind and argument names, as
``count_params(layer, **args, convention=framework)`` takes them.
"""

import json
import math
import os
import random
import re
import sys
import time
import warnings

# Another seed (ARCHSWEEP_FIXTURE_SEED) draws cases the committed fixture has not seen.
SEED = int(os.environ.get("ARCHSWEEP_FIXTURE_SEED", "20261128"))

# Skip any case whose loose size estimate (never written out, not a reference
# formula) is above this, so every layer is cheap to build.
MAX_PARAMS = 50_000_000

SMALL = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 16, 17, 24, 31, 32, 33, 48, 63, 64]
MEDIUM = [96, 100, 127, 128, 200, 255, 256, 384, 511, 512, 768, 1000, 1024]
LARGE = [2048, 4096]
# Sizes the coverage cases cycle through: 1, odd, medium and 4096.
COVER = [1, 4096, 3, 7, 33, 255, 1, 17, 4096, 5, 511, 9, 1000, 31]
PAIRS = [(1, 1), (3, 7), (7, 3), (4096, 3), (5, 4096), (33, 127), (255, 17), (1, 4096),
         (4096, 1), (9, 1000), (512, 31), (13, 13)]

KERNELS = {
    1: [[1], [2], [3], [5], [7], [11]],
    2: [[1, 1], [3, 3], [5, 5], [1, 7], [7, 1], [5, 3], [2, 4]],
    3: [[1, 1, 1], [3, 3, 3], [3, 1, 2], [2, 2, 2], [1, 3, 3], [5, 3, 1]],
}
DEPTH_MULTIPLIERS = [1, 2, 3, 4, 8]
HEADS = [1, 2, 3, 4, 8, 12, 16]
HEAD_DIMS = [1, 2, 3, 8, 16, 32, 64, 128]


def size(rng, small=0.5, medium=0.3):
    r = rng.random()
    return rng.choice(SMALL if r < small else MEDIUM if r < small + medium else LARGE)


def prod(xs):
    return math.prod(xs) if isinstance(xs, list) else xs


def spatial(kernel, ndim):
    """Input extent == kernel, so a 'valid' convolution gives output size 1."""
    return list(kernel) if isinstance(kernel, list) else [kernel] * ndim


def kernel_choice(rng, ndim):
    if rng.random() < 0.15:
        return rng.choice([1, 2, 3, 5])  # an int: the same extent in every dimension
    return list(rng.choice(KERNELS[ndim]))


def ksize(kernel, ndim):
    return prod(spatial(kernel, ndim))


def case(args, cls, fargs, input_shape, est=0, refuse=False):
    return {"args": args, "framework_class": cls, "framework_args": fargs,
            "input_shape": input_shape, "_est": est, "_refuse": refuse}


# --------------------------------------------------------------------------
# One generator per kind and framework: (coverage case list, random case
# function, refusal list).  The coverage cases take every option value (each
# combination) with sizes 1, odd, medium and 4096; random cases fill up to the
# kind's target.


def grid(**options):
    combos = [{}]
    for name, values in options.items():
        combos = [dict(c, **{name: v}) for c in combos for v in values]
    return combos


KZ = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}


def keras_batchnorm():
    prefixes = [[], [5], [2, 3], [2, 2, 2]]

    def make(f, o, prefix):
        return case({"n_features": f, **o}, "BatchNormalization", dict(o), prefix + [f], 4 * f)

    cover = [make(f, o, prefixes[(i + j) % 4]) for i, o in enumerate(grid(center=[True, False], scale=[True, False]))
             for j, f in enumerate([1, 4096, COVER[2 + i]])]
    rand = lambda rng: make(size(rng), {"center": rng.random() < 0.5, "scale": rng.random() < 0.5},
                            rng.choice(prefixes))
    return cover, rand, [], 24


def torch_batchnorm():
    extra = {"BatchNorm1d": [3], "BatchNorm2d": [2, 2], "BatchNorm3d": [2, 2, 2]}

    def make(f, o, cls):
        return case({"n_features": f, **o}, cls, {"num_features": f, **o}, [f] + extra[cls], 4 * f)

    combos = grid(affine=[True, False], track_running_stats=[True, False])
    cover = [make(COVER[i], o, cls) for i, (cls, o) in enumerate((c, o) for c in extra for o in combos)]
    cover += [make(f, o, "BatchNorm%dd" % (1 + (i + j) % 3)) for i, o in enumerate(combos)
              for j, f in enumerate([1, 4096])]
    rand = lambda rng: make(size(rng), rng.choice(combos), rng.choice(list(extra)))
    return cover, rand, [], 30


def keras_layernorm():
    def make(f, o, prefix):
        return case({"n_features": f, **o}, "LayerNormalization", dict(o), prefix + [f], 2 * f)

    combos = grid(center=[True, False], scale=[True, False], rms_scaling=[False, True])
    cover = [make(f, o, [] if j else [3]) for i, o in enumerate(combos)
             for j, f in enumerate([COVER[i], COVER[i + 5]])]
    rand = lambda rng: make(size(rng), rng.choice(combos), rng.choice([[], [3], [2, 2]]))
    return cover, rand, [], 28


def torch_layernorm():
    def make(f, o):
        return case({"n_features": f, **o}, "LayerNorm", {"normalized_shape": f, **o}, [f], 2 * f)

    combos = grid(elementwise_affine=[True, False], bias=[True, False])
    cover = [make(f, o) for i, o in enumerate(combos) for f in (1, 4096, COVER[2 + i])]
    return cover, lambda rng: make(size(rng), rng.choice(combos)), [], 20


GN_PAIRS = [(1, 1), (1, 7), (7, 7), (3, 9), (4, 4096), (32, 4096), (4096, 4096), (2, 6), (8, 64), (16, 48),
            (1, 4096), (5, 255), (31, 31), (12, 384)]


def gn_random(rng):
    g = rng.choice([1, 2, 3, 4, 8, 16, 32])
    m = rng.choice(SMALL if rng.random() < 0.7 else MEDIUM)
    return g, g * min(m, 4096 // g)


def keras_groupnorm():
    def make(g, f, o, prefix=()):
        return case({"n_features": f, "groups": g, **o}, "GroupNormalization", {"groups": g, **o},
                    list(prefix) + [f], 2 * f)

    combos = grid(center=[True, False], scale=[True, False])
    cover = [make(*GN_PAIRS[(3 * i + j) % len(GN_PAIRS)], o, [2] if j else [])
             for i, o in enumerate(combos) for j in range(4)]
    rand = lambda rng: make(*gn_random(rng), rng.choice(combos), rng.choice([[], [2], [2, 2]]))
    refuse = [make(g, f, {"center": True, "scale": True}) for g, f in [(3, 4), (8, 4), (0, 4), (6, 9)]]
    return cover, rand, refuse, 30


def torch_groupnorm():
    def make(g, f, affine):
        return case({"n_features": f, "groups": g, "affine": affine}, "GroupNorm",
                    {"num_groups": g, "num_channels": f, "affine": affine}, [f, 2], 2 * f)

    cover = [make(*GN_PAIRS[i], i % 2 == 0) for i in range(len(GN_PAIRS))]
    cover += [make(*GN_PAIRS[i], i % 2 == 1) for i in range(0, len(GN_PAIRS), 2)]
    rand = lambda rng: make(*gn_random(rng), rng.random() < 0.5)
    refuse = [make(g, f, True) for g, f in [(3, 4), (8, 4), (0, 4), (6, 9)]]
    return cover, rand, refuse, 26


RMS_SIZES = [1, 4096, 2, 3, 5, 7, 8, 17, 33, 64, 127, 255, 256, 511, 768, 1000, 1024, 2048]


def keras_rmsnorm():
    def make(f, prefix):
        return case({"n_features": f}, "RMSNormalization", {}, prefix + [f], f)

    cover = [make(f, [3] if i % 3 == 1 else []) for i, f in enumerate(RMS_SIZES)]
    return cover, lambda rng: make(size(rng), rng.choice([[], [3]])), [], 20


def torch_rmsnorm():
    def make(f, affine):
        return case({"n_features": f, "elementwise_affine": affine}, "RMSNorm",
                    {"normalized_shape": f, "elementwise_affine": affine}, [f], f)

    cover = [make(f, i % 2 == 0) for i, f in enumerate(RMS_SIZES)] + [make(1, False), make(4096, False)]
    return cover, lambda rng: make(size(rng), rng.random() < 0.5), [], 20


def depthwise(framework, ndim):
    cls = {"keras": "DepthwiseConv%dD" % ndim, "torch": "Conv%dd" % ndim}[framework]

    def make(f, k, dm, bias):
        args = {"n_features": f, "kernel": k, "depth_multiplier": dm, "bias": bias}
        est = f * dm * (ksize(k, ndim) + 1)
        if framework == "keras":
            fargs = {"kernel_size": k, "depth_multiplier": dm, "use_bias": bias,
                     "depthwise_initializer": "zeros", "bias_initializer": "zeros"}
            return case(args, cls, fargs, spatial(k, ndim) + [f], est)
        fargs = {"in_channels": f, "out_channels": f * dm, "kernel_size": k, "groups": f, "bias": bias}
        return case(args, cls, fargs, [f] + spatial(k, ndim), est)

    ks = KERNELS[ndim]
    cover = [make(COVER[i % len(COVER)], ks[i % len(ks)] if i % 4 else 3, dm, bias)
             for i, (dm, bias) in enumerate((dm, b) for dm in DEPTH_MULTIPLIERS for b in (True, False))]
    cover += [make(f, ks[1], 1, True) for f in (1, 4096)] + [make(4096, ks[-1], 2, False)]
    rand = lambda rng: make(size(rng), kernel_choice(rng, ndim), rng.choice(DEPTH_MULTIPLIERS), rng.random() < 0.6)
    if framework == "keras":
        refuse = [make(4, ks[1], 0, True), make(4, 0, 1, True), make(4, [0] * ndim, 2, False)]
    else:
        refuse = [make(0, ks[1], 1, True)]
    return cover, rand, refuse, 24


def keras_separable(ndim):
    def make(f, u, k, dm, bias):
        fargs = {"filters": u, "kernel_size": k, "depth_multiplier": dm, "use_bias": bias,
                 "depthwise_initializer": "zeros", "pointwise_initializer": "zeros", "bias_initializer": "zeros"}
        return case({"n_features": f, "n_units": u, "kernel": k, "depth_multiplier": dm, "bias": bias},
                    "SeparableConv%dD" % ndim, fargs, spatial(k, ndim) + [f],
                    f * dm * (ksize(k, ndim) + u) + u)

    ks = KERNELS[ndim]
    cover = [make(*PAIRS[i % len(PAIRS)], ks[i % len(ks)] if i % 4 else 3, dm, bias)
             for i, (dm, bias) in enumerate((dm, b) for dm in DEPTH_MULTIPLIERS for b in (True, False))]
    cover += [make(4096, 4096, ks[1], 1, True), make(1, 1, ks[0], 1, False)]

    def rand(rng):
        f, u = size(rng), size(rng, 0.6, 0.3)
        return make(f, u, kernel_choice(rng, ndim), rng.choice(DEPTH_MULTIPLIERS), rng.random() < 0.6)

    refuse = [make(4, 0, ks[1], 1, True), make(4, 5, ks[1], 0, True), make(4, 5, 0, 1, False)]
    return cover, rand, refuse, 30


def transpose(framework, ndim):
    def make(f, u, k, bias, g=1, op=0, dil=1, refuse=False):
        est = (f * u * ksize(k, ndim) + u) // (g if g > 0 else 1)
        if framework == "keras":
            fargs = {"filters": u, "kernel_size": k, "use_bias": bias, **KZ}
            return case({"n_features": f, "n_units": u, "kernel": k, "bias": bias},
                        "Conv%dDTranspose" % ndim, fargs, spatial(k, ndim) + [f], est + u, refuse)
        fargs = {"in_channels": f, "out_channels": u, "kernel_size": k, "groups": g, "bias": bias,
                 "output_padding": op, "dilation": dil}
        return case({"n_features": f, "n_units": u, "kernel": k, "bias": bias, "groups": g,
                     "output_padding": op, "dilation": dil},
                    "ConvTranspose%dd" % ndim, fargs, [f] + spatial(k, ndim), est + u, refuse)

    ks = KERNELS[ndim]
    cover = [make(f, u, ks[i % len(ks)] if i % 5 else 3, bias)
             for i, (bias, (f, u)) in enumerate((b, p) for b in (True, False) for p in PAIRS[:8])]
    refuse = []
    if framework == "keras":
        refuse = [make(4, 0, ks[1], True), make(4, 5, 0, True), make(4, 5, [0] * ndim, False)]
        return cover, lambda rng: make(size(rng), size(rng), kernel_choice(rng, ndim), rng.random() < 0.6), refuse, 24
    # torch: groups dividing both sizes, and output_padding < dilation (stride 1)
    for i, (f, u, g) in enumerate([(4, 8, 2), (12, 12, 4), (6, 9, 3), (32, 32, 32), (64, 128, 8), (4096, 4, 4)]):
        cover.append(make(f, u, ks[(i + 1) % len(ks)], i % 2 == 0, g))
    for i, (op, dil) in enumerate([(0, 2), (1, 2), (2, 3), ([1] * ndim, [2] * ndim),
                                   ([0] + [1] * (ndim - 1), [1] + [3] * (ndim - 1))]):
        cover.append(make(*PAIRS[i + 1], ks[1], i % 2 == 1, 1, op, dil))

    def rand(rng):
        f, u = size(rng), size(rng)
        g = 1
        if rng.random() < 0.3:
            g = rng.choice([2, 3, 4, 8])
            f, u = g * max(1, f // g), g * max(1, u // g)
        dil = rng.choice([1, 1, 2, 3])
        op = rng.randrange(dil)
        if rng.random() < 0.2:
            dil = [rng.choice([1, 2, 3]) for _ in range(ndim)]
            op = [rng.randrange(d) for d in dil]
        return make(f, u, kernel_choice(rng, ndim), rng.random() < 0.6, g, op, dil)

    refuse = [make(6, 4, ks[1], True, 4, refuse=True), make(4, 6, ks[1], True, 4, refuse=True),
              make(4, 6, ks[1], True, 0, refuse=True), make(4, 6, ks[1], True, 1, 1, 1, refuse=True),
              make(4, 6, ks[1], False, 2, 2, 2, refuse=True)]
    return cover, rand, refuse, 32 if ndim != 2 else 36


def embedding(framework):
    def make(n, d, pad=None):
        args = {"n_features": n, "n_units": d}
        if framework == "keras":
            return case(args, "Embedding", {"input_dim": n, "output_dim": d, "embeddings_initializer": "zeros"},
                        [2], n * d)
        fargs = {"num_embeddings": n, "embedding_dim": d}
        if pad is not None:
            args["padding_idx"] = fargs["padding_idx"] = pad
        return case(args, "Embedding", fargs, [2], n * d)

    cover = [make(n, d) for n, d in PAIRS] + [make(4096, 4096)]
    if framework == "keras":
        rand = lambda rng: make(size(rng, 0.3, 0.4), size(rng))
        return cover, rand, [make(0, 3), make(3, 0)], 24
    cover += [make(7, 3, 0), make(7, 3, 6), make(7, 3, -1), make(7, 3, -7), make(4096, 5, 4095)]

    def rand(rng):
        n, d = size(rng, 0.3, 0.4), size(rng)
        return make(n, d, rng.choice([None, None, 0, n - 1, -1]))

    return cover, rand, [make(7, 3, 7), make(7, 3, -8)], 24


def torch_recurrent(kind):
    cls = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[kind]
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]

    def make(f, u, layers, bidir, bias, proj=None, refuse=False):
        args = {"n_features": f, "n_units": u, "num_layers": layers, "bidirectional": bidir, "bias": bias}
        fargs = {"input_size": f, "hidden_size": u, "num_layers": layers, "bias": bias, "bidirectional": bidir}
        if proj is not None:
            args["proj_size"] = fargs["proj_size"] = proj
        dirs, h = (2 if bidir else 1), (proj or u)
        est = dirs * (gates * u * (max(f, dirs * h) + h + 2) + (proj or 0) * u) * max(layers, 1)
        return case(args, cls, fargs, [2, f], est, refuse)

    def proj_for(rng, u):
        return rng.randrange(1, u) if u > 1 and rng.random() < 0.6 else 0

    combos = [(n, b, bias) for n in (1, 2, 3, 4) for b in (False, True) for bias in (True, False)]
    prng = random.Random("%d/torch/%s/proj" % (SEED, kind))
    cover = []
    for i, (n, b, bias) in enumerate(combos):
        f, u = PAIRS[i % len(PAIRS)]
        cover.append(make(f, u, n, b, bias, proj_for(prng, u) if kind == "lstm" else None))
    # 4096 hidden units where the size allows: a single RNN layer, or LSTM with a small projection
    cover += [make(5, 4096, 1, False, True)] if kind == "rnn" else []
    if kind == "lstm":
        cover += [make(7, 4096, 2, True, True, 3), make(4096, 2048, 1, False, True, 16)]
        for i, (n, b, bias) in enumerate(combos[::2]):
            f, u = PAIRS[(i + 5) % len(PAIRS)]
            u = max(u, 2)
            cover.append(make(f, u, n, b, bias, [1, u - 1][i % 2]))  # proj_size at both ends

    def rand(rng):
        f, u = size(rng, 0.5, 0.4), size(rng, 0.5, 0.4)
        return make(f, u, rng.choice([1, 1, 2, 3, 4]), rng.random() < 0.5, rng.random() < 0.7,
                    proj_for(rng, u) if kind == "lstm" else None)

    p0 = 0 if kind == "lstm" else None
    refuse = [make(5, 7, 0, False, True, p0, True), make(5, 0, 1, False, True, p0, True)]
    if kind == "lstm":
        refuse += [make(5, 7, 1, False, True, 7, True), make(5, 7, 2, True, True, 9, True),
                   make(5, 7, 1, False, True, -1, True)]
    else:
        refuse += [make(5, 7, 1, False, True, 3, True)]
    return cover, rand, refuse, 40 if kind == "lstm" else 28


def keras_mha():
    def make(f, h, kd, vd, bias, out, kdim, vdim, refuse=False):
        args = {"n_features": f, "num_heads": h, "key_dim": kd, "value_dim": vd, "bias": bias,
                "output_shape": out, "kdim": kdim, "vdim": vdim}
        fargs = {"num_heads": h, "key_dim": kd, "value_dim": vd, "use_bias": bias, "output_shape": out, **KZ}
        k, v, o, vv = kdim or f, vdim or f, out or f, vd or kd
        est = h * kd * (f + k + 2) + h * vv * (v + o + 1) + o
        shapes = {"query": [3, f], "value": [4, v], "key": [4, k]}
        return case(args, "MultiHeadAttention", fargs, shapes, est, refuse)

    combos = grid(value_dim=[None, 1], bias=[True, False], output_shape=[None, 1], kdim=[None, 1], vdim=[None, 1])
    cover = []
    for i, o in enumerate(combos):
        f = COVER[i % len(COVER)]
        h, kd = HEADS[i % len(HEADS)], HEAD_DIMS[(3 * i) % len(HEAD_DIMS)]
        pick = lambda j: [5, 7, 64, 4096, 1, 31, 255][(i + j) % 7]
        cover.append(make(f, h, kd, o["value_dim"] and HEAD_DIMS[(i + 2) % len(HEAD_DIMS)], o["bias"],
                          o["output_shape"] and pick(1), o["kdim"] and pick(2), o["vdim"] and pick(3)))

    def rand(rng):
        opt = lambda p, draw: draw() if rng.random() < p else None
        return make(size(rng), rng.choice(HEADS), rng.choice(HEAD_DIMS), opt(0.4, lambda: rng.choice(HEAD_DIMS)),
                    rng.random() < 0.7, opt(0.3, lambda: size(rng)), opt(0.4, lambda: size(rng)),
                    opt(0.4, lambda: size(rng)))

    refuse = [make(8, 0, 4, None, True, None, None, None), make(8, 2, 0, None, True, None, None, None),
              make(8, 2, 4, 0, True, None, None, None)]
    return cover, rand, refuse, 44


def torch_mha():
    def make(e, h, bias, bkv, kdim, vdim, refuse=False):
        args = {"n_features": e, "num_heads": h, "bias": bias, "add_bias_kv": bkv, "kdim": kdim, "vdim": vdim}
        fargs = {"embed_dim": e, "num_heads": h, "bias": bias, "add_bias_kv": bkv, "kdim": kdim, "vdim": vdim}
        k, v = kdim or e, vdim or e
        shapes = {"query": [3, e], "key": [4, k], "value": [4, v]}
        return case(args, "MultiheadAttention", fargs, shapes, e * (2 * e + k + v + 6), refuse)

    combos = grid(bias=[True, False], add_bias_kv=[False, True], kdim=[None, 1], vdim=[None, 1])
    cover = []
    for i, o in enumerate(combos):
        h = [1, 2, 3, 4, 8, 16][i % 6]
        e = h * [1, 3, 16, 5, 64, 7, 256, 1][i % 8]
        pick = lambda j: [5, 7, 64, 4096, 1, 31, 255, e][(i + j) % 8]  # kdim == embed_dim given explicitly too
        cover.append(make(e, h, o["bias"], o["add_bias_kv"], o["kdim"] and pick(1), o["vdim"] and pick(2)))
    # the same sizes with every head count: PyTorch's count does not depend on it
    cover += [make(48, h, True, False, None, None) for h in (1, 2, 3, 4, 6, 8, 12, 16, 24, 48)]
    cover += [make(2048, 32, True, False, None, None), make(1, 1, False, True, 1, 4096),
              make(3, 3, True, True, 4096, 4096)]

    def rand(rng):
        h = rng.choice([1, 2, 3, 4, 8, 16])
        e = h * max(1, size(rng, 0.6, 0.3) // h)
        opt = lambda: rng.choice([size(rng), e]) if rng.random() < 0.4 else None
        return make(e, h, rng.random() < 0.7, rng.random() < 0.3, opt(), opt())

    refuse = [make(6, 4, True, False, None, None, True), make(10, 3, True, False, 7, 5, True),
              make(6, 0, True, False, None, None, True)]
    return cover, rand, refuse, 36


GENERATORS = {
    "keras": {
        "batchnorm": keras_batchnorm,
        "layernorm": keras_layernorm,
        "groupnorm": keras_groupnorm,
        "rmsnorm": keras_rmsnorm,
        "depthwise_conv1d": lambda: depthwise("keras", 1),
        "depthwise_conv2d": lambda: depthwise("keras", 2),
        "separable_conv1d": lambda: keras_separable(1),
        "separable_conv2d": lambda: keras_separable(2),
        "conv1d_transpose": lambda: transpose("keras", 1),
        "conv2d_transpose": lambda: transpose("keras", 2),
        "conv3d_transpose": lambda: transpose("keras", 3),
        "embedding": lambda: embedding("keras"),
        "mha": keras_mha,
    },
    "torch": {
        "batchnorm": torch_batchnorm,
        "layernorm": torch_layernorm,
        "groupnorm": torch_groupnorm,
        "rmsnorm": torch_rmsnorm,
        "depthwise_conv1d": lambda: depthwise("torch", 1),
        "depthwise_conv2d": lambda: depthwise("torch", 2),
        "conv1d_transpose": lambda: transpose("torch", 1),
        "conv2d_transpose": lambda: transpose("torch", 2),
        "conv3d_transpose": lambda: transpose("torch", 3),
        "embedding": lambda: embedding("torch"),
        "rnn": lambda: torch_recurrent("rnn"),
        "lstm": lambda: torch_recurrent("lstm"),
        "gru": lambda: torch_recurrent("gru"),
        "mha": torch_mha,
    },
}


def generate_cases(framework):
    """The framework's full, deterministic case list (no framework imported)."""
    out = []
    for kind, gen in GENERATORS[framework].items():
        rng = random.Random("%d/%s/%s" % (SEED, framework, kind))  # one stream per kind
        cover, rand, refuse, target = gen()
        seen = set()
        kept = []

        def add(c):
            key = json.dumps([c["framework_class"], c["args"]], sort_keys=True)
            if key in seen or c["_est"] > MAX_PARAMS:
                return False
            seen.add(key)
            kept.append(dict(c, layer=kind))
            return True

        for c in cover:
            add(c)
        tries = 0
        while len(kept) < target and tries < 100 * target:
            tries += 1
            add(rand(rng))
        for c in refuse:
            add(dict(c, _refuse=True))
        out.extend(kept)
    return out


# --------------------------------------------------------------------------
# Frameworks


def first_line(exc):
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()  # no terminal colours
    return "%s: %s" % (type(exc).__name__, text.splitlines()[0].strip() if text else "")


def keras_counter():
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("keras backend is %r, expected jax" % keras.backend.backend())

    def count(c):
        keras.backend.clear_session()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # rms_scaling=True is deprecated (and warns)
            layer = getattr(keras.layers, c["framework_class"])(**c["framework_args"])
            shape = c["input_shape"]
            if isinstance(shape, dict):
                layer.build(*((None, *shape[k]) for k in ("query", "value", "key")))
            else:
                layer.build((None, *shape))
        size = lambda ws: int(sum(math.prod(w.shape) for w in ws))
        row = {"params": int(layer.count_params()), "trainable": size(layer.trainable_weights),
               "non_trainable": size(layer.non_trainable_weights), "buffers": 0}
        del layer
        return row

    return keras.__version__, count


def torch_counter():
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch

    torch.set_num_threads(1)
    meta = torch.device("meta")

    def count(c):
        with torch.no_grad():
            m = getattr(torch.nn, c["framework_class"])(**c["framework_args"], device=meta)
            shape = c["input_shape"]
            if isinstance(shape, dict):  # MultiheadAttention: unbatched (L, E)
                m(*(torch.empty(shape[k], device=meta) for k in ("query", "key", "value")))
            elif c["framework_class"] in ("RNN", "LSTM", "GRU"):  # unbatched (L, H_in)
                m(torch.empty(shape, device=meta))
            elif c["framework_class"] == "Embedding":
                m(torch.empty([1, *shape], dtype=torch.long, device=meta))
            else:
                m(torch.empty([1, *shape], device=meta))
            params = int(sum(p.numel() for p in m.parameters()))
            buffers = int(sum(b.numel() for b in m.buffers()))
        del m
        return {"params": params, "trainable": params, "non_trainable": 0, "buffers": buffers}

    return torch.__version__, count


def main(argv):
    if len(argv) != 2 or argv[1] not in ("keras", "torch"):
        sys.stderr.write("usage: make_catalogue_fixture.py keras|torch > out.jsonl\n")
        return 2
    if os.environ.get("PYTHONHASHSEED") != "0":
        # Keras' messages print sets and dicts: a fixed hash seed keeps reruns byte-identical.
        os.execve(sys.executable, [sys.executable, *argv], {**os.environ, "PYTHONHASHSEED": "0"})
    framework = argv[1]
    t0 = time.time()
    cases = generate_cases(framework)
    version, count = (keras_counter if framework == "keras" else torch_counter)()
    per_kind = {}
    for i, c in enumerate(cases):
        row = {"framework": framework, "version": version}
        row.update((k, c[k]) for k in ("layer", "args", "framework_class", "framework_args", "input_shape"))
        try:
            row.update(count(c))
        except Exception as exc:  # noqa: BLE001 - a refusal is recorded as such
            if not c["_refuse"]:
                raise SystemExit("unexpected refusal of %s: %s" % (json.dumps(row), first_line(exc)))
            row["error"] = first_line(exc)
        else:
            if c["_refuse"]:
                raise SystemExit("expected a refusal, got counts: %s" % json.dumps(row))
        ok, bad = per_kind.get(c["layer"], (0, 0))
        per_kind[c["layer"]] = (ok + ("error" not in row), bad + ("error" in row))
        sys.stdout.write(json.dumps(row) + "\n")
        if (i + 1) % 100 == 0:
            sys.stderr.write("%d/%d cases, %.1fs\n" % (i + 1, len(cases), time.time() - t0))
    sys.stdout.flush()
    for kind, (ok, bad) in per_kind.items():
        sys.stderr.write("  %-18s %3d counted, %d refused\n" % (kind, ok, bad))
    sys.stderr.write("%s %s: %d cases in %.1fs\n" % (framework, version, len(cases), time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
