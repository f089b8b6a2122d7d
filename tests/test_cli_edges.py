"""The command line's edges: every failure is one line ``archsweep: error: ...``
and status 2, never a traceback; a closed pipe ends it quietly; count takes
one value per flag; flags that would do nothing are refused; every number
form is read exactly; value lists stay lazy; start-up imports no polars.

Subprocess tests run the program as a user does (real pipes, real file-size
limits); the many refusals run in-process through ``cli.main``, which is where
a subprocess would end up too."""

from __future__ import annotations

import argparse
import errno
import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

import archsweep as asw
from archsweep import cli
from archsweep._axis import Chain

EXAMPLES = Path(__file__).parent.parent / "examples"
INT64_MAX = 2**63 - 1


def run(*args, env=None, stdout=subprocess.PIPE, **kwargs):
    return subprocess.run([sys.executable, "-m", "archsweep", *map(str, args)], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, timeout=60, env=env, **kwargs)  # fmt: skip


@pytest.fixture
def main(capsys):
    """``cli.main`` in-process, as a subprocess would see it."""

    def call(*args):
        code = cli.main([str(a) for a in args])
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return call


def one_error_line(r, *needles: str) -> str:
    """The error line, after checking it is the whole of stderr, status 2, no output."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and r.stderr.endswith("\n"), r.stderr
    assert lines[0].startswith("archsweep: error: ")
    assert "internal error" not in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# --------------------------------------------------------------------------
# One line, status 2, as a user sees it


@pytest.mark.parametrize(
    "args, needles",
    [
        (["count", "lstm", "--n-features", "32", "--n-units", "1e400"], ["--n-units", "'1e400' is too large"]),
        (["count", "conv2d", "--n-features", "3", "--n-units", "8", "--kernel", "3,5"], ["--kernel", "takes one"]),
        (["count", "lstm", "--n-units", "64"], ["required", "--n-features"]),
        (["sweep", "--bogus"], ["unrecognized arguments: --bogus"]),
        (["frobnicate"], ["invalid choice"]),
        (["summary", "missing.toml"], ["missing.toml: No such file or directory"]),
        (["sweep", "--max-bytes", "1M", "-o", "t.csv"], ["--max-bytes has no effect with -o"]),
    ],
)
def test_errors_are_one_line_in_a_subprocess(tmp_path, args, needles):
    one_error_line(run(*args, cwd=tmp_path), *needles)
    assert not list(tmp_path.iterdir())


def test_usage_errors_are_one_line_not_a_usage_text(main):
    for args in (["count"], ["count", "lstm", "--n-features"], ["sweep", "--bias", "maybe"], ["plot", "pie", "x"],
                 ["models", "x.toml"], [], ["search", "lstm", "--n-units", "1..9", "--budget", "1M"]):  # fmt: skip
        line = one_error_line(main(*args))
        assert "usage:" not in line and "--help" in line


# --------------------------------------------------------------------------
# OS errors on input and output files


def test_input_files_that_cannot_be_read(main, tmp_path):
    one_error_line(main("summary", tmp_path / "none.toml"), f"{tmp_path / 'none.toml'}: No such file or directory")
    one_error_line(main("models", tmp_path, "--budget", "1M"), f"{tmp_path}: Is a directory")
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked.toml"
        locked.write_text('input_shape = [4]\n[[layers]]\ntype = "Dense"\nunits = 3\n')
        locked.chmod(0)
        one_error_line(main("summary", locked), "locked.toml: Permission denied")


def test_output_that_is_a_directory_is_one_line(main, tmp_path):
    (tmp_path / "table.csv").mkdir()
    for args in (["sweep", "--n-units", "1..10", "-o"], ["search", "lstm", "--n-features", "8", "--n-units", "1..1G",
                                                         "--budget", "1M", "-o"]):  # fmt: skip
        one_error_line(main(*args, tmp_path / "table.csv"), "table.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_in_a_read_only_folder_is_one_line(main, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    one_error_line(main("sweep", "--n-units", "1..10", "-o", folder / "t.csv"), "ro")


def _small_file_limit():  # in the child, before exec: files may not grow past 10 kB
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # then a write fails with EFBIG instead of killing the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
@pytest.mark.parametrize("command", ["sweep", "search"])
def test_a_write_the_system_refuses_is_one_line(tmp_path, command, suffix):
    """A real failed write (the file-size limit: EFBIG, as a full disk gives ENOSPC), both the streamed writer
    (sweep -o) and the table writer (search -o), both formats: one line naming the file, no file left."""
    grids = {"sweep": ["--layer", "lstm", "--n-units", "1..20000"],
             "search": ["lstm", "--n-features", "1..3000", "--n-units", "1..1G", "--budget", "1G"]}  # fmt: skip
    r = run(command, *grids[command], "-o", tmp_path / f"big.{suffix}", preexec_fn=_small_file_limit)
    one_error_line(r, f"big.{suffix}", "File too large")
    assert not list(tmp_path.iterdir())


def test_a_full_disk_is_one_line(main, tmp_path, monkeypatch):
    """ENOSPC as polars reports it, whichever of its writers runs: an OSError without a file name (CSV) or its own
    ComputeError (Parquet)."""
    import polars as pl

    def full_csv(*args, **kwargs):
        raise OSError("No space left on device (os error 28)")

    def full_parquet(*args, **kwargs):
        raise pl.exceptions.ComputeError("parquet: underlying IO error: No space left on device (os error 28)")

    for cls in (pl.DataFrame, pl.LazyFrame):
        for name in ("write_csv", "sink_csv"):
            if hasattr(cls, name):
                monkeypatch.setattr(cls, name, full_csv)
        for name in ("write_parquet", "sink_parquet"):
            if hasattr(cls, name):
                monkeypatch.setattr(cls, name, full_parquet)
    for suffix in ("csv", "parquet"):
        out = tmp_path / f"t.{suffix}"
        one_error_line(main("search", "lstm", "--n-features", "8,16", "--n-units", "1..1G", "--budget", "1M", "-o",
                            out), str(out), "No space left on device")  # fmt: skip
        one_error_line(main("sweep", "--n-units", "1..10", "-o", out), str(out), "No space left on device")
    assert not list(tmp_path.iterdir())


def test_an_os_error_with_an_errno_names_the_file(main, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "t.csv"))

    monkeypatch.setattr("archsweep._sweep.sweep", full)
    assert one_error_line(main("sweep")) == f"archsweep: error: {tmp_path / 't.csv'}: No space left on device"


# --------------------------------------------------------------------------
# Bad TOML


def _toml(tmp_path, data: bytes | str) -> Path:
    path = tmp_path / "m.toml"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_toml_that_is_not_utf8(main, tmp_path):
    path = _toml(tmp_path, b'input_shape = [4]\n[[layers]]\ntype = "Dense"\nunits = \xff\n')
    for args in (["summary", path], ["models", path, "--budget", "1M"]):
        one_error_line(main(*args), "m.toml", "line 4 is not UTF-8", "0xff")


def test_toml_that_never_ends_is_refused_after_a_bound(main, tmp_path, monkeypatch):
    monkeypatch.setattr("archsweep._spec.MAX_FILE_BYTES", 1000)
    long = _toml(tmp_path, "# " + "x" * 1000)
    one_error_line(main("summary", long), "m.toml: over 1,000 bytes, too large for a model file")
    one_error_line(main("summary", "/dev/zero"), "/dev/zero: over")


@pytest.mark.parametrize("nesting", ["[" * 5000 + "]" * 5000, "{a = " * 5000 + "1" + "}" * 5000])
def test_toml_nested_too_deeply(tmp_path, nesting):
    # In a subprocess: the recursion limit is the interpreter's, not pytest's.
    one_error_line(run("summary", _toml(tmp_path, f"x = {nesting}\n")), "m.toml: nested too deeply")


@pytest.mark.parametrize(
    "text, needle",
    [
        ("input_shape = [3\n", "not valid TOML"),
        ("input_shape = [4]\nlayers = 3\n", "layers must be an array"),
        ('input_shape = "x"\nlayers = []\n', "input_shape"),
        ('input_shape = [4]\n[[layers]]\nchoice = 5\n', "a choice is"),
        ('input_shape = [4]\n[[layers]]\ntype = "Dense"\nunits = 1979-05-27\n', "units"),
        ('input_shape = [4]\n[[layers]]\nrepeat = { type = "Dense", units = 3 }\nmax = inf\n', "repeat max"),
        ("", "input_shape"),
    ],
)
def test_toml_of_the_wrong_structure(main, tmp_path, text, needle):
    path = _toml(tmp_path, text)
    for args in (["summary", path], ["models", path, "--budget", "1M"]):
        one_error_line(main(*args), needle)


def test_summary_of_a_layer_choice_of_none(main, tmp_path):
    # A layer that is always left out is no layer: the summary of no layers.
    r = main("summary", _toml(tmp_path, 'input_shape = [4]\n[[layers]]\nchoice = ["none"]\n'))
    assert r.returncode == 0 and "Total params: 0" in r.stdout


# --------------------------------------------------------------------------
# Failures that are not archsweep's refusals: still one line


def test_an_unexpected_exception_is_an_internal_error_line(main, monkeypatch):
    def bug(*args, **kwargs):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr("archsweep._count.count", bug)
    r = main("count", "lstm", "--n-features", "32", "--n-units", "64")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    assert r.stderr.startswith("archsweep: error: internal error") and "please report" in r.stderr
    assert "ZeroDivisionError: division by zero; second line" in r.stderr
    monkeypatch.setenv("ARCHSWEEP_TRACEBACK", "1")
    r = main("count", "lstm", "--n-features", "32", "--n-units", "64")
    assert r.returncode == 2 and "Traceback" in r.stderr and r.stderr.splitlines()[-1].startswith("archsweep: error")


def test_out_of_memory_is_one_line(main, monkeypatch):
    def huge(*args, **kwargs):
        raise MemoryError("Unable to allocate 2.4 GiB")

    monkeypatch.setattr("archsweep._sweep.sweep", huge)
    one_error_line(main("sweep"), "out of memory (Unable to allocate 2.4 GiB)", "--budget")


def test_an_archsweep_message_of_several_lines_is_one_line(main, monkeypatch):
    def refuse(*args, **kwargs):
        raise asw.InvalidArgumentError("first\n  second\n")

    monkeypatch.setattr("archsweep._sweep.sweep", refuse)
    assert one_error_line(main("sweep")) == "archsweep: error: first; second"


# --------------------------------------------------------------------------
# A closed pipe


@pytest.mark.parametrize("unbuffered", [True, False])
@pytest.mark.parametrize(
    "args",
    [["summary", EXAMPLES / "mnist_cnn.toml"], ["sweep"], ["count", "lstm", "--n-features", "3", "--n-units", "4"],
     ["count", "--help"]],
)  # fmt: skip
def test_a_closed_pipe_exits_quietly(args, unbuffered):
    """stdout's reader is gone before the first write (``| true``): status 141, nothing on stderr."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    read, write = os.pipe()
    os.close(read)
    try:
        r = run(*args, env=env, stdout=write)
    finally:
        os.close(write)
    # argparse itself ignores a failed write of --help when stdout is unbuffered: then the status is 0.
    assert r.stderr == "" and r.returncode in ((141, 0) if "--help" in args else (141,))


