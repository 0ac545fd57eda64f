"""Resume checkpoints next to the frames: what a job must send again, and the state to send with it.

A job asks the backend for checkpoints (job option ``checkpoints``); a ``job.frame`` may then carry
``body["checkpoint"]`` (a description) and buffers named ``state/...``: every stage's state right after
that frame (the temporal stage's previous source and output, the keyer's matte history ...). The
session keeps the latest one in ``DIR/.kino-resume/checkpoint.npz``, written after its frame, so it
never runs ahead of the frames on disk. The add-on never looks inside the state.

A later run of the same settings then plans the job (``plan``):

* the pipeline is stateless (an empty checkpoint, or ``frames_independent`` in the ``kino.json`` of a
  finished run): only the missing frames;
* a checkpoint after frame c and every missing frame after c: frames c+1.. with the state; frames
  already on disk among them are computed again for the state only, not written;
* otherwise (no checkpoint, or a frame missing before it): every frame from the first, writing only
  the missing ones.

So a resumed run equals an uninterrupted one, temporal stage included.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from ..protocol.atomic import atomic_write_bytes

RESUME_DIR = ".kino-resume"
STATE_FILE = "checkpoint.npz"
STATE_PREFIX = "state/"
SAVE_INTERVAL_S = 1.0  # a stateful checkpoint is written at most this often (the rest are recomputed)


@dataclass
class Checkpoint:
    frame: int  # the output frame after which the state holds
    desc: dict  # the backend's description (opaque here)
    buffers: list  # [(spec, bytes)] named state/...

    @property
    def stateless(self) -> bool:
        return not self.desc.get("arrays") and not self.desc.get("values")


def state_path(folder: str) -> str:
    return os.path.join(folder, RESUME_DIR, STATE_FILE)


def save(folder: str, ck: Checkpoint, *, settings_hash: str, backend: str, count: int) -> None:
    meta = {"frame": ck.frame, "settings_hash": settings_hash, "backend": backend, "count": count,
            "desc": ck.desc, "specs": [spec for spec, _ in ck.buffers]}
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)}
    for i, (_, data) in enumerate(ck.buffers):
        arrays[f"b{i}"] = np.frombuffer(bytes(data), np.uint8)
    blob = io.BytesIO()
    np.savez(blob, **arrays)
    os.makedirs(os.path.join(folder, RESUME_DIR), exist_ok=True)
    atomic_write_bytes(state_path(folder), blob.getvalue())


def load(folder: str, *, settings_hash: str, backend: str, count: int) -> Optional[Checkpoint]:
    """The kept checkpoint when it belongs to these settings and this backend version, else None."""
    try:
        with np.load(state_path(folder), allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode("utf-8"))
            specs = meta.get("specs") or []
            buffers = [(spec, data[f"b{i}"].tobytes()) for i, spec in enumerate(specs)]
    except (OSError, ValueError, KeyError, EOFError):
        return None
    if (meta.get("settings_hash") != settings_hash or meta.get("backend") != backend
            or meta.get("count") != count or not isinstance(meta.get("desc"), dict)
            or not isinstance(meta.get("frame"), int) or not 1 <= meta["frame"] <= count):
        return None
    return Checkpoint(meta["frame"], meta["desc"], buffers)


def clear(folder: str) -> None:
    shutil.rmtree(os.path.join(folder, RESUME_DIR), ignore_errors=True)


def plan(missing: List[int], count: int, ck: Optional[Checkpoint],
         independent: bool = False) -> Tuple[List[int], Optional[Checkpoint]]:
    """(output numbers the job carries, in order; the checkpoint to start from or None).
    ``independent``: an earlier run of these settings found the frames independent (kino.json)."""
    if not missing:
        return [], None
    if independent or (ck is not None and ck.stateless):
        return list(missing), None
    if ck is not None and ck.frame < missing[0]:
        return list(range(ck.frame + 1, count + 1)), ck
    return list(range(1, count + 1)), None


def from_event(number: int, body: dict, buffers: list) -> Optional[Checkpoint]:
    """The checkpoint a ``job.frame`` carries (for output ``number``), or None."""
    desc = body.get("checkpoint")
    if not isinstance(desc, dict):
        return None
    state = [(spec, data) for spec, data in buffers if str(spec.get("name", "")).startswith(STATE_PREFIX)]
    return Checkpoint(number, desc, state)


class Keeper:
    """Decides which checkpoints to write: a stateless one once, stateful ones at most every
    ``SAVE_INTERVAL_S`` seconds (each is written after its own frame, on the writer thread)."""

    def __init__(self, folder: str, *, settings_hash: str, backend: str, count: int):
        self.folder = folder
        self.meta = {"settings_hash": settings_hash, "backend": backend or "", "count": count}
        self.stateful = None  # unknown until the first checkpoint arrives
        self._last = -1e9

    def wanted(self, ck: Checkpoint) -> bool:
        if ck.stateless:
            first = self.stateful is None
            self.stateful = False
            return first
        self.stateful = True
        now = time.monotonic()
        if now - self._last < SAVE_INTERVAL_S:
            return False
        self._last = now
        return True

    def writer(self, ck: Checkpoint):
        """A callable for the frame writer's thread."""
        return lambda: save(self.folder, ck, **self.meta)
