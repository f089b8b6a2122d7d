"""``count_params`` and ``count``: one layer kind's count over broadcast
arguments. ``count`` takes any kind of the registry (``_kinds``) and any
quantity, through the kernel's algebra (``_algebra``); ``count_params`` is
``count`` of ``params`` with 0.1's options by name. Plain scalars go through
the kind's formula written out in Python (``_algebra.scalar_function``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np

from . import _args
from ._backend import KERNEL_ERRORS, MODULES, core
from ._errors import ArchsweepError, ArgumentTypeError, InvalidArgumentError, ParamOverflowError
from ._names import CONVENTIONS, _choose, convention_name

if TYPE_CHECKING:
    from . import _algebra, _kinds

def kernel_dims(layer: str, rank: int, kernel: Any) -> list[np.ndarray]:
    """``kernel`` as one operand per dimension of a ``rank``-dimensional
    ``layer``, read by ``_args.kernels`` (the rule sweep shares): an int or
    array is square kernels, a tuple one kernel (entries may be arrays), a
    list a collection of kernels, which becomes one array of shape (n,) per
    dimension."""
    if kernel is None:
        raise InvalidArgumentError(
            f"kernel is required for {layer}: an int (the same size in every dimension) or a tuple of {rank}"
        )
    read = _args.kernels(kernel)
    for k in read if isinstance(read, list) else [read]:
        if k.rank not in (0, rank):
            raise InvalidArgumentError(
                f"kernel {k.written!r} has {k.rank} entries; {layer} takes a tuple of {rank} "
                "(one per dimension) or a single int"
            )
    if isinstance(read, list):
        return [np.array([k.dims(rank)[d] for k in read], dtype=np.int64).reshape(-1) for d in range(rank)]
    return list(read.dims(rank))


# (layer, convention, quantity, backend, seed) as the caller wrote them -> the kind's scalar function
_SCALAR: dict[tuple[Any, Any, Any, Any, bool], Callable[..., int | None] | None] = {}


def scalar_function(layer: Any, convention: Any, quantity: Any, backend: Any,
                    seed: bool = False) -> Callable[..., int | None] | None:  # fmt: skip
    """The scalar function (``_algebra.scalar_function``) of the kind ``layer``
    names, cached by the names as written, or None when a name is not one or
    ``backend`` names no core (the general path then refuses it, naming the
    closest). Every core gives the same exact ints, so a scalar needs none."""
    try:
        return _SCALAR[(layer, convention, quantity, backend, seed)]
    except KeyError:
        pass
    except TypeError:  # a name that cannot be hashed: no string
        return None
    if not all(type(v) is str for v in (layer, quantity)) or not (convention is None or type(convention) is str) \
            or backend not in MODULES:  # fmt: skip
        return None
    from . import _algebra, _kinds  # the registry: not read by import archsweep

    kind = _kinds.find(layer)
    if kind is None:
        return None
    name = kind.conventions[0] if convention is None else convention.strip().lower()
    if name not in kind.conventions or quantity not in _algebra.QUANTITIES:
        return None
    fn = _algebra.scalar_function(kind, name, quantity, seed)
    if len(_SCALAR) < 4096:  # spellings are few; a loop over made-up names must not grow it forever
        _SCALAR[(layer, convention, quantity, backend, seed)] = fn
    return fn


def count_params(
    layer: str,
    n_features: Any = None,
    n_units: Any = None,
    *,
    kernel: Any = None,
    bias: Any = True,
    bidirectional: Any = False,
    convention: str | None = None,
    reset_after: Any = None,
    groups: Any = 1,
    backend: str = "auto",
    out: np.ndarray | None = None,
    **arguments: Any,
) -> int | np.ndarray:
    """The exact parameter count of a ``layer`` with ``n_features`` inputs and ``n_units`` units.

    Every numeric argument (and ``bias``, ``bidirectional``, ``reset_after``)
    may be a scalar or array-like; arrays broadcast as numpy does. All scalars
    give a Python ``int``; any array gives a numpy int64 array of the
    broadcast shape. ``out``, a C-contiguous int64 array of that shape,
    receives the counts instead of a new array (and is returned).

    >>> count_params("lstm", n_features=32, n_units=64)
    24832
    >>> count_params("gru", 32, 64, convention="tf1")
    18624

    This is :func:`count` with ``quantity="params"`` and 0.1's options by
    name; any kind of the registry and its own arguments (``num_layers``,
    ``proj_size``, ``num_heads``) are taken as ``count`` takes them.
    """
    if out is None and not arguments:  # plain scalars; None leaves the call to the path below, which says why
        try:  # the cache read inline: this is the call section 5 of benches/README.md times
            fn = _SCALAR[(layer, convention, "params", backend, True)]
        except (KeyError, TypeError):
            fn = scalar_function(layer, convention, "params", backend, seed=True)
        if fn is not None and (value := fn(n_features, n_units, kernel, bias, bidirectional, reset_after,
                                           groups)) is not None:  # fmt: skip
            return value
    kind = kind_of(layer)  # refuses an unknown name, naming every kind and the closest
    options = seed_options(kind, kernel=kernel, bias=bias, bidirectional=bidirectional,
                           reset_after=reset_after, groups=groups)  # fmt: skip
    return count(layer, n_features, n_units, convention=convention, backend=backend, out=out, **options,
                 **arguments)  # fmt: skip


# count_params' own options and their defaults (the seed kinds' options).
SEED_DEFAULTS = {"kernel": None, "bias": True, "bidirectional": False, "reset_after": None, "groups": 1}


def seed_options(kind: _kinds.Kind | None, **values: Any) -> dict[str, Any]:
    """The seed options of ``values`` to hand to :func:`count` for ``kind``:
    those the kind has, and those given another value than their default (a
    default, or None, says nothing, so a kind without the option accepts it so)."""
    return {n: v for n, v in values.items()
            if (kind is not None and kind.arg(n) is not None) or not (v is None or _same(v, SEED_DEFAULTS[n]))}  # fmt: skip


def _same(value: Any, default: Any) -> bool:
    return value is default or (type(value) is type(default) and value == default)


def _check_out(out: Any, shape: tuple[int, ...]) -> None:
    if not isinstance(out, np.ndarray):
        raise ArgumentTypeError(f"out must be a numpy int64 array of shape {shape}, got {type(out).__name__}")
    problems = [
        f"dtype {out.dtype} (needs int64)" if out.dtype != np.int64 else "",
        f"shape {out.shape} (needs {shape})" if out.shape != shape else "",
        "not C-contiguous" if not out.flags.c_contiguous else "",
        "read-only" if not out.flags.writeable else "",
    ]
    problems = [p for p in problems if p]
    if problems:
        raise InvalidArgumentError(f"out must be a writeable C-contiguous int64 array of shape {shape}; it is "
                                   + ", ".join(problems))  # fmt: skip


# -- any registered kind, any quantity -----------------------------------------------------------------------------

_MISSING = object()
# An int64 array of sizes at least this long has its minimum checked by the kernel, on the pass that
# reads its extremes anyway, instead of by one more pass here (80 MB at 1e7 values).
_FLOOR_LATER = 1 << 16


def kind_of(layer: Any, argument: str = "layer") -> _kinds.Kind:
    """The registered kind ``layer`` names (its name, Keras or PyTorch class name, any case)."""
    from . import _kinds  # the registry: not read by import archsweep

    kind = _kinds.find(layer) if isinstance(layer, str) else None
    if kind is None:  # _choose refuses it, with the closest name
        aliases = {n.lower(): k.name for k in _kinds.KINDS for n in k.names}
        return _kinds.BY_NAME[_choose(argument, layer, tuple(_kinds.all_names()), aliases)]
    return kind


def sizes_given(n_features: Any, n_units: Any, arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments with the two size axes that may come by position (None: not given)."""
    given = dict(arguments)
    for name, value in (("n_features", n_features), ("n_units", n_units)):
        if value is not None:
            given[name] = value
    return given


