"""Backend-wide resources that live as long as the server (``JobContext.resources``).

``cache`` keeps loaded models warm across jobs (the diffusion look's ``warm_cache(ctx)``: one dict keyed
by what was loaded, shared by every job of this backend, jobs run one at a time).

Devices are detected without importing torch (heavy); when torch is already loaded it is asked.
``KINO_DEVICE`` (cuda, mps, cpu) and ``KINO_MODELS_DIR`` set this backend's defaults (e.g. on a GPU box
that clients attach to); a job's ``options.device`` / ``options.models_dir`` (the add-on's preferences)
override them. ``jobs._context`` resolves both once into the ``JobContext`` the stages read.
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import threading
from typing import List, Optional


_WARM: dict = {}  # models kept warm when a job context has no backend-wide cache (scripts, tests)


def warm_cache(ctx) -> dict:
    """The dict that keeps models warm for ``ctx``'s job: its backend's ``Resources.cache``, else a
    process-wide one. The diffusion look and its AnimateDiff path share it."""
    cache = getattr(ctx.resources, "cache", None)
    return cache if isinstance(cache, dict) else _WARM


class Resources:
    """What outlives a job: the warm model cache, the detected devices and this backend's defaults
    (``device_preference`` from ``KINO_DEVICE``, ``models_dir`` from ``KINO_MODELS_DIR``)."""

    def __init__(self, environ=os.environ):
        self.cache: dict = {}
        self.lock = threading.RLock()
        self._devices: Optional[List[str]] = None
        self.device_preference = (environ.get("KINO_DEVICE") or "").strip().lower() or None
        self.models_dir = (environ.get("KINO_MODELS_DIR") or "").strip() or None

    def models_loaded(self) -> List[str]:
        with self.lock:
            return [k if isinstance(k, str) else "/".join(map(str, k)) if isinstance(k, tuple) else repr(k)
                    for k in self.cache]

    def devices(self) -> List[str]:
        """``["cpu", "cuda:0 <name>", ...]``; GPUs from torch when loaded, else from ``nvidia-smi -L``."""
        if self._devices is None or "torch" in sys.modules:
            self._devices = ["cpu"] + _gpus()
        return list(self._devices)

    def default_device(self) -> str:
        if self.device_preference and self.device_preference != "auto":
            return self.device_preference
        torch = sys.modules.get("torch")
        if torch is not None:
            if torch.cuda.is_available():
                return "cuda"
            mps = getattr(torch.backends, "mps", None)
            return "mps" if mps is not None and mps.is_available() else "cpu"
        if len(self.devices()) > 1:
            return "cuda"
        return "mps" if platform.system() == "Darwin" and platform.machine() == "arm64" else "cpu"


def _gpus() -> List[str]:
    torch = sys.modules.get("torch")
    if torch is not None:
        if torch.cuda.is_available():
            return [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
        mps = getattr(torch.backends, "mps", None)
        return ["mps"] if mps is not None and mps.is_available() else []
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    lines = [ln.split(" (UUID")[0] for ln in out.splitlines() if ln.startswith("GPU ")]
    return [f"cuda:{i} {ln.split(': ', 1)[-1]}" for i, ln in enumerate(lines)]
