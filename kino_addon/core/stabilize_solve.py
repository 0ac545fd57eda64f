"""Per-frame stabilizing transforms from feature tracks (pure numpy).

Input: ``points`` (T, K, 2) — K tracks over T frames in Kino pixels, NaN where a track has no
(usable) marker (lost tracks are muted in Blender: :func:`tracks_to_points` turns them into NaN).

The solver finds, for every frame t, the similarity ``A_t`` that maps frame t onto a common reference
frame, jointly for all frames: every track k gets one unknown reference position ``X_k`` and the
cost ``sum w_tk |B_t X_k - p_tk|^2`` (``B_t = A_t^-1``, the error measured in each frame's own pixels)
is minimised by Gauss-Newton bundle adjustment with the track positions eliminated per track, inside
an iteratively reweighted loop (Tukey weights). Because all frames are tied to the same reference
positions (not chained frame to frame), errors do not accumulate: there is no drift over the clip.
Robustness:

* lost tracks: their missing/muted markers are simply absent;
* drifting tracks: observations whose residual exceeds the robust threshold get zero weight;
* moving people / objects (camera lock): tracks that disagree with the dominant background motion
  for most of their life are rejected whole; the initial frame-to-frame fits are RANSAC with the
  consensus weighted by track length, so the long-lived background wins.

The stabilized camera is the reference path held still (``lock``: the mean pose, which keeps borders
small) or smoothed (a Gaussian over the similarity parameters about the frame centre).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union

import numpy as np

from . import stabilize_geom as geo


@dataclass
class Alignment:
    """The joint solve of all tracks: every frame's similarity to the reference and which
    observations and tracks it kept."""

    to_reference: np.ndarray      # (T, 2, 3): frame t pixels -> reference pixels
    weights: np.ndarray           # (T, K): final observation weights (0 = rejected / missing)
    track_ok: np.ndarray          # (K,) bool: tracks that were used
    residual_px: float            # RMS residual of the used observations, pixels
    support: np.ndarray           # (T,) number of used tracks per frame


@dataclass
class Stabilization:
    """Stabilizing matrices for every frame, with the alignment they came from, the smoothing used
    ("lock" or a Gaussian sigma), the zoom and a summary (``info``)."""

    matrices: np.ndarray          # (T, 2, 3): source pixels -> stabilized pixels
    alignment: Alignment
    smoothing: Union[str, float]
    zoom: float = 1.0
    info: dict = field(default_factory=dict)


def tracks_to_points(tracks: Sequence[dict], first_frame: int, count: int, width: int, height: int) -> np.ndarray:
    """Blender-style tracks -> (count, K, 2) Kino pixels.

    Each track is ``{"frames": [...], "co": [[u, v], ...], "mute": [...]}`` (``mute`` optional) with
    Blender's normalized, y-up marker coordinates; muted markers and frames outside
    ``first_frame .. first_frame + count - 1`` are dropped.
    """
    out = np.full((count, len(tracks), 2), np.nan)
    for k, tr in enumerate(tracks):
        frames = np.asarray(tr["frames"], dtype=int)
        if frames.size == 0:
            continue
        co = np.asarray(tr["co"], dtype=np.float64).reshape(-1, 2)
        keep = (frames >= first_frame) & (frames < first_frame + count)
        if "mute" in tr:
            keep &= ~np.asarray(tr["mute"], dtype=bool)
        out[frames[keep] - first_frame, k] = geo.blender_to_pixels(co[keep], width, height)
    return out


def _tukey(r: np.ndarray, c: float) -> np.ndarray:
    u = np.clip(r / c, 0.0, 1.0)
    return (1.0 - u ** 2) ** 2


class ShotBreak(ValueError):
    """The tracking breaks after frame ``index`` (0-based in the range; ``unlinked_frames``): a hard cut,
    or a jump the tracker lost. Across it the camera's motion is unknown, and
    stabilizing would move both shots by a guess and fill each one's borders from the other."""

    def __init__(self, index: int):
        self.index = index
        super().__init__(f"the tracking breaks between frames {index + 1} and {index + 2} of the range (a hard cut "
                         "or a jump the tracker lost); stabilize each shot on its own")