def test_head_of_a_pipe_gets_the_first_line_and_nothing_else_is_said(tmp_path):
    script = f"{sys.executable} -m archsweep summary {EXAMPLES / 'mnist_cnn.toml'} | head -1"
    r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    assert r.stdout.split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"] and r.stderr == ""


# --------------------------------------------------------------------------
# count takes one value on every flag


MANY = ["1,2", "1..2", "3,5", "1x7,3", "both", "keras,torch", "1..1G"]


def test_count_refuses_more_than_one_value_on_every_flag(main):
    count = cli._Parser()
    cli._count_arguments(count)
    typed = [a for a in count._actions if a.type is not None]
    assert {a.dest for a in typed} >= {"n_features", "n_units", "kernel", "convention", "groups", "reset_after"}
    base = {"n_features": "32", "n_units": "64"}
    for action in typed:
        refused = 0
        for many in MANY:
            values = {**base, action.dest: many}
            flags = [x for dest, v in values.items() for x in (f"--{dest.replace('_', '-')}", v)]
            r = main("count", "gru", *flags)
            assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
            refused += "count takes one" in r.stderr
        assert refused, action.dest  # every value flag has some text that means several values, and refuses it


def test_count_takes_one_value_in_any_spelling(main):
    r = main("count", "conv2d", "--n-features", "0.003k", "--n-units", "64..64", "--kernel", "1x7", "--groups", "1e0",
             "--convention", "torch")  # fmt: skip
    assert r.returncode == 0 and int(r.stdout) == asw.count_params("conv2d", 3, 64, kernel=(1, 7), convention="torch")
    r = main("count", "gru", "--n-features", "3", "--n-units", "4", "--reset-after", "false")
    assert int(r.stdout) == asw.count_params("gru", 3, 4, reset_after=False)


