"""The warping error, exactly as docs/metrics.md (Lai et al. 2018).

For output frames O_1..O_T and source frames S_1..S_T (S = O when no source is given), colours in
[0, 1]: forward flow F = S_{t-1} -> S_t and backward flow B = S_t -> S_{t-1} (OpenCV DIS MEDIUM on
grayscale), W(x) = O_t(x + F(x)) (bilinear, border replicate), a pixel is occluded where
|F + B(x+F)|^2 > 0.01 (|F|^2 + |B(x+F)|^2) + 0.5 or |grad F_x|^2 + |grad F_y|^2 > 0.01 |F|^2 + 0.002,
err_t = sum over visible pixels and RGB of (W - O_{t-1})^2 / (3 * #visible), and the clip's error is
the mean of err_t over t = 2..T.
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Tuple

import cv2
import numpy as np

from ..flow import DISFlow, FlowCache
from ..flow.fields import grad_sq, planes, sample_map, sq_norm


def as_float01(image: np.ndarray) -> np.ndarray:
    """float32 copy of an image in [0, 1] (uint8 is divided by 255; floats are taken as they are)."""
    img = np.asarray(image)
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    return img.astype(np.float32)


def warp_backward(image: np.ndarray, flow: np.ndarray, *, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``W(x) = image(x + flow(x))`` with border replicate (float32 result for float input)."""
    return cv2.remap(image, sample_map(flow), None, interpolation, borderMode=cv2.BORDER_REPLICATE)


def occlusion_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """True where a pixel of frame t-1 is occluded (or on a motion boundary), as docs/metrics.md."""
    fu, fv = planes(forward)
    bu, bv = planes(warp_backward(np.ascontiguousarray(backward, np.float32), forward))
    f2, b2 = sq_norm(fu, fv), sq_norm(bu, bv)
    occluded = sq_norm(fu + bu, fv + bv) > 0.01 * (f2 + b2) + 0.5
    grad = grad_sq(fu)
    grad += grad_sq(fv)
    boundary = grad > 0.01 * f2 + 0.002
    return occluded | boundary


def pair_error(prev_out: np.ndarray, cur_out: np.ndarray, forward: np.ndarray,
               visible: np.ndarray) -> float:
    """err_t: mean squared colour error between O_{t-1} and O_t warped back by ``forward``, over
    ``visible`` pixels of frame t-1 (NaN when nothing is visible)."""
    prev = as_float01(prev_out)
    warped = warp_backward(as_float01(cur_out), np.ascontiguousarray(forward, np.float32))
    if prev.ndim == 2:
        prev, warped = prev[..., None], warped[..., None]
    n = int(np.count_nonzero(visible))
    if n == 0:
        return float("nan")
    channels = prev.shape[-1]
    if channels > 4:  # beyond what OpenCV's per-channel mean takes
        diff = (warped - prev)[visible]
        return float((diff ** 2).sum() / (channels * n))
    diff = cv2.subtract(warped.reshape(prev.shape), prev)
    per_channel = cv2.mean(cv2.multiply(diff, diff), mask=visible.astype(np.uint8))[:channels]
    return float(np.mean(per_channel))


def warping_error(outputs: Iterable[np.ndarray], sources: Optional[Iterable[np.ndarray]] = None, *,
                  flow_cache: Optional[FlowCache] = None) -> Tuple[float, List[float]]:
    """Return ``(clip warping error, [err_t for t = 2..T])`` for a sequence of frames.

    ``sources`` gives the frames the flow is computed on (same count and size as ``outputs``); when
    omitted the outputs themselves are used. ``flow_cache`` (a ``FlowCache``, DIS by default) lets
    callers share flows already computed for the clip.
    """
    cache = flow_cache or FlowCache(DISFlow())
    per_frame: List[float] = []
    out_iter = iter(outputs)
    src_iter = iter(sources) if sources is not None else None
    prev_o = prev_s = None
    for t, o in enumerate(out_iter):
        if src_iter is not None:
            s = next(src_iter, None)
            if s is None:
                raise ValueError(f"the source has fewer frames than the output ({t}); give a source of the same length")
        else:
            s = o
        if np.asarray(s).shape[:2] != np.asarray(o).shape[:2]:
            raise ValueError(f"frame {t + 1}: output is {np.asarray(o).shape[:2]} but the source is "
                             f"{np.asarray(s).shape[:2]}; flow must come from frames of the output's size")
        if prev_o is not None:
            forward, backward = cache.pair(prev_s, s)
            visible = ~occlusion_mask(forward, backward)
            per_frame.append(pair_error(prev_o, o, forward, visible))
        prev_o, prev_s = o, s
    if src_iter is not None and next(src_iter, None) is not None:
        raise ValueError("the source has more frames than the output; give a source of the same length")
    if not per_frame:
        raise ValueError("the warping error needs at least 2 frames")
    valid = [e for e in per_frame if np.isfinite(e)]
    return (float(np.mean(valid)) if valid else float("nan")), per_frame