CUT_LOST_SHARE, CUT_MIN_TRACKS = 0.8, 10  # a cut: this share of at least this many tracks lost at once


def unlinked_frames(valid: np.ndarray) -> list:
    """0-based frames t (of ``valid``: frames x tracks) after which the tracking breaks: no feature links t
    to t+1 while both have features, or ``CUT_LOST_SHARE`` of t's features (``CUT_MIN_TRACKS`` or more)
    are lost at once. Blender's tracker loses nearly all its tracks at a hard cut (178 of 187 on a
    real cut) and matches the few left to something unrelated in the next shot; along real footage it
    loses a few a frame (at most 5 of 62 on the project's hand-held clips)."""
    has = valid.any(1)
    alive = valid[:-1].sum(1)
    kept = (valid[1:] & valid[:-1]).sum(1)
    broken = ((kept == 0) & has[1:] & has[:-1]) | ((alive >= CUT_MIN_TRACKS) & (kept < (1 - CUT_LOST_SHARE) * alive))
    return [int(t) for t in np.flatnonzero(broken)]


def _initial(points, valid, model, inlier_px, rng):
    """Chain RANSAC fits between consecutive frames: a starting guess for A_t (reference = frame 0)."""
    t_count = points.shape[0]
    length = valid.sum(0).astype(float)
    a = geo.identity(t_count)
    for t in range(1, t_count):
        common = valid[t] & valid[t - 1]
        g = geo.identity()
        if common.sum() >= 1:
            g, _ = geo.ransac(points[t, common], points[t - 1, common], threshold=inlier_px,
                              model=model, prior=length[common], rng=rng)
        a[t] = geo.compose(a[t - 1], g)
    return a


def _interpolate_unsupported(a, support, need):
    """Frames without enough tracks take their transform from the nearest supported frames."""
    ok = support >= need
    if ok.all() or not ok.any():
        return a
    t = np.arange(len(a))
    p = geo.params(a)
    for j in range(4):
        p[~ok, j] = np.interp(t[~ok], t[ok], p[ok, j])
    a = a.copy()
    a[~ok] = geo.from_params(p[~ok])
    return a


