"""Round trips between archsweep models and the frameworks: ``Model.to_keras()``,
``Model.to_torch()``, ``from_keras(model)`` and ``from_torch(module, input_shape)``.

The frameworks are optional: each is imported when one of these is called, and a missing one is an
ImportError naming the extra to install. A model read back is checked layer by layer against the
framework's own count, so an option archsweep does not read (Keras' LoRA rank, a PyTorch module's
extra parameters) is refused by name, never counted wrong.
"""

from __future__ import annotations

import inspect
from typing import Any

from ._errors import InvalidArgumentError, optional
from .layers import Layer, _Merge

# archsweep argument names -> Keras keyword names (the rest are the same).
KERAS_ARG = {"kernel": "kernel_size", "dilation": "dilation_rate", "bias": "use_bias", "merge": "merge_mode"}
FROM_KERAS = {v: k for k, v in KERAS_ARG.items()}


def _keras() -> Any:
    return optional("keras", "keras", "converting to and from Keras")


def _torch() -> Any:
    return optional("torch", "torch", "converting to and from PyTorch")


def _layers_and_wiring(model: Any) -> tuple[list[tuple[Layer | None, Any, tuple[int, ...]]], list[int]]:
    """A concrete model as nodes (layer or None for an input, output shape, inbound nodes) and its
    outputs: a functional model's own, or a Sequential chain's."""
    model._concrete("the framework's model")
    if model._nodes is not None:
        return [(n.layer, n.shape, n.inbound) for n in model._nodes], list(model._outputs)
    nodes: list[tuple[Layer | None, Any, tuple[int, ...]]] = [(None, model.input_shape, ())]
    for layer, shape, _ in model._trace:
        nodes.append((layer, shape, (len(nodes) - 1,)))
    return nodes, [len(nodes) - 1]


# -- Keras ---------------------------------------------------------------------------------------------------------


def _keras_layer(keras: Any, layer: Layer) -> Any:
    kind = layer.keras_type
    if kind == "TransformerEncoderLayer":
        raise InvalidArgumentError("TransformerEncoderLayer is PyTorch's: Keras has no such layer (KerasHub's "
                                   "TransformerEncoder is asw.layers.TransformerEncoder)")  # fmt: skip
    # None is every optional argument's Keras default (value_dim, output_shape, strides, epsilon).
    args = {KERAS_ARG.get(k, k): tuple(v) if isinstance(v, list) else v for k, v in layer._args.items() if v is not None}
    if kind == "Bidirectional":
        args["layer"] = _keras_layer(keras, layer._args["layer"])
    if kind == "TransformerEncoder":
        try:
            import keras_hub
        except ImportError:
            raise ImportError("TransformerEncoder is KerasHub's: pip install keras-hub") from None
        return keras_hub.layers.TransformerEncoder(**args)
    return getattr(keras.layers, kind)(**args)


def to_keras(model: Any) -> Any:
    """``model`` as a Keras 3 model: a ``keras.Sequential`` for a chain of layers (a functional
    ``keras.Model`` where one is attention, called on its input twice), or the functional model."""
    keras = _keras()
    nodes, outputs = _layers_and_wiring(model)
    if model._nodes is None and not any(layer.keras_type == "MultiHeadAttention" for layer, _, _ in nodes[1:]):
        return keras.Sequential([keras.Input(model.input_shape), *[_keras_layer(keras, l) for l, _, _ in nodes[1:]]])
    made: list[Any] = []
    for layer, shape, inbound in nodes:
        if layer is None:
            made.append(keras.Input(shape))
            continue
        built, given = _keras_layer(keras, layer), [made[i] for i in inbound]
        if isinstance(layer, _Merge):
            made.append(built(given))
        elif layer.keras_type == "MultiHeadAttention":
            made.append(built(*given, *given) if len(given) == 1 else built(*given))  # self-attention in a chain
        else:
            made.append(built(*given))
    inputs = [t for t, (layer, _, _) in zip(made, nodes) if layer is None]
    outs = [made[i] for i in outputs]
    return keras.Model(inputs[0] if len(inputs) == 1 else inputs, outs[0] if len(outs) == 1 else outs)


