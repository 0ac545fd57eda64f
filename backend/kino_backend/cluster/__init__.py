"""Kino on a Ray cluster (docs/cluster.md): the backend that Blender talks to is the Ray driver; Kino
workers are Ray actors (``ray::KinoWorker``) that hold a warm backend each and run the same stage code.

- ``tasks``: what a worker runs (whole pipelines over frames, cut checks, keyframes, keyframe spans,
  the temporal post pass), plain Kino code without Ray.
- ``worker`` / ``actor``: the worker's state (warm resources, per-job caches, cancel flags, throughput)
  and the Ray actor around it.
- ``plans`` (``plan_base``, ``cuts``, ``plan_spans``): how a job's frames are split so the result does
  not depend on how many workers there are.
- ``driver``: runs one job over the workers (scheduling, retries, cancel, frames streamed to Blender).
- ``connect``: the connection to a cluster and its workers; ``local``: ``kino cluster start/stop``.

Ray is optional: nothing here imports it at module level except ``actor`` and ``connect``.
"""
from __future__ import annotations

import importlib.util

NAMESPACE = "kino"
WORKER_PREFIX = "kino-worker-"
RAY_MISSING = "Ray is not installed; scripts/setup_env.sh backend installs it"


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None
