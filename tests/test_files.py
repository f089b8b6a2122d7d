"""Files: every target is checked before any work (a directory, a non-file, a
missing or read-only folder are refused), every write is atomic, an existing
file keeps its mode, a symlink keeps pointing at the file it names (which is
replaced), a new file gets the mode open() would give, and stale temporary
files of dead writers are removed by the next write to the same target -
only those."""

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import archsweep as asw
from archsweep import _sink

# 4e8 grid points: minutes of work, so a refusal that came after the work would show.
HUGE = dict(layer="lstm", n_features=range(1, 4001), n_units=range(1, 100_001))
SMALL = dict(layer="lstm", n_features=[3, 5], n_units=range(1, 5))


def writers():
    """Every writer, as (suffix, write(path) -> the table written); sweep_to_file on both backends."""

    def sweep_to_file(backend):
        def write(path):
            asw.sweep_to_file(path, **SMALL, backend=backend, progress=False)
            return asw.sweep(**SMALL, backend=backend)

        write.__name__ = f"sweep_to_file-{backend}"
        return write

    def write_table(path):
        table = asw.sweep(**SMALL)
        _sink.write_table(table, path)
        return table

    def plot(path):
        pytest.importorskip("matplotlib")
        return asw.plot("heatmap", **SMALL, budget=100, output=path)

    return [(suffix, sweep_to_file(backend)) for backend in ("rust", "python") for suffix in ("parquet", "csv")] + [
        ("parquet", write_table), ("csv", write_table), ("png", plot), ("svg", plot)]  # fmt: skip


WRITERS = pytest.mark.parametrize(("suffix", "write"), writers(), ids=lambda x: getattr(x, "__name__", x))


def read_back(path: Path, table: pl.DataFrame) -> pl.DataFrame | bytes:
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix == ".csv":
        return pl.read_csv(path, schema=table.schema)
    return path.read_bytes()[:4]


def check_written(path: Path, table: pl.DataFrame) -> None:
    back = read_back(path, table)
    if isinstance(back, pl.DataFrame):
        assert back.equals(table)
    else:
        assert back in (b"\x89PNG", b"<?xm")


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@contextlib.contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder no file can be created in, also for root (a read-only tmpfs)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:  # fmt: skip
        pytest.skip("running as root without a way to make a read-only folder")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


# Refused before any work.


def refusals(tmp_path: Path, read_only: Path | None = None):
    """(target, what the message says) for every kind of unwritable target."""
    (tmp_path / "dir.parquet").mkdir()
    (tmp_path / "dir.png").mkdir()
    os.mkfifo(tmp_path / "fifo.csv")
    os.symlink(tmp_path / "dir.parquet", tmp_path / "to-dir.parquet")
    os.symlink(tmp_path / "missing" / "t.csv", tmp_path / "dangling-into-nowhere.csv")
    cases = [(tmp_path / "dir.parquet", "is a directory"), (tmp_path / "dir.png", "is a directory"),
             (tmp_path / "fifo.csv", "not a regular file"), (tmp_path / "to-dir.parquet", "is a directory"),
             (tmp_path / "missing" / "t.csv", "does not exist"),
             (tmp_path / "dangling-into-nowhere.csv", "does not exist")]  # fmt: skip
    if read_only is not None:
        cases += [(read_only / "t.parquet", "not writable"), (read_only / "t.svg", "not writable")]
    return cases


def test_unwritable_targets_are_refused_before_any_work(tmp_path, read_only_folder, backend):
    pytest.importorskip("matplotlib")
    cases = refusals(tmp_path, read_only_folder)
    before = listing(tmp_path)
    for target, message in cases:
        table = target.suffix in (".csv", ".parquet")
        start = time.monotonic()
        with pytest.raises(asw.InvalidArgumentError, match=message) as info:
            if table:
                asw.sweep_to_file(target, **HUGE, backend=backend)
            else:
                asw.plot("heatmap", **HUGE, budget=10**6, output=target, backend=backend)
        assert time.monotonic() - start < 0.5, f"{target.name}: refused only after the work"
        assert ("path" if table else "output") in str(info.value) and target.name in str(info.value)
        if table:
            with pytest.raises(asw.InvalidArgumentError, match=message):
                _sink.write_table(pl.DataFrame({"a": [1]}), target)
    assert listing(tmp_path) == before and listing(read_only_folder) == []


