#!/usr/bin/env python3
"""Reference summaries of functional (non-sequential) models from real Keras 3 (jax backend).

Usage (in a virtualenv with keras and jax, never the system Python):

    KERAS_BACKEND=jax python tools/make_graph_fixture.py > tests/data/keras_graphs.jsonl

Each model is a graph written as data: ``inputs`` (``name`` and ``shape``
without the batch), ``nodes`` in the order the model was written (each a
``name``, a ``layer`` in archsweep's vocabulary -- the same ``{type, ...}``
tables as ``make_model_fixture.py``, converted to Keras by that script's own
converter -- and the names of its ``inbound`` tensors: several for the merge
layers, ``[x, x]`` for a self-attention ``mha(x, x)``) and the ``outputs``.
The names are the ones Keras gives by itself: the model is first written in
a fresh session with every layer unnamed (so ``input_layer``, ``conv2d``,
``conv2d_1``, ``add``, ... and ``dropout_1`` for the first Dropout written
after a MultiHeadAttention, whose first call makes a Dropout of its own),
then built in another fresh session with each layer given its name
explicitly.

Every count, shape and name written comes from Keras: for each layer of
``model.layers`` (in Keras' order, which is not the order written: see
``map_graph`` in keras/src/ops/function.py -- by decreasing depth, the
longest path to an output, ties in the order a depth-first walk from the
outputs first meets them), its ``name``, class, ``output.shape``,
``count_params()``, the sizes of its trainable and non-trainable weights and
the names its summary shows under "Connected to", with the model's totals. A
model Keras refuses is written with the error instead; the tests expect
archsweep to refuse it too.

Hand-written graphs cover every merge layer alone (two and three branches,
on vectors and images), Concatenate on several axes, ResNet basic and
bottleneck blocks (identity and projection shortcuts, the shortcut written
before or after the main path), a small ResNet, U-Nets, DenseNet blocks,
post- and pre-norm transformer encoder blocks, multi-input and multi-output
models, and refusals; a seeded generator (``random.Random("<seed>/graphs")``)
adds random residual stacks.
"""

import json
import os
import random
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_model_fixture import L, keras_layer, keras_module, refusal, size  # noqa: E402

# Another seed (ARCHSWEEP_FIXTURE_SEED) draws cases the committed fixture has not seen.
SEED = int(os.environ.get("ARCHSWEEP_FIXTURE_SEED", "20261202"))

# Layers called on a list of tensors; MultiHeadAttention is called on them as positional
# arguments (query, value[, key]); every other layer on exactly one tensor.
MERGE = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"}


def call(layer, kind, tensors):
    """Calls a Keras layer on its inbound tensors as the spec's node does."""
    if kind in MERGE:
        return layer(tensors)
    if kind == "MultiHeadAttention":
        return layer(*tensors)  # query, value[, key]: mha(x, x) is self-attention
    (tensor,) = tensors  # every other layer takes one inbound tensor
    return layer(tensor)


class Graph:
    """A functional model written as data. ``g.input(shape)`` and
    ``g(layer_spec, *inbound)`` return the new tensor's name, the name Keras
    gives by itself when the model is written this way: in a session cleared
    when the graph is begun, each layer is constructed without a name and
    called as it is written (a MultiHeadAttention's first call makes a
    Softmax and a Dropout of its own, which take ``softmax`` and ``dropout``),
    until a call Keras refuses; the layers after it are only constructed."""

    def __init__(self, keras):
        keras.backend.clear_session()
        self._keras = keras
        self._tensors, self._refused = {}, False
        self.inputs, self.nodes, self.outputs = [], [], []

    def input(self, shape):
        tensor = self._keras.Input(tuple(shape))
        name = tensor._keras_history.operation.name  # the InputLayer's, not the tensor's
        self._tensors[name] = tensor
        self.inputs.append({"name": name, "shape": list(shape)})
        return name

    def __call__(self, layer, *inbound):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            made = keras_layer(layer)
            name = made.name
            if not self._refused:
                try:
                    self._tensors[name] = call(made, layer["type"], [self._tensors[n] for n in inbound])
                except Exception:  # noqa: BLE001 - recorded when the model is built
                    self._refused = True
        self.nodes.append({"name": name, "layer": layer, "inbound": list(inbound)})
        return name

    def output(self, *names):
        self.outputs += names

    def data(self):
        return {"inputs": self.inputs, "nodes": self.nodes, "outputs": self.outputs}


