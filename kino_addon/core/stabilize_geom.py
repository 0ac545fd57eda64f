"""2D similarity geometry for stabilization (pure numpy).

Conventions (the ONE place where Blender's tracker coordinates meet Kino's):

* Blender marker ``co``: normalized to 0..1, origin at the bottom-left corner, y up.
* Kino pixels: origin at the top-left corner, x right, y down, pixel centres at integers (as
  OpenCV's ``warpAffine`` and ``transforms.json`` use them).

A transform is a 2x3 matrix ``[[a, b, tx], [c, d, ty]]`` mapping pixel ``(x, y)`` to
``(a x + b y + tx, c x + d y + ty)``. A similarity has ``a = d = s cos(r)``, ``c = -b = s sin(r)``.
Arrays of transforms have shape ``(..., 2, 3)``.
"""
from __future__ import annotations

import numpy as np

# --- coordinate conversion -------------------------------------------------------------------


def blender_to_pixels(co, width: int, height: int) -> np.ndarray:
    """Blender marker ``co`` (normalized, y up, origin bottom-left) -> Kino pixels (y down)."""
    co = np.asarray(co, dtype=np.float64)
    x = co[..., 0] * width - 0.5
    y = (1.0 - co[..., 1]) * height - 0.5
    return np.stack([x, y], axis=-1)


def pixels_to_blender(px, width: int, height: int) -> np.ndarray:
    """Kino pixels -> Blender marker ``co``; the inverse of :func:`blender_to_pixels`."""
    px = np.asarray(px, dtype=np.float64)
    u = (px[..., 0] + 0.5) / width
    v = 1.0 - (px[..., 1] + 0.5) / height
    return np.stack([u, v], axis=-1)


# --- matrices ----------------------------------------------------------------------------------


def identity(n: int | None = None) -> np.ndarray:
    eye = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return eye if n is None else np.repeat(eye[None], n, axis=0)


def similarity(scale=1.0, angle=0.0, tx=0.0, ty=0.0) -> np.ndarray:
    """Matrix of ``p -> scale * R(angle) p + t`` (angle in radians, counter-clockwise in y-down
    pixels means clockwise on screen). Broadcasts over array arguments."""
    scale, angle, tx, ty = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (scale, angle, tx, ty)))
    a, c = scale * np.cos(angle), scale * np.sin(angle)
    out = np.empty(scale.shape + (2, 3))
    out[..., 0, 0], out[..., 0, 1], out[..., 0, 2] = a, -c, tx
    out[..., 1, 0], out[..., 1, 1], out[..., 1, 2] = c, a, ty
    return out


def about_center(m, cx: float, cy: float) -> np.ndarray:
    """Re-express a transform that acts about ``(cx, cy)`` as one about the origin."""
    return compose(compose(_shift(cx, cy), m), _shift(-cx, -cy))


def _shift(tx, ty) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty]])


def to3(m) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    bottom = np.zeros(m.shape[:-2] + (1, 3))
    bottom[..., 0, 2] = 1.0
    return np.concatenate([m, bottom], axis=-2)


def compose(outer, inner) -> np.ndarray:
    """``outer ∘ inner`` (apply ``inner`` first)."""
    return (to3(outer) @ to3(inner))[..., :2, :]


def invert(m) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    lin = m[..., :, :2]
    inv = np.linalg.inv(lin)
    t = -(inv @ m[..., :, 2:3])
    return np.concatenate([inv, t], axis=-1)


def apply(m, pts) -> np.ndarray:
    """Apply transform(s) ``m`` (..., 2, 3) to points (..., K, 2)."""
    m = np.asarray(m, dtype=np.float64)
    pts = np.asarray(pts, dtype=np.float64)
    return pts @ np.swapaxes(m[..., :, :2], -1, -2) + m[..., None, :, 2]


def params(m) -> np.ndarray:
    """Similarity parameters ``(log scale, angle, tx, ty)`` of matrices (..., 2, 3)."""
    m = np.asarray(m, dtype=np.float64)
    a = 0.5 * (m[..., 0, 0] + m[..., 1, 1])
    c = 0.5 * (m[..., 1, 0] - m[..., 0, 1])
    return np.stack([np.log(np.hypot(a, c)), np.arctan2(c, a), m[..., 0, 2], m[..., 1, 2]], axis=-1)


