"""sweep_to_dataset and archsweep.dask on a distributed.LocalCluster of 2 worker processes (bound
to loopback, started and closed here), and on local processes without a client: the dataset's
rows are sweep's, a killed worker or a killed client leaves a dataset that a rerun completes
identically, a folder of another sweep is refused, and a large dataset's sum of params is the
closed form's."""

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import polars as pl
import pytest

import archsweep as asw

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=40)  # fmt: skip
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def dataset(path, hive=False):
    return pl.scan_parquet(f"{path}/**/*.parquet" if hive else f"{path}/*.parquet", hive_partitioning=hive).collect()


CASES = [
    dict(layer=["lstm", "gru"], n_features=range(1, 61), n_units=range(1, 41), convention=["keras", "torch"]),
    dict(layer="conv2d", n_features=range(1, 30), n_units=range(1, 20), kernel=3, quantity=["params", "flops"],
         input_size=(16, 16), budget={"params": 3000}),
    dict(layer="dense", n_features=range(1, 200), n_units=range(1, 300), budget=5000),
    dict(layer="mha", n_features=range(8, 65, 8), num_heads=[1, 2, 4], key_dim=[4, 8], quantity="flops", length=16),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: str(c["layer"]))
def test_the_dataset_holds_sweeps_rows_in_its_order(client, tmp_path, case):
    rows = asw.sweep_to_dataset(tmp_path / "d", shard_rows=997, client=client, **case)
    expected = asw.sweep(**case)
    got = dataset(tmp_path / "d")
    assert rows == expected.height == got.height and got.equals(expected)
    manifest = json.loads((tmp_path / "d" / "_manifest.json").read_text())
    assert manifest["rows"] == rows and [s["index"] for s in manifest["shards"]] == list(range(len(manifest["shards"])))
    assert manifest["archsweep"] == asw.__version__ and manifest["arguments"]["layer"] == case["layer"]


def test_hive_partitions_by_layer_and_convention(client, tmp_path):
    case = CASES[0]
    asw.sweep_to_dataset(tmp_path / "d", shard_rows=1000, partition=True, client=client, budget=20_000, **case)
    folders = sorted(str(p.relative_to(tmp_path / "d")) for p in (tmp_path / "d").glob("*/*"))
    assert folders == ["layer=gru/convention=keras", "layer=gru/convention=torch", "layer=lstm/convention=keras",
                       "layer=lstm/convention=torch"]  # fmt: skip
    expected = asw.sweep(budget=20_000, **case).with_columns(pl.col("layer", "convention").cast(pl.String))
    got = dataset(tmp_path / "d", hive=True).select(expected.columns)
    assert got.sort(pl.all()).equals(expected.sort(pl.all()))
    one = pl.scan_parquet(tmp_path / "d" / "layer=lstm" / "convention=torch" / "*.parquet").collect()
    assert one.height == expected.filter(layer="lstm", convention="torch").height


