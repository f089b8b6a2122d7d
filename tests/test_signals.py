"""Signals: SIGINT, SIGTERM and SIGHUP sent at a random (seeded) moment of a
long write stop it within 0.5 s, with status 130 or 128 + the signal and one
line on stderr, leaving no temporary file and the previous file
byte-identical. SIGKILL may leave a temporary file; the next write removes it.

"Stopped" is the moment the CLI prints its line, after every cleanup; the
process then only tears the interpreter down (checked under a looser bound).
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

import archsweep as asw
from archsweep import _signals
from archsweep._signals import Terminated, cleanup_on_termination, signals_as_interrupts

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="POSIX signals, Linux /proc")

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
PREVIOUS = b"the previous file, which an interrupted write must leave as it was\n"
LINE = {signal.SIGINT: "archsweep: interrupted", signal.SIGTERM: "archsweep: terminated by SIGTERM",
        signal.SIGHUP: "archsweep: terminated by SIGHUP"}  # fmt: skip
STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
# A table written by the CLI's _show: search's table replaced by a big one
# (real searches that large take too long to build for a test).
SHOW = """
import sys
import archsweep as asw
from archsweep import _search, cli
table = asw.sweep("lstm", range(1, 1501), range(1, 10001))  # 15M rows: a second or more to write
cli.search = _search.search = lambda *args, **kwargs: table
sys.exit(cli.main(["search", "lstm", "--n-features", "1", "--n-units", "1", "--budget", "1", "-o", sys.argv[1]]))
"""


def named(value):
    return getattr(value, "name", value)


def archsweep(*args):
    return [sys.executable, "-m", "archsweep", *args]


def temporaries(folder: Path, target: Path):
    return [p for p in folder.iterdir() if p.name.startswith(f".{target.name}.") and p.name.endswith(".tmp")]


def catches_sigterm(pid: int) -> bool:
    """Whether the process has a SIGTERM handler: the CLI's signal context is on."""
    with open(f"/proc/{pid}/status") as f:
        caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    return bool(caught >> (signal.SIGTERM - 1) & 1)


def interrupt(argv, target: Path, signum: int, seed: str, *, ready, latest: float):
    """Runs ``argv``, waits until ``ready(proc)``, then a random moment of up
    to ``latest`` seconds, sends ``signum`` and returns (status, stderr lines,
    seconds until the last stderr line, seconds until exit)."""
    target.write_bytes(PREVIOUS)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: lines.extend((time.monotonic(), line) for line in proc.stderr))
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not ready(proc):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(line for _, line in lines)
            time.sleep(0.002)
        time.sleep(random.Random(seed).uniform(0, latest))
        assert proc.poll() is None, "the work ended before the signal: make it longer"
        sent = time.monotonic()
        proc.send_signal(signum)
        proc.wait(timeout=30)
        exited = time.monotonic()
    finally:
        proc.kill()
        reader.join()
    last = lines[-1][0] if lines else exited
    return proc.returncode, [line.rstrip("\n") for _, line in lines], last - sent, exited - sent


def check_stopped(result, target: Path, signum: int) -> None:
    status, lines, stopped, exited = result
    assert status == STATUS[signum], lines
    assert lines[-1] == LINE[signum]  # one line, no traceback, no polars panic
    assert not any("Traceback" in line or "panicked" in line for line in lines), lines
    assert stopped < 0.5, f"stopped {stopped:.3f} s after the signal"
    assert exited < 1.5, f"exited {exited:.3f} s after the signal"
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # no temporary file
    assert target.read_bytes() == PREVIOUS


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
@pytest.mark.parametrize("signum", SIGNALS, ids=named)
def test_signal_stops_a_streamed_sweep(tmp_path, signum, suffix):
    target = tmp_path / f"big.{suffix}"
    # 8e7 rows: tens of seconds to write, interrupted in its first half second.
    argv = archsweep("sweep", "--layer", "lstm", "--n-features", "1..4000", "--n-units", "1..20000", "-o",
                     str(target), "--no-progress")  # fmt: skip
    result = interrupt(argv, target, signum, f"sweep {signum} {suffix}", ready=lambda p: temporaries(tmp_path, target),
                       latest=0.5)  # fmt: skip
    check_stopped(result, target, signum)


@pytest.mark.parametrize(("signum", "suffix"), [(signal.SIGINT, "parquet"), (signal.SIGTERM, "csv"),
                                                (signal.SIGHUP, "parquet")], ids=named)  # fmt: skip
def test_signal_stops_a_table_written_by_the_cli(tmp_path, signum, suffix):
    target = tmp_path / f"table.{suffix}"
    argv = [sys.executable, "-c", SHOW, str(target)]
    result = interrupt(argv, target, signum, f"show {signum}", ready=lambda p: temporaries(tmp_path, target),
                       latest=0.25)  # fmt: skip
    check_stopped(result, target, signum)


@pytest.mark.parametrize(("signum", "suffix"), [(signal.SIGINT, "png"), (signal.SIGTERM, "svg"),
                                                (signal.SIGHUP, "png")], ids=named)  # fmt: skip
