"""OpenPose-style body skeleton (the format pose ControlNets were trained on), drawn from
mediapipe 0.10.21's bundled pose landmarker, offline.

18 keypoints in COCO/OpenPose order: nose, neck, right shoulder/elbow/wrist, left
shoulder/elbow/wrist, right hip/knee/ankle, left hip/knee/ankle, right eye, left eye, right ear, left
ear. "Right" is the person's right. The neck is the midpoint of the shoulders. No person -> a black
image.
"""
from __future__ import annotations

import math
from typing import Optional

import cv2
import numpy as np

from . import check_rgb
from kino_addon.protocol.errors import MODEL_MISSING

# OpenPose keypoint -> mediapipe pose landmark index (None: computed)
MP_INDEX = (0, None, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7)
# limbs as pairs of OpenPose keypoints, in the order the OpenPose renderer colours them
LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
         (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))
# one hue per keypoint / limb, stepping around the colour wheel from red (RGB)
COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
          (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
          (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
MIN_VISIBILITY = 0.5


def landmarks_to_keypoints(landmarks, width: int, height: int) -> list[Optional[tuple[float, float]]]:
    """mediapipe's 33 normalized landmarks -> 18 OpenPose keypoints in pixels (None if not seen)."""
    def point(i):
        lm = landmarks[i]
        if lm.visibility < MIN_VISIBILITY:
            return None
        return (lm.x * width, lm.y * height)

    points = [point(i) if i is not None else None for i in MP_INDEX]
    rs, ls = points[2], points[5]
    if rs is not None and ls is not None:
        points[1] = ((rs[0] + ls[0]) / 2.0, (rs[1] + ls[1]) / 2.0)
    return points


def draw_skeleton(points: list[Optional[tuple[float, float]]], width: int, height: int) -> np.ndarray:
    """Limbs as filled ellipses at 60 % colour, joints as full-colour dots, on black."""
    canvas = np.zeros((height, width, 3), np.uint8)
    scale = max(width, height) / 512.0
    stick = max(1, round(4 * scale))
    dot = max(1, round(4 * scale))
    for (a, b), color in zip(LIMBS, COLORS):
        pa, pb = points[a], points[b]
        if pa is None or pb is None:
            continue
        cx, cy = (pa[0] + pb[0]) / 2.0, (pa[1] + pb[1]) / 2.0
        length = math.hypot(pa[0] - pb[0], pa[1] - pb[1]) / 2.0
        angle = math.degrees(math.atan2(pb[1] - pa[1], pb[0] - pa[0]))
        poly = cv2.ellipse2Poly((round(cx), round(cy)), (max(1, round(length)), stick), round(angle), 0, 360, 1)
        cv2.fillConvexPoly(canvas, poly, tuple(int(c * 0.6) for c in color))
    for p, color in zip(points, COLORS):
        if p is not None:
            cv2.circle(canvas, (round(p[0]), round(p[1])), dot, color, thickness=-1)
    return canvas


class PoseAnnotator:
    """``video=True`` tracks the person across consecutive frames (faster, steadier); otherwise
    every image is detected on its own. Call ``close()`` when done."""

    def __init__(self, video: bool = False):
        try:
            import mediapipe as mp
            solutions = mp.solutions
        except (ImportError, AttributeError) as exc:
            from ..stages.base import StageError
            raise StageError(MODEL_MISSING, "the pose annotator needs mediapipe 0.10.21 (it ships its pose "
                             "model in the wheel; later versions do not): pip install --no-deps "
                             f"mediapipe==0.10.21 ({exc})") from exc
        # model_complexity=2 would download a model at run time; 1 ships in the wheel
        self._pose = solutions.pose.Pose(static_image_mode=not video, model_complexity=1,
                                         enable_segmentation=False, min_detection_confidence=0.5)

    def keypoints(self, rgb: np.ndarray) -> list[Optional[tuple[float, float]]]:
        h, w = check_rgb(rgb).shape[:2]
        result = self._pose.process(np.ascontiguousarray(rgb))
        if result.pose_landmarks is None:
            return [None] * len(MP_INDEX)
        return landmarks_to_keypoints(result.pose_landmarks.landmark, w, h)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        h, w = check_rgb(rgb).shape[:2]
        return draw_skeleton(self.keypoints(rgb), w, h)

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None