def test_a_killed_worker_then_a_rerun_give_the_whole_dataset(client, tmp_path):
    case = dict(layer="lstm", n_features=range(1, 401), n_units=range(1, 301), convention=["keras", "torch"])
    path = tmp_path / "d"
    pids = client.run(os.getpid)
    outcome = []
    run = threading.Thread(target=lambda: outcome.append(_attempt(lambda: asw.sweep_to_dataset(
        path, shard_rows=1000, client=client, **case))))  # fmt: skip
    run.start()
    deadline = time.monotonic() + 60
    while len(list(path.glob("*.parquet"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run.is_alive()  # mid-run
    os.kill(next(iter(pids.values())), signal.SIGKILL)  # the test's own worker
    run.join()
    for f in path.glob("*.parquet"):  # what is visible is whole
        pl.scan_parquet(f).select(pl.len()).collect()
    client.wait_for_workers(2, timeout=60)
    assert asw.sweep_to_dataset(path, shard_rows=1000, client=client, **case) == 240_000
    assert dataset(path).equals(asw.sweep(**case))


def _attempt(work):
    try:
        return work()
    except Exception as exc:  # noqa: BLE001 - the killed worker may fail the run; the rerun completes it
        return exc


def test_a_killed_client_leaves_a_dataset_a_rerun_completes(tmp_path):
    """The client process (on local processes, without distributed's client) killed with its
    workers mid-run: no manifest, no half-written shard visible; a rerun completes it."""
    path = tmp_path / "d"
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import archsweep as asw
        if __name__ == "__main__":
            asw.sweep_to_dataset({str(path)!r}, "gru", range(1, 801), range(1, 801), shard_rows=10_000, client=None)
    """))
    child = subprocess.Popen([sys.executable, str(script)], start_new_session=True, env={**os.environ,
                             "DASK_DISTRIBUTED__CLIENT__ENABLED": "0"})  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list(path.glob("*.parquet"))) < 2 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.01)
    assert child.poll() is None  # mid-run
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    assert not (path / "_manifest.json").exists()
    written = list(path.glob("*.parquet"))
    assert 0 < len(written) < 64
    for f in written:
        pl.scan_parquet(f).select(pl.len()).collect()
    time.sleep(0.5)  # a pool process that outlived its parent finishes its shard, atomically
    assert asw.sweep_to_dataset(path, "gru", range(1, 801), range(1, 801), shard_rows=10_000, client=None) == 640_000
    assert dataset(path).equals(asw.sweep("gru", range(1, 801), range(1, 801)))


def test_a_damaged_shard_is_recomputed_and_another_sweep_is_refused(client, tmp_path):
    case = dict(layer="dense", n_features=range(1, 101), n_units=range(1, 101))
    path = tmp_path / "d"
    asw.sweep_to_dataset(path, shard_rows=1000, client=client, **case)
    victim = sorted(path.glob("*.parquet"))[3]
    victim.write_bytes(victim.read_bytes()[:100])  # truncated
    (path / "_manifest.json").unlink()
    asw.sweep_to_dataset(path, shard_rows=1000, client=client, **case)
    assert dataset(path).equals(asw.sweep(**case))
    with pytest.raises(asw.InvalidArgumentError, match="holds a dataset of other arguments"):
        asw.sweep_to_dataset(path, shard_rows=1000, client=client, **{**case, "n_units": range(1, 102)})
    with pytest.raises(asw.InvalidArgumentError, match="holds a dataset of other arguments"):
        asw.sweep_to_dataset(path, shard_rows=999, client=client, **case)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    pl.DataFrame({"a": [1]}).write_parquet(foreign / "x.parquet")
    with pytest.raises(asw.InvalidArgumentError, match="Parquet files of no archsweep dataset"):
        asw.sweep_to_dataset(foreign, client=client, **case)
    for kwargs, match in (({"shard_rows": 0}, "shard_rows"), ({"partition": 1}, "partition must be True or False")):
        with pytest.raises((asw.InvalidArgumentError, asw.ArgumentTypeError), match=match):
            asw.sweep_to_dataset(tmp_path / "e", client=client, **case, **kwargs)
    (tmp_path / "file").write_text("")
    with pytest.raises(asw.InvalidArgumentError, match="is not a folder"):
        asw.sweep_to_dataset(tmp_path / "file", client=client, **case)


def test_a_large_datasets_sum_of_params_is_the_closed_forms(client, tmp_path):
    """Keras LSTM: 4·(u·(f + u) + u), summed over f, u in 1..2000 by the formulas for sums of powers."""
    n = 2000
    rows = asw.sweep_to_dataset(tmp_path / "d", "lstm", range(1, n + 1), range(1, n + 1), shard_rows=500_000,
                                client=client)  # fmt: skip
    s1, s2 = n * (n + 1) // 2, n * (n + 1) * (2 * n + 1) // 6
    expected = 4 * (s1 * s1 + n * s2 + n * s1)
    total = pl.scan_parquet(tmp_path / "d" / "*.parquet").select(pl.col("params").sum()).collect().item()
    assert rows == n * n and total == expected


def test_dask_sweep_is_the_same_rows_lazily(client):
    case = dict(layer=["rnn", "lstm"], n_features=range(1, 50), n_units=range(1, 70), budget=10_000)
    ddf = asw.dask.sweep(shard_rows=500, **case)
    assert ddf.npartitions == math.ceil(49 * 69 / 500) * 2
    got = pl.from_pandas(ddf.compute().reset_index(drop=True))
    expected = asw.sweep(**case)
    assert got["params"].to_list() == expected["params"].to_list()
    assert got["n_units"].cast(pl.Int64).to_list() == expected["n_units"].cast(pl.Int64).to_list()


def test_without_dask_the_error_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "dask", None)
    with pytest.raises(ImportError, match=r"pip install 'archsweep\[dask\]'"):
        asw.sweep_to_dataset(tmp_path / "d", "dense", 3, 4)


def test_ctrl_c_cancels_the_tasks_and_leaves_the_dataset_resumable(client, tmp_path, monkeypatch):
    import archsweep._worker as worker

    real = worker.progress_bar

    def interrupting(*args, **kwargs):
        bar, ticks = real(*args, **kwargs), []

        def tick(n=1):
            ticks.append(n)
            if sum(ticks) >= 3:  # Ctrl-C after three shards
                raise KeyboardInterrupt

        bar.update = tick
        return bar

    case = dict(layer="lstm", n_features=range(1, 201), n_units=range(1, 201))
    monkeypatch.setattr(worker, "progress_bar", interrupting)
    with pytest.raises(KeyboardInterrupt):
        asw.sweep_to_dataset(tmp_path / "d", shard_rows=500, client=client, **case)
    deadline = time.monotonic() + 10
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(client.processing().values())  # the tasks were cancelled
    assert not (tmp_path / "d" / "_manifest.json").exists()
    assert len(list((tmp_path / "d").glob("*.parquet"))) < 80
    monkeypatch.setattr(worker, "progress_bar", real)
    assert asw.sweep_to_dataset(tmp_path / "d", shard_rows=500, client=client, **case) == 40_000
    assert dataset(tmp_path / "d").equals(asw.sweep(**case))


def test_a_full_disk_fails_the_run_visibly_and_a_rerun_completes(tmp_path, monkeypatch):
    """Workers in this process (threads), so the disk can be filled for one shard: the error
    reaches the caller, no file of that shard is visible, and the rerun writes it."""
    import errno

    import archsweep._sink as sink

    real, failed = sink._stream, []

    def full_once(path, schema, frames):
        if "part-000002-" in path.name and not failed:
            failed.append(path)

            def filling(given=frames):  # the first frame is written, then the disk is full
                yield next(given)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

            frames = filling()
        return real(path, schema, frames)

    monkeypatch.setattr(sink, "_stream", full_once)
    case = dict(layer="gru", n_features=range(1, 51), n_units=range(1, 51))
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as c:
        with pytest.raises(OSError, match="No space left on device"):
            asw.sweep_to_dataset(tmp_path / "d", shard_rows=300, client=c, **case)
        assert not list((tmp_path / "d").glob("part-000002-*")) and not (tmp_path / "d" / "_manifest.json").exists()
        assert not [p for p in (tmp_path / "d").iterdir() if p.name.startswith(".")]  # no temporary file left
        assert asw.sweep_to_dataset(tmp_path / "d", shard_rows=300, client=c, **case) == 2500
    assert dataset(tmp_path / "d").equals(asw.sweep(**case))
