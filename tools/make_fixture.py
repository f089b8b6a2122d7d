#!/usr/bin/env python3
"""Generate reference parameter counts from a real deep-learning framework.

Usage (one framework per run; each lives in its own virtualenv):

    python tools/make_fixture.py keras > tests/data/keras.jsonl
    python tools/make_fixture.py torch > tests/data/torch.jsonl

The case list is generated deterministically (fixed seed) by this script and
does not depend on the framework installed.  Every parameter count written to
the output comes from the framework itself:

* Keras 3 (jax backend): the layer is built with ``layer.build(shape)`` for a
  concrete input shape, then ``layer.count_params()`` is read.
* PyTorch: ``sum(p.numel() for p in module.parameters())``.

Output: one JSON object per line, keys in this order:
framework, version, layer, n_features, n_units, kernel, bias, bidirectional,
reset_after, groups, params.
"""

import gc
import json
import os
import random
import sys
import time

# Another seed (ARCHSWEEP_FIXTURE_SEED) draws cases the committed fixture has not seen.
SEED = int(os.environ.get("ARCHSWEEP_FIXTURE_SEED", "20261126"))

KINDS = ["dense", "conv1d", "conv2d", "conv3d", "rnn", "lstm", "gru"]
CONV_KINDS = {"conv1d": 1, "conv2d": 2, "conv3d": 3}
RNN_KINDS = ("rnn", "lstm", "gru")

# Skip any candidate whose (over-)estimated size is above this, so that every
# layer is cheap to build.  The estimate is a deliberately loose upper bound
# (no groups division, generous bias terms); it is not a reference formula and
# is never written to the output.
MAX_PARAMS = 50_000_000

# Number of random cases added after the hand-picked coverage cases.
N_RANDOM = 120

SMALL = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 16, 17, 24, 31, 32, 33, 48, 64]
MEDIUM = [96, 100, 127, 128, 200, 255, 256, 384, 511, 512]
LARGE = [768, 1000, 1024, 2048, 4096]

KERNELS = {
    1: [[1], [2], [3], [5], [7], [11]],
    2: [[1, 1], [3, 3], [5, 5], [1, 7], [7, 1], [5, 3], [3, 5], [2, 4], [1, 3]],
    3: [[1, 1, 1], [3, 3, 3], [3, 1, 2], [2, 2, 2], [1, 3, 3], [5, 3, 1], [2, 5, 3]],
}

GROUPS = [2, 3, 4, 8]


def rough_size(case):
    """Loose upper bound on the parameter count, used only to skip huge cases."""
    f, u = case["n_features"], case["n_units"]
    kind = case["layer"]
    if kind == "dense":
        return (f + 1) * u
    if kind in CONV_KINDS:
        k = 1
        for d in case["kernel"]:
            k *= d
        return (k * f + 1) * u
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    return 2 * gates * (f + u + 2) * u  # x2: bidirectional at most doubles


def make_case(kind, f, u, bias, kernel=None, groups=None, bidirectional=None,
              reset_after=None):
    case = {
        "layer": kind,
        "n_features": f,
        "n_units": u,
        "kernel": None,
        "bias": bool(bias),
        "bidirectional": None,
        "reset_after": None,
        "groups": None,
    }
    if kind in CONV_KINDS:
        case["kernel"] = list(kernel)
        case["groups"] = groups if groups is not None else 1
        assert len(case["kernel"]) == CONV_KINDS[kind]
        assert f % case["groups"] == 0 and u % case["groups"] == 0
    if kind in RNN_KINDS:
        case["bidirectional"] = bool(bidirectional)
    if kind == "gru":
        # Keras-only option; the torch writer drops it (and de-duplicates).
        case["reset_after"] = True if reset_after is None else bool(reset_after)
    return case


def coverage_cases():
    """Hand-picked cases so that every required feature is surely covered."""
    cases = []
    for kind in KINDS:
        ndim = CONV_KINDS.get(kind)
        for bias in (True, False):
            # tiny, odd, and 4096 on either side with small partners
            for j, (f, u) in enumerate([(1, 1), (3, 7), (7, 3), (33, 127),
                                        (4096, 3), (5, 4096)]):
                if ndim:
                    # alternate a square and a non-square kernel
                    kernel = KERNELS[ndim][1] if j % 2 == 0 else KERNELS[ndim][-1]
                    cases.append(make_case(kind, f, u, bias, kernel=kernel))
                elif kind in RNN_KINDS:
                    for bidir in (False, True):
                        if kind == "gru":
                            for ra in (True, False):
                                cases.append(make_case(kind, f, u, bias,
                                                       bidirectional=bidir,
                                                       reset_after=ra))
                        else:
                            cases.append(make_case(kind, f, u, bias,
                                                   bidirectional=bidir))
                else:
                    cases.append(make_case(kind, f, u, bias))
            if ndim:
                # every kernel shape, square and non-square
                for kernel in KERNELS[ndim]:
                    cases.append(make_case(kind, 6, 10, bias, kernel=kernel))
                # grouped convolutions, incl. depthwise (groups == n_features)
                for f, u, g in [(4, 8, 2), (12, 12, 4), (16, 32, 4), (6, 9, 3),
                                (32, 32, 32), (8, 16, 8), (64, 128, 8)]:
                    kernel = KERNELS[ndim][(f + u + g) % len(KERNELS[ndim])]
                    cases.append(make_case(kind, f, u, bias, kernel=kernel,
                                           groups=g))
    return cases


