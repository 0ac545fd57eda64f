"""OpenPose-style skeletons for the character-sheet views, drawn from a posed 3D stick figure.

One standing figure (18 OpenPose keypoints in x right, y down, z toward the camera; height 1) is turned
about its vertical axis (yaw) and projected orthographically into a cell, framed as a portrait (head to
mid-torso) or full body. Face keypoints that turn behind the head (the far eye and ear) are dropped,
as OpenPose would not see them. Drawn with the pose annotator's renderer, so the images look like the
conditions pose ControlNets were trained on.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import numpy as np

# (x, y, z) per OpenPose keypoint: nose, neck, R shoulder/elbow/wrist, L shoulder/elbow/wrist,
# R hip/knee/ankle, L hip/knee/ankle, R eye, L eye, R ear, L ear ("R" is the person's right: image left)
FIGURE = (
    (0.0, 0.075, 0.05), (0.0, 0.17, 0.0),
    (-0.11, 0.19, 0.0), (-0.14, 0.33, 0.0), (-0.15, 0.46, 0.02),
    (0.11, 0.19, 0.0), (0.14, 0.33, 0.0), (0.15, 0.46, 0.02),
    (-0.06, 0.52, 0.0), (-0.065, 0.73, 0.01), (-0.065, 0.94, 0.0),
    (0.06, 0.52, 0.0), (0.065, 0.73, 0.01), (0.065, 0.94, 0.0),
    (-0.022, 0.06, 0.04), (0.022, 0.06, 0.04), (-0.045, 0.07, 0.0), (0.045, 0.07, 0.0),
)
FACE_SIDE_POINTS = (14, 15, 16, 17)
FRAMES = {"portrait": (-0.03, 0.45), "full": (-0.03, 1.0)}  # y range of the figure shown in the cell
# view name -> (yaw in degrees, framing)
VIEWS: Dict[str, Tuple[float, str]] = {
    "front": (0.0, "portrait"),
    "three_quarter": (45.0, "portrait"),
    "profile": (90.0, "portrait"),
    "full_body": (0.0, "full"),
    "back_three_quarter": (135.0, "full"),
}
DEFAULT_VIEWS = ("front", "three_quarter", "profile", "full_body")


def view_keypoints(view: str, width: int, height: int) -> List[Optional[Tuple[float, float]]]:
    """The 18 keypoints (pixels, or None when hidden or outside the cell) of ``view``."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; use one of {', '.join(VIEWS)}")
    yaw, framing = VIEWS[view]
    y0, y1 = FRAMES[framing]
    scale = 0.9 * height / (y1 - y0)
    c, s = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))
    points: List[Optional[Tuple[float, float]]] = []
    for i, (x, y, z) in enumerate(FIGURE):
        xr, zr = x * c + z * s, -x * s + z * c
        px, py = width / 2.0 + xr * scale, 0.05 * height + (y - y0) * scale
        hidden = i in FACE_SIDE_POINTS and zr < -0.005
        if abs(yaw) >= 90 and i == 0 and zr < 0:  # the nose of a figure seen from behind
            hidden = True
        inside = 0 <= px < width and 0 <= py < height
        points.append(None if hidden or not inside else (px, py))
    return points


def view_skeleton(view: str, width: int, height: int) -> np.ndarray:
    """RGB uint8 (height, width, 3) OpenPose-style skeleton of ``view`` on black."""
    from ..annotators.pose import draw_skeleton
    return draw_skeleton(view_keypoints(view, width, height), width, height)