# ----------------------------------------------------------------------------------------------
# The hand-written graphs: each a function of a Graph.


def conv(filters, kernel=3, **args):
    return L("Conv2D", filters=filters, kernel=kernel, padding=args.pop("padding", "same"), **args)


def merge_alone(kind, branches, images):
    def model(g):
        x = g.input([12, 12, 3] if images else [10])
        if images:
            outs = [g(conv(8, k), x) for k in (3, 1, 5)[:branches]]
        else:
            outs = [g(L("Dense", units=8, **({"bias": False} if i == 2 else {})), x) for i in range(branches)]
        m = g(L(kind), *outs)
        if images:
            m = g(L("GlobalAveragePooling2D"), m)
        g.output(g(L("Dense", units=3), m))

    return model


def concat_dense(g):
    x = g.input([10])
    a, b = g(L("Dense", units=8), x), g(L("Dense", units=5), x)
    c = g(L("Concatenate", axis=-1), a, b)
    g.output(g(L("Dense", units=2), c))


def concat_conv_default_axis(g):
    x = g.input([12, 12, 3])
    a, b, c = g(conv(8), x), g(conv(4, 1), x), g(conv(2, 5, bias=False), x)
    m = g(L("Concatenate"), a, b, c)
    g.output(g(conv(6, 1), m))


def concat_conv_axis1(g):
    x = g.input([12, 12, 3])
    a = g(conv(8), x)
    b = g(conv(8, strides=[2, 1]), x)  # (6, 12, 8): differs from a only on axis 1
    m = g(L("Concatenate", axis=1), a, b)
    g.output(g(L("Flatten"), m))


def concat_conv_axis3(g):
    x = g.input([9, 9, 4])
    a, b = g(conv(5, 3), x), g(conv(7, 1), x)
    m = g(L("Concatenate", axis=3), a, b)
    g.output(g(L("GlobalMaxPooling2D"), m))


def concat_sequences_axis1(g):
    x = g.input([10, 4])
    a = g(L("Conv1D", filters=6, kernel=3), x)  # (8, 6)
    b = g(L("Conv1D", filters=6, kernel=1), x)  # (10, 6)
    m = g(L("Concatenate", axis=1), a, b)
    g.output(g(L("Dense", units=2), m))


def concat_sequences_axis_minus2(g):
    x = g.input([10, 6])
    a = g(L("Conv1D", filters=6, kernel=2, strides=2), x)  # (5, 6)
    m = g(L("Concatenate", axis=-2), x, a)
    g.output(g(L("GlobalAveragePooling1D"), m))


def bad_add_mismatched(g):
    x = g.input([10])
    a, b = g(L("Dense", units=8), x), g(L("Dense", units=5), x)
    g.output(g(L("Dense", units=1), g(L("Add"), a, b)))


def bad_add_mismatched_images(g):
    x = g.input([12, 12, 3])
    a, b = g(conv(8), x), g(conv(8, strides=2), x)
    g.output(g(L("Add"), a, b))


def bad_concat_mismatched(g):
    x = g.input([12, 12, 3])
    a, b = g(conv(8), x), g(conv(8, padding="valid"), x)  # (12, 12, 8) and (10, 10, 8)
    g.output(g(L("Concatenate", axis=-1), a, b))


def bad_concat_wrong_axis(g):
    x = g.input([10])
    a, b = g(L("Dense", units=8), x), g(L("Dense", units=5), x)
    g.output(g(L("Concatenate", axis=0), a, b))  # the batch axis: 8 and 5 differ on the last