# --------------------------------------------------------------------------
# Flags that would do nothing


FLAG_ARGS = {"max_bytes": ["--max-bytes", "1G"], "no_progress": ["--no-progress"], "count": ["--count"],
             "limit": ["--limit", "3"], "output": ["-o", "OUT"], "sample": ["--sample", "3"], "seed": ["--seed", "1"],
             "band": ["--band", "0,400k"], "replace": ["--replace"]}  # fmt: skip
BASE_ARGS = {"sweep": ["sweep", "--n-units", "1..10"],
             "models": ["models", str(EXAMPLES / "text_space.toml"), "--budget", "400k"]}  # fmt: skip


def _argv(command, dests, tmp_path):
    flags = [x.replace("OUT", str(tmp_path / "t.csv")) for d in dests for x in FLAG_ARGS[d]]
    return [*BASE_ARGS[command], *flags]


@pytest.mark.parametrize("rule", cli.NO_EFFECT, ids=lambda r: f"{r[0]}-{r[1]}-{r[2]}-{r[3]}")
def test_a_flag_without_effect_is_refused_before_any_work(main, tmp_path, rule):
    command, dest, relation, other, why = rule
    given = [dest, other] if relation == "with" else [dest]
    argv = _argv(command, given, tmp_path)
    assert set(vars(cli._parser(argv).parse_args(argv))) >= {dest, other}  # the table names real flags
    line = one_error_line(main(*argv), "has no effect", relation, why)
    assert FLAG_ARGS[dest][0] in line and FLAG_ARGS[other][0] in line
    assert not list(tmp_path.iterdir())
    # ... and the flag alone (with) or with the other (without) is taken.
    fine = [dest] if relation == "with" else [dest, other]
    r = main(*_argv(command, fine, tmp_path))
    assert r.returncode == 0, r.stderr


