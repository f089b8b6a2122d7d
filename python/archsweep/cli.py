"""The command line: ``archsweep count``, ``sweep``, ``search``, ``plot``,
``models`` and ``summary``.

Values are written as comma-separated items: a number (``64``, ``1_000``,
``250k``, ``4.1M``, ``1.5e6``), an inclusive range ``1..4096`` or a stepped one
``8..512:8``. Kernels are ``3`` (square) or ``1x7`` / ``3x3x3`` (one entry per
dimension). Flags take ``true``, ``false`` or ``both``.

Every failure ends the same way (see ``main``): one line ``archsweep: error:
...`` on stderr and exit status 2, never a traceback.

polars (and tqdm, matplotlib) are imported inside the commands that make a
table, so ``archsweep count`` starts in the time numpy takes to import.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, Any, NoReturn

from ._axis import Chain
from ._errors import ArchsweepError
from ._names import CONVENTIONS, convention_name
from ._signals import Terminated, raise_if_lost, signals_as_interrupts

if TYPE_CHECKING:
    from pathlib import Path

    import polars as pl

INT64_MAX = 2**63 - 1
_SUFFIX = {"k": 3, "m": 6, "g": 9, "t": 12}  # powers of ten
_DIGITS = r"\d+(?:_\d+)*"
_NUMBER = re.compile(rf"([-+]?)({_DIGITS})(?:\.({_DIGITS}))?(?:[eE]([-+]?\d+)|([kKmMgGtT]))?", re.ASCII)
GIVEN = "given_options"  # the namespace's set of the dests the user gave
_TRACEBACK = "ARCHSWEEP_TRACEBACK"  # set to 1: an internal error prints its traceback too


class _UsageError(ArchsweepError):
    """A command line argparse (or a check of the flags) refuses."""


def parse_number(text: str) -> int:
    """``4096``, ``1_000``, ``250k``, ``4.1M``, ``1.5e6`` → that int, exactly.

    The digits and the exponent are read as integers and the value is their
    exact product (never a float), so ``4.1M`` is 4,100,000 and every whole
    value up to 2**63 - 1 comes out as written. A value beyond that is refused
    before it is computed (``1e400``, or ``1e999999999`` which would take
    minutes to build), as is a value that is not whole (``2.5``)."""
    m = _NUMBER.fullmatch(text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (examples: 64, 1_000, 250k, 4.1M, 1.5e6)")
    sign, whole, fraction, exponent, suffix = m.groups()
    fraction = (fraction or "").replace("_", "")
    digits = (whole.replace("_", "") + fraction).lstrip("0")
    if not digits:
        return 0
    # The value is int(digits) * 10**shift.
    shift = _exponent(exponent) + _SUFFIX.get((suffix or "").lower(), 0) - len(fraction)
    if len(digits) + shift > len(str(INT64_MAX)):
        raise argparse.ArgumentTypeError(f"{text!r} is too large: numbers go up to 2**63 - 1 = {INT64_MAX:,}")
    if shift < 0 and (-shift >= len(digits) or digits[shift:].strip("0")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    value = int(digits) * 10**shift if shift >= 0 else int(digits[:shift])
    if value > INT64_MAX:
        raise argparse.ArgumentTypeError(f"{text!r} is too large: numbers go up to 2**63 - 1 = {INT64_MAX:,}")
    return -value if sign == "-" else value


def _exponent(text: str | None) -> int:
    """An exponent's value; past a million digits of shift only its sign
    matters (no command line holds that many digits), so it is capped."""
    if text is None:
        return 0
    body = text.lstrip("+-").lstrip("0") or "0"
    value = int(body) if len(body) <= 7 else 10**7
    return -value if text.startswith("-") else value


def parse_values(text: str) -> list[int] | range | Chain:
    """``1..4096`` (inclusive), ``8..512:8``, ``3,5,7`` or a mix. A lone range
    stays a ``range`` and a list with ranges in it a ``Chain``: nothing is
    listed, so ``1..1G,2G`` costs what ``1..4,8`` does."""
    items = [_range_or_number(item) for item in text.split(",")]
    if len(items) == 1 and isinstance(items[0], range):
        return items[0]
    if any(isinstance(item, range) for item in items):
        return Chain(items)
    return [item for item in items if isinstance(item, int)]


def _range_or_number(item: str) -> range | int:
    if ".." not in item:
        return parse_number(item)
    start, _, rest = item.partition("..")
    stop, colon, step = rest.partition(":")
    first, last = parse_number(start), parse_number(stop)
    by = parse_number(step) if colon else 1
    if by < 1:
        raise argparse.ArgumentTypeError(f"{item.strip()!r}: the step must be at least 1")
    if last < first:
        raise argparse.ArgumentTypeError(f"{item.strip()!r} is empty: it starts above its end")
    return range(first, last + 1, by)


def parse_kernel(text: str) -> list[int | tuple[int, ...]]:
    """``3,5`` (square kernels) or ``1x7,5x5`` (one entry per dimension)."""
    kernels: list[int | tuple[int, ...]] = []
    for item in text.split(","):
        if ".." in item:
            raise argparse.ArgumentTypeError(f"{item.strip()!r}: a kernel is a size (3) or one per dimension (1x7), "
                                             "not a range; list them: 1,3,5")  # fmt: skip
        parts = [parse_number(p) for p in re.split("[xX]", item)]
        kernels.append(parts[0] if len(parts) == 1 else tuple(parts))
    return kernels


def parse_band(text: str) -> tuple[int, int]:
    """``4.5M,5M`` -> (4500000, 5000000)."""
    items = [item.strip() for item in text.split(",")]
    if len(items) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not LO,HI (example: 4.5M,5M)")
    lo, hi = (parse_number(item) for item in items)
    return lo, hi


def parse_budget(text: str) -> Any:
    """``5M`` (a budget on the first quantity) or ``params=5M,flops=300M`` (one per quantity named)."""
    if "=" not in text:
        return parse_number(text)
    budgets: dict[str, int] = {}
    for item in _items(text):
        name, sep, limit = item.rpartition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"{item.strip()!r}: a named budget is quantity=limit (flops=300M)")
        if name.strip() in budgets:
            raise argparse.ArgumentTypeError(f"{name.strip()!r} is named twice in {text!r}")
        budgets[name.strip()] = parse_number(limit)
    return budgets


def parse_padding(text: str) -> Any:
    """``valid``, ``same``, ``causal`` or PyTorch's explicit padding per side: ``1`` or ``1x2``."""
    if "," in text:
        raise argparse.ArgumentTypeError(f"{text!r} is {text.count(',') + 1} values, but count takes one "
                                         "(and a sweep one padding)")  # fmt: skip
    word = text.strip().lower()
    if word in ("valid", "same", "causal"):
        return word
    parts = [parse_number(p) for p in re.split("[xX]", text)]
    return parts[0] if len(parts) == 1 else tuple(parts)


