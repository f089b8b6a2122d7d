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

    def run() -> None:
        try:
            outcome.append((True, work()))
        except BaseException as exc:  # re-raised on the calling thread
            outcome.append((False, exc))

    worker = threading.Thread(target=run, name="archsweep-worker", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)  # short waits: Ctrl-C lands between them
            tick()
    except BaseException:
        stop()
        worker.join()
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
