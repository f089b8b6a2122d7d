#!/usr/bin/env python3
"""Reference summaries of whole models from real Keras 3 (jax backend).

Usage (in a virtualenv with keras and jax, never the system Python):

    KERAS_BACKEND=jax python tools/make_model_fixture.py > tests/data/keras_models.jsonl

Each model is written as data in archsweep's own vocabulary (the structure of
an ``archsweep summary`` TOML file: ``input_shape`` and ``layers``, each layer
a table with ``type`` and the archsweep argument names), so the same spec
builds the Keras model here and the archsweep Model in the tests. Every
count and shape written comes from Keras: the model is built as
``keras.Sequential([keras.Input(input_shape), *layers])`` and each layer's
``name``, class, ``output.shape`` and ``count_params()`` are recorded, with
``model.count_params()``. A model Keras refuses is written with the error
instead; the tests expect archsweep to refuse it too.

The hand-written models cover every layer kind; a seeded generator adds
conv/pooling stacks with random kernels, strides, dilations and paddings
(some of which Keras refuses) and random recurrent stacks.
"""

import json
import os
import random
import re
import sys
import time

# Another seed (ARCHSWEEP_FIXTURE_SEED) draws cases the committed fixture has not seen.
SEED = int(os.environ.get("ARCHSWEEP_FIXTURE_SEED", "20261127"))

# archsweep argument names -> Keras keyword names (the rest are the same).
KERAS_ARG = {"kernel": "kernel_size", "dilation": "dilation_rate", "bias": "use_bias", "merge": "merge_mode"}
WEIGHTED = {"Dense", "Conv1D", "Conv2D", "Conv3D"}
RECURRENT = {"SimpleRNN", "LSTM", "GRU"}


def L(kind, **args):
    return {"type": kind, **args}


