"""What ``kino.json`` records about a job: enough to reproduce it (docs/protocol.md, ``job.done``)."""
from __future__ import annotations

import platform
import sys
import time
from typing import Optional

import numpy as np

from . import __version__

_OPTIONAL_LIBS = ("torch", "diffusers", "transformers", "peft", "mediapipe", "insightface", "onnxruntime")


def versions() -> dict:
    """Versions of Kino, Python and the libraries this process uses (heavy ones only when loaded)."""
    out = {"kino": __version__, "python": platform.python_version(), "platform": platform.platform(),
           "numpy": np.__version__}
    cv2 = sys.modules.get("cv2")
    if cv2 is None:
        try:
            import cv2  # noqa: F811  (the backend's stages use it anyway)
        except ImportError:
            cv2 = None
    out["cv2"] = getattr(cv2, "__version__", None)
    for name in _OPTIONAL_LIBS:
        module = sys.modules.get(name)
        if module is not None:
            out[name] = getattr(module, "__version__", "unknown")
    return out


def build(*, job_id: str, workflow: dict, seed: int, options: dict, frames_total: int, width: int, height: int,
          frames_done: list, stages: dict, device: str, timings: dict, status: str,
          error: Optional[dict] = None) -> dict:
    """The provenance record sent in ``job.done``."""
    return {
        "kino_provenance": 1,
        "job_id": job_id,
        "status": status,
        "workflow": workflow,
        "seed": seed,
        "options": options,
        "device": device,
        "frames": {"count": frames_total, "first": 1, "width": width, "height": height,
                   "done": len(frames_done)},
        "stages": stages,
        "versions": versions(),
        "timings": timings,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "error": error,
    }
