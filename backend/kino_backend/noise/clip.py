"""The initial noise of each frame of a clip: ``fixed`` (the same seeded noise on every frame) or
``warped`` (that noise carried along the footage's optical flow by ``NoiseTransport``).

``ClipNoise.next(image)`` is called once per source frame, in order, for every frame of the clip
(also those a keyframe schedule does not stylize: the noise has to travel through them). Flows come
from a ``FlowCache`` shared with the temporal stage, so each frame pair's flow is computed once.
A hard cut (the temporal stage's cut test) or a change of frame size starts again from the fixed noise.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .advect import SUBPIXELS, NoiseTransport

NOISE_MODES = ("fixed", "warped", "inverted")
CUT_THRESHOLD = 0.08  # the temporal stage's default cut_threshold
LATENT_CHANNELS = 4
OCCLUSION_SLACK = 2.0  # px^2


def fixed_noise(seed: int, shape: tuple, *, skip_draws: int = 1) -> np.ndarray:
    """The seed's noise of one frame, float32 ``shape`` (C, h, w): what the diffusion look's img2img adds
    with a frame generator seeded with ``seed`` (torch's CPU generator; the first ``skip_draws`` draws of
    the same shape go to sampling the VAE's latent distribution, as diffusers does)."""
    import torch
    g = torch.Generator("cpu").manual_seed(int(seed))
    for _ in range(skip_draws):
        torch.randn((1, *shape), generator=g, dtype=torch.float32)
    return torch.randn((1, *shape), generator=g, dtype=torch.float32)[0].numpy()


def frame_rng(seed: int, index: int) -> np.random.Generator:
    """Fresh randomness for frame ``index`` of a clip with ``seed`` (the same for every run)."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, int(index)])


def visible_in_next(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """True where the previous frame's pixel is still seen in the next one: the forward-backward
    consistency test of the warping error, with OCCLUSION_SLACK px^2 of slack instead of 0.5 (DIS is
    often inconsistent by a pixel on low-texture skin and walls; dropping those samples would throw
    away noise that is in fact still visible)."""
    from ..stages.temporal.warp import warp
    back_at = warp(np.ascontiguousarray(backward, np.float32), forward)
    fb = ((forward + back_at) ** 2).sum(axis=2)
    return fb <= 0.01 * ((forward ** 2).sum(axis=2) + (back_at ** 2).sum(axis=2)) + OCCLUSION_SLACK


class ClipNoise:
    """Per-clip noise source. ``mode``: fixed or warped; ``flows``: a ``FlowCache`` (DIS when None)."""

    def __init__(self, mode: str, seed: int, *, flows=None, channels: int = LATENT_CHANNELS,
                 cut_threshold: float = CUT_THRESHOLD, k: int = SUBPIXELS):
        if mode not in ("fixed", "warped"):
            raise ValueError(f"ClipNoise makes fixed or warped noise, not {mode!r}")
        self.mode, self.seed, self.channels, self.k = mode, int(seed), channels, k
        self.cut_threshold = float(cut_threshold)
        if flows is None and mode == "warped":
            from ..flow import DISFlow, FlowCache
            flows = FlowCache(DISFlow())
        self.flows = flows
        self.transport: Optional[NoiseTransport] = None
        self.prev: Optional[np.ndarray] = None
        self.count = 0
        self.restarts: list = []  # frame numbers (1-based, in call order) where warped noise started afresh
        self._fixed: dict = {}

    def fixed(self, shape: tuple) -> np.ndarray:
        if shape not in self._fixed:
            self._fixed[shape] = fixed_noise(self.seed, shape)
        return self._fixed[shape]

    def next(self, image: np.ndarray, latent_hw: tuple) -> np.ndarray:
        """The noise (C, h, w) float32 of the next frame ``image`` (the source frame, any size)."""
        self.count += 1
        shape = (self.channels, int(latent_hw[0]), int(latent_hw[1]))
        if self.mode == "fixed":
            return self.fixed(shape).copy()
        image = np.asarray(image)
        if self._restart_needed(image, shape):
            self.transport = NoiseTransport(*shape, k=self.k)
            self.transport.start(self.fixed(shape), frame_rng(self.seed, self.count))
            self.restarts.append(self.count)
            self.prev = image
            return self.fixed(shape).copy()  # what the cells add up to, without float rounding
        else:
            forward = self.flows.flow(self.prev, image)
            backward = self.flows.flow(image, self.prev)
            self.transport.step(forward, visible_in_next(forward, backward), frame_rng(self.seed, self.count))
        self.prev = image
        return self.transport.latent()

    def _restart_needed(self, image: np.ndarray, shape: tuple) -> bool:
        t = self.transport
        if t is None or self.prev is None or self.prev.shape != image.shape or \
                (t.channels, t.height, t.width) != shape:
            return True
        from ..stages.temporal.warp import cut_score
        back = self.flows.flow(image, self.prev)
        return cut_score(self.prev, image, back) > self.cut_threshold

    def state(self) -> dict:
        """What the next frame's noise depends on, for a resume checkpoint: the frame count (the seed of
        each frame's fresh draws) and, for warped noise, the transported cells and the last source frame."""
        out = {"noise_count": self.count, "noise_restarts": list(self.restarts)}
        t = self.transport
        if self.mode == "warped" and t is not None and self.prev is not None:
            out.update(noise_shape=[t.channels, t.height, t.width], noise_cells=t.cells, noise_offsets=t.offsets,
                       noise_prev=self.prev, noise_stats=dict(t.stats))
        return out

    def restore(self, state: dict) -> None:
        """Continue from ``state`` (before any frame): the resumed frames get the uninterrupted run's noise."""
        self.count = int(state.get("noise_count") or 0)
        self.restarts = [int(v) for v in state.get("noise_restarts") or []]
        if self.mode != "warped" or state.get("noise_cells") is None:
            return
        c, h, w = (int(v) for v in state["noise_shape"])
        t = NoiseTransport(c, h, w, k=self.k)
        cells, offsets = np.asarray(state["noise_cells"], np.float32), np.asarray(state["noise_offsets"], np.float32)
        if cells.shape != (c, *t.cell_shape) or offsets.shape != (2, *t.cell_shape):
            raise ValueError(f"the resume state's noise cells are {cells.shape}, not {(c, *t.cell_shape)}")
        t.cells, t.offsets = cells.copy(), offsets.copy()
        t.stats = {key: int(v) for key, v in (state.get("noise_stats") or t.stats).items()}
        self.transport, self.prev = t, np.array(state["noise_prev"])

    def describe(self) -> dict:
        out = {"mode": self.mode, "seed": self.seed, "frames": self.count}
        if self.mode == "warped":
            out.update(subpixels=self.k, restarts=list(self.restarts),
                       transport=dict(self.transport.stats) if self.transport else None)
        return out
