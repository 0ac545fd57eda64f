"""``models.list`` scans run off the connection's request path, bounded.

A scan of a large folder (``/`` even) could take minutes; it runs in its own thread (at most
``MAX_SCANS`` at once for the whole server), stops at a ``ScanBudget`` (files looked at, seconds), and
answers when done, so the connection's other requests are answered meanwhile.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

log = logging.getLogger("kino.scans")
MAX_SCANS = 2
_slots = threading.BoundedSemaphore(MAX_SCANS)


def start_scan(models_dir: Optional[str], hf_cache: bool, kind: Optional[str], arch: Optional[str],
               answer: Callable[[Optional[dict], Optional[BaseException]], None],
               max_entries: int = 50_000, seconds: float = 20.0) -> None:
    """Scan in a thread; ``answer(body, None)`` with ``{models, truncated?}`` or ``answer(None, exc)``."""

    def run() -> None:
        from ..models import registry  # lazy: reads safetensors headers only, no torch
        with _slots:
            budget = registry.ScanBudget(max_entries, seconds)
            try:
                entries = registry.scan(models_dir, hf_cache=hf_cache, budget=budget)
                if kind:
                    entries = registry.choices(entries, kind, arch)
            except Exception as exc:  # answered as an error reply by the caller
                answer(None, exc)
                return
        body = {"models_dir": models_dir, "models": entries}
        if budget.reason:
            body["truncated"] = (f"the scan {budget.reason}; only part of {models_dir or 'the folders'} was "
                                 "looked at: point the Models folder at the folder that holds your models")
            log.warning("models.list of %s %s", models_dir, budget.reason)
        answer(body, None)

    threading.Thread(target=run, name="kino-models-scan", daemon=True).start()