def bad_subtract_three(g):
    x = g.input([10])
    a, b, c = (g(L("Dense", units=4), x) for _ in range(3))
    g.output(g(L("Subtract"), a, b, c))


def add_broadcast_one(g):  # Keras broadcasts a size-1 axis: (8,) + (1,) is (8,)
    x = g.input([10])
    a, b = g(L("Dense", units=8), x), g(L("Dense", units=1), x)
    g.output(g(L("Dense", units=2), g(L("Add"), a, b)))


def maximum_broadcast_rank(g):  # and lower ranks: (4,) and (5, 4) give (5, 4)
    x, s = g.input([10]), g.input([5, 4])
    a, b = g(L("Dense", units=4), x), g(L("Dense", units=4), s)
    g.output(g(L("Maximum"), a, b))


def bad_concat_rank(g):
    x, s = g.input([10]), g.input([5, 4])
    a, b = g(L("Dense", units=4), x), g(L("Dense", units=4), s)
    g.output(g(L("Concatenate"), a, b))


def bad_attention_one_inbound(g):  # mha(x): the value is not optional
    x = g.input([16, 8])
    g.output(g(L("MultiHeadAttention", num_heads=2, key_dim=4), x))


def multiply_one_input(g):  # a merge layer takes a list of one
    x = g.input([10])
    g.output(g(L("Multiply"), g(L("Dense", units=4), x)))


def basic_block(g, x, filters, strides=1, project=False, shortcut_first=False):
    """A ResNet v1 basic block: two 3x3 convs with batch normalization, the
    shortcut the identity or a strided 1x1 conv with batch normalization."""

    def shortcut():
        if not project:
            return x
        return g(L("BatchNormalization"), g(conv(filters, 1, strides=strides, bias=False), x))

    s = shortcut() if shortcut_first else None
    h = g(conv(filters, strides=strides, bias=False), x)
    h = g(L("ReLU"), g(L("BatchNormalization"), h))
    h = g(L("BatchNormalization"), g(conv(filters, bias=False), h))
    s = s if shortcut_first else shortcut()
    return g(L("ReLU"), g(L("Add"), h, s))


def bottleneck_block(g, x, filters, strides=1, project=False, shortcut_first=True):
    """A ResNet v1 bottleneck block (1x1, 3x3, 1x1 with 4x expansion), as
    keras.applications writes it: the shortcut first."""

    def shortcut():
        if not project:
            return x
        return g(L("BatchNormalization", epsilon=1.001e-5), g(conv(4 * filters, 1, strides=strides), x))

    s = shortcut() if shortcut_first else None
    h = g(L("Activation", activation="relu"), g(L("BatchNormalization"), g(conv(filters, 1, strides=strides), x)))
    h = g(L("Activation", activation="relu"), g(L("BatchNormalization"), g(conv(filters, 3), h)))
    h = g(L("BatchNormalization"), g(conv(4 * filters, 1), h))
    s = s if shortcut_first else shortcut()
    return g(L("Activation", activation="relu"), g(L("Add"), s, h))


def resnet_basic_identity(g):
    g.output(basic_block(g, g.input([16, 16, 16]), 16))


def resnet_basic_projection(g):
    g.output(basic_block(g, g.input([16, 16, 16]), 32, strides=2, project=True))


def resnet_basic_projection_shortcut_first(g):
    g.output(basic_block(g, g.input([16, 16, 16]), 32, strides=2, project=True, shortcut_first=True))


def resnet_bottleneck_projection(g):
    g.output(bottleneck_block(g, g.input([16, 16, 32]), 16, strides=2, project=True))


def resnet_bottleneck_projection_stride1_after(g):
    g.output(bottleneck_block(g, g.input([8, 8, 24]), 8, project=True, shortcut_first=False))


def resnet_bottleneck_identity(g):
    g.output(bottleneck_block(g, g.input([8, 8, 64]), 16))