def test_an_option_given_twice_is_refused(main, tmp_path):
    """The first of two would do nothing: every option of every command is recorded once, and refused twice."""
    for name, (_, _, arguments, _) in cli.COMMANDS.items():
        p = cli._Parser()
        arguments(p)
        for action in p._actions:
            if not isinstance(action, argparse._HelpAction):
                assert type(action) in (cli._Store, cli._StoreTrue), (name, action.dest)
    for args in (["count", "lstm", "--n-features", "3", "--n-units", "4", "--n-units", "4"],
                 ["count", "lstm", "--n-features", "3", "--n-units", "4", "--no-bias", "--no-bias"],
                 ["sweep", "-o", tmp_path / "a.csv", "--output", tmp_path / "b.csv"],
                 ["models", EXAMPLES / "text_space.toml", "--budget", "1M", "--budget", "2M"]):  # fmt: skip
        one_error_line(main(*args), "given twice")
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------
# Numbers: every form, exactly, wherever a number goes


@st.composite
def spelled(draw, values=st.integers(0, INT64_MAX)):
    """(n, a spelling of n): plain, with _, with a suffix and decimals, with an exponent, leading zeros."""
    n = draw(values)
    form = draw(st.sampled_from(["plain", "underscores", "suffix", "exponent"]))
    if form == "plain":
        text = draw(st.sampled_from(["", "0", "00", "+"])) + str(n)
    elif form == "underscores":
        digits = str(n)
        cuts = sorted(draw(st.sets(st.integers(1, max(1, len(digits) - 1)), max_size=len(digits) - 1)))
        cuts = [c for c in cuts if 0 < c < len(digits)]
        text = "_".join(digits[a:b] for a, b in zip([0, *cuts], [*cuts, len(digits)]))
    else:
        if form == "suffix":
            letter = draw(st.sampled_from("kKmMgGtT"))
            power = {"k": 3, "m": 6, "g": 9, "t": 12}[letter.lower()]
        else:
            power = draw(st.integers(-3, 25))
        if power >= 0:
            whole, rest = divmod(n, 10**power)
            fraction = str(rest).rjust(power, "0").rstrip("0") if power else ""
            fraction += draw(st.sampled_from(["", "0", "000"])) if fraction or power else ""
            mantissa = f"{whole}.{fraction}" if fraction else str(whole)
        else:
            mantissa = str(n * 10**-power)
        if form == "suffix":
            text = mantissa + letter
        else:
            e = draw(st.sampled_from("eE"))
            text = f"{mantissa}{e}{draw(st.sampled_from(['', '+'])) if power >= 0 else ''}{power}"
    return n, text


