"""Noise that moves with the picture and stays exactly white Gaussian: Kino's sub-pixel noise transport.

A diffusion model wants its starting noise to be independent N(0, 1) values, one per latent pixel and
channel. Warping a noise image along optical flow breaks that: bilinear sampling averages neighbours
(the variance drops, the noise blurs), nearest sampling copies samples (neighbours become equal).

Kino keeps the noise at ``k`` x ``k`` times the latent resolution, as a grid of *cells*. Every cell
holds one independent N(0, 1) value per channel and an offset (where its sample currently sits,
from the cell's centre: within half a cell unless the sample was pushed aside, below). A latent
pixel's value is the sum of its k*k cells divided by k: a sum of k^2 independent unit Gaussians
scaled to unit variance, so exactly N(0, 1), and two latent pixels never share a cell, so they are
independent.

From one frame to the next every cell's sample moves along the forward flow from its exact
position (cell centre + offset) and lands in the nearest cell of the new grid:

- samples whose pixel is hidden in the next frame (occlusion) only fill cells that no visible sample
  reaches (the flow's occlusion test is often wrong on flat, textureless areas) and are dropped
  otherwise, so hidden noise never mixes into what covers it;
- a sample that lands in a cell already taken moves to a free cell up to three cells away (flow noise
  and stretching push samples together here and apart there; moving them keeps both intact), and
  remembers where it really is: its offset points there, so next frame it moves on from its true
  position and the displacements do not pile up;
- a cell that still receives ``c >= 1`` samples holds ``sum / sqrt(c)`` of them: again exactly N(0, 1),
  and cells never share a sample, so the grid stays independent white noise; its offset is the
  mean of the arrivals' offsets, so slow motion (a fraction of a cell per frame) accumulates instead
  of being rounded away;
- a cell that receives nothing but is mostly surrounded by cells that did (``SPREAD_MIN_LANDED`` of
  its 8 neighbours: the picture stretched there) shares the nearest neighbouring sample: a sample
  ``v`` spread over ``m`` cells gives each ``v / sqrt(m) + w_i - mean(w)`` with fresh ``w_i ~ N(0, 1)``,
  again independent N(0, 1) cells that add up to ``sqrt(m) v`` (the conditional split of integral
  noise), so the stretched area keeps the noise it carried instead of a fresh value;
- any other cell that receives nothing (disocclusion, the frame border) gets a fresh N(0, 1);
  cells without a sample take their neighbours' mean offset, so they travel in step with them instead
  of colliding with them.

Which samples go where depends only on the flow, never on the values, so the statistics hold
exactly whatever the footage does. Static areas keep identical noise; moving areas carry theirs.

The first frame's cells are drawn *conditioned on* a given latent noise (``start``): for a latent
value X, the k^2 cells are ``X / k + (w_i - mean(w))`` with w_i independent N(0, 1), which makes the
cells independent N(0, 1) whose aggregate is exactly X. So the warped noise of a clip's first frame is
the clip's fixed noise. This follows the idea of integral noise (Chang et al., "How I Warped Your Noise",
ICLR 2024: pixels as integrals of an underlying white noise, conditional upsampling) with a Lagrangian
grid transport in the spirit of their later real-time variants; the code is Kino's own.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from ..flow.scaled import resize_flow as scaled_resize_flow

SUBPIXELS = 8  # k: cells per latent pixel along each axis (at 8, one cell per pixel of the work size)


def upsample_conditional(coarse: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(C, h, w) latent noise -> (C, h*k, w*k) independent N(0, 1) cells whose block sums / k equal it."""
    c, h, w = coarse.shape
    fresh = rng.standard_normal((c, h, k, w, k), dtype=np.float32)
    fresh -= fresh.mean(axis=(2, 4), keepdims=True)
    fresh += (coarse.astype(np.float32) / k)[:, :, None, :, None]
    return fresh.reshape(c, h * k, w * k)


