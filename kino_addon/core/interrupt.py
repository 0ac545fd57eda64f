"""Ctrl-C, SIGTERM and SIGHUP for ``scripts/kino``: the first signal only sets a flag that the job loop
checks (the job is cancelled cleanly: finished frames stay, ``kino.json`` says "interrupted", one clear
line and no traceback); a second one runs ``on_second`` (marks ``kino.json``) and exits at once."""
from __future__ import annotations

import os
import signal
import sys
from typing import Callable, Optional

SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None),
                            getattr(signal, "SIGHUP", None)) if s is not None)


class Interrupted(Exception):
    """Raised by ``Interrupt.check`` between steps that have no job to cancel yet."""


class Interrupt:
    def __init__(self):
        self.signum: Optional[int] = None
        self.on_second: Optional[Callable[[], None]] = None
        self._previous: dict = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def install(self) -> "Interrupt":
        for sig in SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):  # not the main thread, or not supported here
                pass
        return self

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def check(self) -> None:
        if self.requested:
            raise Interrupted()

    def _handle(self, signum, _frame) -> None:
        if self.signum is None:
            self.signum = signum
            return
        if self.on_second is not None:
            try:
                self.on_second()
            except Exception as exc:  # exiting anyway: say what could not be saved
                print(f"kino: {exc}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(128 + signum)