@given(spelled())
def test_every_spelling_of_a_number_is_read_exactly(case):
    n, text = case
    assert cli.parse_number(text) == n, text
    assert cli.parse_number(f" {text} ") == n  # spaces around an item, as in "1, 2"


@given(spelled(st.integers(INT64_MAX + 1, 10**40)))
def test_numbers_past_int64_are_too_large(case):
    n, text = case
    with pytest.raises(Exception, match="too large"):
        cli.parse_number(text)


@given(spelled(st.integers(0, 10**15)), st.integers(1, 9), st.sampled_from(["", "k", "e3"]))
def test_a_fraction_is_not_a_whole_number(case, digit, scale):
    # n.000d with d nonzero beyond the scale's digits: never whole
    n, _ = case
    with pytest.raises(Exception, match="not a whole number"):
        cli.parse_number(f"{n}.0000{digit}{scale}")


@pytest.mark.parametrize(
    "text, value",
    [("4.1M", 4_100_000), ("250k", 250_000), ("1.5e6", 1_500_000), ("1_000", 1000), ("9.223372036854775807e18",
     INT64_MAX), ("0e999999999", 0), ("1.2340e3", 1234), ("5T", 5 * 10**12), ("-3", -3), ("0.5k", 500)],
)  # fmt: skip
def test_documented_numbers(text, value):
    assert cli.parse_number(text) == value


@pytest.mark.parametrize(
    "text, message",
    [("1e400", "too large"), ("9223372036854775808", "too large"), ("1e999999999", "too large"),
     ("1" + "0" * 5000, "too large"), ("2.5", "not a whole number"), ("1e-999999999", "not a whole number"),
     ("0.5", "not a whole number"), ("1.5k1", "not a number"), ("1_", "not a number"), ("_1", "not a number"),
     ("1__0", "not a number"), ("0x10", "not a number"), ("1e3k", "not a number"), ("nan", "not a number"),
     ("inf", "not a number"), ("", "not a number"), ("1.", "not a number"), (".5", "not a number"),
     ("1,5", "not a number"), ("٣", "not a number")],
)  # fmt: skip
def test_malformed_numbers(text, message):
    with pytest.raises(Exception, match=message):
        cli.parse_number(text)


def test_ranges_and_lists():
    assert cli.parse_values("1..1.5e6") == range(1, 1_500_001)
    assert cli.parse_values("0.5k..1k:100") == range(500, 1001, 100)
    assert cli.parse_values("1_000..2k:1e2") == range(1000, 2001, 100)
    assert cli.parse_values("3, 5 ,7") == [3, 5, 7]
    for text, message in [("5..1", "is empty"), ("1..9:0", "step must be at least 1"), ("1..", "not a number"),
                          ("1..2..3", "not a number"), ("1:2", "not a number"), ("3,,5", "not a number")]:  # fmt: skip
        with pytest.raises(Exception, match=message):
            cli.parse_values(text)
    assert cli.parse_kernel("3, 1x7,3X3x3,1.5e1") == [3, (1, 7), (3, 3, 3), 15]
    with pytest.raises(Exception, match="not a range"):
        cli.parse_kernel("1..7")


