"""FaceID for the ``diffusion`` look: the actor's face embedding (insightface face pack) as the
IP-Adapter FaceID input; with FaceID Plus also the CLIP features of the aligned face crop.

``face_reference=IMAGE``: the face is embedded once per clip. ``face_reference=frame``: each source
frame's largest face; a frame without a face reuses the last face found, and frames before the first
face run with the FaceID scale at 0 (no identity steering) and a zero embedding. Which frames had no
face is recorded in provenance (``diffusion.faceid.frames_without_face``).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..base import StageError
from kino_addon.protocol.errors import INVALID_PARAMS


class FaceIdentity:
    """The face side of FaceID for one clip; needs the engine (its device, dtype and CFG layout)."""

    def __init__(self, params: dict, models_dir: Optional[str], cache: dict):
        from ...identity.faces import resolve_pack
        self.reference = params["face_reference"]
        self.per_frame = self.reference == "frame"
        self.scale = float(params["faceid_scale"])
        self.pack_dir = resolve_pack(params.get("face_pack") or "buffalo_l", models_dir)  # before the slow loads
        self.models_dir, self.cache = models_dir, cache
        self.model = None
        self.engine = None
        self.plus = False
        self._last: Optional[dict] = None
        self._off: Optional[dict] = None  # the inputs of "no face yet" (computed once)
        self.frames_without_face: list[int] = []

    def open(self, engine, reference_image: Optional[np.ndarray], plus: bool = False) -> None:
        """Load the face pack; with a fixed reference, embed it once and fix it on ``engine``."""
        from ...identity.faces import load_face_model
        self.engine, self.plus = engine, plus
        self.model = load_face_model(self.pack_dir, det_size=640, cache=self.cache)
        engine.set_adapter_scale("face", self.scale)
        if not self.per_frame:
            face = self._inputs(reference_image)
            if face is None:
                raise StageError(INVALID_PARAMS, "no face found in the face reference image; use a photo where "
                                 "the actor's face is clearly visible, frontal and not too small.")
            for key, value in face.items():
                engine.set_slot_embeds(key, value)

    def _inputs(self, image: np.ndarray) -> Optional[dict]:
        """{"face": embedding tensor[, "face_clip": CLIP features of the aligned crop]} or None (no face)."""
        face = self.model.largest_face(image)
        if face is None or getattr(face, "embedding", None) is None:
            return None
        emb = np.asarray(face.embedding, dtype=np.float32).ravel()
        out = {"face": self._input(emb / max(float(np.linalg.norm(emb)), 1e-12))}
        if self.plus:
            from ...identity.faceid import aligned_face_crop
            out["face_clip"] = self.engine.encode_face_crop(aligned_face_crop(image, face))
        return out

    def _input(self, emb: np.ndarray):
        from ...identity.faceid import face_input
        return face_input(emb, do_cfg=self.engine.do_cfg, device=self.engine.device, dtype=self.engine.pipe.dtype)

    def for_frames(self, frames) -> Optional[list]:
        """Per frame ``(inputs, scale)`` with ``face_reference=frame``; None with a fixed reference."""
        if not self.per_frame:
            return None
        return [self._for_frame(f) for f in frames]

    def _for_frame(self, frame) -> tuple:
        inputs = self._inputs(frame.image)
        if inputs is not None:
            self._last = inputs
            return inputs, self.scale
        self.frames_without_face.append(int(frame.index))
        if self._last is not None:
            return self._last, self.scale
        if self._off is None:  # before the first face: FaceID off (scale 0), inputs of the right shape
            self._off = {"face": self._input(np.zeros(512, np.float32))}
            if self.plus:
                self._off["face_clip"] = self.engine.encode_face_crop(np.zeros((224, 224, 3), np.uint8))
        return self._off, 0.0

    def provenance(self, weights: str) -> dict:
        return {"weights": weights, "plus": self.plus, "pack": self.pack_dir,
                "pack_files": self.model.files if self.model else [], "face_reference": self.reference,
                "scale": self.scale, "frames_without_face": self.frames_without_face}
