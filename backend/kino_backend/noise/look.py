"""The diffusion look's ``noise`` parameter: which initial noise each frame's img2img starts from.

- ``fixed``: the clip seed's noise on every frame (the engine's own draw, as before);
- ``warped``: that noise carried along the source flow (``ClipNoise``): every frame of the clip
  passes through ``attach`` in the look's ``prepare``, in order, so the noise also travels through
  frames a keyframe schedule skips; the fields wait here by frame index (a frame may be stylized
  twice; those far behind the frame being stylized are let go: no schedule goes back that far);
- ``inverted``: DDIM inversion of the frame (``inversion``), cached per clip;
- ``auto`` (the default): ``warped`` when the temporal stage is on, else ``fixed``.

The temporal stage publishes its plan (mode, flow cache, cut threshold) in ``ctx.cache`` under
``PLAN_KEY`` when it opens; the noise reuses its flow cache, so no frame pair's flow is computed twice.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np

from .clip import CUT_THRESHOLD, ClipNoise

PLAN_KEY = "kino.temporal.plan"
KEEP_BEHIND = 128  # frames: warped fields kept for frames this far behind the one being stylized
NOISE_CHOICES = ("auto", "fixed", "warped", "inverted")


class LookNoise:
    def __init__(self, run):
        self.run = run
        self.requested = run.params.get("noise") or "auto"
        self.mode: Optional[str] = None
        self.source: Optional[ClipNoise] = None
        self.inversions = None
        self.fields: dict = {}  # frame index -> warped noise (C, h, w), until stylized
        self.record = {"requested": self.requested, "mode": None}
        self._restored: dict = {}  # a resume checkpoint's noise state, applied once the mode is known

    def resolve(self) -> str:
        """The mode in effect (decided when the first frame arrives: every stage is open by then)."""
        if self.mode is None:
            plan = self.run.ctx.cache.get(PLAN_KEY)
            self.mode = ("warped" if plan else "fixed") if self.requested == "auto" else self.requested
            self.record["mode"] = self.mode
            if self.mode == "warped":
                flows = plan.get("flows") if plan else None
                cut = plan.get("cut_threshold", CUT_THRESHOLD) if plan else CUT_THRESHOLD
                self.source = ClipNoise("warped", self.run.seed, flows=flows, cut_threshold=cut)
                if self._restored:
                    self.source.restore(self._restored)
            if self.mode == "inverted":
                from .inversion import InversionCache
                self.inversions = InversionCache(self.run.ctx.cache)
        return self.mode

    def state(self) -> dict:
        """The warped noise's state for a resume checkpoint ({} for the other modes: nothing carries)."""
        return self.source.state() if self.source is not None else {}

    def restore(self, state: dict) -> None:
        self._restored = dict(state or {})

    def latent_hw(self, image: np.ndarray) -> tuple:
        h, w = self.run.work_size(*image.shape[:2])
        f = int(getattr(self.run.engine.pipe, "vae_scale_factor", 8) or 8)
        return h // f, w // f

    def attach(self, frames: Iterator) -> Iterator:
        """Pass frames through, in order, noting each one's warped noise (warped mode)."""
        for f in frames:
            if self.resolve() == "warped":
                self.fields[f.index] = self.source.next(f.image, self.latent_hw(f.image))
                self.record.update(self.source.describe())
            yield f

    def for_frames(self, frames: Sequence, size: tuple, strength: Optional[float] = None):
        """The noise for one engine call over ``frames`` at work size ``size``: a (N, C, h, w) tensor, or
        None for the engine's own (fixed) draw."""
        import torch
        mode = self.resolve()
        if mode == "fixed":
            return None
        if mode == "warped":
            fields = []
            for f in frames:  # a frame that skipped prepare (never in a workflow run) gets the next field
                field = self.fields.get(f.index)
                fields.append(field if field is not None else self.source.next(f.image, self.latent_hw(f.image)))
            last = max(f.index for f in frames)
            for old in [i for i in self.fields if i < last - KEEP_BEHIND]:
                del self.fields[old]
            return torch.from_numpy(np.stack(fields))
        return torch.cat([self._inverted(f, size, strength) for f in frames])

    def _inverted(self, frame, size: tuple, strength: Optional[float]):
        from ..flow.cache import image_key
        from .inversion import inverted_noise, settings_key
        run, engine = self.run, self.run.engine
        p = run.params
        strength = engine.effective_strength(strength)
        key = settings_key(image_key(frame.image), seed=run.seed, steps=p["steps"], strength=strength, size=size,
                           prompt=p.get("prompt") or "", model=run.paths.get("model"))

        def make():
            image = engine.to_tensor([frame.image], size)
            return inverted_noise(engine, image, steps=p["steps"], strength=strength, seed=run.seed)
        out = self.inversions.get(key, make)
        self.record["inverted_frames"] = self.inversions.computed
        return out
