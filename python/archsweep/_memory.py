"""``memory``: the bytes a model takes, itemised, tensor by tensor, as
PyTorch and bitsandbytes hold them (``tests/data/torch_memory.jsonl``,
written by ``tools/make_memory_fixture.py``, measures every rule below).

With ``n`` a tensor's elements and ``s`` the bytes of an element at ``dtype``:

- ``weights``: every weight (Keras' non-trainable moving statistics too) at
  ``dtype``, ``n·s``; int4 packs two elements a byte, ``ceil(n / 2)``.
- ``buffers``: PyTorch's floating-point buffers (BatchNorm's running
  statistics) at ``dtype``, and 8 bytes for each int64 ``num_batches_tracked``.
- ``gradients`` (with an optimizer): each trainable tensor at ``dtype``.
- ``master_weights`` (``mixed_precision``): an fp32 copy of each trainable
  tensor, ``4·n``; the optimizer state is then fp32 as well.
- ``optimizer_state``, ``t`` the state's element size (``dtype``'s, or 4
  under mixed precision), per trainable tensor: ``sgd`` nothing;
  ``momentum`` ``n·t``; ``adam``, ``adamw`` ``2·n·t + 4`` (exp_avg,
  exp_avg_sq and a float32 step counter); ``amsgrad`` ``3·n·t + 4``;
  bitsandbytes' ``adam8bit``, ``adamw8bit`` ``8·n`` below 4,096 elements
  (kept in float32 whatever the dtype), else ``2·n + 8·ceil(n / 256)``
  (two uint8 states, a float32 absmax per block of 256 for each), plus
  2,048 bytes once for the two shared quantization maps.
- ``kv_cache_per_token``: per sample and token, the keys and values every
  attention layer would cache at ``dtype`` (not in ``total``).

Activation memory is left out: it depends on the framework's kernels,
their fusion and what autograd chooses to save, and is not defined by the
architecture alone.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ._errors import InvalidArgumentError
from ._names import _choose

#: Bytes an element takes (int4: half a byte, rounded up per tensor).
DTYPES = {"fp64": 8, "fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1, "int4": 0.5}
_DTYPE_NAMES = {"float64": "fp64", "double": "fp64", "float32": "fp32", "float": "fp32", "float16": "fp16",
                "half": "fp16", "bfloat16": "bf16", "float8": "fp8", "float8_e4m3fn": "fp8", "float8_e5m2": "fp8",
                "e4m3": "fp8", "e5m2": "fp8"}  # fmt: skip
OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "amsgrad", "adam8bit", "adamw8bit")
_OPTIMIZER_NAMES = {"sgd_momentum": "momentum", "adam_amsgrad": "amsgrad", "adam_8bit": "adam8bit",
                    "adamw_8bit": "adamw8bit", "paged_adamw8bit": "adamw8bit"}  # fmt: skip
#: bitsandbytes: tensors below this many elements keep 32-bit state; blockwise absmax every 256 elements.
MIN_8BIT_SIZE, BLOCK_8BIT, QMAPS_8BIT = 4096, 256, 2 * 256 * 4


class Memory(NamedTuple):
    """Bytes, itemised; ``total`` is their sum (``kv_cache_per_token`` aside)."""

    weights: int
    buffers: int
    gradients: int
    master_weights: int
    optimizer_state: int
    kv_cache_per_token: int

    @property
    def total(self) -> int:
        return self.weights + self.buffers + self.gradients + self.master_weights + self.optimizer_state


#: Byte quantities of a layer over grids, named with their options: ``weight_bytes[bf16]``,
#: ``training_bytes[bf16,adamw,mixed]`` (dtype, optimizer, mixed precision; see :func:`quantity`).
BYTES = ("weight_bytes", "training_bytes", "kv_cache_bytes")


def parse(name: str) -> tuple[str, str, str | None, bool] | None:
    """``(quantity, dtype, optimizer, mixed_precision)`` of a byte quantity's name, checked, or None
    when ``name`` is no byte quantity. ``weight_bytes`` alone is fp32; ``training_bytes`` needs its
    optimizer. Per-tensor rounding (int4) and 8-bit optimizers are refused: they are not polynomials
    of the sizes (``memory()`` of a Model takes them)."""
    base, sep, rest = name.partition("[")
    base = base.strip().lower()
    if base not in BYTES:
        return None
    if sep and not rest.endswith("]"):
        raise InvalidArgumentError(f"quantity {name!r}: options go in brackets, e.g. training_bytes[bf16,adamw]")
    options = [o.strip().lower() for o in rest[:-1].split(",")] if sep else []
    dtypes = [o for o in options if o in DTYPES or o in _DTYPE_NAMES]
    optimizers = [o for o in options if o in OPTIMIZERS or o in _OPTIMIZER_NAMES]
    unknown = [o for o in options if o not in (*dtypes, *optimizers, "mixed")]
    if unknown:
        import difflib

        words = [*DTYPES, *OPTIMIZERS, "mixed"]
        close = difflib.get_close_matches(unknown[0], words, n=1, cutoff=0.5)
        raise InvalidArgumentError(f"quantity {name!r}: {unknown[0]!r} is no dtype ({', '.join(DTYPES)}), optimizer "
                                   f"({', '.join(OPTIMIZERS)}) or 'mixed'." + (f" Did you mean {close[0]!r}?" if close else ""))  # fmt: skip
    if len(dtypes) > 1 or len(optimizers) > (base == "training_bytes"):
        example = "training_bytes[bf16,adamw]" if base == "training_bytes" else "weight_bytes[bf16]"
        raise InvalidArgumentError(f"quantity {name!r}: give one dtype{' and one optimizer' if base == 'training_bytes' else ''}"
                                   f" (and 'mixed' for mixed precision), e.g. {example}")  # fmt: skip
    if base == "training_bytes" and not optimizers:
        raise InvalidArgumentError(f"quantity {name!r} needs an optimizer: training_bytes[bf16,adamw] "
                                   f"(one of {', '.join(OPTIMIZERS)})")  # fmt: skip
    mixed = "mixed" in options
    if mixed and base == "kv_cache_bytes":
        raise InvalidArgumentError(f"quantity {name!r}: a cache has no mixed precision; give its dtype, e.g. "
                                   "kv_cache_bytes[bf16]")  # fmt: skip
    dtype, optimizer, mixed = checked(dtypes[0] if dtypes else "fp32", optimizers[0] if optimizers else None, mixed)
    if dtype == "int4" or (optimizer or "").endswith("8bit"):
        raise InvalidArgumentError(f"quantity {name!r}: {dtype if dtype == 'int4' else optimizer} bytes are counted "
                                   "tensor by tensor, not as a formula of the sizes; use asw.memory(model)")  # fmt: skip
    return base, dtype, optimizer, mixed


def canonical(name: str) -> str | None:
    """A byte quantity's name in one spelling (``training_bytes[bf16,adamw,mixed]``), or None."""
    parsed = parse(name)
    if parsed is None:
        return None
    base, dtype, optimizer, mixed = parsed
    return f"{base}[{','.join([dtype, *([optimizer] if optimizer else []), *(['mixed'] if mixed else [])])}]"


