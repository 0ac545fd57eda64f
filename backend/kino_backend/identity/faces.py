"""Face packs, face embeddings and identity similarity, through insightface's own ``FaceAnalysis``.

A face pack is a folder of ONNX models in insightface's layout: a detector (``det_*.onnx``, SCRFD)
and a recognizer (``w600k_*.onnx`` or another ArcFace ``*.onnx``). Users put a pack they obtained
themselves (e.g. ``buffalo_l``) at ``<models_dir>/insightface/models/<pack>/`` or pass the folder's
path. Kino never downloads packs: insightface's packs are licensed for non-commercial research only.
"""
from __future__ import annotations

import glob
import os
from typing import Optional

import numpy as np

from ..stages.base import StageError
from kino_addon.protocol.errors import MODEL_MISSING

DEFAULT_PACK = "buffalo_l"


def _missing(pack: str, tried: list) -> StageError:
    where = "; ".join(tried) or "(no models folder set)"
    return StageError(MODEL_MISSING, (
        f"face pack {pack!r} not found (looked in: {where}). A pack is a folder with a face detector "
        f"(det_*.onnx, e.g. det_10g.onnx) and a face recognizer (w600k_*.onnx or another ArcFace *.onnx). "
        f"Put it at <models folder>/insightface/models/{os.path.basename(pack.rstrip('/')) or pack}/ "
        "(the models folder is set in the add-on preferences) or give the folder's path. Kino never "
        "downloads face packs: insightface's packs are for non-commercial research only, so obtain one "
        "under terms that fit your use."))


def resolve_pack(pack: str, models_dir: Optional[str] = None) -> str:
    """Return the folder of face pack ``pack`` (a name or a path) or raise ``StageError(MODEL_MISSING)``."""
    pack = pack or DEFAULT_PACK
    candidates = [os.path.expanduser(pack)]
    if models_dir:
        candidates += [os.path.join(models_dir, "insightface", "models", pack), os.path.join(models_dir, pack)]
    for path in candidates:
        if os.path.isdir(path) and glob.glob(os.path.join(path, "*.onnx")):
            return os.path.abspath(path)
    raise _missing(pack, candidates)


class FaceModel:
    """A loaded face pack: detect the largest face in an RGB image and embed it."""

    def __init__(self, pack_dir: str, det_size: int = 640, det_thresh: float = 0.5):
        from insightface.app import FaceAnalysis  # lazy: onnxruntime + insightface
        self.pack_dir = pack_dir
        try:
            app = FaceAnalysis(name=pack_dir, allowed_modules=["detection", "recognition"],
                               providers=["CPUExecutionProvider"])
        except AssertionError:
            raise StageError(MODEL_MISSING, f"face pack {pack_dir} has no face detector (det_*.onnx, SCRFD): "
                             "add the pack's detector file to that folder.") from None
        if "recognition" not in app.models:
            raise StageError(MODEL_MISSING, f"face pack {pack_dir} has no face recognizer (w600k_*.onnx, "
                             "ArcFace): add the pack's recognizer file to that folder.")
        app.prepare(ctx_id=-1, det_thresh=det_thresh, det_size=(det_size, det_size))
        self.app = app
        self.files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(pack_dir, "*.onnx")))

    def largest_face(self, image_rgb: np.ndarray):
        """insightface ``Face`` (bbox, kps, det_score, embedding) of the largest face, or None."""
        bgr = np.ascontiguousarray(image_rgb[..., ::-1])
        faces = self.app.get(bgr)
        if not faces:
            return None
        return max(faces, key=lambda f: float((f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1])))

    def embedding(self, image_rgb: np.ndarray) -> Optional[np.ndarray]:
        """Unit-length embedding (float32) of the largest face, or None when no face is found."""
        face = self.largest_face(image_rgb)
        if face is None or getattr(face, "embedding", None) is None:
            return None
        emb = np.asarray(face.embedding, dtype=np.float32).ravel()
        norm = float(np.linalg.norm(emb))
        return emb / norm if norm > 0 else emb


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (0.0 when either is all zeros)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / den) if den > 0 else 0.0


def load_face_model(pack: str, models_dir: Optional[str] = None, *, det_size: int = 640,
                    cache: Optional[dict] = None) -> FaceModel:
    """Load (or take warm from ``cache``) the face pack ``pack``."""
    pack_dir = resolve_pack(pack, models_dir)
    key = f"identity:face:{pack_dir}@{det_size}"
    if cache is not None and key in cache:
        return cache[key]
    model = FaceModel(pack_dir, det_size=det_size)
    if cache is not None:
        cache[key] = model
    return model