# A convolution's window: what its compute reads (as positions), not a registry argument of its own.
_WINDOW_FLAGS = (
    ("input_size", "the input's spatial size, for convolutions' FLOPs: 224 or 224x224"),
    ("strides", "convolution strides: 2 or 2x1 (with --input-size)"),
    ("padding", "valid, same, causal (Conv1D) or, under torch, explicit padding per side: 1 or 1x2"),
    ("dilation", "convolution dilation: 2 or 2x1 (with --input-size)"),
)

NONE_GIVEN = object()  # "--kdim none": the argument's None, which differs from not giving it


def parse_optional(text: str) -> Any:
    """Sizes, any of them ``none`` (a nullable argument's None): ``none,64``."""
    items = [item.strip() for item in text.split(",")]
    sizes = [item for item in items if item.lower() != "none"]
    if len(sizes) == len(items):
        return parse_values(text)
    return [NONE_GIVEN] * (len(items) - len(sizes)) + (list(parse_values(",".join(sizes))) if sizes else [])


def parse_flag(text: str) -> list[bool]:
    choice = {"true": [True], "false": [False], "both": [False, True], "yes": [True], "no": [False]}
    try:
        return choice[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"{text!r}: use true, false or both") from None


def _items(text: str) -> list[str]:
    """``text`` split at its commas, but those inside brackets (``training_bytes[bf16,adamw]``)."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    return [*items, text[start:]]


def parse_names(text: str) -> list[str]:
    """``lstm,gru`` → ``["lstm", "gru"]`` (the names are checked by the library)."""
    names = [name.strip() for name in _items(text)]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: an empty name in the list")
    return names


def table_path(text: str) -> Path:
    """An output table: a .csv or .parquet file in an existing folder."""
    from . import _sink

    try:
        return _sink.check_output_path(text)
    except ArchsweepError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _single(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` for ``archsweep count``: the one value the text holds, and a
    refusal when it holds more (``3,5``, ``both``, ``keras,torch``, ``1..4``)."""

    def one(text: str) -> Any:
        values = parse(text)
        chain = Chain.of(values)
        n = chain.size if chain is not None else len(values)
        if n != 1:
            raise argparse.ArgumentTypeError(f"{text!r} is {n:,} values, but count takes one; "
                                             "use 'archsweep sweep' for many")  # fmt: skip
        return next(iter(values))

    one.__name__ = parse.__name__  # argparse names the type in some messages
    return one


