"""The command line: ``archsweep count`` and ``archsweep sweep``.

Values are written as comma-separated items: an integer (``64``, ``250k``,
``5M``, ``1.5e6``), an inclusive range ``1..4096`` or a stepped one
``8..512:8``. Kernels are ``3`` (square) or ``1x7`` / ``3x3x3`` (one entry per
dimension). Flags take ``true``, ``false`` or ``both``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from ._count import count_params
from ._errors import ArchsweepError
from ._model import _search_models, count_models, summary_table
from ._names import CONVENTIONS, LAYERS
from ._plot import plot
from ._search import search
from ._spec import read_model
from . import _sink
from ._sweep import sweep

_SUFFIX = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_WRITERS = {".csv": pl.DataFrame.write_csv, ".parquet": pl.DataFrame.write_parquet}


def parse_number(text: str) -> int:
    """``250k``, ``5M``, ``1.5e6``, ``4096`` → int (whole values only)."""
    t = text.strip().lower().replace("_", "")
    scale = _SUFFIX.get(t[-1:], 1)
    if scale != 1:
        t = t[:-1]
    try:
        value = float(t) * scale if re.search(r"[.e]", t) else int(t) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (examples: 64, 250k, 5M, 1.5e6)") from None
    if value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


def parse_values(text: str) -> list[int] | range:
    """``1..4096`` (inclusive), ``8..512:8``, ``3,5,7`` or a mix."""
    values: list[int] = []
    for item in text.split(","):
        m = re.fullmatch(r"\s*([^.:]+)\.\.([^.:]+?)(?::([^.:]+))?\s*", item)
        if m:
            start, stop = parse_number(m[1]), parse_number(m[2])
            step = parse_number(m[3]) if m[3] else 1
            if step < 1:
                raise argparse.ArgumentTypeError(f"{item!r}: the step must be at least 1")
            r = range(start, stop + 1, step)
            if len(text.split(",")) == 1:
                return r  # keep a lone range lazy: it may be huge
            values.extend(r)
        else:
            values.append(parse_number(item))
    return values


def parse_kernel(text: str) -> list[int | tuple[int, ...]]:
    """``3,5`` (square kernels) or ``1x7,5x5`` (one entry per dimension)."""
    kernels: list[int | tuple[int, ...]] = []
    for item in text.split(","):
        parts = [parse_number(p) for p in item.lower().split("x")]
        kernels.append(parts[0] if len(parts) == 1 else tuple(parts))
    return kernels


def parse_flag(text: str) -> list[bool]:
    choice = {"true": [True], "false": [False], "both": [False, True], "yes": [True], "no": [False]}
    try:
        return choice[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"{text!r}: use true, false or both") from None


def table_path(text: str) -> Path:
    """An output table: a .csv or .parquet file in an existing folder."""
    try:
        return _sink.check_output_path(text)
    except ArchsweepError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _single(name: str, values: Sequence[int] | range) -> int:
    if len(values) != 1:
        raise ArchsweepError(f"count takes one value for --{name}; use 'archsweep sweep' for many")
    return values[0]


def _show(df: pl.DataFrame, output: Path | None) -> int:
    """Prints ``df`` as a table, or writes it to ``output`` (CSV or Parquet by
    extension) through a temporary file renamed into place when complete."""
    if output is None:
        with pl.Config(tbl_rows=20, tbl_cols=-1, tbl_width_chars=200):
            print(df)
    else:
        _sink.write_atomically(output, lambda tmp: _WRITERS[output.suffix.lower()](df, tmp))
        print(f"wrote {df.height:,} rows to {output}", file=sys.stderr)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archsweep", description="Exact parameter counts of neural-network layers, without any framework."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, many: bool) -> None:
        p.add_argument("--kernel", type=parse_kernel, help="conv kernel: 3 (square) or 1x7 / 3x3x3; comma-separated")
        p.add_argument("--convention", type=lambda s: s.split(","), default=["keras"] if many else None,
                       help=f"whose defaults: {', '.join(CONVENTIONS)} (sweep: comma-separated; default keras)")  # fmt: skip
        p.add_argument("--groups", type=parse_values, default=[1], help="conv groups (default 1)")
        p.add_argument("--backend", default="auto", choices=["auto", "rust", "python"])
        if many:  # flags over a grid take one value or both
            p.add_argument("--bias", type=parse_flag, default=[True], help="true, false or both (default true)")
            p.add_argument("--bidirectional", type=parse_flag, default=[False], help="true, false or both")
            p.add_argument("--reset-after", type=parse_flag, help="Keras GRU: true, false or both (default Keras')")

    count = sub.add_parser("count", help="the count of one layer", description="Print the count of one layer.")
    count.add_argument("layer", help=f"one of {', '.join(LAYERS)}")
    count.add_argument("--n-features", type=parse_values, required=True, help="input width / channels")
    count.add_argument("--n-units", type=parse_values, required=True, help="units / filters")
    count.add_argument("--no-bias", action="store_true", help="layer without bias")
    count.add_argument("--bidirectional", action="store_true", help="wrap an rnn/lstm/gru in Bidirectional")
    count.add_argument("--reset-after", type=parse_flag, help="Keras GRU only: true or false")
    common(count, many=False)

    sw = sub.add_parser(
        "sweep",
        help="a table of counts over a grid",
        description="Print (or write with -o) the count of every configuration in a grid. "
        "Defaults: rnn, lstm and gru of every width 1..4096 on 128 features (Keras conventions).",
    )
    sw.add_argument("--layer", type=lambda s: s.split(","), default=["rnn", "lstm", "gru"],
                    help="comma-separated layer kinds (default rnn,lstm,gru)")  # fmt: skip
    sw.add_argument("--n-features", type=parse_values, default=[128], help="e.g. 128 or 1..512 (default 128)")
    sw.add_argument("--n-units", type=parse_values, default=range(1, 4097), help="e.g. 1..4096 (the default)")
    sw.add_argument("--budget", type=parse_number, help="keep only rows with params <= this (e.g. 5M)")
    sw.add_argument("--max-bytes", type=parse_number, help="refuse tables larger than this (default half the RAM)")
    sw.add_argument("-o", "--output", type=table_path, help="write the table to a .csv or .parquet file (streamed: "
                    "any size fits in memory)")
    sw.add_argument("--no-progress", action="store_true", help="no progress bar on stderr while writing -o")
    common(sw, many=True)

    models = sub.add_parser(
        "models",
        help="the models of a space (TOML) that fit a budget",
        description="Print (or write with -o) every model of a model space written in TOML whose parameter count "
        "fits the budget, largest first: one column per choice, and params. See README, 'Model spaces'.",
    )
    models.add_argument("space", type=Path, help="a model space in TOML, e.g. examples/text_space.toml")
    models.add_argument("--budget", type=parse_number, required=True, help="the most parameters a model may have")
    models.add_argument("--limit", type=parse_number, help="only the K largest fitting models")
    models.add_argument("--count", action="store_true", help="print only how many models fit")
    models.add_argument("--max-bytes", type=parse_number,
                        help="bound the space's tables, its search and results (default half the RAM)")  # fmt: skip
    models.add_argument("-o", "--output", type=table_path, help="write the table to a .csv or .parquet file")
    models.add_argument("--no-progress", action="store_true", help="no progress bar on stderr while listing")
    models.add_argument("--backend", default="auto", choices=["auto", "rust", "python"])
    summary = sub.add_parser("summary", help="the Keras-style summary of a model (TOML)",
                             description="Print each layer's output shape and count, and the total, as Keras' "
                             "model.summary() does, for a model written in TOML.")  # fmt: skip
    summary.add_argument("model", type=Path, help="a model in TOML, e.g. examples/mnist_cnn.toml")
    summary.add_argument("--backend", default="auto", choices=["auto", "rust", "python"])
    _add_search_parsers(sub, common)
    return parser


def _model_command(args: argparse.Namespace) -> int:
    """``archsweep summary`` and ``archsweep models``."""
    path = args.model if args.command == "summary" else args.space
    try:
        model = read_model(path, backend=args.backend, max_bytes=getattr(args, "max_bytes", None))
    except OSError as exc:
        raise ArchsweepError(f"cannot read {path}: {exc.strerror or exc}") from None
    if args.command == "summary":
        print(summary_table(model))
        return 0
    if args.count:
        print(count_models(model, args.budget, max_bytes=args.max_bytes))
        return 0
    progress = False if args.no_progress else None
    fitting, df = _search_models(model, args.budget, args.limit, args.max_bytes, progress)
    print(f"{fitting:,} of {model.size:,} architectures fit budget {args.budget:,}", file=sys.stderr)
    return _show(df, args.output)


def _add_search_parsers(sub, common) -> None:
    """``archsweep search`` and ``archsweep plot``: sweep's options and value syntax, plus a budget."""

    def grid(p: argparse.ArgumentParser) -> None:
        p.add_argument("--n-features", type=parse_values, required=True, help="e.g. 128 or 1..512")
        p.add_argument("--n-units", type=parse_values, required=True, help="e.g. 1..4096 or 1..1G (never listed)")
        p.add_argument("--budget", type=parse_number, required=True, help="the most parameters (e.g. 5M, 250k)")
        common(p, many=True)

    se = sub.add_parser(
        "search",
        help="the largest layer under a budget",
        description="For every combination of the other options, the largest --n-units (or --n-features) whose "
        "count fits the budget. The searched axis is bisected, never listed: 1..1G costs what 1..100 does.",
    )
    se.add_argument("layer", type=lambda s: s.split(","), help="comma-separated layer kinds, e.g. lstm,gru")
    se.add_argument("--maximize", default="n_units", choices=["n_units", "n_features"],
                    help="the axis to maximize (default n_units)")  # fmt: skip
    se.add_argument("-o", "--output", type=table_path, help="write the table to a .csv or .parquet file")
    grid(se)

    pic = sub.add_parser(
        "plot",
        help="a heatmap or frontier picture of a budget (needs matplotlib)",
        description="heatmap: params of one configuration over --n-features x --n-units, with the budget's "
        "contour. frontier: the largest --n-units that fits at each --n-features, one line per layer kind. "
        "Writes PNG or SVG by the extension of -o. Needs: pip install 'archsweep[plot]'.",
    )
    pic.add_argument("kind", choices=["heatmap", "frontier"])
    pic.add_argument("layer", type=lambda s: s.split(","), help="a layer kind (frontier: comma-separated kinds)")
    pic.add_argument("-o", "--output", type=Path, required=True, help="the picture: a .png or .svg file")
    pic.add_argument("--title", help="the picture's title (default: what it shows)")
    grid(pic)


