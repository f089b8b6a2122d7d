"""``archsweep summary`` and ``archsweep models`` on TOML files (in-process,
and once as a user runs it), and the TOML schema's refusals."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

import archsweep as asw
from archsweep import cli
from archsweep._spec import model_from_spec, read_model

EXAMPLES = Path(__file__).parent.parent / "examples"
L = asw.layers


@pytest.fixture
def run(capsys):
    def call(*args):
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as exc:  # argparse's refusals
            code = exc.code
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return call


def test_summary_as_a_user_runs_it():
    r = subprocess.run([sys.executable, "-m", "archsweep", "summary", str(EXAMPLES / "mnist_cnn.toml")],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    assert lines[2].split() == ["conv2d", "(Conv2D)", "(None,", "28,", "28,", "32)", "320"]
    assert lines[-3:] == ["Total params: 315,146", "Trainable params: 315,146", "Non-trainable params: 0"]


def test_summary_backends_agree(run):
    assert run("summary", EXAMPLES / "mnist_cnn.toml", "--backend", "python").stdout == run(
        "summary", EXAMPLES / "mnist_cnn.toml"
    ).stdout


def test_models_lists_counts_and_writes(run, tmp_path):
    space = read_model(EXAMPLES / "text_space.toml")
    r = run("models", EXAMPLES / "text_space.toml", "--budget", "1M", "--count")
    assert r.returncode == 0 and int(r.stdout) == asw.count_models(space, 10**6) == 1404
    out = tmp_path / "best.parquet"
    r = run("models", EXAMPLES / "text_space.toml", "--budget", "1M", "--limit", "50", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "1,404 of 2,106 architectures fit budget 1,000,000" in r.stderr
    assert pl.read_parquet(out).equals(asw.search_models(space, 1_000_000, limit=50))
    r = run("models", EXAMPLES / "text_space.toml", "--budget", "400k")
    assert r.returncode == 0 and "params" in r.stdout and "embed" in r.stdout
    # Two budgets: the models within both, a column for each, ranked by the first named.
    both = {"flops": 20_000_000, "params": 1_000_000}
    r = run("models", EXAMPLES / "text_space.toml", "--budget", "flops=20M,params=1M", "-o", out)
    assert r.returncode == 0, r.stderr
    table = pl.read_parquet(out)
    assert table.equals(asw.search_models(space, both)) and table.columns[-2:] == ["flops", "params"]
    assert 0 < table.height < 1404 and (table["flops"] <= 20_000_000).all() and (table["params"] <= 10**6).all()
    assert f"{table.height:,} of 2,106 architectures fit budget flops 20,000,000, params 1,000,000" in r.stderr


def test_models_samples_uniformly_and_reproducibly(run, tmp_path):
    space = read_model(EXAMPLES / "text_space.toml")
    out = tmp_path / "drawn.parquet"
    r = run("models", EXAMPLES / "text_space.toml", "--budget", "1M", "--sample", "20", "--seed", "7",
            "--band", "500k,1M", "-o", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "20 drawn uniformly" in r.stderr
    expected = asw.sample_models(space, 1_000_000, 20, seed=7, band=(500_000, 1_000_000))
    assert pl.read_parquet(out).equals(expected) and expected["params"].is_between(500_000, 10**6).all()
    r = run("models", EXAMPLES / "text_space.toml", "--budget", "1M", "--sample", "5000")
    assert r.returncode == 2 and "only 1,404 fit budget=1,000,000; lower k or pass replace=True" in r.stderr
    r = run("models", EXAMPLES / "text_space.toml", "--budget", "1M", "--sample", "5000", "--replace", "-o", out)
    assert r.returncode == 0 and pl.read_parquet(out).height == 5000
    for extra, message in ((["--seed", "1"], "--seed seeds the draw of --sample"),
                           (["--sample", "3", "--limit", "2"], "--sample draws from every fitting model"),
                           (["--band", "5,1", "--sample", "2"], "band must have lo <= hi"),
                           (["--band", "5", "--sample", "2"], "'5' is not LO,HI")):  # fmt: skip
        r = run("models", EXAMPLES / "text_space.toml", "--budget", "1M", *extra)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_command_line_refusals(run, tmp_path):
    r = run("models", tmp_path / "missing.toml", "--budget", "1M")
    assert r.returncode == 2 and r.stderr == f"archsweep: error: {tmp_path / 'missing.toml'}: No such file or directory\n"
    bad = tmp_path / "bad.toml"
    bad.write_text("input_shape = [3\n")
    r = run("summary", bad)
    assert r.returncode == 2 and "not valid TOML" in r.stderr
    r = run("summary", EXAMPLES / "text_space.toml")
    assert r.returncode == 2 and "space of 2,106 architectures" in r.stderr
    r = run("models", EXAMPLES / "text_space.toml", "--budget", "1M", "-o", tmp_path / "t.xlsx")
    assert r.returncode == 2 and ".csv or .parquet" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_spec_builds_the_same_model_as_python():
    spec = {
        "input_shape": [20, "none"],
        "layers": [
            {"type": "conv1d", "filters": {"choice": [4, 8], "name": "f"}, "kernel": {"choice": [3, [5]]}},
            {"choice": [{"type": "Bidirectional", "layer": {"type": "LSTM", "units": 4}, "merge": "sum"}, "none"]},
            {"repeat": [{"type": "Dense", "units": 3}, {"type": "Dropout", "rate": 0.1}], "min": 0, "max": 2},
        ],
    }
    with pytest.raises(asw.InvalidArgumentError, match=r"layer 0 \(Conv1D\): Conv1D needs a known last axis"):
        model_from_spec(spec)
    spec["input_shape"] = [20, 2]
    from_spec = model_from_spec(spec)
    by_hand = asw.Model((20, 2), [
        L.Conv1D(asw.choice(4, 8, name="f"), asw.choice(3, (5,))),
        asw.choice(L.Bidirectional(L.LSTM(4), merge="sum"), None),
        asw.repeat([L.Dense(3), L.Dropout(0.1)], 0, 2),
    ])  # fmt: skip
    assert from_spec.choices == by_hand.choices == ["f", "0.kernel", "1", "2.depth"]
    assert asw.search_models(from_spec, 10**6).equals(asw.search_models(by_hand, 10**6))


@pytest.mark.parametrize(
    ("spec", "exc", "pieces"),
    [
        ({"input_shape": [3], "layers": [{"type": "Dense2"}]}, asw.InvalidArgumentError, ["layers[0]", "'Dense'"]),
        ({"input_shape": [3], "layers": [{"type": "Dense", "unit": 3}]}, asw.ArgumentTypeError, ["layers[0]", "unit"]),
        ({"input_shape": [3], "layers": [{"type": "Dense", "units": {"choice": 3}}]}, asw.InvalidArgumentError,
         ["layers[0].units", "choice = [...]"]),
        ({"input_shape": [3], "layers": [{"units": 3}]}, asw.InvalidArgumentError, ["layers[0]", "type = ..."]),
        ({"input_shape": [3], "layers": [{"repeat": {"type": "Dense", "units": 3}}]}, asw.InvalidArgumentError,
         ["layers[0]", "max = ..."]),
        ({"input_shape": [3]}, asw.InvalidArgumentError, ["needs layers"]),
        ({"input_shape": [3], "layers": [], "inputs": 3}, asw.InvalidArgumentError, ["'inputs'"]),
    ],
)
def test_spec_refusals_name_the_place(spec, exc, pieces):
    with pytest.raises(exc) as info:
        model_from_spec(spec)
    for piece in pieces:
        assert piece in str(info.value)
