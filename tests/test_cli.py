"""The command line, run as a user would (a subprocess), and in-process for
the failure paths that must leave files alone."""

import signal
import subprocess
import sys
import time

import polars as pl
import pytest

import archsweep as asw
from archsweep import _sink, _sweep, cli
from archsweep._axis import Chain


def run(*args):
    return subprocess.run([sys.executable, "-m", "archsweep", *args], capture_output=True, text=True, timeout=120)


def test_count():
    r = run("count", "lstm", "--n-features", "32", "--n-units", "64")
    assert r.returncode == 0 and r.stdout.strip() == "24832"
    r = run("count", "gru", "--n-features", "32", "--n-units", "64", "--convention", "tf1", "--bidirectional")
    assert r.stdout.strip() == "37248"
    r = run("count", "conv2d", "--n-features", "3", "--n-units", "64", "--kernel", "1x7", "--no-bias")
    assert r.stdout.strip() == str(7 * 3 * 64)


def test_count_errors_name_the_argument():
    r = run("count", "lsmt", "--n-features", "32", "--n-units", "64")
    assert r.returncode == 2 and "'lstm'" in r.stderr and "layer" in r.stderr
    r = run("count", "lstm", "--n-features", "0", "--n-units", "64")
    assert r.returncode == 2 and "n_features" in r.stderr
    r = run("count", "lstm", "--n-features", "1..4", "--n-units", "64")
    assert r.returncode == 2 and "sweep" in r.stderr


def test_default_sweep_prints_a_table():
    r = run("sweep")
    assert r.returncode == 0, r.stderr
    assert "rnn" in r.stdout and "gru" in r.stdout and "params" in r.stdout and "shape: (12_288, 8)" in r.stdout


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_sweep_to_file(tmp_path, suffix):
    out = tmp_path / f"table.{suffix}"
    r = run("sweep", "--layer", "conv2d", "--n-features", "3,16,64", "--n-units", "8..512:8",
            "--kernel", "1,3,1x7,5x5", "--bias", "both", "--budget", "100k", "-o", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    expected = asw.sweep("conv2d", [3, 16, 64], range(8, 513, 8), kernel=[1, 3, (1, 7), (5, 5)],
                         bias=[False, True], budget=100_000)  # fmt: skip
    back = pl.read_parquet(out) if suffix == "parquet" else pl.read_csv(out, schema=expected.schema)
    assert back.equals(expected)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_numbers_and_ranges():
    assert cli.parse_number("5M") == 5_000_000
    assert cli.parse_number("250k") == 250_000
    assert cli.parse_number("1.5e6") == 1_500_000
    assert cli.parse_values("1..4") == range(1, 5)
    values = cli.parse_values("8..32:8,100")
    assert isinstance(values, Chain) and list(values) == [8, 16, 24, 32, 100]
    assert cli.parse_kernel("3,1x7,3x3x3") == [3, (1, 7), (3, 3, 3)]
    with pytest.raises(Exception, match="not a whole number"):
        cli.parse_number("1.5")


def test_failed_sweep_leaves_existing_file_untouched(tmp_path, capsys):
    out = tmp_path / "table.csv"
    out.write_text("precious\n")
    # The last n_units overflows int64 (no budget): an error mid-stream.
    code = cli.main(["sweep", "--layer", "lstm", "--n-units", "1,2,3,4,5,6,7,8,9,10,3037000499", "-o", str(out)])
    assert code == 2 and "int64" in capsys.readouterr().err
    assert out.read_text() == "precious\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_interrupted_stream_leaves_no_partial_file(tmp_path, monkeypatch):
    out = tmp_path / "table.parquet"
    out.write_bytes(b"old")
    real = _sweep.Plan.build
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_sink, "PIECE", 1000)
    monkeypatch.setattr(_sweep.Plan, "build", interrupted)
    assert cli.main(["sweep", "--n-units", "1..4000", "-o", str(out), "--no-progress"]) == 130
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