def random_case(rng):
    kind = rng.choice(KINDS)
    pool = rng.choice([SMALL, SMALL, MEDIUM, LARGE])
    f = rng.choice(pool)
    u = rng.choice(SMALL if pool is LARGE else rng.choice([SMALL, MEDIUM]))
    if rng.random() < 0.5:
        f, u = u, f
    bias = rng.random() < 0.6
    if kind in CONV_KINDS:
        kernel = list(rng.choice(KERNELS[CONV_KINDS[kind]]))
        groups = 1
        if rng.random() < 0.3:
            g = rng.choice(GROUPS)
            f = g * max(1, f // g)
            u = g * max(1, u // g)
            groups = g
        return make_case(kind, f, u, bias, kernel=kernel, groups=groups)
    if kind in RNN_KINDS:
        return make_case(kind, f, u, bias, bidirectional=rng.random() < 0.5,
                         reset_after=rng.random() < 0.5)
    return make_case(kind, f, u, bias)


def case_key(case):
    return json.dumps(case, sort_keys=True)


def generate_cases():
    """The full, framework-independent, deterministic list of cases."""
    rng = random.Random(SEED)
    seen = set()
    out = []

    def add(case):
        key = case_key(case)
        if key in seen or rough_size(case) > MAX_PARAMS:
            return False
        seen.add(key)
        out.append(case)
        return True

    for case in coverage_cases():
        add(case)
    added = 0
    while added < N_RANDOM:
        if add(random_case(rng)):
            added += 1
    return out


# --------------------------------------------------------------------------
# Keras 3


def keras_counter():
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("keras backend is %r, expected jax" % keras.backend.backend())

    # Initializers do not change the parameter count; zeros avoid compiling a
    # jax random kernel (and an orthogonal QR) for every new weight shape,
    # which would otherwise dominate the run time.
    init = {"kernel_initializer": "zeros", "bias_initializer": "zeros"}
    rinit = dict(init, recurrent_initializer="zeros")

    def count(case):
        kind = case["layer"]
        f, u, bias = case["n_features"], case["n_units"], case["bias"]
        if kind == "dense":
            layer = keras.layers.Dense(u, use_bias=bias, **init)
            shape = (None, f)
        elif kind in CONV_KINDS:
            cls = {"conv1d": keras.layers.Conv1D, "conv2d": keras.layers.Conv2D,
                   "conv3d": keras.layers.Conv3D}[kind]
            kernel = tuple(case["kernel"])
            layer = cls(u, kernel, groups=case["groups"], use_bias=bias, **init)
            # spatial extent == kernel, so a 'valid' conv gives output size 1
            shape = (None,) + kernel + (f,)
        else:
            if kind == "rnn":
                layer = keras.layers.SimpleRNN(u, use_bias=bias, **rinit)
            elif kind == "lstm":
                layer = keras.layers.LSTM(u, use_bias=bias, **rinit)
            else:
                layer = keras.layers.GRU(u, use_bias=bias,
                                         reset_after=case["reset_after"],
                                         **rinit)
            if case["bidirectional"]:
                layer = keras.layers.Bidirectional(layer)
            shape = (None, 2, f)
        # build() with the concrete input shape creates the real weights;
        # (calling on keras.Input does the same but traces through jax, slowly)
        layer.build(shape)
        n = int(layer.count_params())
        del layer
        keras.backend.clear_session()
        return n

    return keras.__version__, count


def torch_counter():
    import torch
    from torch import nn

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    def count(case):
        kind = case["layer"]
        f, u, bias = case["n_features"], case["n_units"], case["bias"]
        with torch.no_grad():
            if kind == "dense":
                module = nn.Linear(f, u, bias=bias, device="cpu")
            elif kind in CONV_KINDS:
                cls = {"conv1d": nn.Conv1d, "conv2d": nn.Conv2d,
                       "conv3d": nn.Conv3d}[kind]
                module = cls(f, u, tuple(case["kernel"]), groups=case["groups"],
                             bias=bias, device="cpu")
            else:
                cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind]
                module = cls(f, u, num_layers=1, bias=bias,
                             bidirectional=case["bidirectional"], device="cpu")
            n = int(sum(p.numel() for p in module.parameters()))
        del module
        return n

    return torch.__version__, count


def main(argv):
    if len(argv) != 2 or argv[1] not in ("keras", "torch"):
        sys.stderr.write("usage: make_fixture.py keras|torch > out.jsonl\n")
        return 2
    framework = argv[1]
    t0 = time.time()
    version, count = (keras_counter if framework == "keras" else torch_counter)()

    cases = generate_cases()
    seen = set()
    n_out = 0
    for i, case in enumerate(cases):
        case = dict(case)
        if framework == "torch":
            case["reset_after"] = None  # torch GRU has no such option
        key = case_key(case)
        if key in seen:
            continue
        seen.add(key)
        params = count(case)
        gc.collect()
        row = {"framework": framework, "version": version}
        row.update(case)
        row["params"] = params
        sys.stdout.write(json.dumps(row) + "\n")
        n_out += 1
        if (i + 1) % 50 == 0:
            sys.stderr.write("%d/%d cases, %.1fs\n" % (i + 1, len(cases), time.time() - t0))
    sys.stdout.flush()
    sys.stderr.write("%s %s: %d cases in %.1fs\n" % (framework, version, n_out, time.time() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
