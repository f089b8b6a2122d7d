"""Parameter counts and FLOPs of real Hugging Face `transformers` decoder-only LMs
(tests/data/hf_lm.jsonl), one JSON object per line.

Each case is a config written as the fields one finds in a published config.json
(legacy names such as ``rotary_pct`` / ``n_inner`` / ``n_embd`` are kept as a hub
config would have them), built with ``AutoModelForCausalLM.from_config`` under
``torch.device("meta")`` (no weights, no hub) and ``attn_implementation="eager"``.
A row holds

- ``model_type``, ``config`` (exactly the fields set; everything else is the
  installed transformers' default) and ``derived`` (what the config object
  resolved: head_dim, num_key_value_heads, intermediate size, tie flag, ...);
- ``num_parameters`` / ``num_parameters_no_embeddings``: ``model.num_parameters()``
  and ``model.num_parameters(exclude_embeddings=True)``;
- ``tied``: the output embedding's weight *is* the input embedding's weight;
- ``flops``: ``{"<L>": total}`` of FlopCounterMode over one forward pass, batch 1,
  ``input_ids`` of length L, an all-ones ``attention_mask``, ``use_cache=False``,
  for L in SEQ_LENS; ``flops_by_op``: the per-aten-op totals for the longer L;
- ``parameters`` (the first 3 cases of each type only): ``[name, shape]`` of every
  parameter outside the layer stack and of layer 0; the script checks that every
  other layer has the same names and shapes (``layers_identical``);

or ``model_type``, ``config`` and ``error`` (the first line of the exception) when
the config, ``from_config`` or the forward refuses.

Why eager attention: with the default SDPA attention, ``create_causal_mask`` calls
``.item()`` on the mask (``_ignore_causal_mask_sdpa`` -> ``fast_all``), which the meta
device cannot do, for every type but falcon; the eager path counts the same matmuls
(the SDPA math path on meta is the same two bmm's).

Cases come from ``random.Random(f"{seed}/{model_type}")``, seed 20261202 unless the
environment variable ARCHSWEEP_FIXTURE_SEED says otherwise; each type first lists a
few published architectures (written as config fields, not downloaded).

    /tmp/fw-torch/bin/python tools/make_lm_fixture.py > tests/data/hf_lm.jsonl
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import warnings
from typing import Any, Callable

import torch
import transformers
from torch.utils.flop_counter import FlopCounterMode
from transformers import AutoConfig, AutoModelForCausalLM
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

warnings.filterwarnings("ignore")
transformers.utils.logging.set_verbosity_error()
torch.manual_seed(0)

META = torch.device("meta")
SEED = os.environ.get("ARCHSWEEP_FIXTURE_SEED", "20261202")
SEQ_LENS = (1, 17)
RANDOM_CASES = 22
SHAPE_CASES = 3

ACTS = ["silu", "gelu", "gelu_new", "relu", "gelu_pytorch_tanh"]
VOCABS = [7, 97, 1000, 4096, 32000, 50257, 65024, 151936]
TOKENS = {"pad_token_id": 0, "bos_token_id": 0, "eos_token_id": 0}  # inside every vocabulary


# --- random dimensions --------------------------------------------------------------------------


def dims(rng: random.Random) -> dict[str, int]:
    """hidden, heads, kv heads (dividing heads), layers, intermediate, vocab: tiny to 7B-scale."""
    tier = rng.choice(["tiny", "tiny", "small", "medium", "large"])
    if tier == "tiny":
        head_dim, heads, layers = rng.choice([2, 4, 8, 16]), rng.choice([1, 2, 3, 4, 6]), rng.randint(1, 3)
    elif tier == "small":
        head_dim, heads, layers = rng.choice([32, 64]), rng.choice([4, 8, 12]), rng.randint(2, 8)
    elif tier == "medium":
        head_dim, heads, layers = rng.choice([64, 128]), rng.choice([8, 16, 20]), rng.randint(8, 24)
    else:
        head_dim, heads, layers = 128, rng.choice([28, 32, 40]), rng.choice([24, 28, 32])
    hidden = head_dim * heads
    divisors = [d for d in range(1, heads + 1) if heads % d == 0]
    kv = rng.choice([heads, 1, rng.choice(divisors)])
    inter = rng.choice([hidden * 4, hidden * 2 + rng.randint(1, 64), (hidden * 8 // 3 + 63) // 64 * 64, rng.randint(1, 4 * hidden)])
    vocab = rng.choice(VOCABS if tier != "tiny" else VOCABS[:5])
    return {"hidden": hidden, "heads": heads, "kv": kv, "layers": layers, "inter": inter, "vocab": vocab, "head_dim": head_dim}


def maybe(rng: random.Random, p: float = 0.5) -> bool:
    return rng.random() < p


def other_head_dim(rng: random.Random, d: dict[str, int]) -> int:
    """An explicit head_dim, usually not hidden/heads."""
    return rng.choice([d["head_dim"], max(1, d["head_dim"] // 2), d["head_dim"] * 2, rng.choice([8, 16, 64, 128, 256])])


def llama_like(rng: random.Random, *, kv: bool = True, head_dim: bool = False, tie: bool = True,
               act: str | None = "hidden_act") -> dict[str, Any]:  # fmt: skip
    d = dims(rng)
    c: dict[str, Any] = {"vocab_size": d["vocab"], "hidden_size": d["hidden"], "num_hidden_layers": d["layers"],
                         "num_attention_heads": d["heads"], "intermediate_size": d["inter"], **TOKENS}  # fmt: skip
    if kv:
        c["num_key_value_heads"] = d["kv"]
    if head_dim and maybe(rng, 0.4):
        c["head_dim"] = other_head_dim(rng, d)
    if tie:
        c["tie_word_embeddings"] = maybe(rng)
    if act:
        c[act] = rng.choice(ACTS)
    return c


# --- per-type case lists: published sizes first, then random ----------------------------------


def gpt2(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12},  # gpt2
        {"vocab_size": 50257, "n_positions": 1024, "n_embd": 1024, "n_layer": 24, "n_head": 16},  # gpt2-medium
        {"vocab_size": 50257, "n_positions": 1024, "n_embd": 1600, "n_layer": 48, "n_head": 25},  # gpt2-xl
    ]
    for _ in range(RANDOM_CASES):
        d = dims(rng)
        c = {"vocab_size": d["vocab"], "n_positions": rng.choice([32, 64, 1024, 2048]), "n_embd": d["hidden"],
             "n_layer": d["layers"], "n_head": d["heads"], "bos_token_id": 0, "eos_token_id": 0,
             "activation_function": rng.choice(ACTS), "tie_word_embeddings": maybe(rng, 0.7)}  # fmt: skip
        if maybe(rng):
            c["n_inner"] = d["inter"]
        if maybe(rng, 0.15):
            c["add_cross_attention"] = True
        cases.append(c)
    cases.append({"vocab_size": 97, "n_positions": 17, "n_embd": 16, "n_layer": 1, "n_head": 4, "bos_token_id": 0, "eos_token_id": 0})  # positions == 17
    cases.append({"vocab_size": 97, "n_positions": 32, "n_embd": 18, "n_layer": 1, "n_head": 4, "bos_token_id": 0, "eos_token_id": 0})  # 18 % 4
    return cases


def llama(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32},  # Llama-2-7B
        {"vocab_size": 128256, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
         "num_key_value_heads": 8, "rope_theta": 500000.0, "bos_token_id": 128000, "eos_token_id": 128001},  # Llama-3-8B
        {"vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
         "num_key_value_heads": 8, "head_dim": 64, "tie_word_embeddings": True, "bos_token_id": 128000, "eos_token_id": 128001},  # Llama-3.2-1B
        {"vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22, "num_attention_heads": 32,
         "num_key_value_heads": 4},  # TinyLlama-1.1B
    ]  # fmt: skip
    for _ in range(RANDOM_CASES):
        c = llama_like(rng, head_dim=True)
        c["attention_bias"], c["mlp_bias"] = maybe(rng, 0.3), maybe(rng, 0.3)
        cases.append(c)
    cases.append({"vocab_size": 97, "hidden_size": 16, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 3, **TOKENS})
    cases.append({"vocab_size": 97, "hidden_size": 18, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 4, **TOKENS})
    return cases


def mistral(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
         "num_key_value_heads": 8, "sliding_window": 4096},  # Mistral-7B-v0.1
        {"vocab_size": 131072, "hidden_size": 5120, "intermediate_size": 14336, "num_hidden_layers": 40, "num_attention_heads": 32,
         "num_key_value_heads": 8, "head_dim": 128, "sliding_window": None},  # Mistral-Nemo-12B (head_dim 128 != 5120/32)
        {"vocab_size": 32768, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
         "num_key_value_heads": 8, "sliding_window": None, "rope_theta": 1000000.0},  # Mistral-7B-v0.3
    ]  # fmt: skip
    for _ in range(RANDOM_CASES):
        c = llama_like(rng, head_dim=True)
        c["sliding_window"] = rng.choice([None, 4, 4096])
        cases.append(c)
    cases.append({"vocab_size": 97, "hidden_size": 16, "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 4, **TOKENS})  # kv default 8 > 4 heads
    return cases


def qwen2(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
         "num_key_value_heads": 2, "tie_word_embeddings": True, "rope_theta": 1000000.0, "max_window_layers": 24},  # Qwen2-0.5B
        {"vocab_size": 152064, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28, "num_attention_heads": 28,
         "num_key_value_heads": 4, "tie_word_embeddings": False, "rope_theta": 1000000.0},  # Qwen2-7B
        {"vocab_size": 151936, "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28, "num_attention_heads": 12,
         "num_key_value_heads": 2, "tie_word_embeddings": True},  # Qwen2.5-1.5B
    ]  # fmt: skip
    for _ in range(RANDOM_CASES):
        c = llama_like(rng)
        if maybe(rng, 0.25):
            c["head_dim"] = other_head_dim(rng, {"head_dim": c["hidden_size"] // c["num_attention_heads"]})  # not a Qwen2Config field
        if maybe(rng, 0.2):
            c["use_sliding_window"], c["sliding_window"], c["max_window_layers"] = True, 4, 1
        cases.append(c)
    return cases


def qwen3(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 151936, "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28, "num_attention_heads": 16,
         "num_key_value_heads": 8, "head_dim": 128, "tie_word_embeddings": True},  # Qwen3-0.6B
        {"vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36, "num_attention_heads": 32,
         "num_key_value_heads": 8, "head_dim": 128, "tie_word_embeddings": False},  # Qwen3-8B
        {"vocab_size": 151936, "hidden_size": 64, "intermediate_size": 100, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2},  # head_dim left at its default (128)
    ]  # fmt: skip
    for _ in range(RANDOM_CASES):
        c = llama_like(rng)
        c["head_dim"] = c["hidden_size"] // c["num_attention_heads"] if maybe(rng) else rng.choice([8, 16, 64, 128])
        c["attention_bias"] = maybe(rng, 0.3)
        cases.append(c)
    return cases


def gemma(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 256000, "hidden_size": 2048, "intermediate_size": 16384, "num_hidden_layers": 18, "num_attention_heads": 8,
         "num_key_value_heads": 1, "head_dim": 256},  # gemma-2b (MQA)
        {"vocab_size": 256000, "hidden_size": 3072, "intermediate_size": 24576, "num_hidden_layers": 28, "num_attention_heads": 16,
         "num_key_value_heads": 16, "head_dim": 256},  # gemma-7b (16*256 != 3072)
        {"vocab_size": 1000, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 4, **TOKENS},  # head_dim left at its default (256)
    ]  # fmt: skip
    for _ in range(RANDOM_CASES):
        c = llama_like(rng, head_dim=True)
        c["attention_bias"] = maybe(rng, 0.3)
        cases.append(c)
    return cases


def gemma2(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 256000, "hidden_size": 2304, "intermediate_size": 9216, "num_hidden_layers": 26, "num_attention_heads": 8,
         "num_key_value_heads": 4, "head_dim": 256},  # gemma-2-2b
        {"vocab_size": 256000, "hidden_size": 3584, "intermediate_size": 14336, "num_hidden_layers": 42, "num_attention_heads": 16,
         "num_key_value_heads": 8, "head_dim": 256},  # gemma-2-9b
        {"vocab_size": 1000, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 3, "num_attention_heads": 4,
         "num_key_value_heads": 2, **TOKENS},  # head_dim default 256
    ]  # fmt: skip
    for _ in range(RANDOM_CASES):
        c = llama_like(rng, head_dim=True, act="hidden_activation")
        c["attention_bias"] = maybe(rng, 0.3)
        if maybe(rng, 0.3):
            c["final_logit_softcapping"], c["attn_logit_softcapping"] = None, None
        cases.append(c)
    return cases


def phi3(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 32064, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32, "num_attention_heads": 32,
         "num_key_value_heads": 32, "max_position_embeddings": 4096},  # Phi-3-mini-4k
        {"vocab_size": 32064, "hidden_size": 5120, "intermediate_size": 17920, "num_hidden_layers": 40, "num_attention_heads": 40,
         "num_key_value_heads": 10},  # Phi-3-medium
        {"vocab_size": 200064, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 32, "num_attention_heads": 24,
         "num_key_value_heads": 8, "tie_word_embeddings": True, "partial_rotary_factor": 0.75, "pad_token_id": 199999,
         "bos_token_id": 199999, "eos_token_id": 199999},  # Phi-4-mini
    ]  # fmt: skip
    for _ in range(RANDOM_CASES):
        c = llama_like(rng)
        if maybe(rng, 0.25):
            c["head_dim"] = rng.choice([8, 16, 64])  # not a Phi3Config field
        if maybe(rng, 0.3):
            c["partial_rotary_factor"] = rng.choice([0.5, 0.75])
        cases.append(c)
    tiny = {"vocab_size": 97, "hidden_size": 48, "intermediate_size": 20, "num_hidden_layers": 1, "num_attention_heads": 4, **TOKENS}
    cases.append({**tiny, "partial_rotary_factor": 0.25})  # rotary dims 3, odd
    cases.append({"vocab_size": 1000, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 4})  # pad 32000 >= vocab
    return cases


def gpt_neox(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 50304, "hidden_size": 512, "intermediate_size": 2048, "num_hidden_layers": 6, "num_attention_heads": 8,
         "rotary_pct": 0.25, "use_parallel_residual": True},  # pythia-70m
        {"vocab_size": 50432, "hidden_size": 4096, "intermediate_size": 16384, "num_hidden_layers": 32, "num_attention_heads": 32,
         "rotary_pct": 0.25},  # pythia-6.9b
        {"vocab_size": 50432, "hidden_size": 6144, "intermediate_size": 24576, "num_hidden_layers": 44, "num_attention_heads": 64,
         "rotary_pct": 0.25},  # gpt-neox-20b
    ]  # fmt: skip
    for _ in range(RANDOM_CASES):
        c = llama_like(rng, kv=False)
        c["rotary_pct"] = rng.choice([0.25, 0.5, 1.0])
        c["use_parallel_residual"], c["attention_bias"] = maybe(rng), maybe(rng, 0.7)
        cases.append(c)
    tiny = {"vocab_size": 97, "hidden_size": 48, "intermediate_size": 20, "num_hidden_layers": 2, "num_attention_heads": 4, **TOKENS}
    cases.append({**tiny, "rotary_pct": 0.25})  # rotary_ndims = 3, odd
    cases.append({**tiny, "rotary_pct": 0.5})  # rotary_ndims = 6
    return cases


def opt(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 50272, "hidden_size": 768, "ffn_dim": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
         "max_position_embeddings": 2048, "word_embed_proj_dim": 768},  # opt-125m
        {"vocab_size": 50272, "hidden_size": 1024, "ffn_dim": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
         "max_position_embeddings": 2048, "word_embed_proj_dim": 512, "do_layer_norm_before": False},  # opt-350m
        {"vocab_size": 50272, "hidden_size": 4096, "ffn_dim": 16384, "num_hidden_layers": 32, "num_attention_heads": 32,
         "max_position_embeddings": 2048},  # opt-6.7b
    ]  # fmt: skip
    for _ in range(RANDOM_CASES):
        d = dims(rng)
        c = {"vocab_size": d["vocab"], "hidden_size": d["hidden"], "ffn_dim": d["inter"], "num_hidden_layers": d["layers"],
             "num_attention_heads": d["heads"], "max_position_embeddings": rng.choice([17, 32, 2048]),
             "activation_function": rng.choice(ACTS), "tie_word_embeddings": maybe(rng, 0.7), **TOKENS}  # fmt: skip
        if maybe(rng, 0.4):
            c["word_embed_proj_dim"] = rng.choice([d["hidden"], max(1, d["hidden"] // 2), d["hidden"] + 8])
        c["do_layer_norm_before"] = maybe(rng, 0.7)
        if maybe(rng, 0.3):
            c["enable_bias"] = False
        if maybe(rng, 0.2):
            c["layer_norm_elementwise_affine"] = False
        if maybe(rng, 0.15):
            c["_remove_final_layer_norm"] = True
        cases.append(c)
    return cases


def falcon(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 65024, "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71, "multi_query": True,
         "parallel_attn": True, "bias": False, "new_decoder_architecture": False},  # falcon-7b
        {"vocab_size": 65024, "hidden_size": 8192, "num_hidden_layers": 60, "num_attention_heads": 128, "num_kv_heads": 8,
         "new_decoder_architecture": True, "parallel_attn": True, "bias": False},  # falcon-40b
        {"vocab_size": 50304, "hidden_size": 2048, "num_hidden_layers": 24, "num_attention_heads": 32, "multi_query": False,
         "parallel_attn": False, "bias": True, "alibi": True, "new_decoder_architecture": False},  # falcon-rw-1b
    ]  # fmt: skip
    for _ in range(RANDOM_CASES):
        d = dims(rng)
        c = {"vocab_size": d["vocab"], "hidden_size": d["hidden"], "num_hidden_layers": d["layers"],
             "num_attention_heads": d["heads"], "activation": rng.choice(ACTS), "tie_word_embeddings": maybe(rng, 0.7),
             "bias": maybe(rng, 0.3), **TOKENS}  # fmt: skip
        variant = rng.choice(["new", "new", "multi_query", "mha"])
        if variant == "new":  # Falcon-40B style: GQA with num_kv_heads, ln_attn/ln_mlp unless num_ln_in_parallel_attn=1
            c["new_decoder_architecture"], c["num_kv_heads"], c["parallel_attn"] = True, d["kv"], True
            if maybe(rng, 0.4):
                c["num_ln_in_parallel_attn"] = rng.choice([1, 2])
        else:  # Falcon-7B (multi_query) or falcon-rw (mha) style
            c["new_decoder_architecture"], c["multi_query"] = False, variant == "multi_query"
            c["parallel_attn"] = maybe(rng, 0.6)
        if maybe(rng):
            c["ffn_hidden_size"] = d["inter"]
        if maybe(rng, 0.2):
            c["alibi"] = True
        cases.append(c)
    tiny = {"vocab_size": 97, "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 4, **TOKENS}
    cases.append({**tiny, "new_decoder_architecture": True, "num_kv_heads": 2, "parallel_attn": False})  # no ln_attn built
    cases.append({**tiny, "new_decoder_architecture": False, "parallel_attn": True, "num_ln_in_parallel_attn": 2})
    cases.append({**tiny, "new_decoder_architecture": False, "multi_query": False, "num_kv_heads": 2})
    cases.append({**tiny, "new_decoder_architecture": False, "multi_query": True, "num_kv_heads": 2})  # num_kv_heads ignored
    return cases


def olmo(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 50304, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 16,
         "tie_word_embeddings": True, "pad_token_id": 1, "eos_token_id": 50279},  # OLMo-1B-hf
        {"vocab_size": 50304, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
         "pad_token_id": 1, "eos_token_id": 50279},  # OLMo-7B-hf
        {"vocab_size": 50304, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
         "clip_qkv": 8.0, "pad_token_id": 1, "eos_token_id": 50279},  # OLMo-1.7-7B-hf
    ]  # fmt: skip
    for _ in range(RANDOM_CASES):
        c = llama_like(rng)
        c["attention_bias"] = maybe(rng, 0.3)
        if maybe(rng, 0.2):
            c["head_dim"] = rng.choice([8, 16, 64])  # not an OlmoConfig field
        if maybe(rng, 0.2):
            c["clip_qkv"] = 8.0
        cases.append(c)
    return cases


def starcoder2(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 49152, "hidden_size": 3072, "intermediate_size": 12288, "num_hidden_layers": 30, "num_attention_heads": 24,
         "num_key_value_heads": 2, "sliding_window": 4096},  # starcoder2-3b
        {"vocab_size": 49152, "hidden_size": 4608, "intermediate_size": 18432, "num_hidden_layers": 32, "num_attention_heads": 36,
         "num_key_value_heads": 4, "sliding_window": 4096},  # starcoder2-7b
        {"vocab_size": 49152, "hidden_size": 6144, "intermediate_size": 24576, "num_hidden_layers": 40, "num_attention_heads": 48,
         "num_key_value_heads": 4, "sliding_window": 4096},  # starcoder2-15b
    ]  # fmt: skip
    for _ in range(RANDOM_CASES):
        c = llama_like(rng)
        c["use_bias"] = maybe(rng, 0.6)
        if maybe(rng, 0.2):
            c["head_dim"] = rng.choice([8, 16, 64])  # not a Starcoder2Config field
        cases.append(c)
    return cases


def stablelm(rng: random.Random) -> list[dict]:
    cases = [
        {"vocab_size": 50304, "hidden_size": 2560, "intermediate_size": 6912, "num_hidden_layers": 32, "num_attention_heads": 32,
         "num_key_value_heads": 32, "partial_rotary_factor": 0.25},  # stablelm-3b-4e1t
        {"vocab_size": 100352, "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24, "num_attention_heads": 32,
         "num_key_value_heads": 32, "partial_rotary_factor": 0.25, "use_qkv_bias": True},  # stablelm-2-1_6b
        {"vocab_size": 100352, "hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40, "num_attention_heads": 32,
         "num_key_value_heads": 8, "partial_rotary_factor": 0.25, "qk_layernorm": True, "use_parallel_residual": True},  # stablelm-2-12b
    ]  # fmt: skip
    for _ in range(RANDOM_CASES):
        c = llama_like(rng)
        c["partial_rotary_factor"] = rng.choice([0.25, 0.5, 1.0])
        c["use_qkv_bias"], c["qk_layernorm"], c["use_parallel_residual"] = maybe(rng, 0.4), maybe(rng, 0.4), maybe(rng, 0.4)
        cases.append(c)
    return cases


TYPES: dict[str, Callable[[random.Random], list[dict]]] = {
    "gpt2": gpt2, "llama": llama, "mistral": mistral, "qwen2": qwen2, "qwen3": qwen3, "gemma": gemma, "gemma2": gemma2,
    "phi3": phi3, "gpt_neox": gpt_neox, "opt": opt, "falcon": falcon, "olmo": olmo, "starcoder2": starcoder2,
    "stablelm": stablelm,
}  # fmt: skip


# --- measuring --------------------------------------------------------------------------------

DERIVED = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "num_kv_heads",
           "head_dim", "intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size", "word_embed_proj_dim",
           "max_position_embeddings", "tie_word_embeddings", "hidden_act", "hidden_activation", "activation",
           "activation_function", "num_ln_in_parallel_attn"]  # fmt: skip


def first_line(e: BaseException) -> str:
    msg = (str(e).strip().splitlines() or [""])[0]
    return f"{type(e).__name__}: {re.sub(r' at 0x[0-9a-f]+', '', msg)}"[:300]


def layer_index(name: str) -> tuple[str, int | None, str]:
    m = re.match(r"^(.*?\.(?:layers|h))\.(\d+)\.(.*)$", name)
    return (m.group(1), int(m.group(2)), m.group(3)) if m else (name, None, "")


def parameter_shapes(model: torch.nn.Module) -> tuple[list, bool]:
    kept, per_layer = [], {}
    for name, p in model.named_parameters():
        stack, idx, rest = layer_index(name)
        if idx is None or idx == 0:
            kept.append([name, list(p.shape)])
        if idx is not None:
            per_layer.setdefault(idx, []).append((rest, tuple(p.shape)))
    layers = list(per_layer.values())
    return kept, all(layer == layers[0] for layer in layers)


def forward_flops(model: torch.nn.Module, length: int) -> tuple[int, dict[str, int]]:
    ids = torch.zeros((1, length), dtype=torch.long, device=META)
    mask = torch.ones((1, length), dtype=torch.long, device=META)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(input_ids=ids, attention_mask=mask, use_cache=False)
    by_op = {str(k): int(v) for k, v in counter.get_flop_counts()["Global"].items()}
    return int(counter.get_total_flops()), by_op


def measure(model_type: str, fields: dict, with_shapes: bool) -> dict:
    row: dict[str, Any] = {"model_type": model_type, "config": fields}
    try:
        config = AutoConfig.for_model(model_type, **fields)
        with META:
            model = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
        model.eval()
    except Exception as e:  # noqa: BLE001 - the refusal is the data
        row["error"] = first_line(e)
        return row
    row["derived"] = {k: getattr(config, k) for k in DERIVED if hasattr(config, k)}
    rope = getattr(config, "rope_parameters", None)
    if isinstance(rope, dict) and "partial_rotary_factor" in rope:
        row["derived"]["partial_rotary_factor"] = rope["partial_rotary_factor"]
    row["num_parameters"] = model.num_parameters()
    row["num_parameters_no_embeddings"] = model.num_parameters(exclude_embeddings=True)
    out_emb, in_emb = model.get_output_embeddings(), model.get_input_embeddings()
    row["tied"] = out_emb is not None and out_emb.weight is in_emb.weight
    if with_shapes:
        row["parameters"], row["layers_identical"] = parameter_shapes(model)
    try:
        flops = {}
        for length in SEQ_LENS:
            flops[str(length)], by_op = forward_flops(model, length)
        row["flops"], row["flops_by_op"] = flops, by_op
    except Exception as e:  # noqa: BLE001
        row["error"] = first_line(e)
    return row


def main() -> None:
    for model_type, make in TYPES.items():
        if model_type not in CONFIG_MAPPING:
            print(f"skipping {model_type}: not in transformers {transformers.__version__}", file=sys.stderr)
            continue
        rng = random.Random(f"{SEED}/{model_type}")
        for i, fields in enumerate(make(rng)):
            print(json.dumps(measure(model_type, fields, i < SHAPE_CASES), sort_keys=True))


if __name__ == "__main__":
    main()