def count(
    layer: str,
    n_features: Any = None,
    n_units: Any = None,
    *,
    quantity: str = "params",
    convention: str | None = None,
    backend: str = "auto",
    out: np.ndarray | None = None,
    **arguments: Any,
) -> int | np.ndarray:
    """One quantity of any registered layer kind: ``params`` (what Keras'
    ``count_params()`` reports; under ``torch``, ``sum(p.numel() for p in
    m.parameters())``), ``trainable``, ``non_trainable`` (Keras' moving
    statistics) or ``buffers`` (PyTorch's running statistics).

    The kind's own arguments are keywords (``num_heads=8``, ``proj_size=64``,
    ``center=False``); ``n_features`` and ``n_units`` may also be given by
    position. Every argument may be a scalar or array-like; arrays broadcast
    as numpy does; all scalars give an ``int``, any array an int64 array.

    >>> count("batchnorm", 64, quantity="non_trainable")
    128
    >>> count("lstm", 32, 64, num_layers=2, proj_size=16, convention="torch")
    23552
    """
    if out is None and (fn := scalar_function(layer, convention, quantity, backend)) is not None:
        try:  # as count_params
            value = fn(n_features, n_units, **arguments)
        except TypeError:
            value = None
        if value is not None:
            return value
    from . import _algebra, _window  # the registry: not read by import archsweep

    module = core(backend)
    kind = kind_of(layer)
    convention = kind.conventions[0] if convention is None else convention_name(convention)
    if convention not in kind.conventions:
        raise InvalidArgumentError(
            f"{kind.name} has no {convention!r} convention; it has {', '.join(kind.conventions)}"
        )
    quantity = _algebra.quantity_name(quantity)
    given = _window.take(kind, convention, sizes_given(n_features, n_units, arguments))
    deferred: dict[str, tuple[np.ndarray, int]] = {}
    arrays, scalar = _kind_operands(kind, convention, given, deferred)
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{n} {a.shape}" for n, a in arrays.items() if a.shape)
        raise InvalidArgumentError(f"arguments do not broadcast together: {shapes}") from None
    compiled = _algebra.compile(kind, arrays, [quantity])
    if out is None:
        result = np.empty(shape, dtype=np.int64)
    else:
        _check_out(out, shape)
        compiled.operands = [op.copy() if np.may_share_memory(op, out) else op for op in compiled.operands]
        result = out
    names = list(compiled.operand_of)  # the kind's operands, in order (the derived ones follow)
    floors = [deferred[n][1] if n in deferred else 0 for n in names] if deferred else None
    try:
        module.poly_count(
            list(shape), compiled.operands, compiled.factors, compiled.polynomials, [result], floors, mapped=out is not None
        )
    except KERNEL_ERRORS as exc:
        subject = exc.args[3] if exc.args[0] in ("floor", "operand") else None
        if subject is not None and subject < len(names) and names[subject] in deferred:
            # A deferred size below its minimum (or negative): refused as the reader refuses it.
            name = names[subject]
            _args.sizes(name, deferred[name][0], minimum=deferred[name][1])
        _kind_error(exc, kind, [quantity], compiled, shape)
    return int(result[()]) if scalar and out is None else result


