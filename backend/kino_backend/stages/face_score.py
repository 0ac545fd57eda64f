"""The ``face_score`` stage (finish role): how well the stylized frames keep the actor's identity.

For every frame it embeds the largest face of the source frame (or, when ``reference`` is set, of
that photo of the actor, once) and the largest face of the stylized frame with a face pack
(insightface ``FaceAnalysis``: detector + ArcFace recognizer), and records their cosine similarity:
``frame.meta["face_score"]`` and ``ctx.provenance["face_score"]`` =
``{"pack", "files", "reference", "per_frame": [{"frame", "similarity"}], "mean", "frames_scored",
"frames_without_face"}``. ``similarity`` is None where either image shows no face; ``mean`` is the clip
mean over scored frames (None when none). Frames pass through unchanged.

Finish stages run in reverse workflow order, so list ``face_score`` FIRST in the workflow's stages to
score the frames as they finally leave the backend (after e.g. ``stabilize`` restored the camera).
Example: ``{"version": 1, "look": "toon", "stages": [{"name": "face_score", "params": {"pack":
"buffalo_l"}}, {"name": "toon"}, {"name": "temporal"}]}`` with job option ``models_dir``.
"""
from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from .base import Frame, ParamSpec, Stage, StageError, StageRun
from kino_addon.protocol.errors import INVALID_PARAMS


def _read_rgb(path: str) -> np.ndarray:
    import cv2
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise StageError(INVALID_PARAMS, f"reference: cannot read the image {path!r}; give a PNG or JPEG "
                         "photo of the actor's face.")
    return np.ascontiguousarray(img[..., ::-1])


class FaceScoreRun(StageRun):
    """The face_score stage opened for one job: the face model, the reference embedding, the per-frame scores."""

    def __init__(self, stage, params, ctx):
        super().__init__(stage, params, ctx)
        from ..identity.faces import load_face_model
        models_dir = ctx.models_dir
        cache = getattr(ctx.resources, "cache", None)
        self.model = load_face_model(params["pack"], models_dir, det_size=params["det_size"], cache=cache)
        self.reference = None
        if params.get("reference"):
            self.reference = self.model.embedding(_read_rgb(params["reference"]))
            if self.reference is None:
                raise StageError(INVALID_PARAMS, f"reference: no face found in {params['reference']!r}; "
                                 "use a photo where the actor's face is clearly visible.")
        self.record = {"pack": self.model.pack_dir, "files": self.model.files, "reference": params.get("reference"),
                       "per_frame": [], "mean": None, "frames_scored": 0, "frames_without_face": 0}
        ctx.provenance["face_score"] = self.record

    def score(self, frame: Frame) -> Optional[float]:
        from ..identity.faces import cosine
        src = self.reference if self.reference is not None else self.model.embedding(frame.source)
        if src is None:
            return None
        out = self.model.embedding(frame.image)
        return None if out is None else round(cosine(src, out), 6)

    def finish(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        total = 0.0
        for frame in frames:
            self.ctx.check_cancelled()
            sim = self.score(frame)
            self.record["per_frame"].append({"frame": frame.index, "similarity": sim})
            if sim is None:
                self.record["frames_without_face"] += 1
            else:
                total += sim
                self.record["frames_scored"] += 1
                self.record["mean"] = round(total / self.record["frames_scored"], 6)
            yield frame.replace(meta=dict(frame.meta, face_score=sim))


class FaceScore(Stage):
    """The ``face_score`` stage (finish): cosine similarity of the actor's face before and after the look."""
    name = "face_score"
    role = "finish"
    label = "Face identity score"
    help = ("Measures how well the stylized frames keep the actor's face: cosine similarity of face "
            "embeddings (source or reference photo vs stylized), per frame and clip mean, in the job's "
            "provenance. Needs a face pack (e.g. buffalo_l) in <models folder>/insightface/models/.")
    params = (
        ParamSpec("pack", "str", "buffalo_l", "Face pack: a folder name under <models folder>/insightface/models/ "
                  "or a folder path (detector det_*.onnx + recognizer w600k_*.onnx)."),
        ParamSpec("reference", "image", None, "Optional photo of the actor; when set, every stylized frame is "
                  "compared with this face instead of the source frame's."),
        ParamSpec("det_size", "int", 640, "Face detector input size in pixels (multiple of 32).", min=128, max=1280),
    )
    run_class = FaceScoreRun

    def validate(self, params: dict) -> dict:
        out = super().validate(params)
        if out["det_size"] % 32:
            from .base import ParamError
            raise ParamError("det_size", f"{out['det_size']} is not a multiple of 32 (e.g. 640)")
        return out


STAGES = [FaceScore()]