def test_every_number_flag_takes_every_form():
    """The same parser behind every number of every command: parsed namespaces, no command run."""
    cases = [
        (["sweep", "--n-features", "0.5k..1k:100", "--n-units", "1..1.5e6", "--budget", "4.1M", "--max-bytes",
          "1.5G", "--groups", "1_0", "--kernel", "1e0x7"],
         dict(n_features=range(500, 1001, 100), n_units=range(1, 1_500_001), budget=4_100_000,
              max_bytes=1_500_000_000, groups=[10], kernel=[(1, 7)])),
        (["models", "x.toml", "--budget", "2.5e5", "--limit", "1_000", "--max-bytes", "0.25T"],
         dict(budget=250_000, limit=1000, max_bytes=250_000_000_000)),
        (["search", "lstm", "--n-features", "64,0.128k", "--n-units", "1..1G", "--budget", "1.5e6"],
         dict(n_features=[64, 128], n_units=range(1, 10**9 + 1), budget=1_500_000)),
        (["plot", "heatmap", "lstm", "-o", "x.png", "--n-features", "1..0.256k", "--n-units", "1e0..1.024k",
          "--budget", "500k"], dict(n_features=range(1, 257), n_units=range(1, 1025), budget=500_000)),
        (["count", "lstm", "--n-features", "3.2e1", "--n-units", "0.064k", "--groups", "1e0"],
         dict(n_features=32, n_units=64, groups=1)),
    ]  # fmt: skip
    for argv, expected in cases:
        args = vars(cli._parser(argv).parse_args(argv))
        assert {k: args[k] for k in expected} == expected


# --------------------------------------------------------------------------
# Lazy value lists


def test_huge_value_lists_stay_lazy():
    values = cli.parse_values("1..1G,2G")
    assert isinstance(values, Chain) and values.parts == (range(1, 10**9 + 1), range(2 * 10**9, 2 * 10**9 + 1))
    assert values.size == 10**9 + 1
    values = cli.parse_values("1..9e18,9.2e18,5")
    assert isinstance(values, Chain) and values.size == 9 * 10**18 + 2
    assert cli.parse_values("1..9.2e18") == range(1, 9_200_000_000_000_000_001)
    assert cli.parse_values("7..7") == range(7, 8)


def test_a_small_chain_gives_the_table_of_its_list(main, tmp_path):
    for command in (["sweep", "--layer", "lstm,gru"], ["search", "lstm,gru", "--budget", "1M"]):
        chained = main(*command, "--n-features", "8,16..20:2,100", "--n-units", "1..30,50,64..70")
        listed = main(*command, "--n-features", "8,16,18,20,100", "--n-units", ",".join(
            map(str, [*range(1, 31), 50, *range(64, 71)])))  # fmt: skip
        assert chained.returncode == 0 and chained.stdout == listed.stdout


# --------------------------------------------------------------------------
# Start-up: no polars (or tqdm, matplotlib, importlib.metadata) where no table is made


SLOW = ("polars", "tqdm", "matplotlib", "importlib.metadata")


def _imported_by(code: str) -> list[str]:
    probe = f"""
import sys
{code}
print(sorted(m for m in sys.modules if m.split(".")[0] in {SLOW!r} or m in {SLOW!r}))
"""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(probe)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return eval(r.stdout.splitlines()[-1])


def test_import_and_count_do_not_import_polars():
    assert _imported_by("import archsweep") == []
    count = "from archsweep import cli\n" + (
        'assert cli.main(["count", "lstm", "--n-features", "32", "--n-units", "64"]) == 0'
    )
    assert _imported_by(count) == []
    assert "polars" in _imported_by("from archsweep import sweep")


def test_lazy_names_are_the_real_ones():
    import archsweep
    from archsweep import _model, _sweep

    assert set(archsweep.__all__) <= set(dir(archsweep))
    assert archsweep.sweep is _sweep.sweep and archsweep.Model is _model.Model
    assert isinstance(archsweep.__version__, str) and archsweep.layers.Dense is asw.layers.Dense
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        archsweep.nope  # noqa: B018
    namespace: dict = {}
    exec("from archsweep import *", namespace)
    assert set(archsweep.__all__) <= set(namespace)