def quantity(name: str, q: Any) -> Any:
    """A byte quantity of a layer's quantities ``q`` (numbers, or a formula's polynomials):
    :func:`of_tensors` of its tensors, as :func:`memory` counts a model's."""
    base, dtype, optimizer, mixed = parse(name)  # type: ignore[misc]  # a checked name
    if base == "kv_cache_bytes":
        return _element_bytes(q.kv_cache, dtype)
    t = q.tensors
    m = of_tensors(t.trainable, t.non_trainable, t.buffers, t.counters, dtype=dtype,
                   optimizer=None if base == "weight_bytes" else optimizer, mixed_precision=mixed)  # fmt: skip
    return m.weights + m.buffers if base == "weight_bytes" else m.total


def _element_bytes(n: int, dtype: str) -> int:
    return (n + 1) // 2 if dtype == "int4" else n * int(DTYPES[dtype])


def _state_bytes(n: int, optimizer: str, t: int) -> int:
    """One trainable tensor's optimizer state."""
    if optimizer == "sgd":
        return 0
    if optimizer == "momentum":
        return n * t
    if optimizer in ("adam", "adamw"):
        return 2 * n * t + 4
    if optimizer == "amsgrad":
        return 3 * n * t + 4
    return 8 * n if n < MIN_8BIT_SIZE else 2 * n + 8 * math.ceil(n / BLOCK_8BIT)