def align(points, *, model: str = "similarity", inlier_px: float = 1.5, reference: int = 0,
          min_track_len: int = 3, min_inlier_fraction: float = 0.6, iterations: int = 15,
          seed: int = 0) -> Alignment:
    """Robust joint alignment of all frames to ``reference`` (see the module docstring)."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[-1] != 2:
        raise ValueError(f"points must have shape (frames, tracks, 2), got {points.shape}")
    if model not in geo.MODELS:
        raise ValueError(f"unknown model {model!r}; use one of {', '.join(geo.MODELS)}")
    valid = np.isfinite(points).all(-1)
    valid &= (valid.sum(0) >= min(min_track_len, max(2, len(points))))[None, :]  # a 2-frame range: 2
    breaks = unlinked_frames(valid)
    if breaks:
        raise ShotBreak(breaks[0])
    p = np.where(valid[..., None], points, 0.0)
    a = _initial(np.where(valid[..., None], points, np.nan), valid, model, inlier_px, np.random.default_rng(seed))
    q0 = np.where(valid[..., None], geo.apply(a, p), np.nan)
    seen = valid.any(0)
    x = np.nanmedian(np.where(seen[None, :, None], q0, 0.0), axis=0)
    c = 4.0 * inlier_px
    track_ok = seen.copy()
    need = 1 if model == "translation" else 2
    gn_model = "translation" if model == "translation" else "similarity"
    b = geo.invert(a)
    w = valid.astype(float)
    for it in range(iterations):
        r = _frame_residuals(b, p, x)
        used = valid & track_ok[None, :]
        sigma = 1.4826 * np.median(r[used]) if used.any() else inlier_px
        c = float(np.clip(4.685 * sigma, inlier_px, 4.0 * inlier_px))
        if it >= 1:   # the first pass only down-weights; whole tracks go once the fit has settled
            frac = (used & (r < c)).sum(0) / np.maximum(valid.sum(0), 1)
            track_ok = seen & (frac >= min_inlier_fraction)
        w = valid * track_ok[None, :] * _tukey(r, c)
        b_new, x = _gauss_newton(p, w, b, x, gn_model, reference)
        b_new = _interpolate_unsupported(b_new, (w > 0).sum(1), need)
        xs = np.broadcast_to(x, p.shape)
        change = np.abs(geo.apply(b_new, xs) - geo.apply(b, xs))[valid].max() if valid.any() else 0.0
        b = b_new
        if it >= 2 and change < 1e-3:
            break
    if model == "rigid":
        b = geo.from_params(geo.params(b) * np.array([0.0, 1.0, 1.0, 1.0]))
    a = geo.invert(b)
    r = _frame_residuals(b, p, x)
    final = valid & track_ok[None, :] & (r < c)
    rms = float(np.sqrt(np.mean(r[final] ** 2))) if final.any() else float("nan")
    return Alignment(a, final.astype(float), track_ok, rms, final.sum(1))


def _theta(b, model):
    if model == "translation":
        return b[:, :, 2].copy()
    return np.stack([b[:, 0, 0], b[:, 1, 0], b[:, 0, 2], b[:, 1, 2]], -1)


def _matrices(theta, model):
    if model == "translation":
        return geo.similarity(1.0, 0.0, theta[:, 0], theta[:, 1])
    m = np.empty((len(theta), 2, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = theta[:, 0], -theta[:, 1], theta[:, 2]
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = theta[:, 1], theta[:, 0], theta[:, 3]
    return m


def _gauss_newton(p, w, b, x, model, reference, steps=2):
    """Bundle adjustment of ``sum w_tk |B_t X_k - p_tk|^2`` (B_t: reference -> frame t, B_ref = I).

    The error is measured in each frame's own pixels, which keeps it free of the scale bias a
    reference-space error has. The track positions X_k are eliminated per track (Schur complement),
    leaving one linear system of 4 unknowns per frame.
    """
    t_count = p.shape[0]
    n = 2 if model == "translation" else 4
    for _ in range(steps):
        theta = _theta(b, model)
        e = geo.apply(b, np.broadcast_to(x, p.shape)) - p                # (T, K, 2)
        if model == "translation":
            jt = np.broadcast_to(np.eye(2), p.shape[:2] + (2, 2))
            jx = jt
        else:
            xx, yy = np.broadcast_to(x[None, :, 0], w.shape), np.broadcast_to(x[None, :, 1], w.shape)
            one, zero = np.ones_like(xx), np.zeros_like(xx)
            jt = np.stack([np.stack([xx, -yy, one, zero], -1), np.stack([yy, xx, zero, one], -1)], -2)
            jx = np.broadcast_to(b[:, None, :, :2], p.shape[:2] + (2, 2))
        wjt = w[..., None, None] * jt
        u = np.einsum("tkia,tkib->tab", wjt, jt)
        v = np.einsum("tk,tkia,tkib->kab", w, jx, jx)[:, 0, 0] + 1e-9        # J_X^T J_X = (a^2+c^2) I
        wm = np.einsum("tkia,tkib->tkab", wjt, jx)                           # (T, K, n, 2)
        g_t = -np.einsum("tkia,tki->ta", wjt, e)
        g_x = -np.einsum("tk,tkia,tki->ka", w, jx, e)
        y = (wm / np.sqrt(v)[None, :, None, None]).transpose(1, 3, 0, 2).reshape(-1, t_count * n)
        big = -(y.T @ y)
        idx = np.arange(t_count)
        big.reshape(t_count, n, t_count, n)[idx, :, idx, :] += u
        rhs = (g_t - np.einsum("tkab,kb->ta", wm, g_x / v[:, None])).reshape(-1)
        big += 1e-9 * max(float(np.trace(big)) / big.shape[0], 1.0) * np.eye(big.shape[0])
        free = np.ones(t_count * n, bool)
        free[reference * n:(reference + 1) * n] = False
        d = np.zeros(t_count * n)
        d[free] = np.linalg.solve(big[np.ix_(free, free)], rhs[free])
        d = d.reshape(t_count, n)
        dx = (g_x - np.einsum("tkab,ta->kb", wm, d)) / v[:, None]
        b = _matrices(theta + d, model)
        x = x + dx
    return b, x


def _frame_residuals(b, p, x):
    """Distances (T, K) in frame pixels between the observations and the reference positions
    mapped into each frame by ``b`` (reference -> frame)."""
    return np.linalg.norm(geo.apply(b, np.broadcast_to(x, p.shape)) - p, axis=-1)


def _centered_params(m, width, height):
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    return geo.params(geo.about_center(m, -cx, -cy))


def _from_centered_params(p, width, height):
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    return geo.about_center(geo.from_params(p), cx, cy)


def gaussian_smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 with reflected ends (no pull toward zero at the clip ends)."""
    values = np.asarray(values, dtype=np.float64)
    if sigma <= 0 or len(values) < 2:
        return values.copy()
    radius = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.pad(values, [(radius, radius)] + [(0, 0)] * (values.ndim - 1), mode="reflect", reflect_type="odd")
    return np.stack([np.convolve(pad[:, j], k, mode="valid") for j in range(values.shape[1])], axis=1)


