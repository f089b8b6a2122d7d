"""Language models from ``transformers`` configurations, as the ``lm`` kind.

``from_hf_config`` reads a ``config.json`` (a path or a dict) of the decoder-only model types below
and returns the architecture as the ``lm`` kind's arguments, each type's layout as its modeling code
builds it (``tools/make_lm_fixture.py`` checks every type against ``transformers`` itself): its
defaults, which projections have biases, its norms, tied embeddings, learned positions, fused
tensors. No ``transformers`` is needed. A field the kind cannot express, or a configuration
``transformers`` refuses (or builds but cannot run), is an error naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._errors import ArgumentTypeError, InvalidArgumentError

Config = Mapping[str, Any]


class LanguageModel:
    """One language model of the ``lm`` kind: ``args`` are the kind's arguments (sweep around them with
    ``asw.sweep("lm", **{**lm.args, "d_model": range(...)}, convention="torch")``)."""

    def __init__(self, model_type: str, args: dict[str, Any]) -> None:
        self.model_type = model_type
        self.args = args

    def count(self, quantity: str = "params", **compute: Any) -> int:
        """Any quantity of the kind (``non_embedding_params``, ``flops`` with ``length=``, ``kv_cache_bytes[bf16]``, ...)."""
        from ._count import count

        return int(count("lm", quantity=quantity, convention="torch", **self.args, **compute))

    def count_params(self, *, exclude_embeddings: bool = False) -> int:
        """``transformers``' ``num_parameters(exclude_embeddings=...)``."""
        if not isinstance(exclude_embeddings, bool):
            raise ArgumentTypeError(f"exclude_embeddings must be True or False, got {exclude_embeddings!r}")
        return self.count("non_embedding_params" if exclude_embeddings else "params")

    def count_flops(self, length: Any, *, training: bool = False) -> int:
        """FLOPs of one forward pass over ``length`` tokens as FlopCounterMode counts the ``transformers``
        model (with ``training``, forward and backward)."""
        from ._count import count_flops

        return int(count_flops("lm", length=length, training=training, convention="torch", **self.args))

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"LanguageModel({self.model_type!r}, {shown})"


