"""Ctrl-C and SIGTERM: both stop a run the same way, and neither may cut a store write in half.

SIGTERM (a job scheduler, ``timeout``, a container stop) raises :class:`Terminated`, a
``KeyboardInterrupt``, so every clean-up that handles Ctrl-C handles it too. Inside
:func:`hold_interrupts` a signal is recorded and raised when the block ends: a KeyboardInterrupt in
the middle of a SQLite write leaves the store locked for the rest of the process.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like a Ctrl-C; the command exits 143."""


def _exception_for(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


class _Received:
    """The last stopping signal this process received; a signal is process-wide state by nature."""

    signum: int | None = None


def _raise_for(signum: int, frame: Any) -> None:
    _Received.signum = signum
    raise _exception_for(signum)


def install_signal_handlers() -> None:
    """SIGTERM raises :class:`Terminated` and Ctrl-C KeyboardInterrupt, and both are remembered.

    A KeyboardInterrupt raised while Python runs a finaliser or weakref callback is printed as
    "Exception ignored" and lost; :func:`checkpoint` raises it again at the next safe point.
    """
    _Received.signum = None  # a new command starts with nothing pending
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _raise_for)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _raise_for)


def checkpoint() -> None:
    """Raise a stopping signal that arrived earlier but was swallowed (see :func:`install_signal_handlers`)."""
    if _Received.signum is not None:
        raise _exception_for(_Received.signum)


class InterruptHold:
    """Signal handler that records a Ctrl-C or SIGTERM instead of raising it at once."""

    def __init__(self) -> None:
        self.pending: int | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        if self.pending is None or signum == signal.SIGTERM:
            self.pending = signum
        _Received.signum = signum

    def raise_pending(self) -> None:
        """Raise the recorded signal now (once)."""
        if self.pending is not None:
            signum, self.pending = self.pending, None
            raise _exception_for(signum)

    def discard(self) -> None:
        self.pending = None
        _Received.signum = None


@contextlib.contextmanager
def hold_interrupts() -> Iterator[InterruptHold]:
    """Hold a Ctrl-C or SIGTERM that arrives inside the block; raise it when the block ends.

    Nested blocks share the outermost hold. Outside the main thread this does nothing, and a
    signal whose action is "ignore" (a background job's SIGINT) stays ignored.
    """
    current = signal.getsignal(signal.SIGINT)
    if isinstance(current, InterruptHold):
        yield current
        return
    if threading.current_thread() is not threading.main_thread():
        yield InterruptHold()
        return
    hold = InterruptHold()
    replaced = {s: h for s in _SIGNALS if (h := signal.getsignal(s)) is not signal.SIG_IGN}
    for s in replaced:
        signal.signal(s, hold)
    try:
        yield hold
    finally:
        for s, handler in replaced.items():
            signal.signal(s, handler)
    hold.raise_pending()