def small_resnet(g):
    x = g.input([32, 32, 3])
    h = g(L("ReLU"), g(L("BatchNormalization"), g(conv(16, bias=False), x)))
    for stage, filters in enumerate((16, 32, 64)):
        h = basic_block(g, h, filters, strides=1 if stage == 0 else 2, project=stage > 0)
        h = basic_block(g, h, filters)
    h = g(L("GlobalAveragePooling2D"), h)
    g.output(g(L("Dense", units=10), h))


def small_resnet_bottleneck(g):
    x = g.input([32, 32, 3])
    h = g(L("ReLU"), g(L("BatchNormalization", epsilon=1.001e-5), g(conv(32, 7, strides=2), x)))
    h = g(L("MaxPooling2D", pool_size=3, strides=2, padding="same"), h)
    h = bottleneck_block(g, h, 8, project=True)
    h = bottleneck_block(g, h, 8)
    h = bottleneck_block(g, h, 16, strides=2, project=True)
    h = bottleneck_block(g, h, 16)
    g.output(g(L("Dense", units=5), g(L("GlobalAveragePooling2D"), h)))


def unet(batchnorm, transpose_kernel):
    def double_conv(g, x, filters):
        for _ in range(2):
            x = g(conv(filters, bias=not batchnorm), x)
            if batchnorm:
                x = g(L("BatchNormalization"), x)
            x = g(L("ReLU"), x)
        return x

    def model(g):
        x = g.input([32, 32, 3])
        skips, h = [], x
        for filters in (8, 16):
            h = double_conv(g, h, filters)
            skips.append(h)
            h = g(L("MaxPooling2D", pool_size=2), h)
        h = double_conv(g, h, 32)
        for filters, skip in zip((16, 8), reversed(skips)):
            h = g(L("Conv2DTranspose", filters=filters, kernel=transpose_kernel, strides=2, padding="same"), h)
            h = g(L("Concatenate"), h, skip)
            h = double_conv(g, h, filters)
        g.output(g(L("Conv2D", filters=1, kernel=1), h))

    return model


def densenet(all_previous, bottleneck):
    """A dense block of four BN-ReLU-Conv layers and a transition: each layer
    sees the concatenation of the block's input and every earlier output
    (chained two at a time as keras.applications does, or all at once)."""

    def model(g):
        x = g.input([16, 16, 16])
        features, h = [x], x
        for _ in range(4):
            y = h
            if bottleneck:
                y = g(L("Conv2D", filters=32, kernel=1, bias=False), g(L("ReLU"), g(L("BatchNormalization"), y)))
            y = g(conv(8, bias=False), g(L("ReLU"), g(L("BatchNormalization", epsilon=1.001e-5), y)))
            features.append(y)
            h = g(L("Concatenate"), *features) if all_previous else g(L("Concatenate", axis=3), h, y)
        h = g(L("ReLU"), g(L("BatchNormalization"), h))
        h = g(L("Conv2D", filters=24, kernel=1, bias=False), h)
        g.output(g(L("AveragePooling2D", pool_size=2, strides=2), h))

    return model


