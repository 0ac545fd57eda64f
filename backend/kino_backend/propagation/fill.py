"""Filling what no keyframe sees, from what is visible.

Where neither keyframe can be carried onto a pixel (a region that appears between two keyframes),
Kino still knows the current SOURCE frame there. It learns, from the trusted pixels around the hole,
how the painting relates to the source: per colour channel a local affine model
``painting ~ a * source + b``, fitted with trust-weighted local statistics (normalized convolution) at
growing scales until the hole is covered (a global fit is the last resort). The model applied to the
current source fills the hole: the right colours and the source's shapes, without the keyframe's
brush texture, which the artist can add by painting another keyframe there (``fill`` reports how
much was filled).
"""
from __future__ import annotations

import cv2
import numpy as np

SCALES = (4.0, 16.0, 64.0)  # Gaussian reach of the local fits, in pixels of a 320 px wide frame
EPS = 60.0  # regularisation of the slope (colour variance units): flat holes get the local mean colour
COVERED = 0.05  # trust mass above which a scale's fit counts as supported
WORK_FACTOR = 4  # the statistics are gathered at 1/4 resolution (they are smooth)


def _moments(S, O, w, sigma):
    m0 = cv2.GaussianBlur(w, (0, 0), sigma)[..., None] + 1e-6
    blur = lambda x: cv2.GaussianBlur(x, (0, 0), sigma) / m0  # noqa: E731
    wS, wO = w[..., None] * S, w[..., None] * O
    ms, mo = blur(wS), blur(wO)
    var = blur(wS * S) - ms * ms
    cov = blur(wS * O) - ms * mo
    return m0[..., 0], ms, mo, var, cov


def _global_fit(S, O, w):
    m0 = float(w.sum()) + 1e-6
    ww = w[..., None]
    ms, mo = (ww * S).sum((0, 1)) / m0, (ww * O).sum((0, 1)) / m0
    var = (ww * S * S).sum((0, 1)) / m0 - ms * ms
    cov = (ww * S * O).sum((0, 1)) / m0 - ms * mo
    a = cov / (var + EPS)
    return a, mo - a * ms


def colour_model(src: np.ndarray, painting: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The painting predicted from the source (float32 HxWx3) by local affine colour models fitted on
    the pixels where ``weight`` (0..1) is high."""
    h, w = src.shape[:2]
    S, O = src.astype(np.float32), painting.astype(np.float32)
    f = WORK_FACTOR if min(h, w) >= 32 * WORK_FACTOR else 1
    size = (max(1, w // f), max(1, h // f))
    small = (lambda x: cv2.resize(x, size, interpolation=cv2.INTER_AREA)) if f > 1 else (lambda x: x)
    Ss, Os, ws = small(S), small(O), small(weight.astype(np.float32))
    A = np.zeros_like(Ss)
    B = np.zeros_like(Ss)
    done = np.zeros(ws.shape, np.float32)
    for reach in SCALES:
        sigma = max(1.0, reach * (w / 320.0) / f)
        m0, ms, mo, var, cov = _moments(Ss, Os, ws, sigma)
        a = cov / (var + EPS)
        take = (np.clip(m0 / COVERED, 0.0, 1.0) * (1.0 - done))[..., None]
        A += take * a
        B += take * (mo - a * ms)
        done += take[..., 0]
    if float(done.min()) < 1.0:
        a, b = _global_fit(Ss, Os, ws)
        rest = (1.0 - done)[..., None]
        A += rest * a
        B += rest * b
    if f > 1:
        A = cv2.resize(A, (w, h), interpolation=cv2.INTER_LINEAR)
        B = cv2.resize(B, (w, h), interpolation=cv2.INTER_LINEAR)
    return A * S + B


def global_model(key_src: np.ndarray, key_image: np.ndarray, src: np.ndarray) -> np.ndarray:
    """A frame no keyframe reaches at all (a shot without a painted frame): the keyframe's global
    per-channel colour mapping applied to the frame's source (float32)."""
    S, O = key_src.astype(np.float32), key_image.astype(np.float32)
    a, b = _global_fit(S, O, np.ones(S.shape[:2], np.float32))
    return a * src.astype(np.float32) + b