def test_the_cli_refuses_unwritable_targets_in_one_line(tmp_path):
    for target, message in refusals(tmp_path):
        if target.suffix not in (".csv", ".parquet"):
            continue
        argv = ["sweep", "--n-features", "1..4000", "--n-units", "1..100000", "-o", str(target)]
        r = subprocess.run([sys.executable, "-m", "archsweep", *argv], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr


def test_a_target_must_be_a_path_with_a_known_extension(tmp_path):
    with pytest.raises(asw.ArgumentTypeError, match="path must be a file path ending in .csv or .parquet, got int"):
        _sink.check_output_path(3)
    with pytest.raises(asw.InvalidArgumentError, match="'t.json': the extension must be .csv or .parquet"):
        _sink.check_output_path("t.json")
    assert _sink.check_output_path(os.fsencode(tmp_path / "T.PARQUET")) == tmp_path / "T.PARQUET"


# Modes, symlinks, new files.


@WRITERS
@pytest.mark.parametrize("mode", [0o600, 0o444], ids=oct)
def test_writing_over_a_file_keeps_its_mode(tmp_path, suffix, write, mode):
    target = tmp_path / f"t.{suffix}"
    target.write_bytes(b"old")
    target.chmod(mode)
    with umask(0o022):
        table = write(target)
    assert target.stat().st_mode & 0o7777 == mode
    check_written(target, table)
    assert listing(tmp_path) == [target.name]


@WRITERS
@pytest.mark.parametrize("mask", [0o022, 0o077], ids=oct)
def test_a_new_file_gets_the_mode_open_would_give(tmp_path, suffix, write, mask):
    target = tmp_path / f"t.{suffix}"
    with umask(mask):
        write(target)
        (tmp_path / "opened").open("w").close()
    assert target.stat().st_mode & 0o7777 == (tmp_path / "opened").stat().st_mode & 0o7777 == 0o666 & ~mask


@WRITERS
def test_writing_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path, suffix, write):
    real = tmp_path / "elsewhere" / f"real.{suffix}"
    real.parent.mkdir()
    real.write_bytes(b"old")
    real.chmod(0o600)
    link = tmp_path / f"link.{suffix}"
    link.symlink_to(os.path.relpath(real, tmp_path))
    chain = tmp_path / f"chain.{suffix}"
    chain.symlink_to(link)

    table = write(chain)
    assert chain.is_symlink() and link.is_symlink() and os.readlink(link) == os.path.relpath(real, tmp_path)
    check_written(real, table)
    assert real.stat().st_mode & 0o777 == 0o600
    assert listing(real.parent) == [real.name]  # the temporary file was made beside the real file, and is gone
    assert listing(tmp_path) == sorted([chain.name, link.name, "elsewhere"])


@WRITERS
def test_a_dangling_symlink_gets_its_file_created(tmp_path, suffix, write):
    link = tmp_path / f"link.{suffix}"
    link.symlink_to(f"new.{suffix}")
    table = write(link)
    assert link.is_symlink()
    check_written(tmp_path / f"new.{suffix}", table)


# Stale temporary files.


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def temp_name(target: Path, pid: int, tag: str = _sink._TAG, token: str = "0123abcd") -> str:
    return f".{target.name}.{pid}-{tag}-{token}.tmp"


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_the_next_write_removes_stale_temporary_files_and_only_those(tmp_path, suffix, backend):
    target = tmp_path / f"t.{suffix}"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = dead_pid()
        stale = [temp_name(target, dead), temp_name(target, dead, token="ff"),
                 temp_name(target, os.getpid())]  # this pid, but no write of this process: a dead writer's pid, reused
        kept = [temp_name(target, sleeper.pid),  # a live writer
                temp_name(target, dead, tag="0badc0de"),  # another host or container: its pids mean nothing here
                temp_name(tmp_path / f"other.{suffix}", dead),  # another target
                f".{target.name}.XXXX.tmp", f".{target.name}.{dead}.tmp",  # not archsweep's pattern
                f"{target.name}.{dead}-{_sink._TAG}-00.tmp"]  # not hidden: not ours  # fmt: skip
        for name in stale + kept:
            (tmp_path / name).write_bytes(b"partial")
        asw.sweep_to_file(target, **SMALL, backend=backend, progress=False)
        assert listing(tmp_path) == sorted(kept + [target.name])
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_concurrent_write_of_this_process_is_never_taken_for_stale(tmp_path, monkeypatch):
    target = tmp_path / "t.parquet"
    seen = []

    def write(tmp):
        # While this write runs, another one to the same target must keep its file.
        ours = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        _sink.write_atomically(target, lambda inner: Path(inner).write_bytes(b"inner"))
        seen.append((ours, [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]))
        Path(tmp).write_bytes(b"outer")

    _sink.write_atomically(target, write)
    assert seen[0][0] == seen[0][1] and len(seen[0][0]) == 1
    assert target.read_bytes() == b"outer" and listing(tmp_path) == [target.name]


def test_a_failed_write_leaves_the_previous_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "t.csv"
    target.write_bytes(b"previous")

    def fails(tmp):
        Path(tmp).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        _sink.write_atomically(target, fails)
    assert target.read_bytes() == b"previous" and listing(tmp_path) == [target.name]


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_write_table_writes_the_table(tmp_path, suffix):
    table = asw.sweep(["lstm", "gru", "conv2d"], [3, 7], range(1, 300), kernel=[3, (1, 7)], bias=[False, True])
    for df in (table, table.clear()):
        path = tmp_path / f"t.{suffix}"
        _sink.write_table(df, path)
        assert read_back(path, df).equals(df)
    assert listing(tmp_path) == [f"t.{suffix}"]
