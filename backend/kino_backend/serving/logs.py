"""The backend's log file, bounded: each line is cut to a length, a warning that repeats (the same
message template, e.g. a refused handshake or a bad message) is let through at most ``burst`` times a
minute, and the file rotates at ``max_bytes`` keeping ``backups`` old files. A flood of bad input
cannot fill the disk; the job lines (info) are all kept, within the rotation.
"""
from __future__ import annotations

import logging
import logging.handlers
import threading
import time

from kino_addon.protocol.quoting import clip

LINE_LIMIT = 4000  # characters of a message
TRACE_LIMIT = 20000  # characters of an exception's traceback
MAX_BYTES = 10 << 20
BACKUPS = 2


class BoundedLines(logging.Filter):
    """Cuts long messages and rate-limits repeated warnings and errors (per logger and message template)."""

    def __init__(self, burst: int = 20, period: float = 60.0):
        super().__init__()
        self.burst = burst
        self.period = period
        self._lock = threading.Lock()
        self._seen: dict = {}  # key -> [window start, lines let through, lines held back]

    def filter(self, record: logging.LogRecord) -> bool:
        held_back = 0
        if record.levelno >= logging.WARNING:
            let_through, held_back = self._count(record)
            if not let_through:
                return False
        message = clip(record.getMessage(), LINE_LIMIT)
        if held_back:
            message = f"{message} [{held_back} more like this in the last {self.period:g} s were not logged]"
        record.msg, record.args = message, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = clip(logging.Formatter().formatException(record.exc_info), TRACE_LIMIT)
        return True

    def _count(self, record: logging.LogRecord) -> tuple:
        """``(let it through?, lines of its kind held back in the window that just ended)``."""
        key = (record.name, record.levelno, str(record.msg)[:200])
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            window = self._seen.setdefault(key, [now, 0, 0])
            held_back = 0
            if now - window[0] > self.period:
                held_back = window[2]
                window[:] = [now, 0, 0]
            window[1] += 1
            if window[1] > self.burst:
                window[2] += 1
                return False, 0
        return True, held_back


def file_handler(path: str, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> logging.Handler:
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    handler.addFilter(BoundedLines())
    return handler
