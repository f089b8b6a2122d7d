"""Language models against real transformers: tests/data/hf_lm.jsonl is written by
tools/make_lm_fixture.py (AutoModelForCausalLM.from_config on the meta device for 14
model types: num_parameters both ways and FlopCounterMode's FLOPs of one forward at two
lengths); running the tests needs no framework."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

import archsweep as asw

DATA = Path(os.environ.get("ARCHSWEEP_FIXTURES", Path(__file__).parent / "data"))
with open(DATA / "hf_lm.jsonl") as _f:
    CASES = [json.loads(line) for line in _f if line.strip()]


ROTATED_WHOLE = {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo", "starcoder2", "falcon"}


def inexpressible(case):
    """What of a configuration transformers runs the lm kind does not express: GPT-2's cross-attention
    blocks, StableLM's odd rotary width and a head of 1 rotated whole (transformers widens q and k by
    a column)."""
    c = case["config"]
    if c.get("add_cross_attention"):
        return "add_cross_attention"
    rotated_whole = case["model_type"] in ROTATED_WHOLE or (
        case["model_type"] == "phi3" and c.get("partial_rotary_factor", 1.0) == 1.0)
    if rotated_whole and case.get("derived", {}).get("head_dim") == 1 and not c.get("alibi"):
        return "rotated whole"
    if case["model_type"] == "stablelm":
        head = c["hidden_size"] // c["num_attention_heads"]
        if int(head * c.get("partial_rotary_factor", 0.25)) % 2:
            return "partial_rotary_factor"
    return None


OURS = [c for c in CASES if "error" not in c and inexpressible(c)]
RUNS = [c for c in CASES if "error" not in c and not inexpressible(c)]


def config(case):
    return {**case["config"], "model_type": case["model_type"]}


def test_fixture_covers_every_model_type_and_layout():
    assert {c["model_type"] for c in RUNS} == set(asw.MODEL_TYPES)
    assert {c["tied"] for c in RUNS} == {True, False}
    for t in asw.MODEL_TYPES:
        assert sum(c["model_type"] == t for c in RUNS) >= 20, t
    lms = [asw.from_hf_config(config(c)).args for c in RUNS]
    assert any(a["n_kv_heads"] == 1 for a in lms) and any(1 < a["n_kv_heads"] < a["n_heads"] for a in lms)
    assert any(a["qkv_bias"] for a in lms) and any(a.get("max_positions") for a in lms)
    assert max(c["num_parameters"] for c in RUNS) > 6 * 10**9


@pytest.mark.parametrize("backend", ["rust", "python"])
def test_counts_match_transformers(backend):
    wrong = []
    for case in RUNS:
        lm = asw.from_hf_config(config(case))
        args = dict(lm.args, convention="torch", backend=backend)
        got = [asw.count("lm", **args), asw.count("lm", quantity="non_embedding_params", **args),
               *(asw.count("lm", quantity="flops", length=int(n), **args) for n in sorted(case["flops"], key=int))]
        expected = [case["num_parameters"], case["num_parameters_no_embeddings"],
                    *(case["flops"][n] for n in sorted(case["flops"], key=int))]  # fmt: skip
        if got != expected:
            wrong.append((case["model_type"], case["config"], got, expected))
    assert not wrong, f"{len(wrong)} of {len(RUNS)} differ, e.g. {wrong[:2]}"


def test_the_language_model_object_counts_as_transformers():
    case = next(c for c in RUNS if c["model_type"] == "llama" and c["num_parameters"] > 6 * 10**9)
    lm = asw.from_hf_config(config(case))
    assert lm.count_params() == case["num_parameters"]
    assert lm.count_params(exclude_embeddings=True) == case["num_parameters_no_embeddings"]
    assert lm.count_flops(17) == case["flops"]["17"]
    assert lm.count_flops(17, training=True) == 3 * case["flops"]["17"]  # every matmul's two gradients
    assert lm.count("kv_cache_bytes[bf16]") == 2 * 2 * lm.args["n_layers"] * lm.args["n_kv_heads"] * lm.args["head_dim"]
    assert "llama" in repr(lm)


def test_refusals_of_transformers_are_refused():
    """Every configuration transformers refuses, or builds but cannot run, is refused by name."""
    refused = [c for c in CASES if "error" in c]
    allowed = {"add_cross_attention", "partial_rotary_factor", "rotated whole"}
    assert len(refused) >= 8 and OURS and {inexpressible(c) for c in OURS} <= allowed
    for case in OURS:
        with pytest.raises(asw.InvalidArgumentError, match=inexpressible(case)):
            asw.from_hf_config(config(case))
    for case in refused:
        with pytest.raises(asw.InvalidArgumentError):
            lm = asw.from_hf_config(config(case))
            lm.count_flops(17)


@pytest.mark.parametrize("model_type", sorted(ROTATED_WHOLE | {"phi3"}))
def test_an_odd_head_rotated_whole_is_refused(model_type):
    # transformers 5.24, measured on each type (FlopCounterMode on the meta device): at head_dim 1 its
    # cos and sin are two wide, so q and k silently become two wide (the scores' FLOPs 1.5x); at 3 the
    # forward fails. An even head, or an odd width rotated in part (Phi-3 at 0.5 of 6), runs as written.
    sizes = {"hidden_size": 4, "num_attention_heads": 1, "num_key_value_heads": 1, "intermediate_size": 8}
    if model_type == "falcon":
        head = {"hidden_size": 3}  # Falcon's head is hidden_size // heads
    else:
        head = {"head_dim": 3} if model_type not in ("qwen2", "olmo", "starcoder2", "phi3") else {"hidden_size": 3}
    for odd, effect in ((1, "widens q and k by a column"), (3, "fails its forward")):
        config = {"model_type": model_type, **sizes, **{k: odd for k in head}}
        with pytest.raises(asw.InvalidArgumentError, match=f"head_dim {odd} is odd and rotated whole.*{effect}"):
            asw.from_hf_config(config)
    assert asw.from_hf_config({"model_type": model_type, **sizes, **{k: 2 for k in head}}).args["head_dim"] == 2
    if model_type == "phi3":
        partial = {"model_type": "phi3", **sizes, "hidden_size": 12, "num_attention_heads": 2, "partial_rotary_factor": 0.5}
        assert asw.from_hf_config(partial).args["head_dim"] == 6
    if model_type == "falcon":
        assert asw.from_hf_config({"model_type": "falcon", **sizes, "hidden_size": 3, "alibi": True}).args["head_dim"] == 3


def test_config_files_and_bad_configs(tmp_path):
    case = next(c for c in RUNS if c["model_type"] == "gpt2")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(case)))
    assert asw.from_hf_config(path).count_params() == case["num_parameters"]
    with pytest.raises(asw.InvalidArgumentError, match="model_type 'bert' is not one archsweep reads"):
        asw.from_hf_config({"model_type": "bert"})
    with pytest.raises(asw.InvalidArgumentError, match="No such file"):
        asw.from_hf_config(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(asw.InvalidArgumentError, match="not a JSON config.json"):
        asw.from_hf_config(tmp_path / "bad.json")
    with pytest.raises(asw.InvalidArgumentError, match="hidden_size must be a whole number >= 1"):
        asw.from_hf_config({"model_type": "llama", "hidden_size": 0})
    with pytest.raises(asw.InvalidArgumentError, match="add_cross_attention"):
        asw.from_hf_config({"model_type": "gpt2", "add_cross_attention": True})
    with pytest.raises(asw.ArgumentTypeError, match="config must be a path"):
        asw.from_hf_config(3)


def test_a_family_sweeps_and_searches_at_the_kernels_speed():
    """Llama-style grids: a budget on params keeps exactly the configurations that fit, and search
    finds the widest under it, as counting each one alone does."""
    base = asw.from_hf_config({"model_type": "llama", "vocab_size": 32000, "num_key_value_heads": 8}).args
    grid = dict(base, d_model=range(512, 4097, 128), n_layers=range(4, 33, 4), d_ff=[4 * 4096], head_dim=128)
    table = asw.sweep("lm", **grid, convention="torch", quantity=["params", "non_embedding_params"],
                      budget={"params": 10**9})  # fmt: skip
    every = [(d, n, asw.count("lm", **{**base, "d_model": d, "n_layers": n, "d_ff": 4 * 4096, "head_dim": 128},
                              convention="torch")) for d in range(512, 4097, 128) for n in range(4, 33, 4)]  # fmt: skip
    fits = sorted((d, n, p) for d, n, p in every if p <= 10**9)
    assert sorted(zip(table["d_model"], table["n_layers"], table["params"])) == fits
    best = asw.search("lm", **{**grid, "d_model": range(512, 100_000)}, convention="torch", budget=10**9,
                      maximize="d_model")  # fmt: skip
    for n, d in zip(best["n_layers"], best["d_model"]):
        at = lambda width: asw.count("lm", **{**base, "d_model": width, "n_layers": n, "d_ff": 4 * 4096,  # noqa: E731
                                              "head_dim": 128}, convention="torch")  # fmt: skip
        assert at(d) <= 10**9 < at(d + 1)
    # Arrays broadcast as in count_params; Llama's config makes head_dim d_model / n_heads.
    widths = np.arange(512, 1025, 128)
    grid_flops = asw.count("lm", **{**base, "d_model": widths, "head_dim": widths // 32}, length=2048,
                           quantity="flops", convention="torch")  # fmt: skip
    assert grid_flops.tolist() == [asw.from_hf_config({"model_type": "llama", "vocab_size": 32000,
                                   "num_key_value_heads": 8, "hidden_size": int(d)}).count_flops(2048)
                                   for d in range(512, 1025, 128)]  # fmt: skip


def test_the_readme_scaling_example_is_exact():
    """examples/scaling_laws.py: its Llama-2-7B row is the model card's, each row is the config's own count."""
    import importlib.util

    path = Path(__file__).parent.parent / "examples" / "scaling_laws.py"
    spec = importlib.util.spec_from_file_location("scaling_laws", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    table = example.table()
    assert table.height > 9000 and table["params"].max() < 7 * 10**9
    llama2 = table.filter(d_model=4096, n_layers=32, head_dim=128, n_kv_heads=32)
    assert llama2["d_ff"].item() == 11008 and llama2["params"].item() == 6_738_415_616
    for row in table.sample(20, seed=1).iter_rows(named=True):
        lm = asw.from_hf_config({"model_type": "llama", "vocab_size": 32000, "hidden_size": row["d_model"],
                                 "num_hidden_layers": row["n_layers"], "num_attention_heads": row["n_heads"],
                                 "num_key_value_heads": row["n_kv_heads"], "head_dim": row["head_dim"],
                                 "intermediate_size": row["d_ff"]})  # fmt: skip
        assert lm.count_params() == row["params"]
        assert lm.count_params(exclude_embeddings=True) == row["non_embedding_params"]
        assert lm.count_flops(2048) / 2048 == row["flops_per_token"]


def test_the_lm_command_prints_a_configs_counts(tmp_path, capsys):
    from archsweep import cli

    case = next(c for c in RUNS if c["model_type"] == "qwen2")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(case)))
    assert cli.main(["lm", str(path), "--length", "17", "--dtype", "fp16"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("qwen2: vocab_size=")
    numbers = {line.rsplit("  ", 1)[0].strip(): int(line.rsplit(" ", 1)[1].replace(",", ""))
               for line in out.splitlines()[1:]}  # fmt: skip
    assert numbers["params"] == case["num_parameters"]
    assert numbers["non-embedding params"] == case["num_parameters_no_embeddings"]
    assert numbers["forward FLOPs (17 tokens)"] == case["flops"]["17"]
    assert numbers["weight bytes (fp16)"] == 2 * case["num_parameters"]
    assert cli.main(["lm", str(path), "--dtype", "int4"]) == 2
    assert "--dtype 'int4' is not one of" in capsys.readouterr().err
    assert cli.main(["lm", str(tmp_path / "missing.json")]) == 2
    assert "No such file" in capsys.readouterr().err