Pairs = tuple[tuple[Any, Any], ...] | list[tuple[Any, Any]]  # (elements, copies) of tensors, as ``_kinds.Tensors``


def of_tensors(trainable: Pairs, frozen: Pairs, buffers: Pairs, counters: Any, *, dtype: str, optimizer: str | None,
               mixed_precision: bool, kv_per_token: int = 0) -> Memory:  # fmt: skip
    """The itemised bytes of tensors given as (elements, copies) pairs, for checked names. The
    elements may be a formula's polynomials where no rule compares them (no int4, no 8-bit
    optimizer: :func:`parse` refuses those), which makes the byte quantities of a grid."""
    weights = sum(c * _element_bytes(n, dtype) for n, c in (*trainable, *frozen))
    floating = "fp32" if dtype in ("int8", "int4") else dtype  # buffers stay floating point
    held = sum(c * _element_bytes(n, floating) for n, c in buffers) + 8 * counters
    if optimizer is None:
        return Memory(weights, held, 0, 0, 0, _element_bytes(kv_per_token, dtype))
    t = 4 if mixed_precision else int(DTYPES[dtype])
    state = sum(c * _state_bytes(n, optimizer, t) for n, c in trainable)
    if optimizer.endswith("8bit") and any(c and n >= MIN_8BIT_SIZE for n, c in trainable):
        state += QMAPS_8BIT
    gradients = sum(c * _element_bytes(n, dtype) for n, c in trainable)
    master = 4 * sum(c * n for n, c in trainable) if mixed_precision else 0
    return Memory(weights, held, gradients, master, state, _element_bytes(kv_per_token, dtype))


def checked(dtype: Any, optimizer: Any, mixed_precision: Any) -> tuple[str, str | None, bool]:
    """The names as the rules know them, or a refusal naming the argument."""
    dtype = _choose("dtype", dtype, tuple(DTYPES), _DTYPE_NAMES)
    if optimizer is not None:
        optimizer = _choose("optimizer", optimizer, OPTIMIZERS, _OPTIMIZER_NAMES)
    if not isinstance(mixed_precision, bool):
        raise InvalidArgumentError(f"mixed_precision must be True or False, got {mixed_precision!r}")
    if mixed_precision and dtype not in ("fp16", "bf16"):
        raise InvalidArgumentError(f"mixed_precision keeps an fp32 master copy of fp16 or bf16 weights; "
                                   f"dtype is {dtype!r}")  # fmt: skip
    if optimizer is not None and dtype in ("int8", "int4"):
        raise InvalidArgumentError(f"{dtype} weights are not trained (no gradients): give optimizer=None, or a "
                                   "floating dtype")  # fmt: skip
    return dtype, optimizer, mixed_precision


def memory(model: Any, *, dtype: Any = "fp32", optimizer: Any = None, mixed_precision: Any = False) -> Memory:
    """The bytes of ``model`` (a single ``Model``) at ``dtype`` (fp64, fp32,
    fp16, bf16, fp8, int8, int4), itemised; with ``optimizer`` (sgd,
    momentum, adam, adamw, amsgrad, adam8bit, adamw8bit) also its gradients
    and optimizer state, and with ``mixed_precision`` an fp32 master copy.
    See the module docstring (and the README) for every term."""
    from ._model import Model

    if not isinstance(model, Model):
        raise InvalidArgumentError(f"memory takes a Model, got {type(model).__name__}")
    model._concrete("memory()")
    dtype, optimizer, mixed_precision = checked(dtype, optimizer, mixed_precision)
    held = [q.tensors for _, _, q in model._trace if q.tensors is not None]
    return of_tensors([p for t in held for p in t.trainable], [p for t in held for p in t.non_trainable],
                      [p for t in held for p in t.buffers], sum(int(t.counters) for t in held), dtype=dtype,
                      optimizer=optimizer, mixed_precision=mixed_precision,
                      kv_per_token=sum(int(q.kv_cache) for _, _, q in model._trace))  # fmt: skip


__all__ = ["Memory", "memory"]
