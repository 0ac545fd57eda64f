"""Flow helpers of the temporal stage: warping, soft occlusion-aware reliability, flow chaining and
hard-cut detection. All flows follow ``A(x) ~ B(x + F(x))`` for a flow F from A to B."""
from __future__ import annotations

import cv2
import numpy as np

from ...flow.fields import clip01, grad_sq, pixel_grid, planes, sample_map, sq_norm


# The metric's motion-boundary test (docs/metrics.md) flags ~10% of real handheld frames (DIS noise in
# flat areas); for blending we only distrust pixels this many times over its threshold.
MB_TOLERANCE = 10.0


grid = pixel_grid  # the pixel coordinates of an h x w frame (shared read-only)


def warp(image: np.ndarray, flow: np.ndarray, *, cubic: bool = False) -> np.ndarray:
    """``out(x) = image(x + flow(x))``; float32 out; border replicate."""
    src = image if image.dtype == np.float32 else image.astype(np.float32)
    out = cv2.remap(src, sample_map(flow), None, cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    if cubic and image.dtype == np.uint8:
        np.minimum(np.maximum(out, 0.0, out=out), 255.0, out=out)  # in place: np.clip is 3x slower
    return out


def reliability(back: np.ndarray, fwd: np.ndarray, *, feather: float = 1.5,
                agree: np.ndarray | None = None) -> np.ndarray:
    """Soft per-pixel trust in (0..1) that frame t's pixel x is seen at x + back(x) in frame t-1.

    ``back`` is the flow t -> t-1 and ``fwd`` the flow t-1 -> t. It falls to 0 where the
    forward-backward check fails (occlusion / disocclusion), on motion boundaries and where x + back(x)
    leaves the frame; thresholds follow docs/metrics.md's hard test, softened and feathered.
    ``agree`` (optional, 0..1): a further per-pixel trust (``agreement``) applied before the feathering.
    """
    h, w = back.shape[:2]
    gx, gy = grid(h, w)
    bu, bv = planes(back)
    fu, fv = planes(warp(np.ascontiguousarray(fwd, np.float32), back))
    b2, f2 = sq_norm(bu, bv), sq_norm(fu, fv)
    fb = sq_norm(bu + fu, bv + fv)
    consistent = clip01(1.5 - fb / (0.01 * (b2 + f2) + 0.5))
    grad = grad_sq(bu)
    grad += grad_sq(bv)
    smooth = clip01(2.0 - grad / (MB_TOLERANCE * (0.01 * b2 + 0.002)))
    px, py = gx + bu, gy + bv
    inside = ((px >= -0.5) & (px <= w - 0.5) & (py >= -0.5) & (py <= h - 0.5)).astype(np.float32)
    rel = consistent * smooth * inside
    if agree is not None:
        rel *= agree
    if feather > 0:
        rel = cv2.erode(rel, np.ones((3, 3), np.uint8))
        rel = cv2.GaussianBlur(rel, (0, 0), feather)
    return rel


def compose(first: np.ndarray, then: np.ndarray) -> np.ndarray:
    """The flow ``first`` followed by ``then`` (``then`` read where ``first`` lands)."""
    return first + warp(np.ascontiguousarray(then, np.float32), first)


def chain(acc_flow: np.ndarray, acc_rel: np.ndarray, step_flow: np.ndarray, step_rel: np.ndarray):
    """Compose ``step`` (t -> t-1) with ``acc`` (t-1 -> k): the flow t -> k and its reliability.

    One resampling of the keyframe at the end keeps propagated frames sharp (no blur build-up).
    """
    rel_at = warp(np.ascontiguousarray(acc_rel, np.float32), step_flow)
    return compose(step_flow, acc_flow), np.clip(step_rel * rel_at, 0.0, 1.0)


def residual(prev_src: np.ndarray, cur_src: np.ndarray, back: np.ndarray) -> np.ndarray:
    """Per-pixel motion-compensated colour residual (0..1, float32 (H, W)): the mean over channels of
    |cur - prev(x + back(x))|, each channel's global shift removed (a flash or an exposure change is not
    a mismatch)."""
    diff = cv2.subtract(warp(prev_src, back), np.asarray(cur_src, np.float32))
    c = 1 if diff.ndim == 2 else diff.shape[2]
    shift = cv2.mean(diff)  # each channel's global shift (4 values, the unused ones 0)
    absd = cv2.absdiff(diff, shift).reshape(diff.shape[0], diff.shape[1], c)
    return cv2.transform(absd, np.full((1, c), 1.0 / (255.0 * c), np.float32))


def cut_score(prev_src: np.ndarray, cur_src: np.ndarray, back: np.ndarray) -> float:
    """Mean absolute colour residual (0..1) after motion compensation, each channel's global shift
    removed (so a flash or an exposure change is not a cut).

    Consecutive frames of real handheld/tracking footage score below 0.02; hard cuts between
    different shots score 0.15 and more.
    """
    return float(residual(prev_src, cur_src, back).mean())


# Where the previous source, carried along the flow, still looks unlike the current one, the flow is
# wrong there (fast hands, motion blur, a limb crossing the body) even when forward and backward flows
# agree: blending there doubles outlines. Trust falls from 1 at AGREE_LO to 0 at AGREE_HI of the
# residual, taken over blobs (AGREE_SIGMA px) rather than thin edges, where a right flow still leaves
# a sub-pixel residual; only where things move fast (MOTION_LO to MOTION_HI px a frame).
AGREE_LO, AGREE_HI, AGREE_SIGMA = 0.06, 0.16, 2.0
MOTION_LO, MOTION_HI = 2.0, 6.0


def agreement(res: np.ndarray, back: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Trust (0..1) from a ``residual`` map: how well the carried previous source matches the current,
    applied where things move fast (|back| from MOTION_LO to MOTION_HI px): small motions that the flow
    gets slightly wrong leave a residual too, but no visible double outline. ``strength`` (0..1) scales
    how far trust falls there."""
    blob = cv2.GaussianBlur(res, (0, 0), AGREE_SIGMA)
    photo = clip01((AGREE_HI - blob) / (AGREE_HI - AGREE_LO))
    u, v = planes(back)
    speed = cv2.GaussianBlur(cv2.magnitude(u, v), (0, 0), AGREE_SIGMA)
    gate = clip01((speed - MOTION_LO) / (MOTION_HI - MOTION_LO))
    return 1.0 - (1.0 - photo) * gate * float(strength)


def blend(stylized: np.ndarray, warped: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``(1 - weight) * stylized + weight * warped`` rounded to uint8; weight is (H, W)."""
    if stylized.shape == warped.shape and stylized.ndim == 3 and weight.shape == stylized.shape[:2]:
        m = np.ascontiguousarray(weight, np.float32)  # OpenCV: a quarter of NumPy's time at 1080p
        out = cv2.blendLinear(np.ascontiguousarray(stylized, np.float32), np.ascontiguousarray(warped, np.float32),
                              1.0 - m, m)
        return cv2.convertScaleAbs(np.maximum(out, 0.0, out=out))  # rounded to nearest, saturated
    m = weight[..., None].astype(np.float32)
    out = stylized.astype(np.float32) * (1.0 - m) + warped.astype(np.float32) * m
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
