"""archsweep search and archsweep plot, run as a user would (a subprocess),
and in-process for the paths that must leave files alone."""

import subprocess
import sys
import xml.etree.ElementTree as ET

import polars as pl
import pytest

import archsweep as asw
from archsweep import cli

PNG = b"\x89PNG\r\n\x1a\n"


def run(*args):
    return subprocess.run([sys.executable, "-m", "archsweep", *args], capture_output=True, text=True, timeout=120)


def test_search_prints_the_table():
    r = run("search", "lstm,gru", "--n-features", "32,128", "--n-units", "1..1G", "--budget", "5M")
    assert r.returncode == 0, r.stderr
    assert "shape: (4, 9)" in r.stdout and "slack" in r.stdout
    # The widest Keras LSTM on 128 features under 5M: 4·u·(128 + u + 1) <= 5,000,000 at u = 1055.
    assert "1055" in r.stdout and "4996480" in r.stdout


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_search_to_file_matches_the_api(tmp_path, suffix):
    out = tmp_path / f"best.{suffix}"
    r = run("search", "conv2d", "--n-features", "3,16,64", "--n-units", "8..1G:8", "--kernel", "3,1x7",
            "--bias", "both", "--groups", "1,2", "--budget", "1.5e6", "-o", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    expected = asw.search("conv2d", [3, 16, 64], range(8, 10**9 + 1, 8), kernel=[3, (1, 7)], bias=[False, True],
                          groups=[1, 2], budget=1_500_000)  # fmt: skip
    back = pl.read_parquet(out) if suffix == "parquet" else pl.read_csv(out, schema=expected.schema)
    # 3·2·2·2 combinations, less the 4 with groups=2 on 3 features.
    assert back.equals(expected) and back.height == 20
    assert f"wrote {expected.height} rows" in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_search_maximizes_n_features_with_budget_suffixes():
    r = run("search", "dense", "--n-features", "1..1T", "--n-units", "1000", "--budget", "250k",
            "--maximize", "n_features")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "249" in r.stdout  # 1000·f + 1000 <= 250,000 at f = 249


def test_search_errors():
    r = run("search", "lstm", "--n-features", "8", "--n-units", "1..100")
    assert r.returncode == 2 and "--budget" in r.stderr
    r = run("search", "lstm", "--n-features", "8", "--n-units", "1..100", "--budget", "5M", "--maximize", "kernel")
    assert r.returncode == 2 and "--maximize" in r.stderr
    r = run("search", "lstm", "--n-features", "8", "--n-units", "0..100", "--budget", "5M")
    assert r.returncode == 2 and "n_units must be at least 1" in r.stderr
    r = run("search", "lstm", "--n-features", "8", "--n-units", "1..100", "--budget", "5M", "-o", "t.xlsx")
    assert r.returncode == 2 and ".csv or .parquet" in r.stderr


def test_failed_search_leaves_existing_file_untouched(tmp_path, capsys):
    out = tmp_path / "best.csv"
    out.write_text("precious\n")
    code = cli.main(["search", "dense", "--n-features", "8", "--n-units", "1..100", "--budget", "1k",
                     "--kernel", "3", "-o", str(out)])  # fmt: skip
    assert code == 2 and "kernel" in capsys.readouterr().err
    assert out.read_text() == "precious\n"
    assert [p.name for p in tmp_path.iterdir()] == ["best.csv"]


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_plot_writes_pictures(tmp_path, suffix):
    pytest.importorskip("matplotlib")
    heat, front = tmp_path / f"heat.{suffix}", tmp_path / f"front.{suffix}"
    r = run("plot", "heatmap", "lstm", "--n-features", "1..64", "--n-units", "1..512", "--budget", "250k",
            "-o", str(heat))  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = run("plot", "frontier", "rnn,lstm,gru", "--n-features", "1..1024", "--n-units", "1..1G", "--budget", "1M",
            "-o", str(front))  # fmt: skip
    assert r.returncode == 0, r.stderr
    for path in (heat, front):
        data = path.read_bytes()
        assert len(data) > 10_000
        if suffix == "png":
            assert data.startswith(PNG)
        else:
            assert ET.fromstring(data).tag == "{http://www.w3.org/2000/svg}svg"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([heat.name, front.name])


def test_plot_errors(tmp_path):
    r = run("plot", "heatmap", "lstm", "--n-features", "1..8", "--n-units", "1..8", "--budget", "1k",
            "-o", str(tmp_path / "x.pdf"))  # fmt: skip
    assert r.returncode == 2 and ".png or .svg" in r.stderr
    r = run("plot", "heatmap", "lstm,gru", "--n-features", "1..8", "--n-units", "1..8", "--budget", "1k",
            "-o", str(tmp_path / "x.png"))  # fmt: skip
    assert r.returncode == 2 and "layer takes one value" in r.stderr
    r = run("plot", "pie", "lstm", "--n-features", "1..8", "--n-units", "1..8", "--budget", "1k", "-o", "x.png")
    assert r.returncode == 2 and "heatmap" in r.stderr
    assert not list(tmp_path.iterdir())


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    monkeypatch.delitem(sys.modules, "matplotlib.figure", raising=False)
    monkeypatch.delitem(sys.modules, "matplotlib.backends.backend_agg", raising=False)
    code = cli.main(["plot", "frontier", "lstm", "--n-features", "1..8", "--n-units", "1..100", "--budget", "10k",
                     "-o", str(tmp_path / "f.png")])  # fmt: skip
    assert code == 2 and "pip install 'archsweep[plot]'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_compute_and_named_budgets_on_the_command_line(tmp_path):
    r = run("count", "conv2d", "--n-features", "3", "--n-units", "64", "--kernel", "3", "--input-size", "224x224",
            "--strides", "2", "--padding", "same", "--quantity", "flops")  # fmt: skip
    assert r.returncode == 0 and r.stdout.strip() == str(
        asw.count("conv2d", 3, 64, kernel=3, input_size=(224, 224), strides=2, padding="same", quantity="flops"))
    out = tmp_path / "best.parquet"
    r = run("search", "lstm", "--n-features", "16,128", "--n-units", "1..1G", "--length", "10,100", "--budget",
            "params=2M,flops=30M", "-o", str(out))  # fmt: skip
    assert r.returncode == 0, r.stderr
    expected = asw.search("lstm", [16, 128], range(1, 10**9 + 1), length=[10, 100],
                          budget={"params": 2_000_000, "flops": 30_000_000})  # fmt: skip
    assert pl.read_parquet(out).equals(expected) and expected.columns[-2:] == ["slack_params", "slack_flops"]
    r = run("sweep", "--layer", "lstm", "--n-features", "8", "--n-units", "1..3", "--budget", "flops=1M")
    assert r.returncode == 2 and "flops of lstm needs length" in r.stderr and len(r.stderr.splitlines()) == 1
    r = run("sweep", "--layer", "lstm", "--n-features", "8", "--n-units", "1..3", "--length", "5",
            "--budget", "flop=1M")
    assert r.returncode == 2 and "Did you mean 'flops'" in r.stderr