def choose_smoothing(camera_params: np.ndarray, width: int, height: int) -> Union[str, float]:
    """``"lock"`` when holding the mean pose costs little border (the camera barely moves),
    otherwise a Gaussian sigma in frames that follows the intended camera move."""
    span = camera_params.max(0) - camera_params.min(0)
    small = (span[2] <= 0.12 * width and span[3] <= 0.12 * height
             and span[1] <= np.radians(4.0) and span[0] <= 0.08)
    return "lock" if small else 12.0


def stabilize(points, width: int, height: int, *, model: str = "similarity",
              smoothing: Union[str, float] = "auto", inlier_px: float = 1.5,
              zoom: Union[bool, float] = False, seed: int = 0) -> Stabilization:
    """Stabilizing matrices (source px -> stabilized px) for every frame of ``points``.

    ``smoothing``: ``"lock"`` (hold the mean pose), a Gaussian sigma in frames, or ``"auto"``.
    ``zoom``: False (borders are filled by the warp), True (smallest zoom that hides every border)
    or a fixed factor.
    """
    al = align(points, model=model, inlier_px=inlier_px, seed=seed)
    if not al.track_ok.any():
        frames = int(np.asarray(points).shape[0])
        raise ValueError("no usable tracks: " + (f"a track needs at least 2 frames and the range has {frames}; "
                                                  "stabilize a longer range" if frames < 2 else
                                                  "every track was too short or inconsistent; pick a region "
                                                  "with texture (--track-region, or Lock to: Region in Kino's "
                                                  "panel) or a range without a cut"))
    cam = _centered_params(geo.invert(al.to_reference), width, height)   # reference -> frame t
    mode = choose_smoothing(cam, width, height) if smoothing == "auto" else smoothing
    if mode == "lock":
        target = np.repeat(cam.mean(0, keepdims=True), len(cam), axis=0)
    else:
        target = gaussian_smooth(cam, float(mode))
    m = geo.compose(_from_centered_params(target, width, height), al.to_reference)
    z = 1.0
    if zoom is True:
        z = geo.border_free_zoom(m, width, height)
    elif zoom:
        z = float(zoom)
    if z != 1.0:
        m = geo.zoom_matrices(m, width, height, z)
    return Stabilization(m, al, mode, z, {"tracks_total": int(points.shape[1]),
                                          "tracks_used": int(al.track_ok.sum()),
                                          "residual_px": al.residual_px})


