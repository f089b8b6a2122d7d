#!/usr/bin/env python3
"""Reference summaries of whole models from real Keras 3 (jax backend).

Usage (in a virtualenv with keras and jax, never the system Python):

    KERAS_BACKEND=jax python tools/make_model_fixture.py > tests/data/keras_models.jsonl

Each model is written as data in archsweep's own vocabulary (the structure of
an ``archsweep summary`` TOML file: ``input_shape`` and ``layers``, each layer
a table with ``type`` and the archsweep argument names), so the same spec
builds the Keras model here and the archsweep Model in the tests. Every
count and shape written comes from Keras: the model is built as
``keras.Sequential([keras.Input(input_shape), *layers])`` (with a
MultiHeadAttention in it, as the same chain in the functional API, the
attention called as self-attention, ``layer(x, x)``: a Sequential cannot
give it a value) and each layer's ``name``, class, ``output.shape``,
``count_params()`` and the sizes of its trainable and non-trainable weights
are recorded, with the model's totals. A model Keras refuses is written with
the error instead; the tests expect archsweep to refuse it too.

The hand-written models cover every layer kind; seeded generators add
conv/pooling stacks with random kernels, strides, dilations and paddings
(some of which Keras refuses), random recurrent stacks, MobileNet-style
stacks of plain, depthwise and separable convolutions with batch
normalization, and decoders of transposed convolutions with random
strides, paddings, dilations and output paddings.
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
SEED = int(os.environ.get("ARCHSWEEP_FIXTURE_SEED", "20261127"))

# archsweep argument names -> Keras keyword names (the rest are the same).
KERAS_ARG = {"kernel": "kernel_size", "dilation": "dilation_rate", "bias": "use_bias", "merge": "merge_mode"}
# The initializers each kind takes (zeros skip jax's random kernels; they change no count).
INITIALIZERS = {
    **{kind: ("kernel", "bias") for kind in ("Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose",
                                              "Conv2DTranspose", "Conv3DTranspose", "MultiHeadAttention")},
    **{kind: ("kernel", "bias", "recurrent") for kind in ("SimpleRNN", "LSTM", "GRU")},
    "DepthwiseConv1D": ("depthwise", "bias"), "DepthwiseConv2D": ("depthwise", "bias"),
    "SeparableConv1D": ("depthwise", "pointwise", "bias"), "SeparableConv2D": ("depthwise", "pointwise", "bias"),
    "Embedding": ("embeddings",),
}  # fmt: skip
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
    # The layer catalogue (issue 9): normalization, depthwise, separable and transposed convs, attention.
    "resnet_like": ([32, 32, 3], [
        L("Conv2D", filters=16, kernel=3, padding="same", bias=False), L("BatchNormalization"), L("ReLU"),
        L("Conv2D", filters=16, kernel=3, padding="same", bias=False), L("BatchNormalization"),
        L("Activation", activation="relu"),
        L("Conv2D", filters=32, kernel=3, strides=2, padding="same", bias=False), L("BatchNormalization", center=False),
        L("ReLU"), L("Conv2D", filters=32, kernel=3, padding="same"), L("BatchNormalization", scale=False),
        L("MaxPool2D", pool_size=2), L("Conv2D", filters=64, kernel=1, bias=False),
        L("BatchNormalization", center=False, scale=False), L("GlobalAveragePooling2D"), L("Dense", units=10)]),
    "mobilenet_like": ([32, 32, 3], [
        L("Conv2D", filters=8, kernel=3, strides=2, padding="same", bias=False), L("BatchNormalization"), L("ReLU"),
        L("DepthwiseConv2D", kernel=3, padding="same", bias=False), L("BatchNormalization"), L("ReLU"),
        L("Conv2D", filters=16, kernel=1, bias=False), L("BatchNormalization"),
        L("DepthwiseConv2D", kernel=3, strides=2, padding="same", depth_multiplier=2), L("BatchNormalization"),
        L("SeparableConv2D", filters=32, kernel=3, padding="same"), L("BatchNormalization"),
        L("SeparableConv2D", filters=32, kernel=[3, 5], strides=2, depth_multiplier=2, bias=False),
        L("BatchNormalization"), L("GlobalAvgPool2D"), L("Dropout", rate=0.2), L("Dense", units=10)]),
    "depthwise_dilated": ([29, 31, 4], [
        L("DepthwiseConv2D", kernel=3, dilation=2), L("DepthwiseConv2D", kernel=[2, 3], strides=[1, 2],
                                                          depth_multiplier=3),
        L("DepthwiseConv2D", kernel=3, strides=2, dilation=2, bias=False),
        L("SeparableConv2D", filters=5, kernel=2, strides=2, dilation=2, padding="same"),
        L("SeparableConv2D", filters=3, kernel=1, depth_multiplier=4), L("Flatten"), L("Dense", units=2)]),
    "separable_1d": ([50, 8], [
        L("DepthwiseConv1D", kernel=5, strides=2, depth_multiplier=3), L("BatchNormalization"),
        L("SeparableConv1D", filters=16, kernel=3, padding="same", dilation=2),
        L("DepthwiseConv1D", kernel=3, padding="same", bias=False),
        L("SeparableConv1D", filters=4, kernel=2, strides=2, depth_multiplier=2, bias=False),
        L("GlobalMaxPool1D"), L("Dense", units=1)]),
    "unet_decoder": ([8, 8, 64], [
        L("Conv2DTranspose", filters=32, kernel=2, strides=2, padding="same"), L("BatchNormalization"), L("ReLU"),
        L("Conv2D", filters=32, kernel=3, padding="same"),
        L("Conv2DTranspose", filters=16, kernel=3, strides=2, padding="same", output_padding=1),
        L("Conv2DTranspose", filters=16, kernel=3, strides=2),
        L("Conv2DTranspose", filters=8, kernel=[3, 2], strides=[2, 3], output_padding=[1, 2]),
        L("Conv2DTranspose", filters=4, kernel=3, dilation=2, padding="same"),
        L("Conv2DTranspose", filters=4, kernel=[4, 1], dilation=[2, 1], output_padding=0, bias=False),
        L("Conv2D", filters=1, kernel=1)]),
    "conv1d_transpose": ([10, 6], [
        L("Conv1DTranspose", filters=8, kernel=4, strides=2, padding="same"),
        L("Conv1DTranspose", filters=4, kernel=3, strides=3), L("Conv1DTranspose", filters=4, kernel=1, strides=3),
        L("Conv1DTranspose", filters=2, kernel=5, strides=2, padding="same", output_padding=0, bias=False),
        L("Conv1DTranspose", filters=3, kernel=2, dilation=3), L("GlobalAveragePooling1D"), L("Dense", units=1)]),
    "conv1d_transpose_unknown_length": ([None, 6], [
        L("Conv1DTranspose", filters=8, kernel=4, strides=2, padding="same"),
        L("Conv1DTranspose", filters=4, kernel=3, strides=2, output_padding=1), L("GlobalMaxPool1D")]),
    "conv3d_transpose": ([3, 4, 5, 2], [
        L("Conv3DTranspose", filters=4, kernel=2, strides=2),
        L("Conv3DTranspose", filters=2, kernel=[1, 2, 3], strides=[1, 2, 2], padding="same", output_padding=[0, 1, 1]),
        L("BatchNormalization"), L("Conv3DTranspose", filters=1, kernel=3, dilation=[1, 2, 1], bias=False),
        L("GlobalAveragePooling3D")]),
    "normalizations": ([10, 12], [
        L("LayerNormalization"), L("Dense", units=24), L("LayerNormalization", center=False),
        L("LayerNormalization", scale=False), L("LayerNormalization", rms_scaling=True),
        L("LayerNormalization", center=False, scale=False), L("GroupNormalization", groups=4),
        L("GroupNormalization", groups=-1), L("GroupNormalization", groups=24, center=False),
        L("GroupNormalization", groups=1, scale=False), L("RMSNormalization"),
        L("BatchNormalization", center=False, scale=False), L("Flatten"), L("Dense", units=2)]),
    "groupnorm_images": ([16, 16, 32], [
        L("GroupNormalization"), L("Conv2D", filters=64, kernel=3), L("GroupNormalization", groups=8),
        L("RMSNormalization"), L("LayerNormalization"), L("GlobalMaxPooling2D")]),
    "mlp_batchnorm": ([20], [
        L("Dense", units=64, bias=False), L("BatchNormalization"), L("ReLU"), L("Dropout", rate=0.3),
        L("Dense", units=10), L("BatchNormalization", scale=False), L("RMSNormalization")]),
    "batchnorm_sizes": ([1, 1, 1, 4096], [L("BatchNormalization"), L("GroupNormalization", groups=4096),
                                          L("LayerNormalization", center=False), L("Conv3D", filters=1, kernel=1)]),
    "transformer_block": ([16, 32], [
        L("MultiHeadAttention", num_heads=4, key_dim=8), L("LayerNormalization"), L("Dense", units=64),
        L("Dense", units=32), L("LayerNormalization"), L("MultiHeadAttention", num_heads=2, key_dim=16, value_dim=8),
        L("MultiHeadAttention", num_heads=1, key_dim=4, output_shape=10, bias=False), L("RMSNormalization"),
        L("GlobalAveragePooling1D"), L("Dense", units=1)]),
    "attention_on_tokens": ([None], [
        L("Embedding", input_dim=1000, output_dim=32), L("MultiHeadAttention", num_heads=4, key_dim=8, bias=False),
        L("LayerNormalization"), L("GlobalAveragePooling1D"), L("Dense", units=1)]),
    "attention_on_images": ([4, 5, 8], [
        L("MultiHeadAttention", num_heads=2, key_dim=3, output_shape=[2, 3]), L("Flatten"), L("Dense", units=2)]),
    "attention_on_vectors": ([8], [L("MultiHeadAttention", num_heads=2, key_dim=4), L("Dense", units=3)]),
    "attention_sizes": ([3, 1], [
        L("MultiHeadAttention", num_heads=1, key_dim=1), L("MultiHeadAttention", num_heads=3, key_dim=5, value_dim=7,
                                                           output_shape=11)]),
    # The catalogue's refusals.
    "bad_groupnorm_not_dividing": ([8, 6], [L("GroupNormalization", groups=4)]),
    "bad_groupnorm_default_groups": ([8, 16], [L("GroupNormalization")]),
    "bad_batchnorm_unknown_features": ([5, None], [L("BatchNormalization")]),
    "bad_layernorm_unknown_features": ([5, None], [L("LayerNormalization")]),
    "bad_rmsnorm_unknown_features": ([5, None], [L("RMSNormalization")]),
    "bad_depthwise_rank": ([8, 8], [L("DepthwiseConv2D", kernel=3)]),
    "bad_depthwise_causal": ([8, 3], [L("DepthwiseConv1D", kernel=2, padding="causal")]),
    "bad_separable_causal": ([8, 3], [L("SeparableConv1D", filters=2, kernel=2, padding="causal")]),
    "bad_separable_too_large": ([4, 4, 2], [L("SeparableConv2D", filters=4, kernel=5)]),
    "bad_depthwise_dilated_too_large": ([6, 2], [L("DepthwiseConv1D", kernel=3, dilation=3)]),
    "bad_transpose_output_padding": ([4, 3], [L("Conv1DTranspose", filters=2, kernel=3, strides=2, output_padding=2)]),
    "bad_transpose_output_padding_stride_one": ([4, 4, 3], [
        L("Conv2DTranspose", filters=2, kernel=3, output_padding=1)]),
    "bad_transpose_strides_and_dilation": ([4, 4, 3], [
        L("Conv2DTranspose", filters=2, kernel=3, strides=2, dilation=2)]),
    "bad_transpose_rank": ([4, 3], [L("Conv2DTranspose", filters=2, kernel=2)]),
    "bad_attention_unknown_width": ([5, None], [L("MultiHeadAttention", num_heads=2, key_dim=4)]),
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


def random_window(rng, rank, choices):
    """Random window arguments: kernel, padding, strides or dilation."""
    args = {"kernel": rng.choice([1, 2, 3, 5, [rng.randint(1, 4) for _ in range(rank)]]),
            "padding": rng.choice(choices)}  # fmt: skip
    if rng.random() < 0.5:
        args["strides"] = rng.choice([2, 3, [rng.randint(1, 3) for _ in range(rank)]])
    if rng.random() < 0.4:
        args["dilation"] = rng.choice([2, 3, [rng.randint(1, 3) for _ in range(rank)]])
    if rng.random() < 0.2:
        args["bias"] = False
    return args


def random_mobile(rng, rank):
    """A MobileNet-style stack: plain, depthwise and separable convolutions,
    most followed by batch normalization (Keras allows strides with dilation
    in the depthwise and separable ones)."""
    size = [rng.choice([9, 16, 23, 32]) for _ in range(rank)]
    layers = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["Conv", "DepthwiseConv", "SeparableConv"]) + f"{rank}D"
        args = random_window(rng, rank, ["valid", "same"])
        if kind.startswith("Conv") and "strides" in args:
            args.pop("dilation", None)
        if not kind.startswith("Depthwise"):
            args["filters"] = rng.choice([1, 4, 8, 16])
        if not kind.startswith("Conv") and rng.random() < 0.5:
            args["depth_multiplier"] = rng.choice([1, 2, 3])
        layers.append(L(kind, **args))
        if rng.random() < 0.7:
            layers.append(L("BatchNormalization", **rng.choice([{}, {}, {"center": False}, {"scale": False}])))
    layers += [L(rng.choice(["Flatten", f"GlobalAvgPool{rank}D"])), L("Dense", units=rng.choice([1, 10]))]
    return size + [rng.choice([1, 3, 8])], layers


def random_decoder(rng, rank):
    """Transposed convolutions with random strides, paddings, dilations and
    output paddings (some of which Keras refuses)."""
    size = [rng.choice([1, 3, 4, 7]) for _ in range(rank)]
    layers = []
    for _ in range(rng.randint(1, 3)):
        args = random_window(rng, rank, ["valid", "same"])
        if "strides" in args and rng.random() < 0.8:
            args.pop("dilation", None)  # mostly what Keras takes; the rest are refusals
        args["filters"] = rng.choice([1, 2, 6])
        if rng.random() < 0.6:
            strides = args.get("strides", 1)
            strides = strides if isinstance(strides, list) else [strides] * rank
            below = [rng.randrange(s) for s in strides]  # less than strides, as Keras requires
            args["output_padding"] = rng.choice([0, below, below, [s - 1 for s in strides], [rng.randint(0, 2)] * rank])
        layers.append(L(f"Conv{rank}DTranspose", **args))
        if rng.random() < 0.3:
            layers.append(L("BatchNormalization"))
    layers.append(L(f"GlobalMaxPool{rank}D"))
    return size + [rng.choice([1, 2, 5])], layers


def models():
    out = list(HAND.items())
    rng = random.Random(SEED)
    for i in range(24):
        out.append((f"random_conv{i}", random_conv(rng, 1 + i % 3)))
    for i in range(8):
        out.append((f"random_rnn{i}", random_rnn(rng)))
    # The catalogue's generators draw from streams of their own: the models above stay as they were.
    rng = random.Random(f"{SEED}/mobile")
    for i in range(16):
        out.append((f"random_mobile{i}", random_mobile(rng, 1 + i % 2)))
    rng = random.Random(f"{SEED}/decoder")
    for i in range(16):
        out.append((f"random_decoder{i}", random_decoder(rng, 1 + i % 3)))
    return out


def keras_module():
    """Keras 3 on the jax backend (on CPU)."""
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit(f"keras backend is {keras.backend.backend()!r}, expected jax")
    return keras


def keras_layer(spec):
    """The Keras layer of an archsweep layer table ({"type": ..., archsweep's arguments})."""
    keras = keras_module()
    spec = dict(spec)
    kind = spec.pop("type")
    args = {KERAS_ARG.get(k, k): tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
    if kind == "Bidirectional":
        args["layer"] = keras_layer(args["layer"])
    args.update({f"{weight}_initializer": "zeros" for weight in INITIALIZERS.get(kind, ())})
    return getattr(keras.layers, kind)(**args)


def size(weights):
    return sum(math.prod(w.shape) for w in weights)


def refusal(exc):
    """A framework's refusal as one recorded line: its type and message, without terminal colours."""
    message = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).split())
    return f"{type(exc).__name__}: {message[:400]}"


def keras_builder():
    keras = keras_module()
    layer = keras_layer

    def chain(input_shape, specs):
        inputs = keras.Input(tuple(input_shape))
        layers = [layer(s) for s in specs]
        if not any(isinstance(l, keras.layers.MultiHeadAttention) for l in layers):
            return keras.Sequential([inputs, *layers])
        x = inputs
        for l in layers:  # self-attention: query = value (= key)
            x = l(x, x) if isinstance(l, keras.layers.MultiHeadAttention) else l(x)
        return keras.Model(inputs, x)

    def build(input_shape, specs):
        keras.backend.clear_session()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # LayerNormalization(rms_scaling=True) is deprecated, not refused
                model = chain(input_shape, specs)
        except Exception as exc:  # noqa: BLE001 - any refusal is recorded as such
            return {"error": refusal(exc)}
        layers = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
        rows = [{"name": l.name, "type": type(l).__name__, "output_shape": list(l.output.shape),
                 "params": int(l.count_params()), "trainable": size(l.trainable_weights),
                 "non_trainable": size(l.non_trainable_weights)} for l in layers]  # fmt: skip
        return {"summary": rows, "total": int(model.count_params()), "trainable": size(model.trainable_weights),
                "non_trainable": size(model.non_trainable_weights)}  # fmt: skip

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