def _show(df: pl.DataFrame, output: Path | None) -> int:
    """Prints ``df`` as a table, or writes it to ``output`` (CSV or Parquet by
    extension), atomically and interruptibly."""
    import polars as pl

    from . import _sink

    if output is None:
        # A printed table shows the columns that say something about its rows;
        # a file keeps the whole documented schema.
        if df.height:
            df = df.select(c for c in df.columns if df[c].null_count() < df.height)
        with pl.Config(tbl_rows=20, tbl_cols=-1, tbl_width_chars=200):
            print(df)
    else:
        _sink.write_table(df, output)
        print(f"wrote {df.height:,} rows to {output}", file=sys.stderr)
    return 0


class _Exit(Exception):
    """argparse is done (it printed --help): main ends with this status."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _note(action: argparse.Action, namespace: argparse.Namespace) -> None:
    """Records that the user gave ``action``'s option, refusing it the second
    time: the first value would do nothing."""
    given = namespace.__dict__.setdefault(GIVEN, set())
    if action.dest in given:
        raise argparse.ArgumentError(action, "given twice (only the last would count); give it once")
    given.add(action.dest)


class _Store(argparse.Action):
    """argparse's "store", noting the option as given."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        _note(self, namespace)
        setattr(namespace, self.dest, values)


class _StoreTrue(argparse.Action):
    """argparse's "store_true", noting the option as given."""

    def __init__(self, option_strings: Any, dest: str, default: bool = False, required: bool = False,
                 help: str | None = None) -> None:  # fmt: skip
        super().__init__(option_strings, dest, nargs=0, const=True, default=default, required=required, help=help)

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None) -> None:
        _note(self, namespace)
        setattr(namespace, self.dest, True)


def _terminal_width() -> int:
    """What shutil.get_terminal_size() gives: $COLUMNS, else stdout's terminal, else 80."""
    with suppress(KeyError, ValueError):
        return int(os.environ["COLUMNS"])
    with suppress(AttributeError, ValueError, OSError):
        return os.get_terminal_size(sys.__stdout__.fileno()).columns
    return 80


