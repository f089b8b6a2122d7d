"""Signals that end a run as Ctrl-C does, so its cleanup runs.

SIGTERM (``timeout``, ``kill``, a service manager) and SIGHUP (a closed
terminal) end a Python process at once by default, skipping every
``finally``: a half-written temporary file stays behind. Inside these
contexts they raise ``Terminated``, a ``KeyboardInterrupt``, in the main
thread, so every Ctrl-C cleanup path (temporary files removed, workers
stopped) runs for them too.

- ``signals_as_interrupts()`` (the command line, around a command): SIGINT,
  SIGTERM and SIGHUP all raise; the CLI reports the signal and exits with
  128 + its number.
- ``cleanup_on_termination()`` (library calls that write a file): a script
  killed by SIGTERM or SIGHUP still dies of that signal, but only after the
  block's cleanup has run.

Only signals left at their default are taken (an ignored SIGHUP under
``nohup`` stays ignored, a program's own handler stays its), only in the
main thread (the only one Python runs handlers in), and the previous
handlers are restored on exit. The first signal raises; repeats while its
cleanup runs (a fraction of a second) are ignored, so a second Ctrl-C cannot
cut the cleanup short. SIGKILL cannot be caught.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# SIGHUP does not exist on Windows.
TERMINATING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread like Ctrl-C; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_depth = 0  # contexts entered in the main thread
_raised: int | None = None  # the signal whose interrupt was raised within them


def _exception(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _interrupt(signum: int, frame: Any) -> None:
    global _raised
    if _raised is not None:
        return  # its cleanup is running: let it finish
    _raised = signum
    raise _exception(signum)


def raise_if_lost() -> None:
    """Raises again an interrupt that a signal raised but that never got
    out: Python drops an exception raised where it cannot propagate (a
    weakref callback of the import machinery, a ``__del__``), so a signal
    landing there would be lost and the work would go on to the end. Called
    before a file is put in place and when the command line's command
    returns, it makes such a signal stop the run all the same."""
    if _depth and _raised is not None:
        raise _exception(_raised)


@contextmanager
def _taking(defaults: dict[int, Any]) -> Iterator[dict[int, Any]]:
    """Installs ``_interrupt`` for each signal whose handler is its default
    in ``defaults`` or already ``_interrupt``, and yields the signals taken
    from their defaults with those handlers."""
    global _depth, _raised
    if threading.current_thread() is not threading.main_thread():
        yield {}
        return
    previous = {}
    for signum, default in defaults.items():
        handler = signal.getsignal(signum)
        if handler is default or handler is _interrupt:
            # Installing through Python also replaces a C-level handler that a
            # library chained over Python's since (polars' SIGINT hook aborts a
            # stream with a panic message instead of letting it end).
            signal.signal(signum, _interrupt)
            previous[signum] = handler
    _depth += 1
    try:
        yield {s: h for s, h in previous.items() if h is not _interrupt}
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _depth -= 1
        if _depth == 0:
            _raised = None


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Inside: SIGINT raises KeyboardInterrupt, SIGTERM and SIGHUP raise
    ``Terminated`` (see the module docstring). Also a decorator."""
    with _taking({signal.SIGINT: signal.default_int_handler, **{s: signal.SIG_DFL for s in TERMINATING}}):
        yield


@contextmanager
def cleanup_on_termination() -> Iterator[None]:
    """Inside: SIGTERM and SIGHUP, if at their default, raise ``Terminated``;
    once it has left the block (its cleanup done), the signal is raised again
    with the default restored, so the process ends as that signal would have
    ended it. Within ``signals_as_interrupts`` the ``Terminated`` propagates
    to the caller instead. SIGINT keeps its handler (Python's raises
    KeyboardInterrupt already)."""
    # SIGINT only when a signals_as_interrupts block has it: taking it again
    # re-installs it over a C handler chained since (see _taking).
    with _taking({**{s: signal.SIG_DFL for s in TERMINATING}, signal.SIGINT: _interrupt}) as taken:
        try:
            yield
        except Terminated as exc:
            if exc.signum in taken:
                signal.signal(exc.signum, taken[exc.signum])
                signal.raise_signal(exc.signum)
            raise