def count_flops(layer: str, n_features: Any = None, n_units: Any = None, *, training: bool = False,
                elementwise: bool = False, **arguments: Any) -> int | np.ndarray:
    """FLOPs for one sample as PyTorch's ``FlopCounterMode`` counts them:
    :func:`count` of ``flops``, or with ``training`` of ``training_flops``
    (forward and backward, the layer's input with its gradient). With
    ``elementwise``, :func:`count` of ``all_flops``: the forward FLOPs and
    the element-wise ones FlopCounterMode leaves out (bias adds, gates,
    norms, softmax; forward only).

    >>> count_flops("lstm", 128, 256, length=100, convention="torch")
    78643200
    """
    check_flops_options(training, elementwise)
    quantity = "all_flops" if elementwise else "training_flops" if training else "flops"
    return count(layer, n_features, n_units, quantity=quantity, **arguments)


def check_flops_options(training: Any, elementwise: Any) -> None:
    """count_flops' flags: bools, and not both (the element-wise count is of the forward pass)."""
    for name, value in (("training", training), ("elementwise", elementwise)):
        if not isinstance(value, bool):
            raise ArgumentTypeError(f"{name} must be True or False, got {value!r}")
    if training and elementwise:
        raise InvalidArgumentError("elementwise=True counts the forward pass only; it cannot be combined with "
                                   "training=True (the backward pass's element-wise ops are not defined here)")