class _Parser(argparse.ArgumentParser):
    """argparse, whose refusals become the one error line of ``main`` instead
    of a usage text, which returns to ``main`` (to flush stdout there)
    instead of exiting from inside the parser, and which records the options
    given (in ``GIVEN``), each at most once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in (None, "store"):
            self.register("action", name, _Store)
        self.register("action", "store_true", _StoreTrue)

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter for every add_argument; without a width it imports shutil (with bz2,
        # lzma: 4 ms of archsweep count) to ask the terminal's.
        return self.formatter_class(prog=self.prog, width=_terminal_width() - 2)  # type: ignore[call-arg]

    def error(self, message: str) -> Any:
        raise _UsageError(f"{message} (see '{self.prog} --help')")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if message:
            self._print_message(message, sys.stderr)
        raise _Exit(status)


# Flags that would do nothing in some combination are refused, not ignored.
# (command, flag, "with" or "without", other flag, why it would do nothing),
# flags named by their argparse dest; checked in one place, _refuse_no_effect.
NO_EFFECT = (
    ("sweep", "max_bytes", "with", "output", "-o streams the table to the file in bounded memory"),
    ("sweep", "no_progress", "without", "output", "a progress bar is shown only while writing -o"),
    ("models", "output", "with", "count", "--count prints only the number of fitting models"),
    ("models", "limit", "with", "count", "--count counts every fitting model"),
    ("models", "no_progress", "with", "count", "--count shows no progress bar"),
    ("models", "sample", "with", "count", "--count prints only the number of fitting models"),
    ("models", "sample", "with", "limit", "--sample draws from every fitting model, not the largest"),
    ("models", "seed", "without", "sample", "--seed seeds the draw of --sample"),
    ("models", "band", "without", "sample", "--band narrows the draw of --sample"),
    ("models", "replace", "without", "sample", "--replace applies to the draw of --sample"),
)


def _refuse_no_effect(args: argparse.Namespace) -> None:
    given = getattr(args, GIVEN, set()).__contains__

    def flag(dest: str) -> str:
        return "-o/--output" if dest == "output" else "--" + dest.replace("_", "-")

    for command, dest, relation, other, why in NO_EFFECT:
        if command == args.command and given(dest) and given(other) == (relation == "with"):
            raise _UsageError(f"{flag(dest)} has no effect {relation} {flag(other)} ({why})")


def _kind_arguments(p: argparse.ArgumentParser, many: bool, own: Sequence[str] = ()) -> None:
    """A flag for every argument of the registry's kinds (but ``own``, which
    the command spells itself), named as the argument: ``--num-heads``,
    ``--proj-size``, ``--kdim none``. ``many``: the grid commands, which take
    comma-separated values, ranges and ``both``; count takes one value."""
    from . import _kinds

    p.add_argument("--convention", type=parse_names, default=None,
                   help=f"whose rules: {', '.join(CONVENTIONS)} (default: each layer's own, keras for Keras' layers, "
                        f"torch for PyTorch's alone{'; comma-separated' if many else ''})")  # fmt: skip
    from ._algebra import QUANTITIES

    many_help = "; comma-separated; a plain --budget is on the first, named ones on theirs" if many else ""
    p.add_argument("--quantity", type=parse_names, default=None if many else "params",
                   help=f"{', '.join(QUANTITIES)}, weight_bytes[DTYPE] or training_bytes[DTYPE,OPTIMIZER(,mixed)] "
                        f"(default params{many_help})")  # fmt: skip
    p.add_argument("--backend", default="auto", choices=["auto", "rust", "python"])
    seen = {"n_features", "n_units", *own}
    for kind in _kinds.KINDS:
        for arg in kind.args:
            if arg.name in seen:
                continue
            seen.add(arg.name)
            where = f" ({' or '.join(sorted(arg.conventions))} only)" if arg.conventions else ""
            flag = f"--{arg.name.replace('_', '-')}"
            if arg.type == _kinds.FLAG:
                p.add_argument(flag, dest=arg.name, type=parse_flag, metavar="BOOL",
                               help=f"{arg.doc or arg.name}: true, false{' or both' if many else ''}{where}")  # fmt: skip
            elif arg.type == _kinds.KERNEL:
                p.add_argument(flag, dest=arg.name, type=parse_kernel,
                               help="conv kernel: 3 (square) or 1x7 / 3x3x3" + (", comma-separated" if many else ""))
            else:
                p.add_argument(flag, dest=arg.name, metavar="N", type=parse_optional if arg.nullable else parse_values,
                               help=(arg.doc or arg.name) + where)  # fmt: skip
    for name, doc in _WINDOW_FLAGS:
        several = " (comma-separated for several)" if many and name == "input_size" else ""
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, help=doc + several,
                       type=parse_padding if name == "padding" else parse_kernel)  # fmt: skip


def kind_values(args: argparse.Namespace, own: Sequence[str] = ()) -> dict[str, Any]:
    """The registry's arguments given on the command line, ``none`` as None."""
    from . import _kinds

    given = {}
    for name in dict.fromkeys(a.name for k in _kinds.KINDS for a in k.args if a.name not in ("n_features", "n_units", *own)):
        value = getattr(args, name, None)
        if value is None:
            continue
        if isinstance(value, list):
            value = [None if v is NONE_GIVEN else v for v in value]
        given[name] = None if value is NONE_GIVEN else value
    for name, _ in _WINDOW_FLAGS:
        value = getattr(args, name, None)
        if isinstance(value, list):
            if len(value) > 1 and name != "input_size":
                raise _UsageError(f"--{name.replace('_', '-')} takes one value, got {len(value)}")
            value = value[0] if len(value) == 1 else value
        if value is not None:
            given[name] = value
    return given


