"""Conventions and backends: their names; the choice of a name from a list.

The order of CONVENTIONS is the code that crosses the binding (a
convention operand holds its index); layer kinds are named by the registry
(``_kinds``).
"""

from __future__ import annotations

from ._errors import ArgumentTypeError, InvalidArgumentError

CONVENTIONS = ("keras", "torch", "tf1")
BACKENDS = ("auto", "rust", "python")


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


def convention_name(value: object, argument: str = "convention") -> str:
    return _choose(argument, value, CONVENTIONS, {})


def backend_name(value: object) -> str:
    return _choose("backend", value, BACKENDS, {})