def from_hf_config(config: Any) -> LanguageModel:
    """The ``lm`` kind's architecture of a ``transformers`` config: a ``config.json`` path or its dict
    (``model_type`` one of :data:`MODEL_TYPES`)."""
    if isinstance(config, (str, Path)):
        path = Path(config)
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidArgumentError(f"config {str(path)!r}: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidArgumentError(f"config {str(path)!r} is not a JSON config.json: {exc}") from None
    if not isinstance(config, Mapping):
        raise ArgumentTypeError(f"config must be a path to a config.json or its dict, got {type(config).__name__}")
    model_type = config.get("model_type")
    if model_type not in MODEL_TYPES:
        raise InvalidArgumentError(f"model_type {model_type!r} is not one archsweep reads; it reads "
                                   f"{', '.join(MODEL_TYPES)}")  # fmt: skip
    fields = _Fields(config, model_type)
    args = MODEL_TYPES[model_type](fields)
    _check_rotary(fields, args["head_dim"])
    return LanguageModel(model_type, args)


# The types with rotary position embeddings: the field naming the rotated fraction of each head, its
# default (None: the whole head), and whether a part of odd width widens q and k (StableLM's
# cos and sin are 2·ceil(r/2) wide; GPT-NeoX's and Phi-3's are r). GPT-2 and OPT learn positions;
# Falcon rotates unless it uses ALiBi.
ROTARY: dict[str, tuple[str | None, float, bool]] = {
    **{t: (None, 1.0, False) for t in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo", "starcoder2")},
    "phi3": ("partial_rotary_factor", 1.0, False), "gpt_neox": ("rotary_pct", 0.25, False),
    "stablelm": ("partial_rotary_factor", 0.25, True), "falcon": (None, 1.0, False),
}


def _check_rotary(f: _Fields, head_dim: int) -> None:
    """Refuses an odd rotary width where transformers does not run the model as written: a head
    rotated whole (its cos and sin are 2·ceil(d/2) wide, so at d = 1 they silently widen q and k to
    two columns, and the scores' FLOPs with them, and above it the forward fails), and StableLM's
    odd part (q and k grow a column). Measured on every type here, transformers 5.24."""
    if f.model_type not in ROTARY or (f.model_type == "falcon" and f.flag("alibi", False)):
        return
    field, default, odd_part_widens = ROTARY[f.model_type]
    width = int(head_dim * (f.number(field, default) if field else default))
    if width % 2 and odd_part_widens:
        raise f.refuse(f"{field} gives an odd rotary width {width} (head_dim {head_dim}), for which "
                       "transformers widens q and k by a column: not a model the lm kind expresses")  # fmt: skip
    if width % 2 and width == head_dim:
        effect = "widens q and k by a column" if head_dim == 1 else "fails its forward"
        raise f.refuse(f"head_dim {head_dim} is odd and rotated whole, for which transformers {effect}: "
                       "not a model the lm kind expresses")  # fmt: skip


class _Fields:
    """A config's fields, read with the type's defaults and checked: a size is a whole number >= 1."""

    def __init__(self, config: Config, model_type: str) -> None:
        self.config, self.model_type = config, model_type

    def get(self, name: str, default: Any) -> Any:
        value = self.config.get(name)
        return default if value is None else value

    def size(self, name: str, default: Any = None, minimum: int = 1) -> int:
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InvalidArgumentError(f"{self.model_type} config: {name} must be a whole number >= {minimum}, "
                                       f"got {value!r}")  # fmt: skip
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.get(name, default)
        if not isinstance(value, bool):
            raise InvalidArgumentError(f"{self.model_type} config: {name} must be true or false, got {value!r}")
        return value

    def number(self, name: str, default: float) -> float:
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidArgumentError(f"{self.model_type} config: {name} must be a number, got {value!r}")
        return float(value)

    def refuse(self, what: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"{self.model_type} config: {what}")

    def divisible(self, hidden: int, heads: int, by: str = "transformers refuses it") -> None:
        if hidden % heads:
            raise self.refuse(f"hidden size {hidden} is not divisible by {heads} attention heads ({by})")


def _common(f: _Fields, defaults: dict[str, Any], head_dim: str = "field", kv: str = "num_key_value_heads",
            hidden: str = "hidden_size", layers: str = "num_hidden_layers", heads: str = "num_attention_heads",
            inner: str = "intermediate_size") -> dict[str, Any]:  # fmt: skip
    """The sizes most types share. ``head_dim``: ``"field"`` (a field, its default in ``defaults``),
    ``"extra"`` (not a field, but an extra key is read: ``getattr(config, "head_dim", H // nh)``),
    ``"none"`` (always H // nh)."""
    H = f.size(hidden, defaults[hidden])
    nh = f.size(heads, defaults[heads])
    d = H // nh
    if head_dim != "none" and (f.config.get("head_dim") is not None or "head_dim" in defaults):
        d = f.size("head_dim", defaults.get("head_dim"))
    if d < 1:
        raise f.refuse(f"head size {H} // {nh} is 0")
    return {
        "vocab_size": f.size("vocab_size", defaults["vocab_size"]), "d_model": H,
        "n_layers": f.size(layers, defaults[layers]), "n_heads": nh,
        "n_kv_heads": f.size(kv, defaults.get(kv) or nh) if kv else nh, "head_dim": d,
        "d_ff": f.size(inner, defaults[inner]) if inner else None,
    }  # fmt: skip


def _tied(f: _Fields, default: bool) -> dict[str, bool]:
    return {"tied": f.flag("tie_word_embeddings", default)}


def _llama_like(defaults: dict[str, Any], *, head_dim: str = "field", attention: str = "attention_bias",
                mlp: str | None = None, tie: bool = False, **more: Any) -> Callable[[_Fields], dict[str, Any]]:  # fmt: skip
    """Llama's layout: q, k, v, o (with ``attention``'s bias, or the flags in ``more``), a gated MLP, RMSNorms."""

    def read(f: _Fields) -> dict[str, Any]:
        args = _common(f, defaults, head_dim)
        bias = f.flag(attention, False) if attention else False
        args |= {"qkv_bias": bias, "o_bias": bias, "mlp_bias": f.flag(mlp, False) if mlp else False}
        return {**args, **_tied(f, tie), **more}

    return read


def _llama(f: _Fields) -> dict[str, Any]:
    args = _llama_like({"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                        "num_attention_heads": 32}, mlp="mlp_bias")(f)  # fmt: skip
    f.divisible(args["d_model"], args["n_heads"], "LlamaConfig refuses it, whatever head_dim says")
    return args


def _gemma2(f: _Fields) -> dict[str, Any]:
    args = _llama_like({"vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26,
                        "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256}, tie=True,
                       norms_per_layer=4)(f)  # fmt: skip
    f.divisible(args["d_model"], args["n_heads"], "Gemma2Config refuses it")
    return args


def _qwen2(f: _Fields) -> dict[str, Any]:
    # q, k and v always have a bias and o never does; head_dim is read if given.
    args = _llama_like({"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016, "num_hidden_layers": 32,
                        "num_attention_heads": 32, "num_key_value_heads": 32}, head_dim="extra", attention="")(f)  # fmt: skip
    return {**args, "qkv_bias": True}


def _phi3(f: _Fields) -> dict[str, Any]:
    args = _llama_like({"vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32,
                        "num_attention_heads": 32}, head_dim="extra", attention="", fused_qkv=True,
                       fused_gate_up=True)(f)  # fmt: skip
    pad = f.get("pad_token_id", 32000)
    if isinstance(pad, int) and not pad < args["vocab_size"]:
        raise f.refuse(f"pad_token_id {pad} is not below vocab_size {args['vocab_size']} (nn.Embedding refuses it)")
    return args


LAYERNORM = {"rms_norm": False, "norm_bias": True}  # LayerNorm with weight and bias


def _gpt2(f: _Fields) -> dict[str, Any]:
    if f.flag("add_cross_attention", False):
        raise f.refuse("add_cross_attention adds cross-attention blocks, which a decoder-only lm kind has not")
    args = _common(f, {"vocab_size": 50257, "n_embd": 768, "n_layer": 12, "n_head": 12}, "none", kv="",
                   hidden="n_embd", layers="n_layer", heads="n_head", inner="")  # fmt: skip
    f.divisible(args["d_model"], args["n_heads"])
    return {**args, "d_ff": f.size("n_inner", 4 * args["d_model"]), "max_positions": f.size("n_positions", 1024),
            "gated": False, **LAYERNORM, "qkv_bias": True, "o_bias": True, "mlp_bias": True, "fused_qkv": True,
            **_tied(f, True)}  # fmt: skip


def _gpt_neox(f: _Fields) -> dict[str, Any]:
    args = _common(f, {"vocab_size": 50432, "hidden_size": 6144, "intermediate_size": 24576, "num_hidden_layers": 44,
                       "num_attention_heads": 64}, "none", kv="")  # fmt: skip
    f.divisible(args["d_model"], args["n_heads"])
    bias = f.flag("attention_bias", True)
    return {**args, "gated": False, **LAYERNORM, "qkv_bias": bias, "o_bias": bias, "mlp_bias": True,
            "fused_qkv": True, **_tied(f, False)}  # fmt: skip


def _opt(f: _Fields) -> dict[str, Any]:
    args = _common(f, {"vocab_size": 50272, "hidden_size": 768, "ffn_dim": 3072, "num_hidden_layers": 12,
                       "num_attention_heads": 12}, "none", kv="", inner="ffn_dim")  # fmt: skip
    f.divisible(args["d_model"], args["n_heads"])
    bias = f.flag("enable_bias", True)
    embed = f.size("word_embed_proj_dim", args["d_model"])
    final = f.flag("do_layer_norm_before", True) and not f.flag("_remove_final_layer_norm", False)
    return {**args, "max_positions": f.size("max_position_embeddings", 2048) + 2,  # OPT's positions start at 2
            "embed_dim": None if embed == args["d_model"] else embed, "gated": False, **LAYERNORM,
            "norm_affine": f.flag("layer_norm_elementwise_affine", True), "final_norm": final, "qkv_bias": bias,
            "o_bias": bias, "mlp_bias": bias, **_tied(f, True)}  # fmt: skip


def _falcon(f: _Fields) -> dict[str, Any]:
    args = _common(f, {"vocab_size": 65024, "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71},
                   "none", kv="", inner="")  # fmt: skip
    H, nh = args["d_model"], args["n_heads"]
    new = f.flag("new_decoder_architecture", False)
    parallel = f.flag("parallel_attn", True)
    norms_in_parallel = f.get("num_ln_in_parallel_attn", 2 if new else None)
    if new:
        kv = f.size("num_kv_heads", nh)
        if not parallel:
            raise f.refuse("new_decoder_architecture with parallel_attn false: transformers builds it without "
                           "ln_attn, and its forward fails")  # fmt: skip
    elif f.flag("multi_query", True):
        kv = 1
    else:
        kv = nh
        if f.get("num_kv_heads", nh) != nh:
            raise f.refuse("num_kv_heads other than num_attention_heads without multi_query or "
                           "new_decoder_architecture: the forward fails")  # fmt: skip
    if not parallel:
        norms = 2
    elif norms_in_parallel == 2:
        if not new:
            raise f.refuse("num_ln_in_parallel_attn 2 without new_decoder_architecture: transformers builds no "
                           "input_layernorm, and its forward fails")  # fmt: skip
        norms = 2
    else:
        norms = 1
    bias = f.flag("bias", False)
    return {**args, "n_kv_heads": kv, "d_ff": f.size("ffn_hidden_size", 4 * H), "gated": False, **LAYERNORM,
            "norms_per_layer": norms, "qkv_bias": bias, "o_bias": bias, "mlp_bias": bias, "fused_qkv": True,
            **_tied(f, True)}  # fmt: skip


def _olmo(f: _Fields) -> dict[str, Any]:
    # OLMo's LayerNorm has no weights at all.
    args = _llama_like({"vocab_size": 50304, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
                        "num_attention_heads": 32}, head_dim="extra")(f)  # fmt: skip
    return {**args, "rms_norm": False, "norm_affine": False}


def _starcoder2(f: _Fields) -> dict[str, Any]:
    args = _common(f, {"vocab_size": 49152, "hidden_size": 3072, "intermediate_size": 12288, "num_hidden_layers": 30,
                       "num_attention_heads": 24, "num_key_value_heads": 2}, "extra")  # fmt: skip
    bias = f.flag("use_bias", True)
    return {**args, "gated": False, **LAYERNORM, "qkv_bias": bias, "o_bias": bias, "mlp_bias": bias,
            **_tied(f, True)}  # fmt: skip


def _stablelm(f: _Fields) -> dict[str, Any]:
    args = _common(f, {"vocab_size": 50304, "hidden_size": 2560, "intermediate_size": 6912, "num_hidden_layers": 32,
                       "num_attention_heads": 32, "num_key_value_heads": 32}, "none")  # fmt: skip
    f.divisible(args["d_model"], args["n_heads"])  # its odd rotary widths: _check_rotary
    return {**args, **LAYERNORM, "norms_per_layer": 1 if f.flag("use_parallel_residual", False) else 2,
            "qkv_bias": f.flag("use_qkv_bias", False), "qk_norm_per_head": f.flag("qk_layernorm", False),
            **_tied(f, False)}  # fmt: skip


MODEL_TYPES: dict[str, Callable[[_Fields], dict[str, Any]]] = {
    "gpt2": _gpt2,
    "llama": _llama,
    "mistral": _llama_like({"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336,
                            "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8},
                           attention=""),  # fmt: skip
    "qwen2": _qwen2,
    "qwen3": _llama_like({"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016,
                          "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
                          "head_dim": 128}, qk_norm=True),  # fmt: skip
    "gemma": _llama_like({"vocab_size": 256000, "hidden_size": 3072, "intermediate_size": 24576,
                          "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 16,
                          "head_dim": 256}, tie=True),  # fmt: skip
    "gemma2": _gemma2,
    "phi3": _phi3,
    "gpt_neox": _gpt_neox,
    "opt": _opt,
    "falcon": _falcon,
    "olmo": _olmo,
    "starcoder2": _starcoder2,
    "stablelm": _stablelm,
}

__all__ = ["LanguageModel", "MODEL_TYPES", "from_hf_config"]
