"""How stabilization is scored (docs/cli.md), with OpenCV.

* :func:`residual_jitter`: fit a similarity transform between consecutive frames by RANSAC on KLT
  feature tracks (features taken away from the borders: 10% of the width and height cut from each
  side), accumulate the translations into a camera trajectory, and take the RMS over frames of its
  high-frequency part (trajectory minus its centred 9-frame moving average), in pixels. The
  translation of a frame pair is the motion of the frame centre, so a rotation about the centre does
  not leak into it.
* :func:`border_cut_mad`: mean absolute difference (0..255 scale) of two frames away from the borders.
"""
from __future__ import annotations

import os
from typing import Iterable, Iterator, List, Sequence

import cv2
import numpy as np

from .metrics.frames import list_images, read_image


def _gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame


def _inner_mask(h: int, w: int, cut: float) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    y0, x0 = int(round(h * cut)), int(round(w * cut))
    mask[y0:h - y0, x0:w - x0] = 255
    return mask


def pair_motion(prev: np.ndarray, cur: np.ndarray, cut: float = 0.1) -> np.ndarray:
    """Similarity (2x3) mapping ``prev`` pixels to ``cur`` pixels, RANSAC on KLT tracks."""
    g0, g1 = _gray(prev), _gray(cur)
    h, w = g0.shape
    pts = cv2.goodFeaturesToTrack(g0, maxCorners=400, qualityLevel=0.01, minDistance=max(4, w // 80),
                                  mask=_inner_mask(h, w, cut), blockSize=7)
    if pts is None or len(pts) < 3:
        return np.array([[1.0, 0, 0], [0, 1.0, 0]])
    lk = dict(winSize=(21, 21), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    nxt, st, _ = cv2.calcOpticalFlowPyrLK(g0, g1, pts, None, **lk)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(g1, g0, nxt, None, **lk)
    good = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm((back - pts).reshape(-1, 2), axis=1) < 0.5)
    if good.sum() < 3:
        return np.array([[1.0, 0, 0], [0, 1.0, 0]])
    m, _ = cv2.estimateAffinePartial2D(pts[good], nxt[good], method=cv2.RANSAC, ransacReprojThreshold=1.0,
                                       maxIters=2000, confidence=0.999, refineIters=10)
    return np.array([[1.0, 0, 0], [0, 1.0, 0]]) if m is None else m


def trajectory(frames: Iterable[np.ndarray], cut: float = 0.1) -> np.ndarray:
    """Camera trajectory (T, 2): accumulated frame-centre translations between consecutive frames."""
    path: List[np.ndarray] = []
    prev = None
    for f in frames:
        if prev is None:
            path.append(np.zeros(2))
            h, w = f.shape[:2]
            centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
        else:
            m = pair_motion(prev, f, cut)
            path.append(path[-1] + (m[:, :2] @ centre + m[:, 2] - centre))
        prev = f
    return np.array(path)


def high_frequency_rms(path: np.ndarray, window: int = 9) -> float:
    """RMS over frames of ``path`` minus its centred moving average (frames where the window fits)."""
    path = np.asarray(path, dtype=np.float64)
    if len(path) < window:
        raise ValueError(f"need at least {window} frames to measure jitter, got {len(path)}")
    k = np.ones(window) / window
    avg = np.stack([np.convolve(path[:, j], k, mode="valid") for j in range(path.shape[1])], axis=1)
    half = window // 2
    return float(np.sqrt(np.mean(np.sum((path[half:len(path) - half] - avg) ** 2, axis=1))))


def residual_jitter(frames: Sequence[np.ndarray], cut: float = 0.1, window: int = 9) -> float:
    """Contract §3's residual jitter of a clip (list of RGB or gray uint8 frames), in pixels."""
    return high_frequency_rms(trajectory(frames, cut), window)


def border_cut_mad(a: np.ndarray, b: np.ndarray, cut: float = 0.1) -> float:
    """Mean absolute difference (0..255) of two same-size images with ``cut`` of each side removed."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    h, w = a.shape[:2]
    y0, x0 = int(round(h * cut)), int(round(w * cut))
    return float(np.mean(np.abs(a[y0:h - y0, x0:w - x0].astype(np.float64) - b[y0:h - y0, x0:w - x0])))


def iter_frames(path: str, first: int = 1, last: int | None = None) -> Iterator[np.ndarray]:
    """RGB frames ``first..last`` (1-based, inclusive) of a video file or a folder of images (its
    numbered sequence), one at a time."""
    if os.path.isdir(path):
        names = list_images(path)
        if not names:
            raise ValueError(f"the folder {path} holds no images; give a video file or a folder of images")
        for n in names[first - 1:last]:
            yield read_image(n)
        return
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise ValueError(f"cannot open video {path}; give a video file or a folder of images")
    try:
        index = 0
        while last is None or index < last:
            ok, bgr = cap.read()
            if not ok:
                break
            index += 1
            if index >= first:
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def read_frames(path: str, limit: int | None = None) -> List[np.ndarray]:
    """The first ``limit`` (default all) RGB frames of a video file or a folder of images."""
    return list(iter_frames(path, 1, limit))


def shake_matrices(count: int, width: int, height: int, *, shift_px: float = 4.0, degrees: float = 1.0,
                   seed: int = 0) -> np.ndarray:
    """Known random camera shake: (count, 2, 3) similarity matrices (original px -> shaken px), a
    uniform random shift of up to ``shift_px`` and rotation of up to ``degrees`` about the centre."""
    rng = np.random.default_rng(seed)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    out = np.empty((count, 2, 3))
    for i in range(count):
        ang = np.radians(rng.uniform(-degrees, degrees))
        dx, dy = rng.uniform(-shift_px, shift_px, 2)
        c, s = np.cos(ang), np.sin(ang)
        out[i] = [[c, -s, cx - c * cx + s * cy + dx], [s, c, cy - s * cx - c * cy + dy]]
    return out


def shake(frames: Sequence[np.ndarray], matrices: np.ndarray) -> List[np.ndarray]:
    """Apply ``matrices`` (from :func:`shake_matrices`) to frames: lanczos, replicated border."""
    out = []
    for f, m in zip(frames, matrices):
        h, w = f.shape[:2]
        out.append(cv2.warpAffine(f, m, (w, h), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REPLICATE))
    return out


def region_motion(frames: Sequence[np.ndarray], region) -> np.ndarray:
    """How a region moves in the frame: KLT features inside ``region`` (x, y, w, h) of the first
    frame, tracked frame to frame (forward-backward checked); per frame, the median displacement
    (px) of the surviving features from where they started. Returns (T, 2)."""
    x, y, w, h = (int(round(v)) for v in region)
    g0 = _gray(frames[0])
    mask = np.zeros(g0.shape, np.uint8)
    mask[max(y, 0):y + h, max(x, 0):x + w] = 255
    pts = cv2.goodFeaturesToTrack(g0, maxCorners=300, qualityLevel=0.01, minDistance=5, mask=mask, blockSize=7)
    if pts is None:
        raise ValueError("no features to follow inside the region")
    start = pts.reshape(-1, 2).copy()
    alive = np.ones(len(start), bool)
    out = [np.zeros(2)]
    lk = dict(winSize=(21, 21), maxLevel=3, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01))
    prev = g0
    for f in frames[1:]:
        g = _gray(f)
        nxt, st, _ = cv2.calcOpticalFlowPyrLK(prev, g, pts, None, **lk)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(g, prev, nxt, None, **lk)
        ok = (st.ravel() == 1) & (st2.ravel() == 1) & (np.linalg.norm((back - pts).reshape(-1, 2), axis=1) < 1.0)
        alive &= ok
        pts, prev = nxt, g
        d = (nxt.reshape(-1, 2) - start)[alive]
        out.append(np.median(d, axis=0) if len(d) else np.full(2, np.nan))
    return np.array(out)