def _count_arguments(p: argparse.ArgumentParser) -> None:
    from . import _kinds

    p.add_argument("layer", help=f"one of {', '.join(_kinds.all_names())} (or its Keras or PyTorch class name)")
    p.add_argument("--n-features", type=parse_values, help="input width / channels")
    p.add_argument("--n-units", type=parse_values, help="units / filters (kinds that have them)")
    p.add_argument("--no-bias", action="store_true", help="layer without bias")
    p.add_argument("--bidirectional", action="store_true", help="wrap an rnn/lstm/gru in Bidirectional")
    _kind_arguments(p, many=False, own=("bias", "bidirectional"))
    for action in p._actions:  # every value count takes is one value, whatever the flag
        if action.type is not None and action.type is not parse_padding:  # a padding is one value already
            action.type = _single(action.type)  # type: ignore[arg-type]


def _sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layer", type=parse_names, default=["rnn", "lstm", "gru"],
                   help="comma-separated layer kinds (default rnn,lstm,gru)")  # fmt: skip
    p.add_argument("--n-features", type=parse_values, default=[128], help="e.g. 128 or 1..512 (default 128)")
    p.add_argument("--n-units", type=parse_values, help="e.g. 1..4096 (the default, for kinds that have n_units)")
    p.add_argument("--budget", type=parse_budget,
                   help="keep only rows whose (first) quantity is at most this (5M), or those within every "
                        "named one: params=5M,flops=300M")  # fmt: skip
    p.add_argument("--max-bytes", type=parse_number,
                   help="refuse printed tables larger than this (default half the RAM; not with -o)")  # fmt: skip
    p.add_argument("-o", "--output", type=table_path, help="write the table to a .csv or .parquet file (streamed: "
                   "any size fits in memory)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr while writing -o")
    _kind_arguments(p, many=True)


def _grid_arguments(p: argparse.ArgumentParser, features: bool = True) -> None:
    """search's and plot's grid: sweep's options and value syntax, plus a budget. ``features``: whether
    --n-features is required (plot's axis; search leaves it to the kinds: a language model has none)."""
    p.add_argument("--n-features", type=parse_values, required=features, help="e.g. 128 or 1..512")
    p.add_argument("--n-units", type=parse_values, help="e.g. 1..4096 or 1..1G (never listed)")
    p.add_argument("--budget", type=parse_budget, required=True,
                   help="the most parameters (e.g. 5M, 250k), or per quantity: params=5M,flops=1G")
    _kind_arguments(p, many=True)


def _search_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("layer", type=parse_names, help="comma-separated layer kinds, e.g. lstm,gru")
    from . import _kinds

    sizes = dict.fromkeys(a.name for k in _kinds.KINDS for a in k.args if a.type == _kinds.SIZE)
    p.add_argument("--maximize", default="n_units", choices=list(sizes), metavar="SIZE",
                   help="the size to maximize: n_units (default), n_features, or any size of the layer (d_model, "
                        "n_layers, length, ...)")  # fmt: skip
    p.add_argument("-o", "--output", type=table_path, help="write the table to a .csv or .parquet file")
    _grid_arguments(p, features=False)


def _plot_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("kind", choices=["heatmap", "frontier"])
    p.add_argument("layer", type=parse_names, help="a layer kind (frontier: comma-separated kinds)")
    p.add_argument("-o", "--output", required=True, help="the picture: a .png or .svg file")
    p.add_argument("--title", help="the picture's title (default: what it shows)")
    _grid_arguments(p)


def _models_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("space", help="a model space in TOML, e.g. examples/text_space.toml")
    p.add_argument("--budget", type=parse_budget, required=True,
                   help="the most parameters a model may have (5M), its forward FLOPs (flops=300M), or both: "
                        "params=5M,flops=300M (ranked by the first)")
    p.add_argument("--limit", type=parse_number, help="only the K largest fitting models (not with --count)")
    p.add_argument("--count", action="store_true", help="print only how many models fit")
    p.add_argument("--sample", type=parse_number, metavar="K",
                   help="K models drawn uniformly from those that fit (distinct, unless --replace)")  # fmt: skip
    p.add_argument("--seed", type=parse_number, help="seed of --sample's draw, for a reproducible one")
    p.add_argument("--band", type=parse_band, metavar="LO,HI",
                   help="--sample only models whose first budgeted quantity is in LO..HI (4.5M,5M)")  # fmt: skip
    p.add_argument("--replace", action="store_true", help="--sample with replacement")
    p.add_argument("--max-bytes", type=parse_number,
                   help="bound the space's tables, its search and results (default half the RAM)")  # fmt: skip
    p.add_argument("-o", "--output", type=table_path, help="write the table to a .csv or .parquet file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr while listing")
    p.add_argument("--backend", default="auto", choices=["auto", "rust", "python"])