def region_tracks(points, region, *, reference: int = 0) -> np.ndarray:
    """Tracks (K,) bool that lie inside ``region`` = (x, y, w, h) at frame ``reference``."""
    x, y, w, h = (float(v) for v in region)
    p = np.asarray(points, dtype=np.float64)[reference]
    with np.errstate(invalid="ignore"):
        return (p[:, 0] >= x) & (p[:, 0] < x + w) & (p[:, 1] >= y) & (p[:, 1] < y + h)


def stabilize_region(points, region, width: int, height: int, *, zoom: Union[bool, float] = False,
                     inlier_px: float = 1.5, seed: int = 0) -> Stabilization:
    """Lock the frame to ``region`` (x, y, w, h in frame-0 pixels): the tracks inside it are held
    still. Tracks that start later are added when the first solve maps them into the region."""
    points = np.asarray(points, dtype=np.float64)
    inside = region_tracks(points, region)
    if inside.sum() == 0:
        raise ValueError(f"no tracked features inside the region {tuple(region)} on its first frame; "
                         "make the region larger or pick one with more texture")
    model = "similarity" if inside.sum() >= 3 else "translation"
    first = stabilize(points[:, inside], width, height, model=model, smoothing="lock",
                      inlier_px=inlier_px, seed=seed)
    later = ~np.isfinite(points[0]).all(-1)
    q = geo.apply(first.alignment.to_reference, np.where(np.isfinite(points), points, 0.0))
    x, y, w, h = region
    with np.errstate(invalid="ignore"):
        hit = (q[..., 0] >= x) & (q[..., 0] < x + w) & (q[..., 1] >= y) & (q[..., 1] < y + h)
    valid = np.isfinite(points).all(-1)
    frac = (hit & valid).sum(0) / np.maximum(valid.sum(0), 1)
    use = inside | (later & (frac > 0.9) & (valid.sum(0) >= 3))
    if use.sum() == inside.sum():
        result = first
    else:
        result = stabilize(points[:, use], width, height, model=model, smoothing="lock",
                           inlier_px=inlier_px, seed=seed)
    result.info.update(tracks_total=int(points.shape[1]), region=[float(v) for v in region],
                       model=model)
    if zoom:
        z = geo.border_free_zoom(result.matrices, width, height) if zoom is True else float(zoom)
        result.matrices = geo.zoom_matrices(result.matrices, width, height, z)
        result.zoom = z
    return result


def transforms_document(matrices, width: int, height: int, first: int = 1, **extra) -> dict:
    """The ``transforms.json`` that ``scripts/kino stabilize`` writes: ``{"width", "height", "frames":
    [{"frame", "matrix"}], ...extra}``, one 2x3 matrix per frame (numbered from ``first``) mapping source
    pixels to stabilized pixels, origin top-left, y down."""
    m = np.asarray(matrices, dtype=np.float64)
    doc = {"width": int(width), "height": int(height),
           "frames": [{"frame": first + i, "matrix": [[float(v) for v in row] for row in m[i]]}
                      for i in range(len(m))]}
    doc.update(extra)
    return doc


def matrices_from_document(doc: dict) -> np.ndarray:
    frames = sorted(doc["frames"], key=lambda f: f["frame"])
    return np.array([f["matrix"] for f in frames], dtype=np.float64)


def residual_jitter(trajectory, window: int = 9) -> float:
    """RMS (pixels) of a camera trajectory (T, 2) minus its centred ``window``-frame moving average,
    over the frames where the whole window fits: the residual jitter the stabilization benchmark reports."""
    traj = np.asarray(trajectory, dtype=np.float64)
    if len(traj) < window:
        raise ValueError(f"need at least {window} frames to measure jitter, got {len(traj)}")
    k = np.ones(window) / window
    avg = np.stack([np.convolve(traj[:, j], k, mode="valid") for j in range(traj.shape[1])], axis=1)
    half = window // 2
    hf = traj[half:len(traj) - half] - avg
    return float(np.sqrt(np.mean(np.sum(hf ** 2, axis=1))))
