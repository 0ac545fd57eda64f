"""Depth, line-art and soft-edge conditions through controlnet_aux (optional).

They need torchvision and controlnet_aux (which this project's CPU environment cannot hold beside
torch 2.13; GPU environments can) and the annotator weights from ``lllyasviel/Annotators`` placed,
offline, in ``<models_dir>/annotators/`` (or ``$KINO_ANNOTATORS_DIR``). Without any of these the
annotator raises ``StageError(MODEL_MISSING)`` naming exactly what is missing.
"""
from __future__ import annotations

import importlib.util
import os
from typing import Optional

import numpy as np

from . import check_rgb
from kino_addon.protocol.errors import MODEL_MISSING

# kind -> (controlnet_aux class, weight files it reads from the folder)
DETECTORS = {
    "depth": ("MidasDetector", ("dpt_hybrid-midas-501f0c75.pt",)),
    "lineart": ("LineartDetector", ("sk_model.pth", "sk_model2.pth")),
    "softedge": ("HEDdetector", ("ControlNetHED.pth",)),
}


def annotator_dirs(models_dir: Optional[str]) -> list[str]:
    dirs = []
    if os.environ.get("KINO_ANNOTATORS_DIR"):
        dirs.append(os.environ["KINO_ANNOTATORS_DIR"])
    if models_dir:
        dirs.append(os.path.join(models_dir, "annotators"))
    return dirs


def missing_requirements(kind: str, models_dir: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """(problem, weights folder): problem is None when everything ``kind`` needs is present."""
    cls_name, files = DETECTORS[kind]
    libs = [m for m in ("torchvision", "controlnet_aux") if importlib.util.find_spec(m) is None]
    dirs = annotator_dirs(models_dir)
    folder = next((d for d in dirs if all(os.path.isfile(os.path.join(d, f)) for f in files)), None)
    problems = []
    if libs:
        problems.append(f"the Python packages {' and '.join(libs)} (GPU environments: pip install "
                        "torchvision controlnet_aux matching your torch; they break the CPU torch 2.13 "
                        "environment)")
    if folder is None:
        where = " or ".join(dirs) if dirs else "<models_dir>/annotators (set the models folder) or $KINO_ANNOTATORS_DIR"
        problems.append(f"the weight file(s) {', '.join(files)} from lllyasviel/Annotators in {where}")
    if problems:
        return f"the {kind} ControlNet condition needs " + "; and ".join(problems) + \
            f". Use canny, tile or pose instead.", None
    return None, folder


class ControlnetAuxAnnotator:
    """A controlnet_aux detector (depth, lineart, softedge) behind the annotator call: RGB in, condition image out."""

    def __init__(self, detector, kind: str):
        self.detector = detector
        self.kind = kind

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        import cv2
        h, w = check_rgb(rgb).shape[:2]
        out = np.asarray(self.detector(rgb, output_type="np", detect_resolution=min(512, max(h, w)),
                                       image_resolution=max(h, w)))
        if out.ndim == 2:
            out = np.repeat(out[:, :, None], 3, axis=2)
        if out.dtype != np.uint8:
            out = np.clip(out * (255.0 if out.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        return cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR) if out.shape[:2] != (h, w) else out


def make_optional_annotator(kind: str, *, models_dir: Optional[str] = None):
    from ..stages.base import StageError
    problem, folder = missing_requirements(kind, models_dir)
    if problem:
        raise StageError(MODEL_MISSING, problem)
    import controlnet_aux
    cls = getattr(controlnet_aux, DETECTORS[kind][0])
    return ControlnetAuxAnnotator(cls.from_pretrained(folder), kind)