def aggregate(cells: np.ndarray, k: int) -> np.ndarray:
    """(C, h*k, w*k) cells -> (C, h, w) latent noise: each block's sum / k."""
    c, hk, wk = cells.shape
    return cells.reshape(c, hk // k, k, wk // k, k).sum(axis=(2, 4), dtype=np.float64).astype(np.float32) / k


def resize_flow(flow: np.ndarray, height: int, width: int) -> np.ndarray:
    """A flow field (H, W, 2) in pixels resampled (bilinear) to (height, width) and rescaled to that
    grid's pixels (``flow.scaled.resize_flow``; read-only use: a flow of that size comes back as is)."""
    return scaled_resize_flow(np.ascontiguousarray(flow, np.float32), (width, height), cv2.INTER_LINEAR)


def resize_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """A boolean mask resampled to (height, width) (a cell is True when most of its area is)."""
    m = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
    return m > 0.5


class NoiseTransport:
    """The cell grid of one clip: ``start`` it from a latent noise, ``step`` it along each frame's flow,
    read the latent noise with ``latent()``."""

    def __init__(self, channels: int, height: int, width: int, k: int = SUBPIXELS):
        self.channels, self.height, self.width, self.k = channels, height, width, int(k)
        self.cells: Optional[np.ndarray] = None  # (C, H, W) at cell resolution
        self.offsets: Optional[np.ndarray] = None  # (2, H, W): x and y offset of each sample, in cells
        hk, wk = height * self.k, width * self.k
        self._gx, self._gy = np.meshgrid(np.arange(wk, dtype=np.float32), np.arange(hk, dtype=np.float32))
        self.stats = {"kept": 0, "merged": 0, "split": 0, "fresh": 0, "dropped": 0}

    @property
    def cell_shape(self) -> tuple:
        return self.height * self.k, self.width * self.k

    def start(self, latent: np.ndarray, rng: np.random.Generator) -> None:
        if latent.shape != (self.channels, self.height, self.width):
            raise ValueError(f"latent noise {latent.shape} does not match {(self.channels, self.height, self.width)}")
        self.cells = upsample_conditional(latent, self.k, rng)
        self.offsets = np.zeros((2, *self.cell_shape), np.float32)

    def latent(self) -> np.ndarray:
        if self.cells is None:
            raise RuntimeError("NoiseTransport.start() first")
        return aggregate(self.cells, self.k)

    def step(self, forward: np.ndarray, visible: Optional[np.ndarray], rng: np.random.Generator) -> None:
        """Move every sample along ``forward`` (flow previous frame -> this frame, any resolution, in its
        pixels); ``visible`` (bool, same grid as ``forward``) is False where the previous frame's pixel is
        hidden in this frame: those samples only fill cells nothing visible reaches (so they never mix
        into what covers them) and are dropped otherwise. Empty cells get fresh noise from ``rng``."""
        if self.cells is None:
            raise RuntimeError("NoiseTransport.start() first")
        hk, wk = self.cell_shape
        flow = resize_flow(forward, hk, wk)
        px = self._gx + self.offsets[0]
        py = self._gy + self.offsets[1]
        # the flow at each sample's exact position (bilinear)
        fx = cv2.remap(flow[..., 0], px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fy = cv2.remap(flow[..., 1], px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        nx, ny = px + fx, py + fy
        tx, ty = np.floor(nx + 0.5), np.floor(ny + 0.5)
        inside = (tx >= 0) & (tx < wk) & (ty >= 0) & (ty < hk)
        hidden = ~resize_mask(visible, hk, wk) if visible is not None else np.zeros_like(inside)
        self._splat(inside, hidden, (ty * wk + tx), nx - tx, ny - ty, rng)

    def _splat(self, inside: np.ndarray, hidden: np.ndarray, target: np.ndarray, offx: np.ndarray,
               offy: np.ndarray, rng: np.random.Generator) -> None:
        hk, wk = self.cell_shape
        n = hk * wk
        idx = target[inside].astype(np.int64)
        offx, offy = offx[inside], offy[inside]
        values = self.cells.reshape(self.channels, -1)[:, inside.ravel()]
        filler = hidden[inside]
        idx, offx, offy = self._relocate(idx, offx, offy, filler)
        use = ~filler | _first_in_cell(idx, offx, offy, filler)  # a hidden sample never shares a cell
        idx, offx, offy, values = idx[use], offx[use], offy[use], values[:, use]
        count = np.bincount(idx, minlength=n).astype(np.float64)
        landed = count > 0
        scale = np.zeros(n)
        scale[landed] = 1.0 / np.sqrt(count[landed])
        flat = np.empty((self.channels, n), np.float32)
        for c in range(self.channels):
            flat[c] = np.bincount(idx, weights=values[c], minlength=n) * scale
        mean_off = [_cell_mean(idx, off, count, landed) for off in (offx, offy)]
        has = landed.reshape(hk, wk).astype(np.float32)
        near = cv2.boxFilter(has, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)  # landed neighbours
        filled = spread_into_holes(flat, landed, near.ravel(), mean_off, wk, rng)
        flat[:, ~filled] = rng.standard_normal((self.channels, int((~filled).sum())), dtype=np.float32)
        cells = flat.reshape(self.channels, hk, wk)
        offsets = np.zeros_like(self.offsets)
        for axis, mean in enumerate(mean_off):
            grid = mean.reshape(hk, wk).astype(np.float32)
            # a fresh cell takes its landed neighbours' mean offset: it moves in step with them
            around = cv2.boxFilter(grid, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
            fill = np.where(near > 0, around / np.maximum(near, 1.0), 0.0)
            offsets[axis] = np.where(has > 0, grid, fill)
        self.cells, self.offsets = cells, offsets
        self.stats["kept"] += int((count == 1).sum())
        self.stats["merged"] += int((count > 1).sum())
        self.stats["split"] += int((filled & ~landed).sum())
        self.stats["fresh"] += int((~filled).sum())
        self.stats["dropped"] += int(inside.size - use.sum())

    def _relocate(self, idx: np.ndarray, offx: np.ndarray, offy: np.ndarray, filler: np.ndarray):
        """Samples that land in an already taken cell move to a free cell at most three cells away when
        there is one (towards where they really are first), so flow noise and stretching do not merge
        samples and leave holes beside them; visible samples before ``filler`` ones. A moved sample's
        offset still points at its true position, so the displacement does not add up over frames.
        Only positions and visibility decide who moves: the values stay independent. One pass is all
        there is: a move only fills a free cell, so a sample that finds none finds none later either."""
        hk, wk = self.cell_shape
        n = hk * wk
        first = _first_in_cell(idx, offx, offy, filler)
        extra = np.flatnonzero(~first)
        if extra.size == 0:
            return idx, offx, offy
        extra = extra[np.argsort(filler[extra], kind="stable")]  # visible samples pick free cells first
        taken = np.zeros(n, bool)
        taken[idx] = True
        sx, sy = np.sign(offx[extra]).astype(np.int64), np.sign(offy[extra]).astype(np.int64)
        for step in STEPS:
            if extra.size == 0:
                break
            dx, dy = _step(step, sx, sy)
            x, y = idx[extra] % wk + dx, idx[extra] // wk + dy
            ok = (x >= 0) & (x < wk) & (y >= 0) & (y < hk)
            cand = np.where(ok, y * wk + x, 0)
            ok &= ~taken[cand]
            picks = extra[ok]
            cells, first_pick = np.unique(cand[ok], return_index=True)  # one sample per free cell
            moved = picks[first_pick]
            idx[moved] = cells
            # the offset keeps where the sample really is (up to 3.5 cells from its new cell), so it
            # moves on from there next frame instead of from the cell it was pushed into
            offx[moved] -= np.broadcast_to(dx, ok.shape)[ok][first_pick]
            offy[moved] -= np.broadcast_to(dy, ok.shape)[ok][first_pick]
            taken[cells] = True
            still = np.ones(len(extra), bool)
            still[np.flatnonzero(ok)[first_pick]] = False
            extra = extra[still]
            sx, sy = sx[still], sy[still]
        return idx, offx, offy


SPREAD_MIN_LANDED = 5  # of a cell's 8 neighbours: an empty cell this surrounded was stretched open
NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1))
# Stop 26 (`bench noise`, six real clips): sharing samples with stretched-open cells instead of drawing
# fresh noise there took motion_ratio down by 0.030-0.056 a clip (runner 0.522 -> 0.489); 3 neighbours
# instead of 5 also reached the first row of disoccluded cells and was no better.


def _cell_mean(idx: np.ndarray, values: np.ndarray, count: np.ndarray, landed: np.ndarray) -> np.ndarray:
    """The mean of ``values`` over the samples of each cell (0 where none landed)."""
    mean = np.zeros(count.shape)
    mean[landed] = np.bincount(idx, weights=values, minlength=count.size)[landed] / count[landed]
    return mean


def spread_into_holes(flat: np.ndarray, landed: np.ndarray, around: np.ndarray, mean_off: list, wk: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Give each empty cell that has at least ``SPREAD_MIN_LANDED`` landed neighbours (``around``, per
    cell) a share of its nearest neighbouring sample (by the sample's position: cell centre + mean
    offset). A cell's value ``v`` spread over ``m`` cells (itself and the holes that chose it) becomes
    ``v / sqrt(m) + w_i - mean(w)`` in each, ``w_i`` fresh N(0, 1): independent unit Gaussians adding up
    to ``sqrt(m) v``. ``flat`` (C, n) is changed in place (``wk`` cells a row); returns the cells that now
    hold a value (landed or spread)."""
    hk = landed.size // wk
    holes = np.flatnonzero(~landed & (around >= SPREAD_MIN_LANDED))
    if holes.size == 0:
        return landed.copy()
    best, best_d = np.full(holes.size, -1, np.int64), np.full(holes.size, np.inf)
    hx, hy = holes % wk, holes // wk
    for dx, dy in NEIGHBOURS:
        x, y = hx + dx, hy + dy
        ok = (x >= 0) & (x < wk) & (y >= 0) & (y < hk)
        cell = np.where(ok, y * wk + x, 0)
        ok &= landed[cell]
        d = (dx + mean_off[0][cell]) ** 2 + (dy + mean_off[1][cell]) ** 2
        closer = ok & (d < best_d)
        best[closer], best_d[closer] = cell[closer], d[closer]
    holes, best = holes[best >= 0], best[best >= 0]
    group = np.arange(landed.size)
    group[holes] = best
    filled = landed.copy()
    filled[holes] = True
    members = np.flatnonzero(filled)
    lead = group[members]
    size = np.bincount(lead, minlength=landed.size).astype(np.float64)
    spread = size[lead] > 1
    members, lead = members[spread], lead[spread]
    w = rng.standard_normal((flat.shape[0], members.size), dtype=np.float32)
    for c in range(flat.shape[0]):
        w_mean = np.bincount(lead, weights=w[c], minlength=landed.size) / np.maximum(size, 1.0)
        flat[c, members] = flat[c, lead] / np.sqrt(size[lead]) + w[c] - w_mean[lead]
    return filled


def _first_in_cell(idx: np.ndarray, offx: np.ndarray, offy: np.ndarray, filler: np.ndarray) -> np.ndarray:
    """True for the sample that owns its cell: visible before filler, then the one nearest the centre."""
    # one sort key: the cell, then visible before filler (+2), then the squared distance (< 1)
    order = np.argsort(idx * 4.0 + filler * 2.0 + np.minimum(offx * offx + offy * offy, 1.0), kind="stable")
    first = np.ones(len(idx), bool)
    first[order[1:]] = idx[order[1:]] != idx[order[:-1]]
    return first


RING_3 = tuple(sorted(((x, y) for x in range(-3, 4) for y in range(-3, 4) if max(abs(x), abs(y)) == 3),
                     key=lambda s: s[0] ** 2 + s[1] ** 2))
STEPS = ("x", "y", "xy", (1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (1, -1), (-1, 1),
         (2, 0), (-2, 0), (0, 2), (0, -2), (2, 1), (2, -1), (-2, 1), (-2, -1), (1, 2), (-1, 2), (1, -2), (-1, -2),
         (2, 2), (-2, -2), (2, -2), (-2, 2)) + RING_3  # nearest first, out to three cells
# Three cells, not two (stop 25, `bench noise`): a fifth fewer merged and fresh cells a frame and
# motion_ratio 0.004-0.017 lower on the six real clips (park 0.447 -> 0.434, carphone 0.507 -> 0.490),
# for 5-25 % more transport time; four cells helped some clips and not others.


def _step(step, sx: np.ndarray, sy: np.ndarray):
    """A neighbour step for displaced samples: towards their offset first ("x", "y", "xy"), then fixed ones."""
    if step == "x":
        return sx, 0
    if step == "y":
        return 0, sy
    if step == "xy":
        return sx, sy
    return step
