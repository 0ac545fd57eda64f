"""``CompositeJob``: the queued job behind ``scripts/kino composite``.

The actor (shot on a green or blue screen) and the background, decoded by ``decode``, are stylized by
two backend jobs, each with its own look: the actor with ``[key, <look>, temporal]`` (its frames come
back with the matte as alpha), the background with ``[<look>, temporal]``. Then the stylized actor goes
over the stylized background through the matte (a straight alpha-over on sRGB values, as the
sequencer's Alpha Over does), one frame per step. ``DIR`` gets ``frame_NNNN.png`` (the actor's size
and length; the background holds its last frame when shorter), ``matte/frame_NNNN.png`` and
``kino.json``.

The stylized layers wait in ``DIR/.kino-layers/`` until the composite is written: a cancelled or
failed run keeps them, and running the same command again resumes (frames already stylized are not
sent again); a completed run removes them.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Optional

import numpy as np

from ...core.frame_files import atomic_write_png
from ...core.job_queue import FrameLoop, QueuedJob, StepFailed
from ...core.job_session import JobSession, JobSpec
from ...core.job_workflow import with_defaults
from ...core.plan import frame_path, missing_frames, settings_hash
from ...core.placement import place
from ...core.png import read_png
from ...core.sidecar import build_sidecar, read_sidecar, write_sidecar
from .. import addon, job_pump
from .decode import Decoded

QUEUE = job_pump.register_queue("composite")
LAYERS = ".kino-layers"
RESUME_HINT = "run the same scripts/kino composite command again to resume"


def alpha_over(foreground: np.ndarray, background: np.ndarray, matte: np.ndarray) -> np.ndarray:
    """Straight alpha-over on 8-bit sRGB values: ``a * fg + (1 - a) * bg`` (matte uint8 or float)."""
    a = matte.astype(np.float32) / 255.0 if matte.dtype == np.uint8 else np.clip(matte, 0, 1).astype(np.float32)
    a = a.reshape(a.shape[0], a.shape[1], 1)
    out = a * foreground.astype(np.float32) + (1.0 - a) * background.astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def key_record(provenance: dict) -> dict:
    """What the key stage recorded (key colour used, where it came from, garbage matte, bars)."""
    prov = provenance if isinstance(provenance, dict) else {}
    return (prov.get("stages") or {}).get("key") or prov.get("key") or {}


class CompositeJob(QueuedJob):
    """Key an actor, stylize actor and background with their own looks, composite them into ``out``.

    Parts: ``actor_session`` and ``background_session`` (backend jobs writing the layers), then
    ``compositing`` (a ``FrameLoop``). State besides: ``out``, the decoded inputs, ``command`` (the
    reproduce line for ``kino.json``), ``versions``.
    """

    def __init__(self, client, hello: dict, actor: Decoded, background: Decoded, actor_workflow: dict,
                 background_workflow: dict, options: dict, out: str, command: str, alive=None,
                 placement=(1.0, (0.0, 0.0)), record: Optional[dict] = None):
        self.out = out
        self.placement = placement  # (scale about the bottom centre, (x, y) px offset) of the keyed actor
        self.record = dict(record or {})  # more for kino.json's "composite" (bars, picture area, placement)
        self.actor, self.background = actor, background
        self.command = command
        self.versions = addon.versions(hello)
        self.hello = hello
        self.earlier: Optional[dict] = None  # kino.json of the same composite found complete in ``out``
        self.options = options
        layers = os.path.join(out, LAYERS)
        self.actor_session = self._layer(client, os.path.join(layers, "actor"), actor, actor_workflow, alive)
        self.background_session = self._layer(client, os.path.join(layers, "background"), background,
                                               background_workflow, alive)
        self.compositing = FrameLoop(len(actor), self._composite, "compositing frame")
        super().__init__("composite", [self.actor_session, self.background_session, self.compositing])

    def _layer(self, client, folder: str, source: Decoded, workflow: dict, alive) -> JobSession:
        digest = settings_hash(source.identity or {}, with_defaults(self.hello, workflow), self.options,
                               (1, len(source)))
        spec = JobSpec(folder=folder, count=len(source), width=source.width, height=source.height,
                       workflow=workflow, options=self.options, source=source.identity or {},
                       settings_hash=digest, command=self.command, versions=self.versions, resume_hint=RESUME_HINT)
        return JobSession(client, spec, source.read, alive=alive, max_in_flight=8)

    def _composite(self, number: int) -> None:
        actor = read_png(frame_path(self.actor_session.spec.folder, number))
        if actor.shape[2] != 4:
            raise StepFailed(f"the backend returned no matte for actor frame {number}; is the key stage installed?")
        last_bg = len(self.background)
        background = read_png(frame_path(self.background_session.spec.folder, min(number, last_bg)))
        colour, matte = place(np.ascontiguousarray(actor[..., :3]), np.ascontiguousarray(actor[..., 3]),
                              self.placement[0], self.placement[1])
        atomic_write_png(frame_path(self.out, number), alpha_over(colour, background[..., :3], matte))
        atomic_write_png(frame_path(os.path.join(self.out, "matte"), number), matte)

    @property
    def digest(self) -> str:
        """The composite's settings hash: both layers' and the placement."""
        blob = [self.actor_session.spec.settings_hash, self.background_session.spec.settings_hash, self.placement,
                self.record]
        return hashlib.sha1(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:8]

    def done_before(self) -> Optional[dict]:
        """The ``kino.json`` of this same composite when ``out`` holds it complete (every frame and matte;
        the layers are gone by then, so running it again would stylize both plates again), else None."""
        side = read_sidecar(self.out)
        count = len(self.actor)
        if not side or side.get("status") != "completed" or side.get("settings_hash") != self.digest:
            return None
        if missing_frames(self.out, count) or missing_frames(os.path.join(self.out, "matte"), count):
            return None
        self.earlier = side
        return side

    def on_completed(self) -> None:
        actor, background = self.actor_session, self.background_session
        data = build_sidecar(
            status="completed", settings_hash=self.digest,
            source={"actor": self.actor.identity["input"], "background": self.background.identity["input"],
                    "width": self.actor.width, "height": self.actor.height,
                    "background_frames": len(self.background),
                    "identity": {"actor": self.actor.identity, "background": self.background.identity}},
            workflow={"actor": actor.spec.workflow, "background": background.spec.workflow},
            options=self.options, frames={"count": len(self.actor), "first": 1, "source_first": self.actor.first},
            provenance={"actor": actor.provenance, "background": background.provenance},
            versions=self.versions, command=self.command, reused=actor.reused)
        data["composite"] = {"operation": "alpha_over_straight_srgb", "key": key_record(actor.provenance),
                             "background_fit": "cover", "background_holds_last_frame": True, **self.record}
        try:
            write_sidecar(self.out, data)
        except OSError as exc:
            self.fail(f"could not write {self.out}/kino.json ({exc})")
            return
        shutil.rmtree(os.path.join(self.out, LAYERS), ignore_errors=True)

    @property
    def key(self) -> dict:
        if self.earlier is not None:
            return (self.earlier.get("composite") or {}).get("key") or {}
        return key_record(self.actor_session.provenance)
