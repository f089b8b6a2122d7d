"""Long work on a worker thread, so Ctrl-C reaches Python at once and a
progress bar can be drawn while the work runs without the GIL."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def run_in_worker(work: Callable[[], T], *, tick: Callable[[], None] = lambda: None,
                  stop: Callable[[], None] = lambda: None) -> T:  # fmt: skip
    """Runs ``work()`` on a worker thread while this thread waits in short
    steps, calling ``tick()`` after each. On Ctrl-C (or any error here) calls
    ``stop()``, waits for the worker and re-raises. Returns what ``work``
    returned, or raises what it raised."""
    outcome: list[Any] = []
    # An Event, not Thread.join: on Python 3.11 a join interrupted by a signal
    # marks the thread finished while it still runs, so a later join returns
    # at once instead of waiting for it to stop.
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as exc:  # re-raised on the calling thread
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="archsweep-worker", daemon=True).start()
    try:
        while not done.wait(0.05):  # short waits: Ctrl-C lands between them
            tick()
        tick()
    except BaseException:
        stop()
        done.wait()
        raise
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def progress_bar(total: int, unit: str, desc: str, progress: bool | None) -> Any:
    """A tqdm bar on stderr shown for runs over a second: ``progress=None``
    shows it when stderr is a terminal, ``False`` never, ``True`` always."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, delay=1.0, file=sys.stderr, leave=False,
                disable=None if progress is None else not progress, desc=desc)  # fmt: skip
