"""The face image PuLID's EVA tower sees: aligned, background whitened, face in grayscale.

1. Alignment: the similarity transform (``cv2.estimateAffinePartial2D``, LMEDS) that maps the five
   insightface keypoints (eyes, nose, mouth corners) onto the FFHQ 5-point template at 512 x 512 -
   the template and border colour facexlib's ``FaceRestoreHelper`` uses in the reference.
2. Face mask. APPROXIMATION: the reference parses the aligned face with facexlib's BiSeNet and keeps
   skin, brows, eyes, glasses, nose, mouth, lips and hair (background, ears, earrings, neck, necklace,
   cloth and hat become white). Kino has no facexlib, so the mask here is an ellipse built from
   insightface's own detection: the detected box, mapped into the aligned crop with the same
   similarity transform as the face, widened a little and stretched upward to take in the forehead
   and hairline, with the box's rotation (so a tilted head keeps an upright face ellipse). It keeps
   roughly the same region, but not hair outside the box, and it does not cut out hands or glasses
   frames the way a parser would.
3. Grayscale (ITU-R 601 luma) inside the mask, white outside; values in [0, 1].
4. Bicubic resize to the tower's size and EVA/OpenAI CLIP mean/std normalisation. No antialiasing:
   the reference pins torchvision 0.15.2, whose tensor ``resize`` does not antialias by default.

The keypoints and box come from insightface's detector (SCRFD, same five-point order) where the
reference aligns with facexlib's RetinaFace landmarks and takes the embedding from insightface.
"""
from __future__ import annotations

import cv2
import numpy as np

FACE_SIZE = 512
FFHQ_TEMPLATE_512 = np.array([[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
                              [201.26117, 371.41043], [313.08905, 371.15118]], dtype=np.float32)
BORDER_RGB = (132, 133, 135)  # facexlib's border value (135, 133, 132) is BGR
MASK_WIDEN = 1.05  # ellipse half-width = half the box width times this
MASK_TOP = 0.25  # the ellipse reaches this fraction of the box height above the box (forehead/hair)
LUMA = (0.299, 0.587, 0.114)


def alignment(kps: np.ndarray, size: int = FACE_SIZE) -> np.ndarray:
    """2 x 3 similarity transform taking the five keypoints onto the template at ``size``."""
    template = FFHQ_TEMPLATE_512 * (size / 512.0)
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(kps, np.float32).reshape(5, 2), template, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("face keypoints are degenerate: no alignment")
    return matrix


def align_face(image_rgb: np.ndarray, kps: np.ndarray, size: int = FACE_SIZE) -> tuple:
    """(aligned RGB uint8 [size, size, 3], 2 x 3 transform)."""
    matrix = alignment(kps, size)
    aligned = cv2.warpAffine(image_rgb, matrix, (size, size), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=BORDER_RGB)
    return aligned, matrix


def face_mask(bbox, matrix: np.ndarray, size: int = FACE_SIZE) -> np.ndarray:
    """bool [size, size], True on the face: the approximate parsing mask described in the module doc."""
    x0, y0, x1, y1 = (float(v) for v in bbox[:4])
    w, h = x1 - x0, y1 - y0
    top = y0 - MASK_TOP * h
    center = np.array([[(x0 + x1) / 2.0, (top + y1) / 2.0]], np.float32)
    linear, shift = matrix[:, :2], matrix[:, 2]
    c = center @ linear.T + shift
    scale = float(np.sqrt(abs(np.linalg.det(linear))))
    angle = float(np.degrees(np.arctan2(linear[1, 0], linear[0, 0])))
    axes = (max(1, int(round(0.5 * w * MASK_WIDEN * scale))), max(1, int(round(0.5 * (y1 - top) * scale))))
    mask = np.zeros((size, size), np.uint8)
    cv2.ellipse(mask, (int(round(c[0, 0])), int(round(c[0, 1]))), axes, angle, 0, 360, 1, thickness=-1)
    return mask.astype(bool)


def features_image(aligned_rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """float32 [size, size, 3] in [0, 1]: grayscale face inside ``mask``, white elsewhere."""
    rgb = aligned_rgb.astype(np.float32) / 255.0
    gray = rgb[..., 0] * LUMA[0] + rgb[..., 1] * LUMA[1] + rgb[..., 2] * LUMA[2]
    out = np.where(mask, gray, 1.0).astype(np.float32)
    return np.repeat(out[..., None], 3, axis=2)


def prepare_face(image_rgb: np.ndarray, face) -> np.ndarray:
    """The whitened grayscale aligned face (``features_image``) for an insightface ``Face``."""
    aligned, matrix = align_face(image_rgb, face.kps)
    return features_image(aligned, face_mask(face.bbox, matrix))


def tower_input(features: np.ndarray, image_size: int, mean, std, *, device="cpu", dtype=None):
    """[1, 3, S, S] tensor for the EVA tower: bicubic resize (no antialias), then mean/std normalisation."""
    import torch
    import torch.nn.functional as F
    x = torch.from_numpy(np.ascontiguousarray(features.transpose(2, 0, 1)))[None]
    x = F.interpolate(x, size=(image_size, image_size), mode="bicubic", align_corners=False, antialias=False)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - m) / s).to(device=device, dtype=dtype or torch.float32)
