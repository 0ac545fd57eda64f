"""FaceID for the ``diffusion`` look: the actor's face embedding (insightface face pack) as the
IP-Adapter FaceID input.

``face_reference=IMAGE``: the embedding is computed once per clip. ``face_reference=frame``: each
source frame's largest face; a frame without a face reuses the last face found, and frames before the
first face run with the FaceID scale at 0 (no identity steering) and a zero embedding. Which frames had
no face is recorded in provenance (``diffusion.faceid.frames_without_face``).
"""
from __future__ import annotations

from typing import Optional

import numpy as np


class FaceIdentity:
    """The face side of FaceID for one clip; needs the engine (its device, dtype and CFG layout)."""

    def __init__(self, params: dict, models_dir: Optional[str], cache: dict):
        from ..identity.faces import resolve_pack
        self.reference = params["face_reference"]
        self.per_frame = self.reference == "frame"
        self.scale = float(params["faceid_scale"])
        self.pack_dir = resolve_pack(params.get("face_pack") or "buffalo_l", models_dir)  # before the slow loads
        self.models_dir, self.cache = models_dir, cache
        self.model = None
        self.engine = None
        self._last: Optional[list] = None
        self.frames_without_face: list[int] = []

    def open(self, engine, reference_image: Optional[np.ndarray]) -> None:
        """Load the face pack; with a fixed reference, embed it once and fix it on ``engine``."""
        from ..identity.faces import load_face_model
        self.engine = engine
        self.model = load_face_model(self.pack_dir, det_size=640, cache=self.cache)
        engine.set_adapter_scale("face", self.scale)
        if not self.per_frame:
            engine.set_slot_embeds("face", self._embeds([reference_image]))

    def _embeds(self, images):
        from ..identity.faceid import faceid_embeds
        return faceid_embeds(self.model, images, do_cfg=self.engine.do_cfg, device=self.engine.device,
                             dtype=self.engine.pipe.dtype)[0]

    def _tensor(self, emb: np.ndarray):
        """``ip_adapter_image_embeds`` of one unit face embedding (zero embedding first under CFG)."""
        import torch
        t = torch.from_numpy(np.ascontiguousarray(emb, dtype=np.float32)).reshape(1, 1, -1)
        if self.engine.do_cfg:
            t = torch.cat([torch.zeros_like(t), t])
        return t.to(device=self.engine.device, dtype=self.engine.pipe.dtype)

    def for_frames(self, frames) -> Optional[list]:
        """Per frame ``(embeds, scale)`` with ``face_reference=frame``; None with a fixed reference."""
        if not self.per_frame:
            return None
        return [self._for_frame(f) for f in frames]

    def _for_frame(self, frame) -> tuple:
        emb = self.model.embedding(frame.image)
        if emb is not None:
            self._last = self._tensor(emb)
            return self._last, self.scale
        self.frames_without_face.append(int(frame.index))
        if self._last is not None:
            return self._last, self.scale
        return self._tensor(np.zeros(512, np.float32)), 0.0  # before the first face: FaceID off

    def provenance(self, weights: str) -> dict:
        return {"weights": weights, "pack": self.pack_dir, "pack_files": self.model.files if self.model else [],
                "face_reference": self.reference, "scale": self.scale,
                "frames_without_face": self.frames_without_face}