def _summary_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="a model in TOML, e.g. examples/mnist_cnn.toml")
    p.add_argument("--backend", default="auto", choices=["auto", "rust", "python"])


def _lm_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="a transformers config.json of a decoder-only model (llama, gpt2, qwen2, ...)")
    p.add_argument("--length", type=parse_number, default=2048, help="tokens per sequence for FLOPs (default 2048)")
    p.add_argument("--dtype", default="bf16", help="of the weights and the KV cache (default bf16)")


def _lm_command(args: argparse.Namespace) -> int:
    """``archsweep lm``: a config's counts, as transformers has them."""
    from ._hf import from_hf_config

    from ._memory import DTYPES

    if args.dtype not in DTYPES or args.dtype == "int4":  # int4 packs per tensor: no formula of the sizes
        raise _UsageError(f"--dtype {args.dtype!r} is not one of {', '.join(d for d in DTYPES if d != 'int4')}")
    lm = from_hf_config(args.config)
    rows = [("params", lm.count_params()), ("non-embedding params", lm.count_params(exclude_embeddings=True)),
            (f"forward FLOPs ({args.length:,} tokens)", lm.count_flops(args.length)),
            (f"training FLOPs ({args.length:,} tokens)", lm.count_flops(args.length, training=True)),
            (f"weight bytes ({args.dtype})", lm.count(f"weight_bytes[{args.dtype}]")),
            (f"KV cache bytes per token ({args.dtype})", lm.count(f"kv_cache_bytes[{args.dtype}]"))]  # fmt: skip
    print(f"{lm.model_type}: " + ", ".join(f"{k}={v}" for k, v in lm.args.items()))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>24,}")
    return 0


def _count_command(args: argparse.Namespace) -> int:
    from . import _kinds
    from ._count import count

    given = kind_values(args, own=("bias", "bidirectional"))
    if args.no_bias:
        given["bias"] = False
    if args.bidirectional:
        given["bidirectional"] = True
    _require_flags(args.layer, args)
    print(count(args.layer, args.n_features, args.n_units, quantity=args.quantity, convention=args.convention,
                backend=args.backend, **given))  # fmt: skip
    return 0


def _require_flags(layers: Any, args: argparse.Namespace) -> None:
    """Refuses, as a usage error naming the flag, a size argument a named kind requires under the
    conventions asked for (its own by default) that the command line left out."""
    from . import _kinds

    def listed(value: Any) -> list[Any]:
        return [value] if isinstance(value, str) else list(value)

    asked = None if args.convention is None else [convention_name(c) for c in listed(args.convention)]
    for name in listed(layers):
        kind = _kinds.find(name)
        if kind is None:  # an unknown name is refused by the library, with the closest name
            continue
        conventions = [kind.conventions[0]] if asked is None else [c for c in asked if c in kind.conventions]
        for arg in kind.args:
            if arg.default is _kinds.REQUIRED and any(arg.applies(c) for c in conventions) \
                    and getattr(args, arg.name, None) is None:  # fmt: skip
                raise _UsageError(f"--{arg.name.replace('_', '-')} is required for {kind.name} "
                                  f"(see 'archsweep {args.command} --help')")  # fmt: skip


