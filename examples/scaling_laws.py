"""Every Llama-style configuration under 1B and 7B parameters, exactly: the README's worked example.

d_model 512..8192 step 128, n_layers 4..64, head_dim 64 or 128, GQA ratios 1/2/4/8, Llama's
SwiGLU width (2/3 of 4·d_model, rounded up to a multiple of 256), a 32,000-token vocabulary and
untied embeddings (Llama 2's layout), a context of 2,048 tokens. Columns: params, non-embedding
params (as transformers' num_parameters(exclude_embeddings=True)), forward FLOPs per token
(FlopCounterMode's count of the transformers model, per token of a 2,048-token sequence), Kaplan's
approximation of them, and Chinchilla-optimal tokens (20 per parameter). Written to Parquet; with
matplotlib installed, the frontier is plotted too.

    python examples/scaling_laws.py llama_under_7b.parquet [frontier.png]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import polars as pl

import archsweep as asw

CONTEXT = 2048


def llama_d_ff(d_model: np.ndarray) -> np.ndarray:
    """Llama's MLP width: int(2 · 4·d / 3), rounded up to a multiple of 256 (multiple_of in its code)."""
    hidden = (8 * d_model) // 3
    return 256 * ((hidden + 255) // 256)


def table() -> pl.DataFrame:
    d, head_dim, ratio = (a.reshape(-1, 1) for a in np.meshgrid(np.arange(512, 8193, 128), [64, 128], [1, 2, 4, 8],
                                                               indexing="ij"))  # fmt: skip
    n_heads = d // head_dim
    keep = ((d % head_dim == 0) & (n_heads % ratio == 0)).reshape(-1)
    d, head_dim, ratio, n_heads = d[keep], head_dim[keep], ratio[keep], n_heads[keep]
    n_layers = np.arange(4, 65).reshape(1, -1)
    lm = asw.from_hf_config({"model_type": "llama", "vocab_size": 32000}).args  # Llama's layout, untied
    arch = dict(lm, d_model=d, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_heads // ratio, head_dim=head_dim,
                d_ff=llama_d_ff(d))  # fmt: skip
    params = asw.count("lm", **arch)
    non_embedding = asw.count("lm", **arch, quantity="non_embedding_params")
    flops = asw.count("lm", **arch, length=CONTEXT, quantity="flops")
    shape = params.shape
    column = lambda a: np.broadcast_to(a, shape).reshape(-1)  # noqa: E731
    kaplan = 2 * non_embedding + 2 * n_layers * CONTEXT * (n_heads * head_dim)  # per token (Kaplan et al. 2020)
    return pl.DataFrame({
        "d_model": column(d), "n_layers": column(n_layers), "head_dim": column(head_dim), "n_heads": column(n_heads),
        "n_kv_heads": column(n_heads // ratio), "d_ff": column(llama_d_ff(d)), "params": column(params),
        "non_embedding_params": column(non_embedding), "flops_per_token": column(flops) / CONTEXT,
        "kaplan_flops_per_token": column(kaplan).astype(np.float64), "chinchilla_tokens": 20 * column(params),
    }).filter(pl.col("params") < 7_000_000_000).sort("params")  # fmt: skip


def main(argv: list[str]) -> int:
    out = argv[1] if len(argv) > 1 else "llama_under_7b.parquet"
    started = time.perf_counter()
    t = table()
    seconds = time.perf_counter() - started
    t.write_parquet(out)
    under_1b = t.filter(pl.col("params") < 1_000_000_000)
    print(f"{t.height:,} configurations under 7B ({under_1b.height:,} under 1B) in {seconds:.2f} s -> {out}")
    with pl.Config(tbl_rows=6, tbl_cols=11, tbl_width_chars=140):
        print(t.filter(pl.col("params").is_between(990_000_000, 1_000_000_000)).sort("flops_per_token").head(5))
    if len(argv) > 2:
        from archsweep._plot import _matplotlib  # the extra's clear ImportError if matplotlib is missing

        Figure, Canvas = _matplotlib()
        frontier = t.sort("params", descending=True).with_columns(pl.col("flops_per_token").cum_min().alias("least"))
        fig = Figure(figsize=(7, 4.5))
        Canvas(fig)
        ax = fig.subplots()
        ax.scatter(t["params"], t["flops_per_token"], s=1, alpha=0.3, label="every configuration")
        ax.step(frontier["params"], frontier["least"], where="post", color="C3",
                label="least FLOPs per token at or above each size")  # fmt: skip
        ax.set(xscale="log", yscale="log", xlabel="parameters", ylabel="forward FLOPs per token (2,048 context)",
               title="Llama-style configurations under 7B")  # fmt: skip
        ax.legend()
        fig.savefig(argv[2], dpi=120, bbox_inches="tight")
        print(f"frontier -> {argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
