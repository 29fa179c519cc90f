"""Ctrl-C during training: the first one asks the loop to stop after the current update (so the
progress can be saved whole), a second one aborts at once."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType


class StopRequest:
    """`with StopRequest() as stop:` ... `if stop.requested: break`. Outside the main thread (where
    Python cannot catch signals) it never fires and Ctrl-C behaves as usual."""

    def __init__(self, message: str | None = "stopping after this update (Ctrl-C again to abort at once)") -> None:
        self.requested = False
        self.message = message
        self._installed = False
        self._previous = None

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc_info) -> None:
        if self._installed:
            # None: a handler not installed from Python; the default raises KeyboardInterrupt.
            signal.signal(signal.SIGINT, self._previous if self._previous is not None else signal.default_int_handler)
            self._installed = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:       # the second Ctrl-C: abort now
            self.__exit__()
            raise KeyboardInterrupt
        self.requested = True
        if self.message:
            print(f"\n{self.message}", file=sys.stderr, flush=True)