def test_ctrl_c_stops_a_long_sweep_quickly(tmp_path):
    """A real SIGINT to a sweep of 4e9 grid points (minutes of work)."""
    out = tmp_path / "big.parquet"
    proc = subprocess.Popen(
        [sys.executable, "-m", "archsweep", "sweep", "--layer", "lstm", "--n-features", "1..4000",
         "--n-units", "1..1000000", "-o", str(out), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(3.0)
    assert proc.poll() is None, proc.communicate()
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert time.monotonic() - sent < 2.0
    assert proc.returncode == 130
    assert not list(tmp_path.iterdir())


def test_bad_extension_is_refused_before_work(tmp_path):
    r = run("sweep", "-o", str(tmp_path / "t.xlsx"))
    assert r.returncode == 2 and ".csv or .parquet" in r.stderr
    assert not list(tmp_path.iterdir())


def test_count_takes_every_kind_s_arguments(capsys):
    # Every registered kind from the command line: its arguments are flags of their own names, checked
    # against a framework case of each kind and quantity.
    import json
    from pathlib import Path

    from archsweep import cli

    seen = set()
    for framework in ("keras", "torch"):
        for line in open(Path(__file__).parent / "data" / f"{framework}_catalogue.jsonl"):
            r = json.loads(line)
            if "error" in r or r["layer"] in seen or "padding_idx" in r["args"]:
                continue
            seen.add(r["layer"])
            argv = ["count", r["layer"], "--convention", framework]
            for name, value in r["args"].items():
                if name in ("output_padding", "dilation"):
                    continue
                flag = "--" + name.replace("_", "-")
                if name == "bias":
                    argv += [] if value else ["--no-bias"]
                elif name == "bidirectional":
                    argv += ["--bidirectional"] if value else []
                elif name == "kernel":
                    argv += [flag, "x".join(map(str, value)) if isinstance(value, list) else str(value)]
                elif isinstance(value, bool):
                    argv += [flag, str(value).lower()]
                else:
                    argv += [flag, "none" if value is None else str(value)]
            for quantity in ("params", "buffers", "non_trainable"):
                assert cli.main([*argv, "--quantity", quantity]) == 0, argv
                assert capsys.readouterr().out.strip() == str(r[quantity]), (argv, quantity)
    assert len(seen) >= 15


def test_a_printed_table_shows_only_columns_that_say_something(tmp_path):
    # The default sweep has no conv rows: kernel and groups are null on every row, so they are not
    # printed; the file keeps the whole schema.
    printed = run("sweep", "--n-units", "1..3")
    header = next(line for line in printed.stdout.splitlines() if "layer" in line)
    assert "kernel_w" not in header and "groups" not in header and "reset_after" in header
    path = tmp_path / "t.parquet"
    assert run("sweep", "--n-units", "1..3", "-o", str(path)).returncode == 0
    full = pl.read_parquet(path)
    assert {"kernel_d", "kernel_h", "kernel_w", "groups"} <= set(full.columns)
    assert full["groups"].null_count() == full.height


@pytest.mark.parametrize(
    ("argv", "call"),
    [
        (["sweep", "--layer", "mha", "--n-features", "8,16", "--num-heads", "1,2", "--key-dim", "4",
          "--kdim", "none,3", "--convention", "keras,torch"],
         lambda: asw.sweep("mha", [8, 16], num_heads=[1, 2], key_dim=4, kdim=[None, 3], convention=["keras", "torch"])),
        (["sweep", "--layer", "batchnorm,layernorm", "--n-features", "1..64", "--convention", "torch",
          "--quantity", "buffers,params", "--affine", "both", "--budget", "100"],
         lambda: asw.sweep(["batchnorm", "layernorm"], range(1, 65), convention="torch",
                           quantity=["buffers", "params"], affine=[False, True], budget=100)),
        (["search", "lstm", "--n-features", "32", "--n-units", "17..1G", "--num-layers", "1..3",
          "--proj-size", "0,16", "--convention", "torch", "--budget", "1M"],
         lambda: asw.search("lstm", 32, range(17, 10**9 + 1), num_layers=[1, 2, 3], proj_size=[0, 16],
                            convention="torch", budget=10**6)),
    ],
)  # fmt: skip
def test_grid_commands_take_every_kind_s_arguments(tmp_path, argv, call):
    """sweep and search on the command line: the registry's arguments as flags, the same table as Python's."""
    out = tmp_path / "t.parquet"
    assert cli.main([*argv, "-o", str(out), *(["--no-progress"] if argv[0] == "sweep" else [])]) == 0
    expected = call()
    assert expected.height > 0 and pl.read_parquet(out).equals(expected)
