"""SIGTERM handled like Ctrl-C: unwind the command, print one line, exit 143.

Python turns SIGINT into ``KeyboardInterrupt``, so Ctrl-C unwinds every ``with`` and ``finally``:
the parse workers are shut down, the store is closed and the CLI prints ``interrupted``. SIGTERM
(``kill PID``, ``docker stop``, ``systemctl stop``) would kill the process where it stands
instead: no message, and multiprocessing's resource tracker then warns about the semaphores the
dead process never released. :func:`sigterm_as_interrupt` makes SIGTERM raise
:class:`Terminated` in the main thread, a ``KeyboardInterrupt`` subclass, so both signals take the
same path and only the exit code differs (130 and 143: 128 + the signal number, as a shell
reports a process killed by it).

The index needs none of this to stay repairable (a SIGKILL leaves it repairable too, see
``ingest.write``); what it adds is a clean exit.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

EXIT_SIGINT = 128 + signal.SIGINT  # 130
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within this block, SIGTERM raises :class:`Terminated` in the main thread.

    A no-op outside the main thread (signal handlers can only be set there) and when SIGTERM
    is ignored on entry (a parent that asked for it to be ignored keeps that).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_code(exc: KeyboardInterrupt) -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM."""
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