def _asw_layer(keras_layer: Any) -> Layer:
    """The archsweep layer of one Keras layer, from its config: the arguments archsweep's class
    takes (by Keras' names, or archsweep's renames of them); the rest change no count, which the
    caller checks."""
    from . import layers as L

    kind = type(keras_layer).__name__
    cls = getattr(L, kind, None)
    if kind == "TransformerEncoder" and type(keras_layer).__module__.startswith("keras_hub"):
        cls = L.TransformerEncoder
    if not (isinstance(cls, type) and issubclass(cls, Layer)) or kind not in L.__all__ or cls in (L.Layer, L.Residual):
        raise InvalidArgumentError(f"Keras layer {keras_layer.name!r} ({kind}) has no archsweep counterpart")
    config = keras_layer.get_config()
    if config.get("data_format") == "channels_first":
        raise InvalidArgumentError(f"Keras layer {keras_layer.name!r} ({kind}) is channels_first; archsweep's layers "
                                   "are channels_last")  # fmt: skip
    accepted = inspect.signature(cls).parameters
    args = {}
    for key, value in config.items():
        ours = FROM_KERAS.get(key, key)
        if ours in accepted and key != "layer":
            args[ours] = tuple(value) if isinstance(value, list) else value
    if kind == "Bidirectional":
        args["layer"] = _asw_layer(keras_layer.forward_layer)
    return cls(**args)


def from_keras(keras_model: Any, *, convention: str = "keras") -> Any:
    """A built Keras 3 model as an archsweep ``Model``: a ``keras.Sequential`` as a Sequential
    model (its ``layers`` a list to edit, ``replace`` to sweep around it), a functional model as a
    functional one. Each layer's count is checked against Keras': a layer with an option archsweep
    does not read is refused by name, as are shared layers (one layer called twice)."""
    keras = _keras()
    from ._graph import Input, Tensor
    from ._model import Model

    if not isinstance(keras_model, keras.Model):
        raise InvalidArgumentError(f"from_keras takes a keras.Model, got {type(keras_model).__name__}")
    if not keras_model.built or not keras_model.inputs:
        raise InvalidArgumentError("from_keras needs a built model with known inputs: give Sequential a keras.Input "
                                   "first, or build it")  # fmt: skip
    layers = [layer for layer in keras_model.layers if not isinstance(layer, keras.layers.InputLayer)]
    for layer in layers:
        if len(layer._inbound_nodes) != 1:
            raise InvalidArgumentError(f"Keras layer {layer.name!r} is called {len(layer._inbound_nodes)} times: "
                                       "shared layers are not counted yet")  # fmt: skip
    ours = [_asw_layer(layer) for layer in layers]
    if isinstance(keras_model, keras.Sequential):
        model = Model(tuple(keras_model.inputs[0].shape[1:]), ours, convention=convention)
    else:
        made: dict[int, Tensor] = {id(t._keras_history.operation): Input(tuple(t.shape[1:])) for t in keras_model.inputs}
        for layer, mine in zip(layers, ours):
            inbound = [made[id(t._keras_history.operation)] for t in layer._inbound_nodes[0].input_tensors]
            made[id(layer)] = mine(inbound) if isinstance(mine, _Merge) else mine(*inbound)
        ins = [made[id(t._keras_history.operation)] for t in keras_model.inputs]
        outs = [made[id(t._keras_history.operation)] for t in keras_model.outputs]
        model = Model(ins[0] if len(ins) == 1 else ins, outs[0] if len(outs) == 1 else outs, convention=convention)
    if convention == "keras":
        for layer, (_, _, quantities) in zip(layers, model._trace):
            if quantities.params != layer.count_params():
                raise InvalidArgumentError(f"Keras layer {layer.name!r} ({type(layer).__name__}) has "
                                           f"{layer.count_params():,} parameters, archsweep counts "
                                           f"{quantities.params:,}: it has an option archsweep does not read")  # fmt: skip
    return model


# -- PyTorch -------------------------------------------------------------------------------------------------------


