"""Ctrl-C during a run in this process: the run goes on in a thread while the main thread
waits in short steps (so the signal always lands there); the first Ctrl-C stops the run, and
from then on a second one leaves at once, without waiting for threads."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from lambdafan.errors import EXIT_INTERRUPTED
from lambdafan.render.console import stopped

SigintHandler = Callable[[int, FrameType | None], object] | int | signal.Handlers
T = TypeVar("T")


def wait_for(done: cf.Future[T]) -> T:
    """The future's result; short waits, so that Ctrl-C is seen at once."""
    while True:
        try:
            return done.result(timeout=0.1)
        except cf.TimeoutError:
            continue


def on_sigint(handler: SigintHandler) -> SigintHandler | None:
    """Handle SIGINT with `handler`; the previous handler (None: not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, handler)


def restore_sigint(handler: SigintHandler | None) -> None:
    """Put back the handler `on_sigint` returned (None: nothing to put back)."""
    if handler is not None:
        signal.signal(signal.SIGINT, handler)


def leave_on_interrupt(signum: int, frame: FrameType | None) -> None:
    """A SIGINT handler: say so and leave at once."""
    stopped("interrupted: leaving now")
    leave_now(EXIT_INTERRUPTED)


def leave_now(code: int) -> None:
    """Exit at once, without waiting for threads (what has been printed is flushed)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
