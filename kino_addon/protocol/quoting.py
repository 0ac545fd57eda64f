"""Short quotes of untrusted values for messages and logs.

An error message that quotes a bad value must stay small whatever the value was: a 900 KB string
quoted twice would make the reply larger than the 1 MiB envelope cap (and the log line as big).
"""
from __future__ import annotations

from typing import Any

QUOTE_LIMIT = 80
TEXT_LIMIT = 2000


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` cut to about ``limit`` characters (also for values nested too deeply to repr)."""
    if isinstance(value, (str, bytes)) and len(value) > limit:  # repr of the head only, never of all of it
        return f"{repr(value[:limit])}… ({len(value)} characters)"
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # ValueError: an int with more digits than Python prints
        return f"<{type(value).__name__} too large to show>"
    return clip(text, limit)