def _torch_modules() -> Any:
    """The small modules a converted model is made of (``_torch_nn``, which imports torch)."""
    _torch()
    from . import _torch_nn

    return _torch_nn


def _refuse(layer: Layer, why: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{layer.keras_type}({', '.join(f'{k}={v!r}' for k, v in layer._args.items())}) has "
                                f"no PyTorch module here: {why}")  # fmt: skip


def _torch_module(parts: Any, layer: Layer, shape: Any) -> Any:
    """The PyTorch module of one archsweep layer on an input of ``shape`` (channels last)."""
    nn = parts.torch.nn
    channels_first, recurrent, self_attention, reduce = parts.ChannelsFirst, parts.Recurrent, parts.SelfAttention, \
        parts.Reduce  # fmt: skip
    a, kind, f = layer._args, layer.keras_type, shape[-1]
    rank = len(shape) - 1
    if kind == "Dense":
        return nn.Linear(f, a["units"], bias=a["bias"])
    if kind == "Embedding":
        return nn.Embedding(a["input_dim"], a["output_dim"])
    if kind in ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "Conv1DTranspose",
                "Conv2DTranspose", "Conv3DTranspose", "SeparableConv1D", "SeparableConv2D"):  # fmt: skip
        padding = a["padding"]
        strided = any(x != 1 for x in (a["strides"] if isinstance(a["strides"], tuple) else (a["strides"],)))
        if padding not in ("valid", "same") or (padding == "same" and ("Transpose" in kind or strided)):
            raise _refuse(layer, f"padding={padding!r} (PyTorch pads 'valid', or 'same' at stride 1)")
        pad = 0 if padding == "valid" else "same"
        n = int(kind[-2]) if kind[-2].isdigit() else int(kind[kind.index("D") - 1])
        conv = getattr(nn, f"Conv{n}d")
        common = dict(stride=a["strides"], dilation=a.get("dilation", 1))
        if "Transpose" in kind:
            body = getattr(nn, f"ConvTranspose{n}d")(f, a["filters"], a["kernel"], bias=a["bias"], **common)
        elif kind.startswith("Depthwise"):
            body = conv(f, f * a["depth_multiplier"], a["kernel"], padding=pad, groups=f, bias=a["bias"], **common)
        elif kind.startswith("Separable"):
            m = a["depth_multiplier"]
            body = nn.Sequential(conv(f, f * m, a["kernel"], padding=pad, groups=f, bias=False, **common),
                                 conv(f * m, a["filters"], 1, bias=a["bias"]))  # fmt: skip
        else:
            body = conv(f, a["filters"], a["kernel"], padding=pad, groups=a["groups"], bias=a["bias"], **common)
        return channels_first(body)
    if kind in ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
                "AveragePooling3D"):  # fmt: skip
        if a["padding"] != "valid":
            raise _refuse(layer, "PyTorch pools with 'valid' padding only")
        pool = getattr(nn, f"{'Max' if kind.startswith('Max') else 'Avg'}Pool{rank}d")
        return channels_first(pool(a["pool_size"], stride=a["strides"] or a["pool_size"]))
    if kind.startswith("Global"):
        return reduce("max" if "Max" in kind else "mean", rank, a["keepdims"])
    if kind in ("SimpleRNN", "LSTM", "GRU"):
        cls = {"SimpleRNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[kind]
        if kind == "GRU" and a["reset_after"] is False:
            raise _refuse(layer, "PyTorch's GRU applies the reset gate after the recurrent matmul (reset_after=True)")
        return recurrent(cls(f, a["units"], bias=a["bias"], batch_first=True), a["return_sequences"])
    if kind == "Bidirectional":
        inner, b = a["layer"], a["layer"]._args
        if a["merge"] != "concat":
            raise _refuse(layer, "PyTorch's bidirectional layers concatenate the directions (merge='concat')")
        cls = {"SimpleRNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[inner.keras_type]
        return recurrent(cls(f, b["units"], bias=b["bias"], batch_first=True, bidirectional=True),
                         b["return_sequences"])  # fmt: skip
    if kind == "BatchNormalization":
        if a["center"] != a["scale"]:
            raise _refuse(layer, "PyTorch's affine has both weight and bias, or neither")
        return channels_first(getattr(nn, f"BatchNorm{min(max(rank, 1), 3)}d")(f, affine=a["center"]))
    if kind == "LayerNormalization":
        if a["rms_scaling"]:
            return nn.RMSNorm(f)
        if a["center"] and not a["scale"]:
            raise _refuse(layer, "PyTorch's LayerNorm has a bias only with a weight")
        return nn.LayerNorm(f, elementwise_affine=a["scale"], bias=a["center"])
    if kind == "GroupNormalization":
        if a["center"] != a["scale"]:
            raise _refuse(layer, "PyTorch's affine has both weight and bias, or neither")
        return channels_first(nn.GroupNorm(a["groups"], f, affine=a["center"]))
    if kind == "RMSNormalization":
        return nn.RMSNorm(f)
    if kind == "MultiHeadAttention":
        if a["num_heads"] * a["key_dim"] != f or (a["value_dim"] or a["key_dim"]) != a["key_dim"] or a["output_shape"]:
            raise _refuse(layer, "PyTorch's heads split the width: num_heads * key_dim must equal it, value_dim "
                                 "key_dim, output_shape the width")  # fmt: skip
        return self_attention(nn.MultiheadAttention(f, a["num_heads"], bias=a["bias"], batch_first=True))
    if kind == "TransformerEncoderLayer":
        return nn.TransformerEncoderLayer(a["d_model"], a["nhead"], a["dim_feedforward"], a["dropout"],
                                          a["activation"], a["layer_norm_eps"], batch_first=True,
                                          norm_first=a["norm_first"], bias=a["bias"])  # fmt: skip
    if kind == "Flatten":
        return nn.Flatten()
    if kind == "Dropout":
        return nn.Dropout(a["rate"])
    if kind == "ReLU":
        return nn.ReLU()
    if kind == "Activation":
        named = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "linear": nn.Identity,
                 "softmax": lambda: nn.Softmax(-1), "silu": nn.SiLU, "swish": nn.SiLU, "elu": nn.ELU}  # fmt: skip
        if a["activation"] not in named:
            raise _refuse(layer, f"activation {a['activation']!r} is not one of {', '.join(named)}")
        return named[a["activation"]]()
    if isinstance(layer, _Merge):
        return parts.Merge(kind, a.get("axis", -1))
    raise _refuse(layer, "not a layer PyTorch has")


def to_torch(model: Any) -> Any:
    """``model`` as a ``torch.nn.Module`` (on the CPU, weights initialized by PyTorch; build it under
    ``torch.device("meta")`` for shapes only). Its forward takes the archsweep model's input
    shape, channels last, with a batch axis first; convolutions, pools and batch norms run
    channels first inside, as PyTorch's modules are."""
    parts = _torch_modules()
    nodes, outputs = _layers_and_wiring(model)
    steps = []
    n_inputs = sum(layer is None for layer, _, _ in nodes)
    if any(layer is None for layer, _, _ in nodes[n_inputs:]):
        raise InvalidArgumentError("to_torch needs a model's inputs before its layers")
    for layer, _, inbound in nodes[n_inputs:]:
        shape = nodes[inbound[0]][1]
        if shape[-1] is None:  # a module is made for its input's width; lengths may stay unknown
            raise InvalidArgumentError(f"to_torch needs each layer's input width; {layer.keras_type} takes {shape}")
        steps.append((_torch_module(parts, layer, shape), inbound))
    return parts.Graph(steps, n_inputs, outputs)


_TORCH_LEAVES = ("Linear", "Conv1d", "Conv2d", "Conv3d", "Flatten", "ReLU", "GELU", "Tanh", "Sigmoid", "SiLU",
                 "Dropout", "Identity", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
                 "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "Embedding", "Softmax")  # fmt: skip


def from_torch(module: Any, input_shape: Any) -> Any:
    """An ``nn.Sequential`` (nested ones are flattened) of PyTorch's standard leaf modules, on an
    input of ``input_shape`` (without the batch axis, channels first as PyTorch's convolutions
    take it), as an archsweep ``Model`` under ``convention="torch"`` (channels last, as archsweep's
    layers are). Each module's count is checked against PyTorch's; any other module is refused by
    name."""
    torch = _torch()
    nn = torch.nn
    from . import layers as L
    from ._model import Model, _input_shape

    shape = _input_shape(input_shape)
    leaves: list[tuple[str, Any]] = []

    def walk(prefix: str, m: Any) -> None:
        if isinstance(m, nn.Sequential):
            for name, child in m.named_children():
                walk(f"{prefix}{name}.", child)
        elif type(m).__name__ in _TORCH_LEAVES and type(m).__module__.startswith("torch.nn"):
            leaves.append((prefix.rstrip("."), m))
        else:
            raise InvalidArgumentError(f"module {prefix.rstrip('.') or type(m).__name__} ({type(m).__name__}) is not "
                                       "one from_torch reads: an nn.Sequential of " + ", ".join(_TORCH_LEAVES))
    walk("", module)
    spatial = any(type(m).__name__[-2:] in ("1d", "2d", "3d") and not type(m).__name__.startswith("BatchNorm1")
                  for _, m in leaves)  # fmt: skip
    layers: list[Layer] = []
    for name, m in leaves:
        kind = type(m).__name__

        def refuse(why: str, name: str = name, kind: str = kind) -> InvalidArgumentError:
            return InvalidArgumentError(f"module {name} ({kind}): {why}")

        if kind == "Linear":
            layers.append(L.Dense(m.out_features, bias=m.bias is not None))
        elif kind.startswith("Conv"):
            n = int(kind[-2])
            if m.padding_mode != "zeros" or (isinstance(m.padding, tuple) and any(m.padding)):
                raise refuse("explicit padding: archsweep's convolutions pad 'valid' or 'same'")
            padding = m.padding if isinstance(m.padding, str) else "valid"
            layers.append(getattr(L, f"Conv{n}D")(m.out_channels, m.kernel_size, strides=m.stride, padding=padding,
                                                  dilation=m.dilation, groups=m.groups, bias=m.bias is not None))
        elif kind.startswith(("MaxPool", "AvgPool")):
            n = int(kind[-2])
            if any(p for p in ((m.padding,) if isinstance(m.padding, int) else m.padding)):
                raise refuse("padding: archsweep's pools pad 'valid'")
            cls = getattr(L, f"{'MaxPool' if kind.startswith('Max') else 'AvgPool'}{n}D")
            layers.append(cls(m.kernel_size, strides=m.stride))
        elif kind.startswith("BatchNorm"):
            layers.append(L.BatchNormalization(center=m.affine, scale=m.affine))
        elif kind == "LayerNorm":
            if len(m.normalized_shape) != 1:
                raise refuse("normalized over more than the last axis")
            layers.append(L.LayerNormalization(center=m.bias is not None, scale=m.weight is not None))
        elif kind == "Embedding":
            layers.append(L.Embedding(m.num_embeddings, m.embedding_dim))
        elif kind == "Flatten":
            layers.append(L.Flatten())
        elif kind == "Dropout":
            layers.append(L.Dropout(m.p))
        elif kind in ("ReLU", "GELU", "Tanh", "Sigmoid", "SiLU", "Softmax"):
            layers.append(L.Activation({"SiLU": "silu"}.get(kind, kind.lower())))
        # Identity: nothing
    if spatial and len(shape) > 1:
        shape = (*shape[1:], shape[0])  # channels last
    model = Model(shape, layers, convention="torch")
    for (name, m), (layer, _, q) in zip([(n, m) for n, m in leaves if type(m).__name__ != "Identity"], model._trace):
        theirs = sum(p.numel() for p in m.parameters())
        if q.params != theirs:
            raise InvalidArgumentError(f"module {name} ({type(m).__name__}) has {theirs:,} parameters, archsweep "
                                       f"counts {q.params:,}: it has an option archsweep does not read")
    return model
