"""Models and model spaces written as data: a TOML file (``archsweep summary``,
``archsweep models``) or the same structure in JSON (the Keras fixture).

    input_shape = [28, 28, 1]            # "none" for an unknown length
    convention = "keras"                 # optional: keras, torch, tf1

    [[layers]]
    type = "Conv2D"                      # a class of asw.layers
    filters = { choice = [16, 32, 64] }  # any value may be a choice (name = "..." optional)
    kernel = { choice = [3, 5, [1, 7]] } # an array is a tuple: one entry per dimension
    padding = "same"

    [[layers]]
    choice = [{ type = "Dropout", rate = 0.5 }, "none"]   # a layer choice; "none" leaves it out

    [[layers]]
    repeat = { type = "Dense", units = { choice = [64, 128] } }   # or an array of layers
    min = 1
    max = 3

Arguments are the constructors' parameter names (``units``, ``filters``,
``kernel``, ``pool_size``, ``input_dim``, ``output_dim``, ``layer`` ...).
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from . import layers as _layers
from ._errors import ArgumentTypeError, InvalidArgumentError
from ._model import Model
from ._space import choice, repeat

MAX_FILE_BYTES = 16 << 20
_CLASSES = {name.lower(): getattr(_layers, name) for name in _layers.__all__ if name != "Layer"}


def _none(value: Any) -> Any:
    return None if isinstance(value, str) and value.lower() == "none" else value


def _value(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        if "choice" in value:
            extra = set(value) - {"choice", "name"}
            if extra or not isinstance(value["choice"], list):
                raise InvalidArgumentError(f"{where}: a choice is {{ choice = [...], name = \"...\" }}, got {value!r}")
            options = [_value(_none(o), f"{where}.choice[{i}]") for i, o in enumerate(value["choice"])]
            return choice(*options, name=value.get("name"))
        if "type" in value:
            return _layer(value, where)
        raise InvalidArgumentError(f"{where}: a table is a layer (with type = ...) or a choice (with choice = [...]), "
                                   f"got keys {sorted(value)}")  # fmt: skip
    if isinstance(value, list):
        return tuple(_value(v, f"{where}[{i}]") for i, v in enumerate(value))
    return value


def _layer(spec: dict[str, Any], where: str) -> _layers.Layer:
    kind = spec["type"]
    cls = _CLASSES.get(str(kind).lower())
    if cls is None:
        close = difflib.get_close_matches(str(kind).lower(), list(_CLASSES), n=1, cutoff=0.6)
        hint = f" Did you mean {_CLASSES[close[0]].__name__!r}?" if close else ""
        raise InvalidArgumentError(f"{where}: type {kind!r} is not a layer of asw.layers.{hint}")
    args = {k: _value(v, f"{where}.{k}") for k, v in spec.items() if k != "type"}
    try:
        return cls(**args)
    except TypeError as exc:
        raise ArgumentTypeError(f"{where}: {exc}") from None


def _element(entry: Any, where: str) -> Any:
    if not isinstance(entry, dict):
        raise ArgumentTypeError(f"{where} must be a table, got {entry!r}")
    if "repeat" in entry:
        extra = set(entry) - {"repeat", "min", "max"}
        if extra or "max" not in entry:
            raise InvalidArgumentError(f"{where}: a repeat is {{ repeat = ..., min = ..., max = ... }}, got {entry!r}")
        block = entry["repeat"]
        if isinstance(block, list):
            block = [_value(b, f"{where}.repeat[{i}]") for i, b in enumerate(block)]
        else:
            block = _value(block, f"{where}.repeat")
        return repeat(block, entry.get("min", 1), entry["max"])
    return _value(entry, where)


def model_from_spec(spec: dict[str, Any], *, backend: str = "auto", max_bytes: Any = None) -> Model:
    """The Model (or space) that ``spec`` describes (the structure of a TOML
    file), compiled within ``max_bytes`` (see ``Model``)."""
    extra = set(spec) - {"input_shape", "layers", "convention"}
    if extra:
        raise InvalidArgumentError(f"unknown keys {sorted(extra)}; a model has input_shape, layers and convention")
    for key in ("input_shape", "layers"):
        if key not in spec:
            raise InvalidArgumentError(f"a model needs {key}")
    if not isinstance(spec["layers"], list):
        raise ArgumentTypeError(f"layers must be an array of tables, got {spec['layers']!r}")
    shape = spec["input_shape"]
    shape = [_none(v) for v in shape] if isinstance(shape, list) else shape
    elements = [_element(e, f"layers[{i}]") for i, e in enumerate(spec["layers"])]
    return Model(shape, elements, convention=spec.get("convention", "keras"), backend=backend, max_bytes=max_bytes)


def read_model(path: str | Path, *, backend: str = "auto", max_bytes: Any = None) -> Model:
    """The Model (or space) in a TOML file, compiled within ``max_bytes``. A
    file that cannot be read raises the OSError open() raises; one that is
    not UTF-8, not TOML, nested too
    deeply to read, or over 16 MiB (a model is a few lines: this is /dev/zero
    or a mistake, not to be read until memory runs out) raises
    InvalidArgumentError naming the file."""
    with open(path, "rb") as f:
        raw = f.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidArgumentError(f"{path}: over {MAX_FILE_BYTES:,} bytes, too large for a model file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InvalidArgumentError(f"{path}: not valid TOML: line {line} is not UTF-8 "
                                   f"(byte {raw[exc.start]:#04x})") from None  # fmt: skip
    try:
        return model_from_spec(tomllib.loads(text), backend=backend, max_bytes=max_bytes)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgumentError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib (and reading the structure) recurse once per level
        raise InvalidArgumentError(f"{path}: nested too deeply to read") from None