def _kind_operands(kind: _kinds.Kind, convention: str, given: dict[str, Any],
                   deferred: dict[str, tuple[np.ndarray, int]]) -> tuple[dict[str, np.ndarray], bool]:  # fmt: skip
    """Every operand of ``kind`` (see ``_algebra.operand_names``) from the
    arguments given, each checked by the kind's entry: an argument it does
    not have, or one it has only under another convention given a value
    other than its default, is refused. Also: whether every value was a
    plain scalar (the call then gives an int). ``deferred`` receives the
    sizes whose minimum the kernel checks: name -> (array, minimum)."""
    from . import _algebra, _kinds  # the registry: not read by import archsweep

    names = [a.name for a in kind.args]
    for name in given:
        if name not in names:
            takes = ", ".join(a.name for a in kind.args if a.applies(convention))
            raise InvalidArgumentError(
                f"{name} is not an argument of {kind.name}; under convention={convention!r} it takes {takes}"
            )
    arrays: dict[str, np.ndarray] = {"convention": np.asarray(CONVENTIONS.index(convention), dtype=np.int64)}
    deferred.clear()
    scalar = True
    for arg in kind.args:
        value = given.get(arg.name, _MISSING)
        if value is not _MISSING and not (arg.type == _kinds.KERNEL and isinstance(value, tuple)):
            scalar = scalar and (_args.is_scalar(value) or value is None) and not isinstance(value, np.ndarray)
        if not arg.applies(convention):
            if value is not _MISSING and value is not None and not _is_default(arg, value):
                where = " or ".join(sorted(arg.conventions or ()))
                raise InvalidArgumentError(
                    f"{arg.name} applies to {kind.name} only under convention {where}, not {convention!r}"
                )
            value = _MISSING
        if value is _MISSING or (value is None and arg.type != _kinds.SIZE):
            if arg.default is _kinds.REQUIRED and arg.applies(convention):
                if arg.type == _kinds.KERNEL:
                    kernel_dims(kind.name, kind.rank, None)  # refuses, saying what a kernel is
                raise ArgumentTypeError(f"{arg.name} is required for {kind.name}")
            value = arg.default
        if arg.type == _kinds.KERNEL:
            if value is _kinds.REQUIRED:
                value = 1
            elif isinstance(value, tuple):
                scalar = scalar and all(_args.is_scalar(v) for v in value)
            for i, dims in enumerate(kernel_dims(kind.name, kind.rank, value)):
                arrays[f"kernel[{i}]"] = dims
        elif arg.type == _kinds.FLAG:
            arrays[arg.name] = _args.flags(arg.name, value)
        elif value is None or value is _kinds.REQUIRED:
            if value is None and not arg.nullable:
                raise ArgumentTypeError(f"{arg.name} must be a whole number, got None")
            arrays[arg.name] = np.asarray(_algebra.NONE if value is None else 1, dtype=np.int64)
        else:
            # A large int64 array is read once less: its minimum is checked by the kernel (a floor).
            later = isinstance(value, np.ndarray) and value.size >= _FLOOR_LATER
            arrays[arg.name] = _args.sizes(arg.name, value, minimum=arg.minimum, floor_later=later)
            if later and arrays[arg.name] is value:
                deferred[arg.name] = (value, arg.minimum)
    return arrays, scalar


def _is_default(arg: _kinds.Arg, value: Any) -> bool:
    from . import _kinds  # the registry: not read by import archsweep

    try:
        return bool(np.all(np.asarray(value) == arg.default))
    except (TypeError, ValueError):
        return False


def _kind_error(exc: Exception, kind: _kinds.Kind, quantities: Sequence[str], compiled: _algebra.Compiled,
                shape) -> NoReturn:  # fmt: skip
    """A kernel refusal as the exception a user should see, naming the point
    (and, for an overflow, which of the call's ``quantities``)."""
    from . import _algebra, _kinds  # the registry: not read by import archsweep

    what, index, message, subject = (*exc.args, None)[:4]
    where = ""
    if index is not None:
        at = np.unravel_index(index, tuple(shape)) if shape else ()
        def value(name: str) -> int:
            return int(np.broadcast_to(compiled.operands[compiled.operand_of[name]], tuple(shape))[at])

        convention = CONVENTIONS[value("convention")]
        parts = []
        for arg in kind.args:
            if not arg.applies(convention):
                continue
            if arg.type == _kinds.KERNEL:
                dims = tuple(value(f"kernel[{i}]") for i in range(kind.rank))
                parts.append(f"kernel={dims if kind.rank > 1 else dims[0]}")
            else:
                v = value(arg.name)
                shown = bool(v) if arg.type == _kinds.FLAG else None if arg.nullable and v == _algebra.NONE else v
                parts.append(f"{arg.name}={shown}")
        where = " at " + ", ".join(parts)
    if what == "invalid" and subject in compiled.rule_of:
        raise InvalidArgumentError(f"{compiled.rule_of[subject].allowed()} ({kind.name}{where})") from None
    if what == "overflow":
        raise ParamOverflowError(
            f"the {kind.name} {quantities[subject or 0]} count{where} does not fit in int64 (max 2**63 - 1)"
        ) from None
    raise ArchsweepError(f"internal error in the {kind.name} kernel: {message}") from exc