HAND = {
    "mnist_cnn": ([28, 28, 1], [
        L("Conv2D", filters=32, kernel=3, padding="same"), L("MaxPool2D", pool_size=2),
        L("Conv2D", filters=64, kernel=3), L("MaxPool2D", pool_size=2),
        L("Flatten"), L("Dense", units=128), L("Dense", units=10)]),
    "imdb_birnn": ([100], [
        L("Embedding", input_dim=20000, output_dim=128),
        L("Bidirectional", layer=L("LSTM", units=64, return_sequences=True)),
        L("Bidirectional", layer=L("GRU", units=32)), L("Dense", units=1)]),
    "wavenet_causal": ([256, 1], [
        L("Conv1D", filters=16, kernel=2, padding="causal", dilation=d) for d in (1, 2, 4, 8, 16)
    ] + [L("Conv1D", filters=1, kernel=1)]),
    "conv1d_strides": ([101, 7], [
        L("Conv1D", filters=8, kernel=5, strides=2), L("Conv1D", filters=8, kernel=3, strides=3, padding="same"),
        L("Conv1D", filters=4, kernel=4, strides=2, bias=False), L("Flatten"), L("Dense", units=3)]),
    "conv2d_nonsquare": ([33, 47, 3], [
        L("Conv2D", filters=12, kernel=[1, 7]), L("Conv2D", filters=12, kernel=[7, 1], strides=[2, 1]),
        L("Conv2D", filters=24, kernel=3, dilation=2, padding="same"),
        L("Conv2D", filters=24, kernel=[3, 5], dilation=[2, 1]),
        L("Conv2D", filters=48, kernel=3, groups=4, strides=2, padding="same"),
        L("GlobalAveragePooling2D"), L("Dense", units=5)]),
    "depthwise_like": ([32, 32, 32], [
        L("Conv2D", filters=32, kernel=3, groups=32, padding="same"), L("Conv2D", filters=64, kernel=1),
        L("AvgPool2D", pool_size=2), L("Conv2D", filters=64, kernel=3, groups=8, bias=False),
        L("GlobalMaxPool2D"), L("Dense", units=10)]),
    "video_conv3d": ([8, 32, 32, 3], [
        L("Conv3D", filters=8, kernel=3), L("MaxPool3D", pool_size=[1, 2, 2]),
        L("Conv3D", filters=16, kernel=[1, 3, 3], strides=[1, 2, 2], padding="same"),
        L("AvgPool3D", pool_size=2, padding="same"), L("GlobalAveragePooling3D"), L("Dense", units=4)]),
    "conv3d_flatten": ([5, 6, 7, 2], [
        L("Conv3D", filters=3, kernel=[2, 3, 4], dilation=[1, 2, 1]), L("Flatten"), L("Dense", units=6, bias=False)]),
    "pooling_1d": ([50, 6], [
        L("MaxPool1D", pool_size=3), L("AvgPool1D", pool_size=4, strides=1),
        L("MaxPool1D", pool_size=2, padding="same"),
        L("AvgPool1D", pool_size=3, strides=2, padding="same"), L("Flatten"), L("Dense", units=2)]),
    "pooling_2d_strides": ([31, 29, 4], [
        L("MaxPool2D", pool_size=[3, 2], strides=[2, 3]), L("AvgPool2D", pool_size=2, strides=1, padding="same"),
        L("MaxPool2D", pool_size=[2, 4]), L("Flatten"), L("Dense", units=7)]),
    "global_keepdims": ([9, 10, 11, 3], [
        L("GlobalMaxPool3D", keepdims=True), L("Flatten"), L("Dense", units=2)]),
    "global_pooling_1d": ([20, 16], [
        L("Conv1D", filters=8, kernel=3), L("GlobalAveragePooling1D", keepdims=True), L("GlobalMaxPooling1D"),
        L("Dense", units=1)]),
    "bidirectional_merges": ([12, 9], [
        L("Bidirectional", layer=L("SimpleRNN", units=10, return_sequences=True), merge="sum"),
        L("Bidirectional", layer=L("LSTM", units=7, return_sequences=True), merge="mul"),
        L("Bidirectional", layer=L("GRU", units=5, return_sequences=True), merge="ave"),
        L("Bidirectional", layer=L("GRU", units=6, reset_after=False)), L("Dense", units=3)]),
    "bidirectional_concat_no_bias": ([7, 3], [
        L("Bidirectional", layer=L("SimpleRNN", units=4, bias=False, return_sequences=True)),
        L("Bidirectional", layer=L("LSTM", units=4, bias=False), merge="sum"), L("Dense", units=2, bias=False)]),
    "names_after_wrapped_layers": ([10, 4], [
        L("Bidirectional", layer=L("LSTM", units=3, return_sequences=True)), L("LSTM", units=2, return_sequences=True),
        L("Bidirectional", layer=L("GRU", units=3, return_sequences=True)), L("GRU", units=2), L("Dense", units=1)]),
    "stacked_rnn": ([30, 13], [
        L("SimpleRNN", units=17, return_sequences=True), L("LSTM", units=33, return_sequences=True),
        L("GRU", units=9, return_sequences=True, reset_after=False), L("GRU", units=11), L("Dense", units=1)]),
    "dense_on_sequences": ([10, 20], [
        L("Dense", units=30), L("Dense", units=5, bias=False), L("Flatten"), L("Dense", units=4)]),
    "dense_on_images": ([4, 5, 6], [L("Dense", units=3), L("Conv2D", filters=2, kernel=2), L("Flatten")]),
    "embedding_unknown_length": ([None], [
        L("Embedding", input_dim=1000, output_dim=16), L("GlobalAveragePooling1D"), L("Dense", units=16),
        L("Activation", activation="relu"), L("Dense", units=1)]),
    "embedding_2d_input": ([5, 7], [L("Embedding", input_dim=50, output_dim=3), L("Flatten"), L("Dense", units=8)]),
    "embedding_rnn": ([None], [
        L("Embedding", input_dim=5000, output_dim=32), L("LSTM", units=64, return_sequences=True),
        L("Dropout", rate=0.2), L("GRU", units=32), L("Dense", units=5)]),
    "zero_param_layers": ([16], [
        L("Dense", units=8), L("ReLU"), L("Dropout", rate=0.5), L("Activation", activation="tanh"),
        L("Dense", units=8), L("Dropout", rate=0.0), L("Dense", units=2)]),
    "unknown_length_conv": ([None, 8], [
        L("Conv1D", filters=4, kernel=3, padding="causal", dilation=2), L("MaxPool1D"),
        L("Conv1D", filters=6, kernel=2, strides=2), L("GlobalMaxPool1D"), L("Dense", units=2)]),
    "conv_lstm_hybrid": ([200, 12], [
        L("Conv1D", filters=32, kernel=5, strides=2), L("MaxPool1D", pool_size=2), L("LSTM", units=48),
        L("Dense", units=6)]),
    "vgg_like": ([64, 64, 3], [
        L("Conv2D", filters=16, kernel=3, padding="same"), L("Conv2D", filters=16, kernel=3, padding="same"),
        L("MaxPool2D", pool_size=2), L("Conv2D", filters=32, kernel=3, padding="same"),
        L("Conv2D", filters=32, kernel=3, padding="same"), L("MaxPool2D", pool_size=2), L("Flatten"),
        L("Dense", units=256), L("Dropout", rate=0.5), L("Dense", units=100)]),
    "wide_dense": ([4096], [L("Dense", units=4096), L("Dense", units=1000), L("Dense", units=1)]),
    "size_one": ([1], [L("Dense", units=1), L("Dense", units=1, bias=False)]),
    "flatten_first": ([3, 4, 5], [L("Flatten"), L("Dense", units=7)]),
    # Models Keras refuses; archsweep must refuse them too.
    "bad_conv2d_on_vectors": ([128], [L("Conv2D", filters=8, kernel=3)]),
    "bad_kernel_too_large": ([5, 5, 3], [L("Conv2D", filters=8, kernel=7)]),
    "bad_dilated_kernel_too_large": ([9, 2], [L("Conv1D", filters=8, kernel=3, dilation=5)]),
    "bad_pool_too_large": ([3, 3, 1], [L("MaxPool2D", pool_size=4)]),
    "bad_lstm_on_images": ([8, 8, 3], [L("LSTM", units=4)]),
    "bad_rnn_on_vectors": ([16], [L("GRU", units=4)]),
    "bad_causal_conv2d": ([8, 8, 1], [L("Conv2D", filters=2, kernel=2, padding="causal")]),
    "bad_strides_and_dilation": ([20, 4], [L("Conv1D", filters=2, kernel=2, strides=2, dilation=2)]),
    "bad_groups_channels": ([8, 8, 6], [L("Conv2D", filters=8, kernel=1, groups=4)]),
    "bad_groups_filters": ([8, 8, 8], [L("Conv2D", filters=6, kernel=1, groups=4)]),
    "bad_global_pool_rank": ([10, 4], [L("GlobalMaxPooling2D")]),
    "bad_dense_unknown_features": ([None], [
        L("Embedding", input_dim=10, output_dim=4), L("Flatten"), L("Dense", units=3)]),
}  # fmt: skip


