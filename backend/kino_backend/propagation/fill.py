"""Filling what no keyframe sees, from what is visible.

Where neither keyframe can be carried onto a pixel (a region that appears between two keyframes),
Kino still knows the current SOURCE frame there. It learns, from the trusted pixels around the hole,
how the painting relates to the source: a local affine colour model ``painting ~ A @ source + b``
(A a 3x3 matrix: a painter's palette may move hues, not only brightness), fitted by trust-weighted
least squares over growing neighbourhoods (normalized convolution) until the hole is covered, with
a global fit as the last resort. Applied to the current source it fills the hole: the painting's
colours on the source's shapes, without the keyframe's brush texture, which the artist can add by
painting another keyframe there (the fraction filled is reported).
"""
from __future__ import annotations

import cv2
import numpy as np

SCALES = (4.0, 16.0, 64.0)  # Gaussian reach of the local fits, in pixels of a 320 px wide frame
EPS = 60.0  # ridge on the colour covariance (0-255 units): flat surroundings give their mean colour
COVERED = 0.05  # trust mass above which a scale's fit counts as supported
WORK_FACTOR = 4  # the fits are made at 1/4 resolution (they are smooth) and scaled back up


def _inv3(m: np.ndarray) -> np.ndarray:
    """Inverse of many symmetric positive-definite 3x3 matrices (..., 3, 3) in closed form (a batched
    LAPACK solve is ~100x slower for this size)."""
    a, b, c = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    d, e, f = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    g, h, i = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    co = np.stack([np.stack([e * i - f * h, c * h - b * i, b * f - c * e], -1),
                   np.stack([f * g - d * i, a * i - c * g, c * d - a * f], -1),
                   np.stack([d * h - e * g, b * g - a * h, a * e - b * d], -1)], -2)
    det = a * co[..., 0, 0] + b * co[..., 1, 0] + c * co[..., 2, 0]
    return co / det[..., None, None]


def _solve(m0, ms, mo, sss, sso):
    """Affine model per pixel from weighted moments: ``ms``/``mo`` means (..., 3), ``sss`` E[S S^T]
    and ``sso`` E[S O^T] (..., 3, 3), all already divided by the weight ``m0``."""
    cov_ss = sss - ms[..., :, None] * ms[..., None, :] + EPS * np.eye(3, dtype=np.float32)
    cov_so = sso - ms[..., :, None] * mo[..., None, :]
    a_t = np.matmul(_inv3(cov_ss.astype(np.float64)), cov_so)  # (..., 3, 3): A^T
    b = mo - _apply(a_t, 0.0, ms)
    return a_t.astype(np.float32), b.astype(np.float32)


def _local_moments(S, O, w, sigma):
    blur = lambda x: cv2.GaussianBlur(x, (0, 0), sigma)  # noqa: E731
    m0 = blur(w) + 1e-6
    ms = np.stack([blur(w * S[..., i]) for i in range(3)], -1) / m0[..., None]
    mo = np.stack([blur(w * O[..., i]) for i in range(3)], -1) / m0[..., None]
    sss = np.empty(S.shape[:2] + (3, 3), np.float32)
    sso = np.empty(S.shape[:2] + (3, 3), np.float32)
    for i in range(3):
        for j in range(3):
            if j >= i:
                sss[..., i, j] = sss[..., j, i] = blur(w * S[..., i] * S[..., j]) / m0
            sso[..., i, j] = blur(w * S[..., i] * O[..., j]) / m0
    return m0, ms, mo, sss, sso


def _global_fit(S, O, w):
    m0 = float(w.sum()) + 1e-6
    ww = w[..., None]
    ms, mo = (ww * S).sum((0, 1)) / m0, (ww * O).sum((0, 1)) / m0
    ws = (w[..., None] * S).reshape(-1, 3)
    sss = ws.T @ S.reshape(-1, 3) / m0
    sso = ws.T @ O.reshape(-1, 3) / m0
    return _solve(m0, ms, mo, sss, sso)


def _apply(a_t, b, S):
    """``S @ A^T + b`` per pixel."""
    return (S[..., 0, None] * a_t[..., 0, :] + S[..., 1, None] * a_t[..., 1, :] + S[..., 2, None] * a_t[..., 2, :]) + b


def colour_model(src: np.ndarray, painting: np.ndarray, weight: np.ndarray, where=None) -> np.ndarray:
    """The painting predicted from the source by local affine colour models fitted on the pixels where
    ``weight`` (0..1) is high: float32 HxWx3, or (N, 3) for the pixels of the boolean mask ``where``."""
    h, w = src.shape[:2]
    S, O = src.astype(np.float32), painting.astype(np.float32)
    f = WORK_FACTOR if min(h, w) >= 32 * WORK_FACTOR else 1
    size = (max(1, w // f), max(1, h // f))
    small = (lambda x: cv2.resize(x, size, interpolation=cv2.INTER_AREA)) if f > 1 else (lambda x: x)
    Ss, Os, ws = small(S), small(O), small(weight.astype(np.float32))
    A = np.zeros(Ss.shape[:2] + (3, 3), np.float32)
    B = np.zeros_like(Ss)
    done = np.zeros(ws.shape, np.float32)
    for reach in SCALES:
        sigma = max(1.0, reach * (w / 320.0) / f)
        m0, ms, mo, sss, sso = _local_moments(Ss, Os, ws, sigma)
        a_t, b = _solve(m0, ms, mo, sss, sso)
        take = np.clip(m0 / COVERED, 0.0, 1.0) * (1.0 - done)
        A += take[..., None, None] * a_t
        B += take[..., None] * b
        done += take
    if float(done.min()) < 1.0:
        a_t, b = _global_fit(Ss, Os, ws)
        rest = 1.0 - done
        A += rest[..., None, None] * a_t
        B += rest[..., None] * b
    if f > 1:
        A = cv2.resize(A.reshape(size[1], size[0], 9), (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, 3, 3)
        B = cv2.resize(B, (w, h), interpolation=cv2.INTER_LINEAR)
    if where is not None:
        return _apply(A[where], B[where], S[where])
    return _apply(A, B, S)


def global_model(key_src: np.ndarray, key_image: np.ndarray, src: np.ndarray) -> np.ndarray:
    """A frame no keyframe reaches at all (a shot without a painted frame): the keyframe's global
    affine colour mapping applied to the frame's source (float32)."""
    S, O = key_src.astype(np.float32), key_image.astype(np.float32)
    a_t, b = _global_fit(S, O, np.ones(S.shape[:2], np.float32))
    return _apply(a_t, b, src.astype(np.float32))
