"""One run of frames between two keyframes (either may be missing): carry both, blend, fill."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from .carry import Chain, Refiner, Step, carry, step_between
from .fill import colour_model

FILL_BELOW = 0.2  # trust below which the fill takes over (linearly down to 0)
FILLED = 0.1  # a pixel counts as filled when its best trust is below this (the fill weighs > 1/2)


@dataclass
class Key:
    """A keyframe: its source frame and its (painted or stylized) image, both uint8 HxWx3."""

    src: np.ndarray
    image: np.ndarray


@dataclass
class Filled:
    """An in-between frame: the image, the fraction of it filled, and which keyframes reached it."""

    image: np.ndarray
    fill: float
    sides: str  # "both", "left", "right"


def _side(key: Key, srcs: Sequence[np.ndarray], step_flows: Sequence[np.ndarray], refiner: Refiner):
    """Carry ``key`` onto each of ``srcs`` (ordered away from the key); ``step_flows[i]`` maps
    ``srcs[i]`` onto the frame before it (the key for i = 0). Returns [(image float16, trust float16)]."""
    chain = Chain(key.src.shape)
    out = []
    for src, step in zip(srcs, step_flows):
        flow = refiner(src, key.src, chain.add(step))
        chain.flow = flow  # the next step composes onto the refined flow: no drift builds up
        image, trust = carry(key.image, key.src, src, flow)
        out.append((image.astype(np.float16), trust.astype(np.float16)))
    return out


def finish(src: np.ndarray, mix: np.ndarray, cover: np.ndarray) -> tuple:
    """Fill where ``cover`` (best trust) is low; returns (uint8 image, fraction filled)."""
    weight = np.clip(1.0 - cover / FILL_BELOW, 0.0, 1.0)
    where = weight > 0.0
    if where.any():
        model = colour_model(src, mix, cover, where)
        w = weight[where][:, None]
        mix = mix.copy()
        mix[where] = mix[where] * (1.0 - w) + model * w
    return np.clip(mix + 0.5, 0, 255).astype(np.uint8), float((cover < FILLED).mean())


def combine(src: np.ndarray, left, right, d_left: int, d_right: int) -> tuple:
    """Blend the two carried images: each weighs by its trust and by nearness (the nearer keyframe
    counts more); ``left``/``right`` are (image, trust) or None."""
    if left is None or right is None:
        image, trust = left if right is None else right
        return finish(src, image.astype(np.float32), trust.astype(np.float32))
    (li, lt), (ri, rt) = left, right
    lt, rt = lt.astype(np.float32), rt.astype(np.float32)
    wl = (d_right / (d_left + d_right)) * (lt + 1e-3)
    wr = (d_left / (d_left + d_right)) * (rt + 1e-3)
    mix = (li.astype(np.float32) * wl[..., None] + ri.astype(np.float32) * wr[..., None]) / (wl + wr)[..., None]
    return finish(src, mix, np.maximum(lt, rt))


def propagate_segment(flows, left: Optional[Key], srcs: List[np.ndarray], right: Optional[Key], *,
                      refine: bool = True, steps: Optional[List[Step]] = None) -> List[Filled]:
    """Make the frames ``srcs`` (source frames, in order) from the keyframes around them.

    ``flows`` is the clip's flow cache. ``steps`` (optional) are the ``Step`` s between consecutive
    frames of ``[left.src] + srcs + [right.src]`` (those present), when the caller has them already.
    """
    if not srcs:
        return []
    if left is None and right is None:
        raise ValueError("propagate_segment needs at least one keyframe")
    chain = ([left.src] if left else []) + list(srcs) + ([right.src] if right else [])
    if steps is None:
        steps = [step_between(flows, a, b) for a, b in zip(chain[:-1], chain[1:])]
    off = 1 if left else 0
    refiner = Refiner(refine)
    n = len(srcs)
    lefts = _side(left, srcs, [steps[i].pull for i in range(n)], refiner) if left else [None] * n
    rights = _side(right, srcs[::-1], [steps[off + i].push for i in range(n - 1, -1, -1)], refiner)[::-1] \
        if right else [None] * n
    out = []
    for i, src in enumerate(srcs):
        image, fill = combine(src, lefts[i], rights[i], i + 1, n - i)
        out.append(Filled(image, fill, "both" if left and right else ("left" if left else "right")))
        lefts[i] = rights[i] = None  # free as we go
    return out
