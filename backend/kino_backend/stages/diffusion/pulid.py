"""PuLID for the ``diffusion`` look (SDXL): the actor's identity as ID tokens in the UNet's
cross-attention (``identity.pulid``), from the EVA-CLIP features and the face pack's embedding of the
actor's face.

``face_reference=IMAGE``: the ID tokens are computed once per clip. ``face_reference=frame``: each
source frame's largest face; a frame without a face reuses the last face found, and frames before the
first face get the "no identity" tokens (those PuLID gives the unconditional branch), so identity
guidance is off for them. Which frames had no face is in provenance
(``diffusion.pulid.frames_without_face``). The adapter (EVA-CLIP tower + ID encoder) stays warm
across jobs; its processors are taken off the shared UNet when the job closes.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..base import StageError
from kino_addon.protocol.errors import INVALID_PARAMS, MODEL_MISSING

DEFAULT_PACK = "antelopev2"  # PuLID was trained on antelopev2's glintr100 embeddings


def find_encoder(weights: str, models_dir: Optional[str]) -> str:
    """The EVA-CLIP tower for ``weights`` when pulid_encoder is not given: a ``*eva*.safetensors`` file
    classified as an EVA-CLIP visual tower, next to the weights or in the models folder (and its
    ``pulid/`` and ``clip/`` subfolders); StageError(MODEL_MISSING) naming where it looked."""
    import glob
    import os

    from ...identity.pulid.adapter import ENCODER_HINT
    from ...models.classify import classify
    folders = [os.path.dirname(os.path.abspath(weights))]
    if models_dir:
        folders += [models_dir, os.path.join(models_dir, "pulid"), os.path.join(models_dir, "clip")]
    seen = []
    for folder in dict.fromkeys(folders):
        for path in sorted(glob.glob(os.path.join(folder, "*.safetensors"))):
            if "eva" in os.path.basename(path).lower() and path not in seen:
                seen.append(path)
                if classify(path)["kind"] == "eva_clip":
                    return path
    raise StageError(MODEL_MISSING, f"PuLID needs the EVA02-CLIP-L-14-336 vision tower and none was found in "
                     f"{', '.join(dict.fromkeys(folders))}: set pulid_encoder=PATH. {ENCODER_HINT}",
                     stage="diffusion")


class PulidIdentity:
    """The PuLID side of one clip: load (or take warm) the adapter, attach it, set the ID tokens."""

    def __init__(self, params: dict, weights: str, encoder: str, models_dir: Optional[str], cache: dict):
        from ...identity.faces import resolve_pack
        self.weights, self.encoder = weights, encoder
        self.reference = params["face_reference"]
        self.per_frame = self.reference == "frame"
        self.scale, self.mode = float(params["pulid_scale"]), params["pulid_mode"]
        self.pack_dir = resolve_pack(params.get("face_pack") or DEFAULT_PACK, models_dir)  # before slow loads
        self.cache = cache
        self.adapter = self.model = self.engine = None
        self._unet = None
        self._last = None  # cond tokens of the last face seen (face_reference=frame)
        self._uncond = None
        self.frames_without_face: list[int] = []

    def _adapter(self, device):
        """The EVA tower and ID encoder run in float32 (once per clip or frame, as the reference does);
        the attention processors take the UNet's dtype and the tokens are cast to it."""
        from ...identity.pulid.adapter import PulidAdapter
        key = f"pulid:{self.weights}+{self.encoder}@{device}/float32"
        if key not in self.cache:
            self.cache[key] = PulidAdapter(self.weights, self.encoder, device=device)
        return self.cache[key]

    def open(self, engine, reference_image: Optional[np.ndarray], arch: str) -> None:
        from ...identity.faces import load_face_model
        if arch != "sdxl":
            raise StageError(INVALID_PARAMS, f"PuLID works with SDXL checkpoints only; model= is {arch}. Pick an "
                             "SDXL checkpoint, or use faceid= (IP-Adapter FaceID) with SD 1.5.", stage="diffusion")
        self.engine = engine
        self.model = load_face_model(self.pack_dir, det_size=640, cache=self.cache)
        self.adapter = self._adapter(engine.device)
        self.adapter.attach(engine.pipe.unet)
        self._unet = engine.pipe.unet
        if not self.per_frame:
            uncond, cond = self.adapter.embed(self.model, [reference_image])
            self._set(uncond, cond)

    def _set(self, uncond, cond) -> None:
        import torch
        if self.engine.do_cfg and uncond.shape[0] != cond.shape[0]:
            uncond = uncond.expand(cond.shape[0], *uncond.shape[1:])
        with torch.no_grad():
            self.adapter.set_embedding(uncond if self.engine.do_cfg else None, cond, self.scale, self.mode,
                                       do_cfg=self.engine.do_cfg)

    def before_frames(self, frames) -> None:
        """With ``face_reference=frame``: one row of ID tokens per frame of the next model call."""
        import torch
        if not self.per_frame:
            return
        rows = []
        for f in frames:
            tokens = self.adapter.embed_faces(self.model, [f.image])  # None: no face in this frame
            if tokens is not None:
                self._uncond, self._last = tokens
            else:
                self.frames_without_face.append(int(f.index))
            if self._uncond is None:  # no face yet in this clip: the "no identity" tokens
                self._uncond = self.adapter.embed_none()
            rows.append(self._last if self._last is not None else self._uncond)
        self._set(self._uncond, torch.cat(rows))

    def close(self) -> None:
        if self.adapter is not None and self._unet is not None:
            self.adapter.detach(self._unet)
            self.adapter.clear()
        self._unet = None

    def provenance(self) -> dict:
        return {"weights": self.weights, "encoder": self.encoder,
                "version": getattr(self.adapter, "version", None), "pack": self.pack_dir,
                "pack_files": self.model.files if self.model else [], "face_reference": self.reference,
                "scale": self.scale, "mode": self.mode, "frames_without_face": self.frames_without_face}