def encoder_block(g, x, width=64, heads=4, ff=128, pre_norm=False, dropout=0.1):
    """A transformer encoder block: self-attention and a two-layer
    feed-forward, each with dropout and a residual Add, normalized after
    (post-norm) or before (pre-norm)."""
    h = g(L("LayerNormalization", epsilon=1e-6), x) if pre_norm else x
    a = g(L("MultiHeadAttention", num_heads=heads, key_dim=width // heads), h, h)
    a = g(L("Dropout", rate=dropout), a)
    x = g(L("Add"), x, a)
    x = x if pre_norm else g(L("LayerNormalization", epsilon=1e-6), x)
    h = g(L("LayerNormalization", epsilon=1e-6), x) if pre_norm else x
    f = g(L("ReLU"), g(L("Dense", units=ff), h))
    f = g(L("Dropout", rate=dropout), g(L("Dense", units=width), f))
    x = g(L("Add"), x, f)
    return x if pre_norm else g(L("LayerNormalization", epsilon=1e-6), x)


def transformer(pre_norm, blocks, head=False, tokens=False):
    def model(g):
        x = g.input([16]) if tokens else g.input([16, 64])
        h = g(L("Embedding", input_dim=1000, output_dim=64), x) if tokens else x
        for _ in range(blocks):
            h = encoder_block(g, h, pre_norm=pre_norm)
        if pre_norm:
            h = g(L("LayerNormalization", epsilon=1e-6), h)
        if head:
            h = g(L("Dense", units=2), g(L("GlobalAveragePooling1D"), h))
        g.output(h)

    return model


def transformer_gelu_no_bias(g):
    x = g.input([16, 64])
    a = g(L("MultiHeadAttention", num_heads=8, key_dim=8, bias=False), x, x)
    x = g(L("LayerNormalization"), g(L("Add"), x, a))
    f = g(L("Dense", units=64), g(L("Activation", activation="gelu"), g(L("Dense", units=256), x)))
    g.output(g(L("LayerNormalization", rms_scaling=True), g(L("Add"), f, x)))


def two_inputs_concat(g):
    a, b = g.input([10]), g.input([6])
    d = g(L("Dense", units=8), b)
    c = g(L("Concatenate"), a, d)
    g.output(g(L("Dense", units=4), c))


def image_and_vector_inputs(g):
    img, vec = g.input([16, 16, 3]), g.input([7])
    h = g(L("GlobalAveragePooling2D"), g(L("MaxPooling2D", pool_size=2), g(conv(8), img)))
    v = g(L("ReLU"), g(L("Dense", units=12), vec))
    c = g(L("Concatenate"), h, v)
    g.output(g(L("Dense", units=1), g(L("Dropout", rate=0.5), g(L("Dense", units=16), c))))


def one_input_two_outputs(g):
    x = g.input([20])
    aux = g(L("Dense", units=1), x)  # an output head written before the trunk
    h = g(L("ReLU"), g(L("Dense", units=16), x))
    main = g(L("Dense", units=3), g(L("Dense", units=8), h))
    g.output(main, aux)


def two_inputs_two_outputs(g):
    a, b = g.input([12]), g.input([5, 4])
    fb = g(L("Flatten"), b)
    ha, hb = g(L("Dense", units=6), a), g(L("Dense", units=6, bias=False), fb)
    s = g(L("Add"), ha, hb)
    m = g(L("Multiply"), ha, hb)
    g.output(g(L("Dense", units=2), s), g(L("Concatenate"), m, s, ha))


def cross_attention(g):
    q, kv = g.input([16, 64]), g.input([24, 32])
    a = g(L("MultiHeadAttention", num_heads=4, key_dim=16), q, kv)
    x = g(L("LayerNormalization"), g(L("Add"), q, a))
    g.output(x)


def unused_input(g):
    x, _ = g.input([8]), g.input([3])
    g.output(g(L("Dense", units=2), x))


def input_as_output(g):
    x = g.input([8])
    g.output(g(L("Dense", units=2), x), x)


HAND = {
    **{f"merge_{kind.lower()}_dense{n}": merge_alone(kind, n, False)
       for n in (2, 3) for kind in ("Add", "Subtract", "Multiply", "Average", "Maximum")
       if n == 2 or kind in ("Add", "Maximum")},
    **{f"merge_{kind.lower()}_conv2": merge_alone(kind, 2, True)
       for kind in ("Add", "Subtract", "Multiply", "Average", "Maximum")},
    "merge_add_conv3": merge_alone("Add", 3, True),
    "merge_maximum_conv3": merge_alone("Maximum", 3, True),
    "concat_dense": concat_dense,
    "concat_conv_default_axis": concat_conv_default_axis,
    "concat_conv_axis1": concat_conv_axis1,
    "concat_conv_axis3": concat_conv_axis3,
    "concat_sequences_axis1": concat_sequences_axis1,
    "concat_sequences_axis_minus2": concat_sequences_axis_minus2,
    "resnet_basic_identity": resnet_basic_identity,
    "resnet_basic_projection": resnet_basic_projection,
    "resnet_basic_projection_shortcut_first": resnet_basic_projection_shortcut_first,
    "resnet_bottleneck_projection": resnet_bottleneck_projection,
    "resnet_bottleneck_projection_stride1_after": resnet_bottleneck_projection_stride1_after,
    "resnet_bottleneck_identity": resnet_bottleneck_identity,
    "small_resnet": small_resnet,
    "small_resnet_bottleneck": small_resnet_bottleneck,
    "unet": unet(False, 2),
    "unet_batchnorm": unet(True, 3),
    "densenet_block": densenet(False, False),
    "densenet_block_all_previous_bottleneck": densenet(True, True),
    "transformer_post_norm": transformer(False, 1),
    "transformer_pre_norm": transformer(True, 1),
    "transformer_post_norm_x2": transformer(False, 2),
    "transformer_pre_norm_x2_head": transformer(True, 2, head=True),
    "transformer_tokens": transformer(False, 1, head=True, tokens=True),
    "transformer_gelu_no_bias": transformer_gelu_no_bias,
    "two_inputs_concat": two_inputs_concat,
    "image_and_vector_inputs": image_and_vector_inputs,
    "one_input_two_outputs": one_input_two_outputs,
    "two_inputs_two_outputs": two_inputs_two_outputs,
    "cross_attention": cross_attention,
    "unused_input": unused_input,
    "input_as_output": input_as_output,
    "multiply_one_input": multiply_one_input,
    "add_broadcast_one": add_broadcast_one,
    "maximum_broadcast_rank": maximum_broadcast_rank,
    # Models Keras refuses; archsweep must refuse them too.
    "bad_add_mismatched": bad_add_mismatched,
    "bad_add_mismatched_images": bad_add_mismatched_images,
    "bad_concat_mismatched": bad_concat_mismatched,
    "bad_concat_wrong_axis": bad_concat_wrong_axis,
    "bad_subtract_three": bad_subtract_three,
    "bad_concat_rank": bad_concat_rank,
    "bad_attention_one_inbound": bad_attention_one_inbound,
}  # fmt: skip


def random_residual(rng, rank):
    """A residual stack of random widths, kernels and strides: basic or
    bottleneck blocks, the shortcut a projection (1x1 conv with the block's
    strides, then batch normalization) whenever the shape changes."""
    Conv = f"Conv{rank}D"

    def model(g):
        x = g.input([rng.choice([8, 12, 16, 17, 32]) for _ in range(rank)] + [rng.choice([1, 3, 4])])
        channels = rng.choice([4, 8, 16])
        h = g(L(Conv, filters=channels, kernel=rng.choice([1, 3, 5]), padding="same",
                **rng.choice([{}, {"bias": False}])), x)  # fmt: skip
        h = g(L("ReLU"), g(L("BatchNormalization"), h))
        for _ in range(rng.randint(1, 4)):
            bottleneck = rng.random() < 0.3
            filters = rng.choice([4, 8, 12, 16, 24])
            out = 4 * filters if bottleneck else filters
            strides = rng.choice([1, 1, 2]) if rank == 1 else rng.choice([1, 1, 2, [1, 2], [2, 1]])
            kernel = rng.choice([1, 3, 5]) if rank == 1 else rng.choice([1, 3, 5, [1, 3], [3, 1]])
            project = strides != 1 or out != channels
            shortcut_first = rng.random() < 0.5
            bias = rng.random() < 0.3

            def shortcut(h=h, out=out, strides=strides):
                if not project:
                    return h
                return g(L("BatchNormalization"), g(L(Conv, filters=out, kernel=1, strides=strides, bias=bias), h))

            s = shortcut() if shortcut_first else None
            y = h
            if bottleneck:
                y = g(L("ReLU"), g(L("BatchNormalization"), g(L(Conv, filters=filters, kernel=1, bias=bias), y)))
            y = g(L(Conv, filters=filters, kernel=kernel, strides=strides, padding="same", bias=bias), y)
            y = g(L("ReLU"), g(L("BatchNormalization"), y))
            y = g(L(Conv, filters=out if not bottleneck else filters, kernel=kernel, padding="same", bias=bias), y)
            if bottleneck:
                y = g(L(Conv, filters=out, kernel=1, bias=bias), g(L("ReLU"), g(L("BatchNormalization"), y)))
            y = g(L("BatchNormalization", **rng.choice([{}, {}, {"center": False}, {"scale": False}])), y)
            s = s if shortcut_first else shortcut()
            merged = g(L("Add"), *((s, y) if rng.random() < 0.5 else (y, s)))
            h, channels = g(L("ReLU"), merged), out
        head = rng.choice(["Flatten", f"GlobalAveragePooling{rank}D", f"GlobalMaxPooling{rank}D"])
        g.output(g(L("Dense", units=rng.choice([1, 3, 10])), g(L(head), h)))

    return model


def models():
    out = list(HAND.items())
    rng = random.Random(f"{SEED}/graphs")
    for i in range(8):
        out.append((f"random_residual{i}", random_residual(rng, 1 + i % 2)))
    return out


# ----------------------------------------------------------------------------------------------


def graph_builder():
    keras = keras_module()

    def connected_to(model, layer):
        """The names the summary prints under "Connected to" (summary_utils'
        get_connections): the inbound operation of every input tensor of every
        node of the layer that belongs to the model."""
        relevant = [node for nodes in model._nodes_by_depth.values() for node in nodes]
        return [kt._keras_history.operation.name for node in layer._inbound_nodes if node in relevant
                for kt in node.input_tensors]  # fmt: skip

    def keras_model(graph):
        tensors = {i["name"]: keras.Input(tuple(i["shape"]), name=i["name"]) for i in graph["inputs"]}
        for node in graph["nodes"]:
            layer = keras_layer({**node["layer"], "name": node["name"]})
            tensors[node["name"]] = call(layer, node["layer"]["type"], [tensors[n] for n in node["inbound"]])
        outputs = [tensors[n] for n in graph["outputs"]]
        inputs = [tensors[i["name"]] for i in graph["inputs"]]
        return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0])

    def build_graph(write):
        g = Graph(keras)
        write(g)
        graph = g.data()
        keras.backend.clear_session()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # LayerNormalization(rms_scaling=True) is deprecated, not refused
                model = keras_model(graph)
        except Exception as exc:  # noqa: BLE001 - any refusal is recorded as such
            return {**graph, "error": refusal(exc)}
        rows = [{"name": l.name, "class": type(l).__name__, "output_shape": list(l.output.shape),
                 "params": int(l.count_params()), "trainable": size(l.trainable_weights),
                 "non_trainable": size(l.non_trainable_weights), "inbound": connected_to(model, l)}
                for l in model.layers]  # fmt: skip
        totals = {"total": int(model.count_params()), "trainable": size(model.trainable_weights),
                  "non_trainable": size(model.non_trainable_weights)}  # fmt: skip
        return {**graph, "summary": rows, **totals}

    return keras.__version__, build_graph


def main():
    if os.environ.get("PYTHONHASHSEED") != "0":
        # Keras' messages print sets: a fixed hash seed keeps reruns byte-identical.
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    t0 = time.time()
    version, build = graph_builder()
    n_bad = 0
    cases = models()
    for name, write in cases:
        row = {"name": name, "keras": version, **build(write)}
        n_bad += "error" in row
        sys.stdout.write(json.dumps(row) + "\n")
    sys.stdout.flush()
    sys.stderr.write(f"keras {version}: {len(cases)} graphs ({n_bad} refused) in {time.time() - t0:.1f}s\n")


if __name__ == "__main__":
    main()
