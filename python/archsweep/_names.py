"""Layer kinds, conventions and backends: their names, aliases and codes.

The order of LAYERS, CONVENTIONS and FIELDS is the order of the Rust enums
(``formula::Layer``, ``formula::Convention``, ``grid::Field``): the index is
the code that crosses the binding.
"""

from __future__ import annotations

from ._errors import ArgumentTypeError, InvalidArgumentError

LAYERS = ("dense", "conv1d", "conv2d", "conv3d", "rnn", "lstm", "gru")
CONVENTIONS = ("keras", "torch", "tf1")
BACKENDS = ("auto", "rust", "python")
FIELDS = (
    "n_features",
    "n_units",
    "kernel_d",
    "kernel_h",
    "kernel_w",
    "bias",
    "bidirectional",
    "convention",
    "reset_after",
    "groups",
)

ALIASES = {"simple_rnn": "rnn", "simplernn": "rnn", "linear": "dense"}

CONV_RANK = {"conv1d": 1, "conv2d": 2, "conv3d": 3}
RECURRENT = frozenset({"rnn", "lstm", "gru"})


def _choose(argument: str, value: object, allowed: tuple[str, ...], aliases: dict[str, str]) -> str:
    if not isinstance(value, str):
        raise ArgumentTypeError(
            f"{argument} must be a string, one of {', '.join(allowed)}; got {type(value).__name__} {value!r}"
        )
    name = value.strip().lower()
    name = aliases.get(name, name)
    if name in allowed:
        return name
    import difflib  # here, not at import: only a misspelt name needs it (start-up time)

    close = difflib.get_close_matches(name, [*allowed, *aliases], n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise InvalidArgumentError(f"{argument} {value!r} is not one of {', '.join(allowed)}.{hint}")


def layer_name(value: object, argument: str = "layer") -> str:
    """The canonical layer name for ``value`` (case-insensitive, aliases accepted)."""
    return _choose(argument, value, LAYERS, ALIASES)


def convention_name(value: object, argument: str = "convention") -> str:
    return _choose(argument, value, CONVENTIONS, {})


def backend_name(value: object) -> str:
    return _choose("backend", value, BACKENDS, {})