def _grid_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments sweep, search and plot share."""
    return {"convention": args.convention, "quantity": args.quantity, "budget": args.budget,
            "backend": args.backend, **kind_values(args)}  # fmt: skip


def _sweep_command(args: argparse.Namespace) -> int:
    from . import _kinds

    options = _grid_options(args)
    if args.n_units is None and any(k is not None and k.arg("n_units") for k in map(_kinds.find, args.layer)):
        args.n_units = range(1, 4097)
    if args.output is not None:
        from ._sink import sweep_to_file

        progress = False if args.no_progress else None
        rows = sweep_to_file(args.output, args.layer, args.n_features, args.n_units, progress=progress, **options)
        print(f"wrote {rows:,} rows to {args.output}", file=sys.stderr)
        return 0
    from ._sweep import sweep

    return _show(sweep(args.layer, args.n_features, args.n_units, max_bytes=args.max_bytes, **options), None)


def _search_command(args: argparse.Namespace) -> int:
    """``archsweep search`` and ``archsweep plot``."""
    _require_flags(args.layer, args)
    options = _grid_options(args)
    if args.command == "plot":
        from ._plot import plot

        try:
            plot(args.kind, args.layer, args.n_features, args.n_units, output=args.output, title=args.title,
                 **options)  # fmt: skip
        except ImportError as exc:  # matplotlib is an optional extra
            raise ArchsweepError(str(exc)) from None
        print(f"wrote {args.kind} to {args.output}", file=sys.stderr)
        return 0
    from ._search import search

    df = search(args.layer, args.n_features, args.n_units, maximize=args.maximize, **options)
    return _show(df, args.output)


def _model_command(args: argparse.Namespace) -> int:
    """``archsweep summary`` and ``archsweep models``."""
    from ._model import _search_models, count_models, sample_models, summary_table
    from ._spec import read_model

    model = read_model(args.model if args.command == "summary" else args.space, backend=args.backend,
                       max_bytes=getattr(args, "max_bytes", None))  # fmt: skip
    if args.command == "summary":
        print(summary_table(model))
        return 0
    if args.count:
        print(count_models(model, args.budget, max_bytes=args.max_bytes))
        return 0
    progress = False if args.no_progress else None
    if args.sample is not None:
        df = sample_models(model, args.budget, args.sample, seed=args.seed, band=args.band, replace=args.replace,
                           max_bytes=args.max_bytes, progress=progress)  # fmt: skip
        print(f"{df.height:,} drawn uniformly from the architectures that fit", file=sys.stderr)
        return _show(df, args.output)
    fitting, df = _search_models(model, args.budget, args.limit, args.max_bytes, progress)
    budget = ", ".join(f"{q} {b:,}" for q, b in args.budget.items()) if isinstance(args.budget, dict) else \
        f"{args.budget:,}"  # fmt: skip
    print(f"{fitting:,} of {model.size:,} architectures fit budget {budget}", file=sys.stderr)
    return _show(df, args.output)


_Command = tuple[str, str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
# name: (help, description, arguments, run)
COMMANDS: dict[str, _Command] = {
    "count": ("the count of one layer", "Print the count of one layer.", _count_arguments, _count_command),
    "sweep": ("a table of counts over a grid", "Print (or write with -o) the count of every configuration in a "
              "grid. Defaults: rnn, lstm and gru of every width 1..4096 on 128 features (Keras conventions).",
              _sweep_arguments, _sweep_command),
    "models": ("the models of a space (TOML) that fit a budget", "Print (or write with -o) every model of a model "
               "space written in TOML whose parameter count fits the budget, largest first: one column per choice, "
               "and params. See README, 'Model spaces'.", _models_arguments, _model_command),
    "summary": ("the Keras-style summary of a model (TOML)", "Print each layer's output shape and count, and the "
                "total, as Keras' model.summary() does, for a model written in TOML.",
                _summary_arguments, _model_command),
    "search": ("the largest layer under a budget", "For every combination of the other options, the largest "
               "--n-units (or --n-features) whose count fits the budget. The searched axis is bisected, never "
               "listed: 1..1G costs what 1..100 does.", _search_arguments, _search_command),
    "lm": ("a language model's counts from its transformers config.json", "Read a transformers config.json "
           "(gpt2, llama, mistral, qwen2, qwen3, gemma, gemma2, phi3, gpt_neox, opt, falcon, olmo, starcoder2, "
           "stablelm) and print its parameters (with and without embeddings, as num_parameters() counts them), "
           "FLOPs per sequence as FlopCounterMode counts the model, weight bytes and KV-cache bytes per token.",
           _lm_arguments, _lm_command),
    "plot": ("a heatmap or frontier picture of a budget (needs matplotlib)", "heatmap: params of one configuration "
             "over --n-features x --n-units, with the budget's contour. frontier: the largest --n-units that fits "
             "at each --n-features, one line per layer kind. Writes PNG or SVG by the extension of -o. Needs: pip "
             "install 'archsweep[plot]'.", _plot_arguments, _search_command),
}  # fmt: skip


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of ``argv``'s command alone (every command's when ``argv``
    is None; with no known command, all are listed but left empty): making
    parsers and adding arguments is most of argparse's start-up cost."""
    parser = _Parser(
        prog="archsweep", description="Exact parameter counts of neural-network layers, without any framework."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    wanted = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    for name, (summary, description, arguments, _) in COMMANDS.items():
        if wanted in COMMANDS and name != wanted:
            continue  # a parser costs about 1.5 ms (its --help's formatter): only the one asked for is made
        p = sub.add_parser(name, help=summary, description=description)
        if wanted is None or name == wanted:
            arguments(p)
    return parser


@signals_as_interrupts()  # SIGTERM and SIGHUP clean up as Ctrl-C does
def run() -> NoReturn:
    """The ``archsweep`` command: :func:`main`'s status as the process's. A run ended by a signal
    (status 128 + its number, its cleanup done) leaves at once, its streams flushed (``os._exit``),
    rather than through the interpreter's shutdown, where a library's own SIGINT handling (polars
    chains one over Python's when it starts its work) could still end the process by the signal."""
    code = main()
    if code >= 128:
        for stream in (sys.stdout, sys.stderr):
            with suppress(Exception):  # a closed pipe or terminal: nothing more to say
                stream.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line. Every failure ends here as one line
    ``archsweep: error: ...`` on stderr and status 2 (see ``_error_line``);
    Ctrl-C is status 130; a reader that closes the pipe early (``| head``)
    ends the program quietly with status 141, as SIGPIPE ends other tools."""
    output = None
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        try:
            args = _parser(argv).parse_args(argv)
        except _Exit as done:
            code = done.status
        else:
            _refuse_no_effect(args)
            output = getattr(args, "output", None)
            if args.command == "count":
                code = COMMANDS[args.command][3](args)
            else:
                # polars installs a C-level SIGINT hook when imported (which can end the process by SIGINT
                # after the CLI's own cleanup); taking the signals again over it keeps Ctrl-C one path.
                import polars  # noqa: F401

                with signals_as_interrupts():
                    code = COMMANDS[args.command][3](args)
            raise_if_lost()
        sys.stdout.flush()  # a closed pipe is reported here, not by the interpreter at exit
        return code
    except BrokenPipeError:
        return _closed_pipe()
    except Terminated as exc:
        with suppress(OSError):  # after SIGHUP the terminal may be gone
            print(f"archsweep: terminated by {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        with suppress(OSError):
            print("archsweep: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get(_TRACEBACK) and not isinstance(exc, ArchsweepError):
            import traceback

            traceback.print_exc()
        print(f"archsweep: error: {_error_line(exc, output)}", file=sys.stderr)
        return 2


def _error_line(exc: Exception, output: str | Path | None) -> str:
    """What went wrong, in one line: archsweep's message for its own errors;
    the file and the system's reason for an OS error; and for anything else,
    which is a bug, "internal error" with the exception, to be reported."""
    if isinstance(exc, ArchsweepError):
        text = str(exc)
    elif isinstance(exc, OSError):
        # A rename names the temporary file first: the target (filename2) is the one the user gave.
        where = exc.filename2 if exc.filename2 is not None else exc.filename if exc.filename is not None else output
        reason = exc.strerror or str(exc)
        text = f"{where}: {reason}" if where is not None else reason
    elif output is not None and type(exc).__module__.startswith("polars"):
        # polars reports a failed write (full disk, file too large) as its own exception types, with texts such as
        # "underlying IO error ... (os error 28)" or "Invalid thrift: transport error".
        text = f"{output}: cannot write the table: {exc}"
    elif isinstance(exc, MemoryError):
        text = f"out of memory{f' ({exc})' if str(exc) else ''}; narrow the axes, pass --budget, or write with -o"
    elif isinstance(exc, UnicodeEncodeError):
        text = f"cannot print {exc.object[exc.start:exc.end]!r} in the output's encoding {exc.encoding}"
    else:
        text = (f"internal error (a bug in archsweep; please report it with the command line): "
                f"{type(exc).__name__}: {exc} (set {_TRACEBACK}=1 to see where)")  # fmt: skip
    return "; ".join(line.strip() for line in text.splitlines() if line.strip()) or type(exc).__name__


def _closed_pipe() -> int:
    # stdout's reader is gone. Python would flush stdout again at exit and
    # print "Exception ignored ... BrokenPipeError": point it at /dev/null.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file (a test's capture): nothing to flush
        pass
    return 141  # 128 + SIGPIPE: what a shell reports for a command ended by a closed pipe


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
