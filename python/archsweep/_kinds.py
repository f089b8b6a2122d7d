"""Layer kinds as data: one entry per kind, holding everything archsweep
knows of it: its names (its own, its Keras class, its PyTorch classes), its
arguments (sizes and options, with defaults, domains and the conventions they
apply under), the constraints between them, and its formula.

A formula is written once, as ordinary arithmetic on the kind's arguments,
and gives every quantity of one configuration: ``trainable`` and
``non_trainable`` weights (Keras' split; ``params`` is their sum, what
``count_params()`` reports) and ``buffers`` (PyTorch's non-parameter state:
running statistics). Under ``torch`` every parameter is trainable.

The formulas use only ``+``, ``*`` and :func:`quotient` on sizes, and decide
on options alone (never on a size's value), so each one is a polynomial with
non-negative integer coefficients in its sizes: it never decreases as a size
grows, and it is largest at the sizes' maxima. ``tests/test_kinds.py``
checks this for every kind and every option, and checks every formula
against the real frameworks' counts (``tests/data/*_catalogue.jsonl``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ._errors import ArgumentTypeError, InvalidArgumentError
from ._poly import offset, quotient

REQUIRED = object()  # the default of an argument the user must give


# NamedTuples, not dataclasses: the registry is read at start-up, and a
# dataclass costs a millisecond to define.
class Arg(NamedTuple):
    """One argument of a kind.

    ``type`` is ``"size"`` (a whole number >= ``minimum``; ``nullable``: None
    allowed, with the meaning the kind gives it), ``"flag"`` (a bool) or
    ``"kernel"`` (one size per spatial dimension: an int is square).
    ``conventions``: where the argument exists (None: under every convention
    of the kind); elsewhere only its default is accepted."""

    name: str
    type: str
    default: Any = REQUIRED
    minimum: int = 1
    nullable: bool = False
    conventions: frozenset[str] | None = None
    doc: str = ""
    compute: bool = False  # read by compute quantities only (a sequence's length), not by weights

    def applies(self, convention: str) -> bool:
        return self.conventions is None or convention in self.conventions


class Needs(NamedTuple):
    """A compute quantity that cannot be known without an argument the call
    left at None (an LSTM's FLOPs without ``length``, a conv's without its
    ``input_size``): asking for it is refused, naming the argument."""

    name: str
    doc: str


class Tensors(NamedTuple):
    """A layer's weight tensors as ``(numel, copies)`` pairs, which memory
    counts tensor by tensor (Adam keeps a step counter per tensor; 8-bit
    optimizers keep small tensors in 32 bits): ``trainable`` and
    ``non_trainable`` weights, PyTorch's floating-point ``buffers``, and its
    int64 scalar ``counters`` (BatchNorm's ``num_batches_tracked``)."""

    trainable: tuple[tuple[Any, Any], ...] = ()
    non_trainable: tuple[tuple[Any, Any], ...] = ()
    buffers: tuple[tuple[Any, Any], ...] = ()
    counters: Any = 0


def _total(pairs: tuple[tuple[Any, Any], ...]) -> Any:
    total: Any = 0
    for numel, copies in pairs:
        total = total + numel * copies
    return total


class Quantities(NamedTuple):
    """One configuration's counts, summed from its ``tensors``. Weights:
    ``trainable``, ``non_trainable`` and PyTorch's ``buffers``. Compute, for one sample (one sequence), in
    multiply-accumulates of matmuls, convolutions and attention products as
    PyTorch's ``FlopCounterMode`` counts them (``flops`` is twice ``macs``):
    ``macs`` forward; ``grad_macs`` the backward pass but for the gradient
    of the layer's input, ``input_grad_macs`` that gradient (a model's first
    layer has none). ``elementwise``: the forward FLOPs FlopCounterMode leaves
    out (bias adds, gates, norms, softmax), one per element of each pointwise
    op and per input element of each reduction, as PyTorch decomposes the
    layer (``tools/make_elementwise_fixture.py``); ``all_flops`` adds it to ``flops``. ``embedding``: the weights of
    embedding tables (what ``transformers``' ``num_parameters(exclude_embeddings=True)``
    leaves out); ``kv_cache``: the elements of keys and values an attention
    layer caches per token."""

    trainable: int
    non_trainable: int = 0
    buffers: int = 0
    macs: int | Needs = 0
    grad_macs: int | Needs = 0
    input_grad_macs: int | Needs = 0
    elementwise: int | Needs = 0
    embedding: int = 0
    kv_cache: int = 0
    tensors: Tensors | None = None

    @classmethod
    def of(cls, tensors: Tensors, macs: Any = 0, grad_macs: Any = 0, input_grad_macs: Any = 0,
           elementwise: Any = 0, *, embedding: Any = 0, kv_cache: Any = 0) -> Quantities:  # fmt: skip
        return cls(_total(tensors.trainable), _total(tensors.non_trainable), _total(tensors.buffers)
                   + tensors.counters, macs, grad_macs, input_grad_macs, elementwise, embedding, kv_cache,
                   tensors)  # fmt: skip

    @property
    def params(self) -> int:
        return self.trainable + self.non_trainable


class Rule(NamedTuple):
    """A constraint between two sizes: ``divides`` (``small`` divides
    ``large``) or ``less`` (``small < large``), under ``conventions`` (None:
    all). The blamed argument is ``small``. A kernel reads the same rules, so
    a point that breaks one is skipped by a sweep and refused by a count."""

    test: str  # "divides" or "less"
    small: str
    large: str
    conventions: frozenset[str] | None = None

    def holds(self, values: Mapping[str, Any]) -> bool:
        a, b = values[self.small], values[self.large]
        return b % a == 0 if self.test == "divides" else a < b

    def allowed(self) -> str:
        verb = "divide" if self.test == "divides" else "be less than"
        return f"{self.small} must {verb} {self.large}"


# id(a kind's args) -> (the args, kept alive so that their id is not reused; name -> arg): Kind.arg is
# read for every operand of every call.
_ARG_INDEX: dict[int, tuple[tuple[Arg, ...], dict[str, Arg]]] = {}


class Kind(NamedTuple):
    name: str
    names: tuple[str, ...]  # other names it answers to: Keras and PyTorch class names, aliases
    conventions: tuple[str, ...]
    args: tuple[Arg, ...]
    formula: Callable[..., Quantities]  # formula(convention, **values)
    rules: tuple[Rule, ...] = ()
    rank: int = 0  # spatial dimensions of a kernel
    # Flags the formula reads that follow from a size's value (PyTorch's LSTM
    # has a projection when proj_size > 0): within one value of each, the
    # formula is one polynomial.
    cases: tuple[tuple[str, Callable[[Mapping[str, Any]], bool]], ...] = ()

    def arg(self, name: str) -> Arg | None:
        entry = _ARG_INDEX.get(id(self.args))
        if entry is None:
            if len(_ARG_INDEX) >= 4096:
                _ARG_INDEX.clear()
            entry = _ARG_INDEX[id(self.args)] = (self.args, {a.name: a for a in self.args})
        return entry[1].get(name)

    def defaults(self) -> dict[str, Any]:
        return {a.name: a.default for a in self.args}

    def rules_under(self, convention: str) -> tuple[Rule, ...]:
        """The rules that hold under ``convention``: the rule's own conventions
        have it, and so does the argument it constrains."""
        return tuple(r for r in self.rules if (r.conventions is None or convention in r.conventions)
                     and self.arg(r.small).applies(convention))  # type: ignore[union-attr]  # fmt: skip


SIZE = "size"
FLAG = "flag"
KERNEL = "kernel"
KERAS, TORCH, TF1 = "keras", "torch", "tf1"
ONLY_KERAS, ONLY_TORCH = frozenset({KERAS}), frozenset({TORCH})


def _f(doc: str = "input width: features, channels") -> Arg:
    return Arg("n_features", SIZE, doc=doc)


def _u(doc: str = "units, filters or hidden size") -> Arg:
    return Arg("n_units", SIZE, doc=doc)


_BIAS = Arg("bias", FLAG, True, doc="with bias vectors")
# The sizes compute depends on and weights do not: None (their default) leaves the compute unknown.
_LENGTH = Arg("length", SIZE, None, nullable=True, doc="time steps or tokens per sample", compute=True)
_POSITIONS = Arg("positions", SIZE, None, nullable=True,
                 doc="output positions per sample, the product of the output's spatial sizes (of the input's, "
                     "for a transposed conv); count and sweep also take input_size, strides, padding and dilation "
                     "", compute=True)  # fmt: skip
NEEDS_POSITIONS = Needs("input_size", "the input's spatial size (or positions, the output positions per sample)")
NEEDS_LENGTH = Needs("length", "the time steps or tokens per sample")
NEEDS_OUTPUT = Needs("input_size", "the input's spatial size with strides and padding (or output_positions, the "
                     "output positions per sample, where the bias is added)")
NEEDS_NORM = Needs("positions", "the vectors normalized per sample, the product of the input's axes but the features")
_OUTPUT_POSITIONS = Arg("output_positions", SIZE, None, nullable=True,
                        doc="a transposed conv's output positions per sample (its bias is added there); count and "
                            "sweep also take input_size, strides, padding, dilation and output_padding",
                        compute=True)  # fmt: skip
_NORM_POSITIONS = Arg("positions", SIZE, None, nullable=True,
                      doc="vectors normalized per sample: the product of the input's axes but the features (tokens, "
                          "spatial positions)", compute=True)  # fmt: skip


def _times(factor: Any, needs: Needs, *terms: Any) -> tuple[Any, ...]:
    """Each of ``terms`` times ``factor``, or ``needs`` for all of them when the factor is unknown."""
    return tuple(needs if factor is None else factor * t for t in terms)

_GROUPS = Arg("groups", SIZE, 1, doc="channel groups: must divide n_features and n_units")
_DIVIDES_F = Rule("divides", "groups", "n_features")
_DIVIDES_U = Rule("divides", "groups", "n_units")


# -- dense and convolutions ----------------------------------------------------------------------------------------


def _dense(convention, n_features, n_units, bias, length):
    # One vector, or a sequence of length vectors (Linear on a 3-D input). Each
    # of forward, weight gradient and input gradient is one f×u matmul a token.
    tokens = 1 if length is None else length
    macs = tokens * n_features * n_units
    return Quantities.of(Tensors(((n_features * n_units, 1), (n_units, bias))), macs, macs, macs,
                         tokens * n_units * bias)  # fmt: skip


def _conv(convention, n_features, n_units, kernel, bias, groups, positions):
    # FlopCounterMode: each output position multiplies the kernel with n_features/groups
    # channels for each of n_units. Its weight gradient counts n_features for every
    # group instead (groups times the true work); archsweep counts as it does (README).
    k = math.prod(kernel)
    # Element-wise: the bias add at every output position.
    macs, grad, input_grad, add = _times(positions, NEEDS_POSITIONS, k * quotient(n_features, groups) * n_units,
                                         k * n_features * n_units, k * quotient(n_features, groups) * n_units,
                                         n_units * bias)  # fmt: skip
    return Quantities.of(Tensors(((k * quotient(n_features, groups) * n_units, 1), (n_units, bias))), macs, grad,
                         input_grad, add)  # fmt: skip


def _conv_transpose(convention, n_features, n_units, kernel, bias, groups, positions, output_positions):
    # PyTorch's weight is (in, out / groups, *kernel); Keras has no groups here. FlopCounterMode
    # counts a transposed conv at each *input* position, and its weight gradient as _conv's.
    k = math.prod(kernel)
    macs, grad, input_grad = _times(positions, NEEDS_POSITIONS, k * n_features * quotient(n_units, groups),
                                    k * n_features * n_units, k * n_features * quotient(n_units, groups))
    # The bias is added at each *output* position, which positions does not give.
    (add,) = _times(output_positions, NEEDS_OUTPUT, n_units) if bias else (0,)
    return Quantities.of(Tensors(((k * n_features * quotient(n_units, groups), 1), (n_units, bias))), macs, grad,
                         input_grad, add)  # fmt: skip


def _depthwise(convention, n_features, kernel, depth_multiplier, bias, positions):
    # PyTorch's equivalent: Conv with groups = n_features and n_features·depth_multiplier outputs.
    k, out = math.prod(kernel), n_features * depth_multiplier
    macs, grad, input_grad, add = _times(positions, NEEDS_POSITIONS, k * out, k * n_features * out, k * out,
                                         out * bias)  # fmt: skip
    return Quantities.of(Tensors(((k * out, 1), (out, bias))), macs, grad, input_grad, add)


def _separable(convention, n_features, n_units, kernel, depth_multiplier, bias, positions):
    # A depthwise conv, then a 1×1 conv from n_features·depth_multiplier channels to n_units;
    # the pointwise conv's input gradient is inside the layer (grad_macs).
    k, mid = math.prod(kernel), n_features * depth_multiplier
    # Keras' bias is the pointwise conv's alone.
    macs, grad, input_grad, add = _times(positions, NEEDS_POSITIONS, k * mid + mid * n_units,
                                         k * n_features * mid + 2 * mid * n_units, k * mid, n_units * bias)
    return Quantities.of(Tensors(((k * mid, 1), (mid * n_units, 1), (n_units, bias))), macs, grad, input_grad, add)


def _embedding(convention, n_features, n_units):
    return Quantities.of(Tensors(((n_features * n_units, 1),)), embedding=n_features * n_units)  # a lookup: no FLOPs


# -- recurrent -----------------------------------------------------------------------------------------------------

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
# A cell's element-wise ops per step and unit, bias adds apart, in each framework's own equations (README):
# PyTorch's decomposed cells (RNN: h-add, tanh; LSTM: gate add, 3 sigmoid, 2 tanh, 3 mul, 1 add per state
# unit ...), Keras 3's cells, TF1's BasicRNNCell, LSTMCell (with its forget_bias add) and GRUCell.
CELL_OPS = {TORCH: {1: 2, 4: 13, 3: 10}, KERAS: {1: 2, 4: 13, 3: 11}, TF1: {1: 1, 4: 10, 3: 8}}


def _recurrent(gates: int) -> Callable[..., Quantities]:
    def formula(convention, n_features, n_units, bias, bidirectional, reset_after=True, num_layers=1, proj_size=0,
                length=None, proj=False):  # fmt: skip
        d = 1 + bidirectional
        f, u = n_features, n_units
        if convention != TORCH:
            # Keras: per direction a kernel (f, gates·u), a recurrent kernel (u, gates·u) and a bias
            # (gates·u; a GRU with reset_after keeps two, one tensor). TF1 cells: one kernel (f + u,
            # gates·u) and a bias, a GRU's gates and candidate apart.
            vectors = 2 if (convention == KERAS and gates == 3 and reset_after) else 1
            if convention == KERAS:
                pairs = ((f * gates * u, d), (u * gates * u, d), (vectors * gates * u, d * bias))
            elif gates == 3:
                pairs = (((f + u) * 2 * u, d), (2 * u, d * bias), ((f + u) * u, d), (u, d * bias))
            else:
                pairs = (((f + u) * gates * u, d), (gates * u, d * bias))
            tensors = Tensors(pairs)
            if length is None:
                return Quantities.of(tensors, NEEDS_LENGTH, NEEDS_LENGTH, NEEDS_LENGTH, NEEDS_LENGTH)
            # PyTorch's matmuls of the same shapes. The state's gradient is taken at every step but
            # the first (the zero initial state), except where a GRU resets before its candidate
            # (Keras without reset_after, TF1): r·h is multiplied there, and r has a gradient at step 1.
            u, steps = n_units, offset(length, -1)
            reset_before = gates == 3 and (convention == TF1 or not reset_after)
            state = steps * 2 * u * u + length * u * u if reset_before else steps * gates * u * u
            macs = length * d * gates * (n_features * u + u * u)
            # Per step: the cell's ops and one add per bias vector element.
            # Keras' GRU with reset_after adds its two bias vectors even without bias (zeros).
            adds = bias or (convention == KERAS and gates == 3 and reset_after)
            elementwise = length * d * (CELL_OPS[convention][gates] * u + vectors * gates * u * adds)
            return Quantities.of(tensors, macs, macs + d * state, length * d * gates * n_features * u, elementwise)
        # PyTorch: per direction of each layer W_ih (gates·h × input), W_hh (gates·h × r), b_ih and
        # b_hh, and with a projection W_hr (p × h); r = p or h. Layer l > 0 reads d·r features.
        h = n_units
        r = proj_size if proj else h
        rest = offset(num_layers, -1)
        each = num_layers * d  # tensors of every layer and direction
        projection = ((proj_size * h, each),) if proj else ()
        tensors = Tensors(((gates * h * n_features, d), (gates * h * d * r, rest * d), (gates * h * r, each),
                           (gates * h, 2 * bias * each), *projection))  # fmt: skip
        if length is None:
            return Quantities.of(tensors, NEEDS_LENGTH, NEEDS_LENGTH, NEEDS_LENGTH, NEEDS_LENGTH)
        # Per step and direction: x·W_ih, r·W_hh and the projection h·W_hr. Backward: each weight's
        # gradient, the state's (every step but the first), the projection's input (every step), and
        # the input of layers after the first.
        step = gates * h * r + (proj_size * h if proj else 0)
        inner = gates * h * d * r
        macs = length * d * (gates * h * n_features + step) + offset(num_layers, -1) * length * d * (inner + step)
        grad = (macs + num_layers * d * (offset(length, -1) * gates * h * r + length * (proj_size * h if proj else 0))
                + offset(num_layers, -1) * length * d * inner)  # fmt: skip
        # Element-wise, per step, direction and layer: the cell's ops on the h-wide gates and b_ih, b_hh's
        # adds (the projection is a matmul).
        elementwise = num_layers * length * d * (CELL_OPS[TORCH][gates] * h + 2 * gates * h * bias)
        return Quantities.of(tensors, macs, grad, length * d * gates * h * n_features, elementwise)

    return formula


def _recurrent_kind(name: str, names: tuple[str, ...]) -> Kind:
    torch_stack = (
        Arg("num_layers", SIZE, 1, conventions=ONLY_TORCH, doc="stacked layers (PyTorch)"),
        *((Arg("proj_size", SIZE, 0, minimum=0, conventions=ONLY_TORCH, doc="LSTM projection, 0 for none"),)
          if name == "lstm" else ()),
    )  # fmt: skip
    reset = (Arg("reset_after", FLAG, True, conventions=ONLY_KERAS, doc="Keras GRU: two bias vectors"),)
    lstm = name == "lstm"
    rules = (Rule("less", "proj_size", "n_units", ONLY_TORCH),)
    # proj_size = 0 and proj_size > 0 are two formulas (r = h or r = p), as in PyTorch.
    cases = (("proj", lambda v: v["proj_size"] > 0),)
    return Kind(
        name, names, (KERAS, TORCH, TF1),
        (_f(), _u(), _BIAS, Arg("bidirectional", FLAG, False, doc="both directions: twice the weights"),
         *(reset if name == "gru" else ()), *torch_stack, _LENGTH),
        _recurrent(GATES[name]), rules if lstm else (), cases=cases if lstm else (),
    )  # fmt: skip


# -- normalization -------------------------------------------------------------------------------------------------


def _norm(positions: Any, per_position: Any, per_sample: Any = 0) -> Any:
    """A norm's element-wise FLOPs: ``per_position`` at each normalized vector, ``per_sample`` once a sample."""
    return NEEDS_NORM if positions is None else positions * per_position + per_sample


def _batchnorm(convention, n_features, center, scale, affine, track_running_stats, positions):
    f = n_features
    if convention == KERAS:  # gamma, beta trainable; moving mean and variance are non-trainable weights
        # Inference: x·inv + (beta - mean·inv), inv per channel (whatever center and scale say).
        return Quantities.of(Tensors(((f, center), (f, scale)), ((f, 2),)), elementwise=_norm(positions, 2 * f))
    # weight and bias are parameters; running mean, variance and num_batches_tracked are buffers. Eval:
    # (x - mean)·invstd, then ·weight + bias; without running statistics the batch's (var_mean) too.
    ops = 2 + 2 * affine + (0 if track_running_stats else 1)
    return Quantities.of(Tensors(((f, 2 * affine),), (), ((f, 2 * track_running_stats),), 1 * track_running_stats),
                         elementwise=_norm(positions, ops * f))  # fmt: skip


def _layernorm(convention, n_features, center, scale, rms_scaling, elementwise_affine, bias, positions):
    f = n_features
    if convention == KERAS:  # rms_scaling keeps gamma alone, whatever center and scale say
        tensors = Tensors(((f, 1),) if rms_scaling else ((f, center), (f, scale)))
        # Keras 3 (jax): moments by three sums, then x·inv + (beta - mean·inv), gamma and beta broadcast
        # to the vector; rms_scaling: x·rsqrt(var + eps)·gamma, whatever center and scale say.
        ops = 6 * f + 5 if rms_scaling else (7 + 1 * center + 2 * scale) * f + (7 if scale else 8)
        return Quantities.of(tensors, elementwise=_norm(positions, ops))
    # var_mean, + eps, rsqrt, - mean, · rstd; then · weight, + bias.
    ops = 3 * f + 2 + elementwise_affine * f + elementwise_affine * bias * f
    return Quantities.of(Tensors(((f, elementwise_affine), (f, elementwise_affine * bias))),
                         elementwise=_norm(positions, ops))  # fmt: skip


def _groupnorm(convention, n_features, groups, center, scale, affine, positions):
    f = n_features
    if convention == KERAS:
        # Keras' moments and normalization (3 sums, square, ...) at each element; its inv·gamma and
        # -mean·inv + beta per channel and sample, rsqrt and the like per group.
        ew = _norm(positions, 7 * f, (1 * center + 2 * scale) * f + (7 if scale else 8) * groups)
        return Quantities.of(Tensors(((f, center), (f, scale))), elementwise=ew)
    # var_mean, - mean, · rstd at each element, + eps and rsqrt per group; then · weight, + bias.
    return Quantities.of(Tensors(((f, 2 * affine),)), elementwise=_norm(positions, (3 + 2 * affine) * f, 2 * groups))


def _rmsnorm(convention, n_features, elementwise_affine, positions):
    # PyTorch: pow, mean, + eps, rsqrt, · rrms, · weight. Keras: square, sum, / n, + eps, rsqrt, · rrms, · scale.
    ops = 3 * n_features + 2 + elementwise_affine * n_features if convention == TORCH else 4 * n_features + 3
    return Quantities.of(Tensors(((n_features, elementwise_affine if convention == TORCH else 1),)),
                         elementwise=_norm(positions, ops))  # fmt: skip



# -- attention -----------------------------------------------------------------------------------------------------


def _mha(convention, n_features, num_heads, key_dim, value_dim, output_shape, kdim, vdim, bias, add_bias_kv,
         length, kv_length):  # fmt: skip
    packed = all(x is None or x is n_features or (isinstance(x, int) and x == n_features) for x in (kdim, vdim))
    kdim = n_features if kdim is None else kdim
    vdim = n_features if vdim is None else vdim
    if convention == TORCH:
        # q, k, v projections to embed_dim (one packed tensor when kdim = vdim = embed_dim), their
        # bias (3·e), the output projection and its bias, and bias_k, bias_v with add_bias_kv.
        e = n_features
        weights = ((3 * e * e, 1),) if packed else ((e * e, 1), (e * kdim, 1), (e * vdim, 1))
        tensors = Tensors((*weights, (3 * e, bias), (e * e, 1), (e, bias), (e, 2 * add_bias_kv)))
        # Compute: add_bias_kv adds one key and value to attend to.
        h, kd, vd, out, extra = 1, e, e, e, add_bias_kv
    else:
        # Keras: query, key and value projections to (num_heads, key_dim / value_dim), then an output
        # projection to output_shape (default: the query's width).
        vd = key_dim if value_dim is None else value_dim
        out = n_features if output_shape is None else output_shape
        h, kd, extra = num_heads, key_dim, 0
        tensors = Tensors(((n_features * h * kd, 1), (h * kd, bias), (kdim * h * kd, 1), (h * kd, bias),
                           (vdim * h * vd, 1), (h * vd, bias), (h * vd * out, 1), (out, bias)))  # fmt: skip
    kv_cache = h * (kd + vd)  # a token's projected key and value
    if length is None:
        return Quantities.of(tensors, NEEDS_LENGTH, NEEDS_LENGTH, NEEDS_LENGTH, NEEDS_LENGTH, kv_cache=kv_cache)
    # Query length L, key/value length S (kv_length; None: self-attention, S = L). Forward: the
    # three projections, the scores q·kᵀ and their product with v, the output projection.
    # Backward: each weight's gradient, both operands of the two attention products, the output
    # projection's input, and (input_grad) the inputs of the three projections.
    s = length if kv_length is None else kv_length
    projections = length * n_features * h * kd + s * kdim * h * kd + s * vdim * h * vd
    attention = length * (s + extra) * h * (kd + vd)
    output = length * h * vd * out
    macs = projections + attention + output
    scores = num_heads * length * (s + extra)
    if convention == TORCH:
        # The four projections' bias adds (each to embed_dim), q scaled by 1/sqrt(head size), the softmax
        # (amax, sub, exp, sum, div) and the mean of the weights over heads (need_weights).
        elementwise = 2 * n_features * (length + s) * bias + length * n_features + 6 * scores
    else:
        # The bias adds, the scores scaled, the softmax with its max against -inf once per query and head.
        elementwise = (h * (length * kd + s * kd + s * vd) + length * out) * bias + 6 * scores + num_heads * length
    return Quantities.of(tensors, macs, projections + 2 * attention + 2 * output, projections, elementwise,
                         kv_cache=kv_cache)  # fmt: skip


_MHA_ARGS = (
    Arg("n_features", SIZE, doc="query width (PyTorch: embed_dim)"),
    Arg("num_heads", SIZE),
    Arg("key_dim", SIZE, conventions=ONLY_KERAS, doc="Keras: size of each head for query and key"),
    Arg("value_dim", SIZE, None, nullable=True, conventions=ONLY_KERAS, doc="Keras: None means key_dim"),
    Arg("output_shape", SIZE, None, nullable=True, conventions=ONLY_KERAS, doc="Keras: None means n_features"),
    Arg("kdim", SIZE, None, nullable=True, doc="key input width; None means n_features"),
    Arg("vdim", SIZE, None, nullable=True, doc="value input width; None means n_features"),
    _BIAS,
    Arg("add_bias_kv", FLAG, False, conventions=ONLY_TORCH),
    Arg("length", SIZE, None, nullable=True, doc="query length: tokens per sample", compute=True),
    Arg("kv_length", SIZE, None, nullable=True, doc="key and value length; None means length", compute=True),
)


# -- transformer blocks --------------------------------------------------------------------------------------------

# Element-wise FLOPs of a block also depend on its activation and dropout, which the registry does not take.
NOT_DEFINED = Needs("", "the element-wise FLOPs of a transformer block are not defined (its activation and dropout "
                        "are not arguments)")  # fmt: skip


def _transformer(convention, n_features, num_heads, dim_feedforward, bias, norm_first, length, kv_length=None,
                 cross=False):  # fmt: skip
    # PyTorch's nn.TransformerEncoderLayer / DecoderLayer, or KerasHub's TransformerEncoder /
    # TransformerDecoder: self-attention (and, in a decoder, attention over the memory, kv_length
    # long), a feed-forward pair (d -> ff -> d), a LayerNorm after or before each; every piece as its
    # own kind counts it. KerasHub's heads are d / num_heads wide (num_heads divides d, so together
    # they are one d-wide head to every count), always with biases.
    d = n_features
    if convention == TORCH:
        attention = functools.partial(_mha, TORCH, d, num_heads, None, None, None, None, None, bias, False, length)
        norm = _layernorm(TORCH, d, True, True, False, True, bias, length)
    else:
        attention = functools.partial(_mha, KERAS, d, 1, d, None, None, None, None, True, False, length)
        norm = _layernorm(KERAS, d, True, True, False, True, True, length)
    self_attention = attention(None)
    attentions = (self_attention, attention(kv_length)) if cross else (self_attention,)
    feed_forward = (_dense(convention, d, dim_feedforward, bias, length),
                    _dense(convention, dim_feedforward, d, bias, length))  # fmt: skip
    parts = (*attentions, *feed_forward, *(norm,) * (2 + cross))
    tensors = Tensors(tuple(pair for q in parts for pair in q.tensors.trainable))  # type: ignore[union-attr]
    kv_cache = self_attention.kv_cache  # a decoder's memory is attended whole, not cached per token
    if length is None:
        return Quantities.of(tensors, NEEDS_LENGTH, NEEDS_LENGTH, NEEDS_LENGTH, NEEDS_LENGTH, kv_cache=kv_cache)
    # Backward: every piece's own, and the input gradients of the linears (and of the decoder's
    # query projection over x) inside the block. The block's input gradient is the memory's, through
    # the key and value projections, for a decoder, and the self-attention projections' -- unless
    # norm_first puts a LayerNorm with weights before them, whose output takes its gradient anyway.
    s = length if kv_length is None else kv_length
    macs = sum(q.macs for q in parts)  # type: ignore[misc]
    grad = sum(q.grad_macs for q in parts) + sum(q.input_grad_macs for q in feed_forward)  # type: ignore[misc]
    memory = 2 * s * d * d if cross else 0
    if cross:
        grad = grad + length * d * d
    if norm_first:
        grad, input_grad = grad + self_attention.input_grad_macs, memory
    else:
        input_grad = self_attention.input_grad_macs + memory
    return Quantities.of(tensors, macs, grad, input_grad, NOT_DEFINED, kv_cache=kv_cache)


def _transformer_kind(name: str, names: tuple[str, ...], cross: bool) -> Kind:
    memory = (Arg("kv_length", SIZE, None, nullable=True, doc="memory length; None means length", compute=True),)
    formula = functools.partial(_transformer, cross=cross)
    return Kind(name, names, (TORCH, KERAS),
                (Arg("n_features", SIZE, doc="d_model (KerasHub: the input's width)"),
                 Arg("num_heads", SIZE, doc="nhead: must divide n_features"),
                 Arg("dim_feedforward", SIZE, 2048, doc="KerasHub: intermediate_dim"),
                 _BIAS._replace(conventions=ONLY_TORCH),
                 Arg("norm_first", FLAG, False, doc="LayerNorms before attention and feed-forward (KerasHub: "
                                                    "normalize_first): which input gradients a first layer computes"),
                 Arg("length", SIZE, None, nullable=True, doc="tokens per sample (the target's, in a decoder)",
                     compute=True), *(memory if cross else ())),
                formula, (Rule("divides", "num_heads", "n_features"),))  # fmt: skip


# -- language models -----------------------------------------------------------------------------------------------


def _lm(convention, vocab_size, d_model, n_layers, n_heads, n_kv_heads, head_dim, d_ff, max_positions, embed_dim,
        gated, rms_norm, norm_bias, norm_affine, norms_per_layer, final_norm, qkv_bias, o_bias, mlp_bias, tied,
        qk_norm, qk_norm_per_head, fused_qkv, fused_gate_up, length):  # fmt: skip
    # A decoder-only language model as transformers builds it (tools/make_lm_fixture.py): token
    # embeddings (V × E, E = embed_dim or d_model; OPT projects E to d_model and back), learned
    # positions when max_positions is given, n_layers of attention (q: h·d, k and v: kv·d wide,
    # o back to d_model) and an MLP (gated: gate, up, down; else two linears), norms_per_layer norms
    # (RMSNorm: a weight; LayerNorm: weight and bias; none without norm_affine), q/k norms, a final
    # norm, and the lm_head unless tied. Every tensor with its copies, as memory counts them.
    V, H, N, h, kv, I = vocab_size, d_model, n_layers, n_heads, n_kv_heads, d_ff  # noqa: E741
    d = head_dim
    E = d_model if embed_dim is None else embed_dim
    norm = ((H, 1 * norm_affine), (H, norm_affine * (not rms_norm) * norm_bias))  # one norm's tensors
    if fused_qkv:
        attention = (((h + 2 * kv) * d * H, N), ((h + 2 * kv) * d, N * qkv_bias))
    else:
        attention = ((h * d * H, N), (kv * d * H, 2 * N), (h * d, N * qkv_bias), (kv * d, 2 * N * qkv_bias))
    attention += ((h * d * H, N), (H, N * o_bias))
    if not gated:
        mlp = ((I * H, 2 * N), (I, N * mlp_bias), (H, N * mlp_bias))
    elif fused_gate_up:
        mlp = ((2 * I * H, N), (2 * I, N * mlp_bias), (I * H, N), (H, N * mlp_bias))
    else:
        mlp = ((I * H, 3 * N), (I, 2 * N * mlp_bias), (H, N * mlp_bias))
    layer = (*attention, *mlp, *((n, norms_per_layer * N * c) for n, c in norm),
             (d, 2 * N * qk_norm), (d, (h + kv) * N * qk_norm_per_head))  # fmt: skip
    embeddings = ((V * E, 1), *(((max_positions * H, 1),) if max_positions is not None else ()))
    projections = ((E * H, 2),) if embed_dim is not None else ()
    tensors = Tensors((*embeddings, *projections, *layer, *((n, final_norm * c) for n, c in norm),
                       (V * E, 1 - tied)))  # fmt: skip
    embedding = sum(n * c for n, c in embeddings)  # nn.Embedding weights: what exclude_embeddings leaves out
    kv_cache = 2 * N * kv * d  # keys and values a token leaves in the cache
    if length is None:
        return Quantities.of(tensors, NEEDS_LENGTH, NEEDS_LENGTH, NEEDS_LENGTH, NEEDS_LENGTH, embedding=embedding,
                             kv_cache=kv_cache)  # fmt: skip
    # FlopCounterMode on a forward of T tokens: every projection at every token, the scores and their
    # product with the values for each of the h heads over the whole T × T (no causal halving; GQA's
    # keys and values are repeated to h heads), the lm_head at every position. Backward: each matmul's
    # weight and input gradients (both operands of the attention products); the token ids take none.
    T = length
    per_layer = T * (H * (h + 2 * kv) * d + h * d * H + (3 if gated else 2) * H * I) + 2 * h * T * T * d
    macs = N * per_layer + T * E * V + (2 * T * E * H if embed_dim is not None else 0)
    return Quantities.of(tensors, macs, 2 * macs, 0, NOT_DEFINED, embedding=embedding, kv_cache=kv_cache)


def _lm_kind() -> Kind:
    size, flag = (lambda name, default=REQUIRED, doc="", **kw: Arg(name, SIZE, default, doc=doc, **kw),
                  lambda name, default, doc="": Arg(name, FLAG, default, doc=doc))  # fmt: skip
    args = (
        size("vocab_size"), size("d_model", doc="hidden size"), size("n_layers"), size("n_heads"),
        size("n_kv_heads", doc="key/value heads: n_heads (MHA), a divisor (GQA), 1 (MQA)"),
        size("head_dim", doc="per head (often d_model / n_heads; Gemma: 256)"), size("d_ff", doc="MLP inner size"),
        size("max_positions", None, "learned position embeddings (GPT-2, OPT + 2); None for rotary or none",
             nullable=True),
        size("embed_dim", None, "OPT's word_embed_proj_dim, projected in and out; None means d_model", nullable=True),
        flag("gated", True, "a gated MLP (SwiGLU, GeGLU): gate, up, down; else two linears"),
        flag("rms_norm", True, "RMSNorm (a weight) rather than LayerNorm"),
        flag("norm_bias", True, "LayerNorm with a bias"), flag("norm_affine", True, "norms with weights (OLMo: none)"),
        size("norms_per_layer", 2, "norms in each layer (Gemma 2: 4; a parallel block: 1)", minimum=0),
        flag("final_norm", True, "a norm after the last layer"), flag("qkv_bias", False), flag("o_bias", False),
        flag("mlp_bias", False), flag("tied", False, "the lm_head is the token embedding"),
        flag("qk_norm", False, "RMSNorm of head_dim on queries and keys (Qwen3)"),
        flag("qk_norm_per_head", False, "a LayerNorm of head_dim per query and key head (StableLM)"),
        flag("fused_qkv", False, "one q/k/v tensor (GPT-2, GPT-NeoX, Falcon, Phi-3)"),
        flag("fused_gate_up", False, "one gate/up tensor (Phi-3)"),
        size("length", None, "tokens per sequence", nullable=True, compute=True),
    )  # fmt: skip
    return Kind("lm", ("language_model", "decoder_lm"), (TORCH,), args, _lm,
                (Rule("divides", "n_kv_heads", "n_heads"),))


# -- the registry --------------------------------------------------------------------------------------------------


def _conv_kind(rank: int) -> Kind:
    return Kind(f"conv{rank}d", (f"Conv{rank}D", f"Conv{rank}d"), (KERAS, TORCH, TF1),
                (_f(), _u(), Arg("kernel", KERNEL), _BIAS, _GROUPS, _POSITIONS), _conv, (_DIVIDES_F, _DIVIDES_U),
                rank)  # fmt: skip


def _transpose_kind(rank: int) -> Kind:
    groups = Arg("groups", SIZE, 1, conventions=ONLY_TORCH, doc=_GROUPS.doc)
    return Kind(f"conv{rank}d_transpose", (f"Conv{rank}DTranspose", f"ConvTranspose{rank}d"), (KERAS, TORCH),
                (_f(), _u(), Arg("kernel", KERNEL), _BIAS, groups, _POSITIONS, _OUTPUT_POSITIONS), _conv_transpose,
                (_DIVIDES_F, _DIVIDES_U), rank)  # fmt: skip


def _depthwise_kind(rank: int) -> Kind:
    return Kind(f"depthwise_conv{rank}d", (f"DepthwiseConv{rank}D",), (KERAS, TORCH),
                (_f(), Arg("kernel", KERNEL), Arg("depth_multiplier", SIZE, 1), _BIAS, _POSITIONS), _depthwise, (),
                rank)  # fmt: skip


def _separable_kind(rank: int) -> Kind:
    return Kind(f"separable_conv{rank}d", (f"SeparableConv{rank}D",), (KERAS,),
                (_f(), _u(), Arg("kernel", KERNEL), Arg("depth_multiplier", SIZE, 1), _BIAS, _POSITIONS), _separable,
                (),
                rank)  # fmt: skip


_CENTER_SCALE = (Arg("center", FLAG, True, conventions=ONLY_KERAS), Arg("scale", FLAG, True, conventions=ONLY_KERAS))

KINDS: tuple[Kind, ...] = (
    Kind("dense", ("Dense", "Linear"), (KERAS, TORCH, TF1), (_f(), _u(), _BIAS, _LENGTH), _dense),
    *(_conv_kind(r) for r in (1, 2, 3)),
    _recurrent_kind("rnn", ("SimpleRNN", "simple_rnn", "RNN")),
    _recurrent_kind("lstm", ("LSTM",)),
    _recurrent_kind("gru", ("GRU",)),
    *(_depthwise_kind(r) for r in (1, 2)),
    *(_separable_kind(r) for r in (1, 2)),
    *(_transpose_kind(r) for r in (1, 2, 3)),
    Kind("embedding", ("Embedding",), (KERAS, TORCH, TF1),
         (_f("vocabulary size: input_dim, num_embeddings"), _u("vector size: output_dim, embedding_dim")),
         _embedding),
    Kind("batchnorm", ("BatchNormalization", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d"), (KERAS, TORCH),
         (_f("channels"), *_CENTER_SCALE, Arg("affine", FLAG, True, conventions=ONLY_TORCH),
          Arg("track_running_stats", FLAG, True, conventions=ONLY_TORCH), _NORM_POSITIONS), _batchnorm),
    Kind("layernorm", ("LayerNormalization", "LayerNorm"), (KERAS, TORCH),
         (_f("normalized width"), *_CENTER_SCALE, Arg("rms_scaling", FLAG, False, conventions=ONLY_KERAS),
          Arg("elementwise_affine", FLAG, True, conventions=ONLY_TORCH),
          Arg("bias", FLAG, True, conventions=ONLY_TORCH), _NORM_POSITIONS), _layernorm),
    Kind("groupnorm", ("GroupNormalization", "GroupNorm"), (KERAS, TORCH),
         (_f("channels"), Arg("groups", SIZE, doc="groups of channels: must divide n_features"), *_CENTER_SCALE,
          Arg("affine", FLAG, True, conventions=ONLY_TORCH), _NORM_POSITIONS), _groupnorm, (_DIVIDES_F,)),
    Kind("rmsnorm", ("RMSNormalization", "RMSNorm"), (KERAS, TORCH),
         (_f("normalized width"), Arg("elementwise_affine", FLAG, True, conventions=ONLY_TORCH), _NORM_POSITIONS),
         _rmsnorm),
    Kind("mha", ("MultiHeadAttention", "MultiheadAttention", "attention"), (KERAS, TORCH), _MHA_ARGS, _mha,
         (Rule("divides", "num_heads", "n_features", ONLY_TORCH),)),
    _transformer_kind("transformer_encoder", ("TransformerEncoderLayer", "TransformerEncoder"), cross=False),
    _transformer_kind("transformer_decoder", ("TransformerDecoderLayer", "TransformerDecoder"), cross=True),
    _lm_kind(),
)  # fmt: skip

BY_NAME: Mapping[str, Kind] = {k.name: k for k in KINDS}
# Every name a kind answers to, folded to lower case with "_" removed, so
# "Conv2DTranspose", "conv2d_transpose" and "ConvTranspose2d" all find it.
_LOOKUP: dict[str, Kind] = {}
for _kind in KINDS:
    for _name in (_kind.name, *_kind.names):
        _LOOKUP.setdefault(_name.lower().replace("_", ""), _kind)


def find(name: str) -> Kind | None:
    """The kind ``name`` stands for (case-insensitive, underscores ignored), or None."""
    return _LOOKUP.get(name.strip().lower().replace("_", ""))


def all_names() -> list[str]:
    return [k.name for k in KINDS]


def evaluate(kind: Kind, convention: str, values: Mapping[str, Any]) -> Quantities:
    """Every quantity of one configuration, exactly (Python ints). ``values``
    holds the kind's arguments (missing ones take their defaults); the
    caller has checked them (see :func:`check`)."""
    given = kind.defaults() | dict(values)
    if kind.rank and not isinstance(given["kernel"], tuple):
        given["kernel"] = (given["kernel"],) * kind.rank  # an int is square, as Keras reads it
    # An argument that does not apply under the convention holds its default (None if it has none).
    chosen = {a.name: None if given[a.name] is REQUIRED else given[a.name] for a in kind.args}
    return kind.formula(convention, **chosen, **{name: test(given) for name, test in kind.cases})


def validate(kind: Kind, convention: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """One configuration's arguments checked against the kind, completed with
    defaults: a refusal names the argument, what it got and what is allowed.
    Sizes are read exactly (``_args.scalar_size``); kernels are an int or a
    tuple of one size per dimension."""
    from . import _args  # numpy-backed; the registry itself needs none

    if convention not in kind.conventions:
        raise InvalidArgumentError(
            f"{kind.name} has no {convention!r} convention; it has {', '.join(kind.conventions)}"
        )
    names = [a.name for a in kind.args]
    for name in values:
        if name not in names:
            raise InvalidArgumentError(f"{name} is not an argument of {kind.name}; it takes {', '.join(names)}")
    out: dict[str, Any] = {}
    for arg in kind.args:
        value = values.get(arg.name, arg.default)
        if not arg.applies(convention):
            if arg.name in values and value != arg.default:
                where = " or ".join(sorted(arg.conventions or ()))
                raise InvalidArgumentError(
                    f"{arg.name} applies to {kind.name} only under convention {where}, not {convention!r} "
                    f"(got {arg.name}={value!r})"
                )
            out[arg.name] = arg.default
            continue
        if value is REQUIRED:
            raise ArgumentTypeError(f"{arg.name} is required for {kind.name}")
        if arg.type == FLAG:
            if not isinstance(value, bool):
                raise ArgumentTypeError(f"{arg.name} must be True or False, got {value!r}")
        elif arg.type == KERNEL:
            dims = value if isinstance(value, tuple) else (value,) * kind.rank
            if len(dims) != kind.rank:
                raise InvalidArgumentError(
                    f"kernel {value!r} has {len(dims)} entries; {kind.name} takes an int or a tuple of {kind.rank}"
                )
            value = tuple(_args.scalar_size(f"kernel[{i}]", d, minimum=1) for i, d in enumerate(dims))
        elif not (value is None and arg.nullable):
            value = _args.scalar_size(arg.name, value, minimum=arg.minimum)
        out[arg.name] = value
    broken = check(kind, convention, out)
    if broken:
        got = ", ".join(f"{n}={out[n]!r}" for n in (broken.small, broken.large))
        raise InvalidArgumentError(f"{broken.allowed()} ({kind.name}: got {got})")
    return out


def check(kind: Kind, convention: str, values: Mapping[str, Any]) -> Rule | None:
    """The first rule ``values`` break under ``convention``, or None."""
    return next((rule for rule in kind.rules_under(convention) if not rule.holds(values)), None)


__all__ = ["Arg", "Kind", "KINDS", "Quantities", "REQUIRED", "Rule", "check", "evaluate", "find", "validate"]