def random_conv(rng, rank):
    """A conv/pooling stack of one rank with random window arguments."""
    lengths = [8, 13, 16, 21, 32] if rank < 3 else [7, 9, 12]
    size = [rng.choice(lengths) for _ in range(rank)]
    layers = []
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.3:
            kind = rng.choice(["MaxPool", "AvgPool"]) + f"{rank}D"
            args = {"pool_size": rng.choice([2, 3, [rng.randint(1, 3) for _ in range(rank)]])}
            if rng.random() < 0.5:
                args["strides"] = rng.choice([1, 2, [rng.randint(1, 3) for _ in range(rank)]])
            args["padding"] = rng.choice(["valid", "same"])
            layers.append(L(kind, **args))
            continue
        args = {"filters": rng.choice([1, 3, 4, 8, 12]),
                "kernel": rng.choice([1, 2, 3, 5, [rng.randint(1, 4) for _ in range(rank)]])}
        paddings = ["valid", "same"] + (["causal"] if rank == 1 else [])
        args["padding"] = rng.choice(paddings)
        if rng.random() < 0.5:
            args["strides"] = rng.choice([2, 3, [rng.randint(1, 3) for _ in range(rank)]])
        elif rng.random() < 0.5:
            args["dilation"] = rng.choice([2, 3, [rng.randint(1, 3) for _ in range(rank)]])
        if rng.random() < 0.2:
            args["bias"] = False
        layers.append(L(f"Conv{rank}D", **args))
    head = rng.choice(["Flatten", f"GlobalMaxPool{rank}D", f"GlobalAvgPool{rank}D"])
    layers += [L(head), L("Dense", units=rng.choice([1, 3, 10]))]
    return size + [rng.choice([1, 2, 3])], layers


