"""Parameters and FLOPs of KerasHub's transformer blocks, ``keras_hub.layers.TransformerEncoder``
and ``TransformerDecoder``, one JSON object per line (tests/data/keras_transformer.jsonl).

Each case builds the layer in Keras 3 (jax backend) on zeros of batch 1 and records

- ``params`` / ``trainable``: ``count_params()`` and the elements of ``trainable_weights``;
- ``macs``: the multiply-accumulates of every ``dot_general`` in ``jax.make_jaxpr`` of the
  layer's ``stateless_call`` (the product of the output's size and the contracted sizes):
  the q/k/v and output projections, both attention products and the feed-forward pair.

``args`` are the constructor's keyword arguments; ``input`` maps the call's arguments
(``inputs``; ``decoder_sequence`` and ``encoder_sequence``, the decoder with cross-attention
when ``encoder_sequence`` is given) to their shapes. Cases where ``num_heads`` does not divide
the width are recorded too (KerasHub builds heads of ``hidden // num_heads`` features, which
cover fewer than ``hidden``; archsweep refuses them). The case list comes from
``random.Random("<seed>/<class name>")``, seed 20261202 (``ARCHSWEEP_FIXTURE_SEED`` overrides
it), and holds no expected values.

KerasHub installs without TensorFlow (its tokenizers import ``regex`` and ``tokenizers`` but
the layers need neither TensorFlow nor tensorflow-text):

    /tmp/fw-keras/bin/pip install --no-deps keras-hub && /tmp/fw-keras/bin/pip install regex tokenizers
    /tmp/fw-keras/bin/python tools/make_keras_transformer_fixture.py > tests/data/keras_transformer.jsonl
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
from typing import Any

os.environ["KERAS_BACKEND"] = "jax"

SEED = os.environ.get("ARCHSWEEP_FIXTURE_SEED", "20261202")
CASES = 60  # per class and cross-attention setting


def macs(jaxpr: Any) -> int:
    """Multiply-accumulates of the dot_generals in ``jaxpr``, inner jaxprs (pjit, custom_jvp) included."""
    import jax.extend

    total = 0
    for eqn in jaxpr.eqns:
        inner = [v for v in eqn.params.values() if isinstance(v, (jax.extend.core.ClosedJaxpr, jax.extend.core.Jaxpr))]
        if inner:
            total += sum(macs(getattr(j, "jaxpr", j)) for j in inner)
        elif eqn.primitive.name == "dot_general":
            (contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            total += math.prod(eqn.outvars[0].aval.shape) * math.prod(lhs[i] for i in contract)
    return total


def main() -> None:
    import jax
    import jax.numpy as jnp
    import keras
    import keras_hub

    for name in ("TransformerEncoder", "TransformerDecoder"):
        cls = getattr(keras_hub.layers, name)
        for cross in (False, True) if name == "TransformerDecoder" else (False,):
            rng = random.Random(f"{SEED}/{name}/{'cross' if cross else 'self'}")
            for i in range(CASES):
                heads = rng.choice([1, 2, 3, 4, 8, 16])
                if i % 10 == 9:  # heads that do not divide the width
                    hidden = heads * rng.randint(1, 24) + rng.randint(1, heads - 1) if heads > 1 else 5
                    heads = max(heads, 2)
                else:
                    hidden = heads * rng.choice([1, 2, 3, 8, 16, 32, 64])
                args = {"intermediate_dim": rng.choice([1, 3, 16, 64, 128, 512, 2048]), "num_heads": heads,
                        "normalize_first": rng.random() < 0.5,
                        "activation": rng.choice(["relu", "gelu"])}  # fmt: skip
                length = rng.randint(1, 32)
                shapes = {"decoder_sequence" if name == "TransformerDecoder" else "inputs": [length, hidden]}
                if cross:
                    shapes["encoder_sequence"] = [rng.randint(1, 32), hidden]
                layer = cls(**args)
                xs = [jnp.zeros((1, *s)) for s in shapes.values()]
                layer(*xs)
                tv = [v.value for v in layer.trainable_variables]
                ntv = [v.value for v in layer.non_trainable_variables]
                traced = jax.make_jaxpr(lambda tv, ntv, *xs: layer.stateless_call(tv, ntv, *xs)[0])(tv, ntv, *xs)
                row = {"class": name, "args": args, "input": shapes, "params": layer.count_params(),
                       "trainable": sum(math.prod(w.shape) for w in layer.trainable_weights),
                       "macs": macs(traced.jaxpr)}  # fmt: skip
                print(json.dumps(row, sort_keys=True), flush=True)
    print(f"keras {keras.__version__}, keras_hub {keras_hub.__version__}, jax {jax.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