def _search_command(args: argparse.Namespace) -> int:
    """``archsweep search`` and ``archsweep plot``."""
    options = dict(kernel=args.kernel, bias=args.bias, bidirectional=args.bidirectional, convention=args.convention,
                   reset_after=args.reset_after, groups=args.groups, budget=args.budget, backend=args.backend)  # fmt: skip
    if args.command == "plot":
        try:
            plot(args.kind, args.layer, args.n_features, args.n_units, output=args.output, title=args.title,
                 **options)  # fmt: skip
        except ImportError as exc:  # matplotlib is an optional extra
            raise ArchsweepError(str(exc)) from None
        print(f"wrote {args.kind} to {args.output}", file=sys.stderr)
        return 0
    df = search(args.layer, args.n_features, args.n_units, maximize=args.maximize, **options)
    return _show(df, args.output)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command in ("models", "summary"):
            return _model_command(args)
        if args.command in ("search", "plot"):
            return _search_command(args)
        if args.command == "count":
            n = count_params(
                args.layer,
                _single("n-features", args.n_features),
                _single("n-units", args.n_units),
                kernel=None if args.kernel is None else args.kernel[0],
                bias=not args.no_bias,
                bidirectional=args.bidirectional,
                convention=(args.convention or ["keras"])[0],
                reset_after=None if args.reset_after is None else args.reset_after[0],
                groups=_single("groups", args.groups),
                backend=args.backend,
            )
            print(n)
            return 0
        options = dict(
            kernel=args.kernel,
            bias=args.bias,
            bidirectional=args.bidirectional,
            convention=args.convention,
            reset_after=args.reset_after,
            groups=args.groups,
            budget=args.budget,
            backend=args.backend,
        )
        if args.output is not None:
            progress = False if args.no_progress else None
            rows = _sink.sweep_to_file(args.output, args.layer, args.n_features, args.n_units, progress=progress,
                                       **options)  # fmt: skip
            print(f"wrote {rows:,} rows to {args.output}", file=sys.stderr)
            return 0
        return _show(sweep(args.layer, args.n_features, args.n_units, max_bytes=args.max_bytes, **options), None)
    except ArchsweepError as exc:
        print(f"archsweep: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("archsweep: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