def random_rnn(rng):
    layers = []
    depth = rng.randint(1, 3)
    for i in range(depth):
        kind = rng.choice(sorted(RECURRENT))
        args = {"units": rng.choice([1, 2, 5, 16, 31]), "return_sequences": i < depth - 1 or rng.random() < 0.3}
        if rng.random() < 0.3:
            args["bias"] = False
        if kind == "GRU" and rng.random() < 0.5:
            args["reset_after"] = rng.random() < 0.5
        layer = L(kind, **args)
        if rng.random() < 0.5:
            layer = L("Bidirectional", layer=layer, merge=rng.choice(["concat", "sum", "mul", "ave"]))
        layers.append(layer)
    if layers and (layers[-1].get("return_sequences") or layers[-1].get("layer", {}).get("return_sequences")):
        layers.append(L("Flatten"))
    layers.append(L("Dense", units=rng.choice([1, 4])))
    return [rng.choice([3, 10]), rng.choice([1, 4, 9])], layers


def models():
    out = list(HAND.items())
    rng = random.Random(SEED)
    for i in range(24):
        out.append((f"random_conv{i}", random_conv(rng, 1 + i % 3)))
    for i in range(8):
        out.append((f"random_rnn{i}", random_rnn(rng)))
    return out


def keras_builder():
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit(f"keras backend is {keras.backend.backend()!r}, expected jax")

    def layer(spec):
        spec = dict(spec)
        kind = spec.pop("type")
        args = {KERAS_ARG.get(k, k): tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
        if kind == "Bidirectional":
            args["layer"] = layer(args["layer"])
        # Initializers do not change counts; zeros skip jax's random kernels.
        if kind in WEIGHTED | RECURRENT:
            args.update(kernel_initializer="zeros", bias_initializer="zeros")
        if kind in RECURRENT:
            args["recurrent_initializer"] = "zeros"
        if kind == "Embedding":
            args["embeddings_initializer"] = "zeros"
        return getattr(keras.layers, kind)(**args)

    def build(input_shape, specs):
        keras.backend.clear_session()
        try:
            model = keras.Sequential([keras.Input(tuple(input_shape)), *(layer(s) for s in specs)])
        except Exception as exc:  # noqa: BLE001 - any refusal is recorded as such
            message = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).split())  # no terminal colours
            return {"error": f"{type(exc).__name__}: {message[:400]}"}
        rows = [{"name": l.name, "type": type(l).__name__, "output_shape": list(l.output.shape),
                 "params": int(l.count_params())} for l in model.layers]  # fmt: skip
        return {"summary": rows, "total": int(model.count_params())}

    return keras.__version__, build


def main():
    if os.environ.get("PYTHONHASHSEED") != "0":
        # Keras' messages print sets: a fixed hash seed keeps reruns byte-identical.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    t0 = time.time()
    version, build = keras_builder()
    n_bad = 0
    for name, (input_shape, layers) in models():
        row = {"name": name, "keras": version, "input_shape": input_shape, "layers": layers}
        row.update(build(input_shape, layers))
        n_bad += "error" in row
        sys.stdout.write(json.dumps(row) + "\n")
    sys.stdout.flush()
    sys.stderr.write(f"keras {version}: {len(models())} models ({n_bad} refused) in {time.time() - t0:.1f}s\n")


if __name__ == "__main__":
    main()