def test_signal_stops_a_heatmap(tmp_path, signum, suffix):
    pytest.importorskip("matplotlib")
    target = tmp_path / f"heat.{suffix}"
    # 4M cells: matplotlib's import, the sweep, a drawing of 1024 × 1024 of them, the file (seconds).
    argv = archsweep("plot", "heatmap", "lstm", "--n-features", "1..2000", "--n-units", "1..2000", "--budget", "1M",
                     "-o", str(target))  # fmt: skip
    result = interrupt(argv, target, signum, f"plot {signum}", ready=lambda p: catches_sigterm(p.pid), latest=0.8)
    check_stopped(result, target, signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=named)
def test_a_script_killed_while_writing_dies_of_the_signal_without_a_temporary_file(tmp_path, signum):
    """A library call cleans up, then lets the signal end the process as it would have."""
    target = tmp_path / "big.parquet"
    code = f"import archsweep as a; a.sweep_to_file({str(target)!r}, 'lstm', range(1, 4001), range(1, 20001))"
    status, lines, _, exited = interrupt([sys.executable, "-c", code], target, signum, f"script {signum}",
                                         ready=lambda p: temporaries(tmp_path, target), latest=0.3)  # fmt: skip
    assert status == -signum, lines
    assert exited < 1.5
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    assert target.read_bytes() == PREVIOUS


def test_sigkill_may_leave_a_temporary_file_which_the_next_write_removes(tmp_path):
    target = tmp_path / "big.parquet"
    argv = archsweep("sweep", "--layer", "lstm", "--n-features", "1..4000", "--n-units", "1..20000", "-o",
                     str(target), "--no-progress")  # fmt: skip
    status, *_ = interrupt(argv, target, signal.SIGKILL, "kill", ready=lambda p: temporaries(tmp_path, target),
                           latest=0.2)  # fmt: skip
    assert status == -signal.SIGKILL
    assert len(temporaries(tmp_path, target)) == 1 and target.read_bytes() == PREVIOUS
    asw.sweep_to_file(target, "lstm", 3, 4, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]
    assert asw.sweep("lstm", 3, 4).equals(pl.read_parquet(target))


# In-process: the context itself.


def raised_by(signum):
    """The exception a signal raises here (None: it was ignored or taken elsewhere)."""
    try:
        signal.raise_signal(signum)
        time.sleep(0.01)  # handlers run between bytecodes of the main thread
    except KeyboardInterrupt as exc:
        return exc
    return None


def test_sigterm_and_sighup_raise_terminated_and_sigint_keyboard_interrupt():
    before = {s: signal.getsignal(s) for s in SIGNALS}
    for signum in SIGNALS:
        with signals_as_interrupts():
            exc = raised_by(signum)
        if signum == signal.SIGINT:
            assert type(exc) is KeyboardInterrupt
        else:
            assert isinstance(exc, Terminated) and exc.signum == signum and str(exc) == signum.name
    assert {s: signal.getsignal(s) for s in SIGNALS} == before  # restored


def test_a_second_signal_during_the_cleanup_is_ignored():
    with signals_as_interrupts():
        assert isinstance(raised_by(signal.SIGTERM), Terminated)
        assert raised_by(signal.SIGINT) is None  # the cleanup of the first is running
    with signals_as_interrupts():
        assert isinstance(raised_by(signal.SIGHUP), Terminated)  # a new block takes signals again


def test_ignored_and_handled_signals_are_left_alone():
    seen = []
    old_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    old_term = signal.signal(signal.SIGTERM, lambda s, f: seen.append(s))
    try:
        with signals_as_interrupts(), cleanup_on_termination():
            assert raised_by(signal.SIGHUP) is None
            assert raised_by(signal.SIGTERM) is None and seen == [signal.SIGTERM]
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old_hup)
        signal.signal(signal.SIGTERM, old_term)


def test_a_library_write_inside_the_cli_lets_terminated_reach_the_cli():
    """cleanup_on_termination re-raises the signal only where it took it from
    its default; inside the CLI's block the CLI reports it."""
    with signals_as_interrupts():
        with pytest.raises(Terminated):
            with cleanup_on_termination():
                signal.raise_signal(signal.SIGTERM)
                time.sleep(0.01)


def test_outside_the_main_thread_the_contexts_change_nothing():
    before = {s: signal.getsignal(s) for s in SIGNALS}
    seen = []

    def run():
        with signals_as_interrupts(), cleanup_on_termination():
            seen.append({s: signal.getsignal(s) for s in SIGNALS})

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [before]
    assert _signals._depth == 0


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_signal_the_interpreter_drops_still_stops_the_run(tmp_path):
    """An interrupt raised where Python cannot propagate it (here a weakref
    callback, as in the import machinery) is raised again before a file is
    put in place: the previous file stays."""
    import weakref

    from archsweep import _sink

    class Thing:
        pass

    target = tmp_path / "t.csv"
    target.write_bytes(PREVIOUS)

    def write(tmp):
        thing = Thing()
        ref = weakref.ref(thing, lambda _: signal.raise_signal(signal.SIGTERM))  # raised in the callback: dropped
        del thing
        assert ref() is None
        Path(tmp).write_text("new\n")

    with pytest.raises(Terminated):
        with signals_as_interrupts():
            _sink.write_atomically(target, write)
    assert target.read_bytes() == PREVIOUS and sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