def from_params(p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    return similarity(np.exp(p[..., 0]), p[..., 1], p[..., 2], p[..., 3])


# --- fitting -----------------------------------------------------------------------------------

MODELS = ("translation", "rigid", "similarity")


def fit(src, dst, weights=None, model: str = "similarity") -> np.ndarray:
    """Weighted least-squares transform mapping ``src`` -> ``dst`` (closed form).

    ``src``/``dst``: (..., K, 2); ``weights``: (..., K), zero for missing points (NaN points are
    ignored). Leading dimensions are batched (one fit per frame). A batch entry with no weight, or
    too few points for the model, gets the identity (translation-only with one point).
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; use one of {', '.join(MODELS)}")
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    w = np.ones(src.shape[:-1]) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    bad = ~(np.isfinite(src).all(-1) & np.isfinite(dst).all(-1))
    w[bad] = 0.0
    src = np.where(bad[..., None], 0.0, src)
    dst = np.where(bad[..., None], 0.0, dst)
    wsum = w.sum(-1)
    safe = np.maximum(wsum, 1e-12)[..., None]
    ps = (w[..., None] * src).sum(-2) / safe
    qs = (w[..., None] * dst).sum(-2) / safe
    p0 = src - ps[..., None, :]
    q0 = dst - qs[..., None, :]
    den = (w * (p0 ** 2).sum(-1)).sum(-1)
    a_num = (w * (p0[..., 0] * q0[..., 0] + p0[..., 1] * q0[..., 1])).sum(-1)
    c_num = (w * (p0[..., 0] * q0[..., 1] - p0[..., 1] * q0[..., 0])).sum(-1)
    npts = (w > 0).sum(-1)
    spread = den > 1e-6 * np.maximum(wsum, 1e-12)
    ok_lin = (npts >= 2) & spread & (model != "translation")
    a = np.where(ok_lin, a_num / np.where(spread, den, 1.0), 1.0)
    c = np.where(ok_lin, c_num / np.where(spread, den, 1.0), 0.0)
    if model == "rigid":
        norm = np.maximum(np.hypot(a, c), 1e-12)
        a, c = a / norm, c / norm
    m = np.empty(src.shape[:-2] + (2, 3))
    m[..., 0, 0], m[..., 0, 1], m[..., 1, 0], m[..., 1, 1] = a, -c, c, a
    m[..., 0, 2] = qs[..., 0] - (a * ps[..., 0] - c * ps[..., 1])
    m[..., 1, 2] = qs[..., 1] - (c * ps[..., 0] + a * ps[..., 1])
    none = wsum <= 0
    if np.any(none):
        m[none] = identity()
    return m


def ransac(src, dst, *, threshold: float = 1.0, iterations: int = 200, model: str = "similarity",
           prior=None, rng=None):
    """Robust transform ``src`` -> ``dst`` (K, 2) by RANSAC on minimal samples, refined on the inliers.

    ``prior`` (K,) weights the consensus (e.g. track length, so the long-lived background wins
    over short-lived tracks on moving people). Returns ``(matrix, inlier_mask)``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    k = len(src)
    prior = np.ones(k) if prior is None else np.asarray(prior, dtype=np.float64)
    if k == 0:
        return identity(), np.zeros(0, bool)
    rng = np.random.default_rng(0) if rng is None else rng
    need = 1 if model == "translation" else 2
    if k < need:
        return fit(src, dst, model="translation"), np.ones(k, bool)
    idx = rng.integers(0, k, size=(iterations, need))
    if need == 2:
        idx = idx[idx[:, 0] != idx[:, 1]]
        if len(idx) == 0:
            idx = np.array([[0, 1]])
    cand = fit(src[idx], dst[idx], model=model)                      # (I, 2, 3)
    err = np.linalg.norm(apply(cand, src[None]) - dst[None], axis=-1)  # (I, K)
    score = ((err < threshold) * prior).sum(-1) - 1e-6 * np.minimum(err, threshold).sum(-1)
    best = cand[int(np.argmax(score))]
    inl = np.linalg.norm(apply(best, src) - dst, axis=-1) < threshold
    for _ in range(3):
        if inl.sum() < need:
            break
        best = fit(src, dst, inl * prior, model=model)
        inl = np.linalg.norm(apply(best, src) - dst, axis=-1) < threshold
    return best, inl


# --- borders -----------------------------------------------------------------------------------


def border_free_zoom(matrices, width: int, height: int, max_zoom: float = 2.0) -> float:
    """Smallest zoom ``s >= 1`` about the frame centre such that, after ``zoom ∘ M_t``, every output
    pixel of every frame comes from inside the source frame (no border shows). Capped at ``max_zoom``."""
    m = np.asarray(matrices, dtype=np.float64)
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], float)
    inv = invert(m)

    def covered(s: float) -> bool:
        pts = np.array([cx, cy]) + (corners - [cx, cy]) / s
        src = apply(inv, pts[None])
        return bool(np.all((src[..., 0] >= -0.5) & (src[..., 0] <= width - 0.5)
                           & (src[..., 1] >= -0.5) & (src[..., 1] <= height - 0.5)))

    if covered(1.0):
        return 1.0
    if not covered(max_zoom):
        return max_zoom
    lo, hi = 1.0, max_zoom
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if covered(mid) else (mid, hi)
    return hi


def zoom_matrices(matrices, width: int, height: int, zoom: float) -> np.ndarray:
    """``zoom ∘ M_t`` with the zoom about the frame centre."""
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    z = about_center(similarity(zoom), cx, cy)
    return compose(z, np.asarray(matrices, dtype=np.float64))
