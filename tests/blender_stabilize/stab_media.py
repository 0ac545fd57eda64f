"""Synthetic shaken clips with known camera motion, made with numpy only (no cv2 in .venv-blender).

The scene is a sum of Gaussian blobs; a similarity camera maps a blob to a blob, so every frame is
rendered exactly (no resampling): frame t shows the blobs at ``cam_t(world)``. A group of blobs can
walk across the frame on its own (a "person" the camera lock must ignore).
"""
from __future__ import annotations

import os

import numpy as np

from kino_addon.core import stabilize_geom as geo
from kino_addon.core.png import encode_png


def render_blobs(centers, sigmas, colors, width, height, background):
    img = np.empty((height, width, 3), np.float64)
    img[:] = background
    for (cx, cy), s, col in zip(centers, sigmas, colors):
        r = int(np.ceil(4 * s))
        x0, x1 = max(int(cx) - r, 0), min(int(cx) + r + 2, width)
        y0, y1 = max(int(cy) - r, 0), min(int(cy) + r + 2, height)
        if x0 >= x1 or y0 >= y1:
            continue
        xs, ys = np.arange(x0, x1), np.arange(y0, y1)
        g = np.exp(-((xs[None, :] - cx) ** 2 + (ys[:, None] - cy) ** 2) / (2 * s * s))
        img[y0:y1, x0:x1] += g[..., None] * col
    return np.clip(img, 0, 255).astype(np.uint8)


def shaken_clip(folder, *, width=240, height=180, frames=20, shift_px=4.0, degrees=1.0, person=True, seed=0):
    """Write ``frame_0001.png ...`` into ``folder``; return the true world->frame matrices (T, 2, 3)
    and the person's blob positions per frame (T, N, 2) (empty when ``person`` is False)."""
    rng = np.random.default_rng(seed)
    n = 260
    world = np.c_[rng.uniform(-20, width + 20, n), rng.uniform(-20, height + 20, n)]
    sig = rng.uniform(1.6, 3.5, n)
    col = rng.choice([-1, 1], (n, 1)) * rng.uniform(60, 140, (n, 3))
    cam = geo.about_center(geo.similarity(1.0, np.radians(rng.uniform(-degrees, degrees, frames)),
                                          rng.uniform(-shift_px, shift_px, frames),
                                          rng.uniform(-shift_px, shift_px, frames)), (width - 1) / 2, (height - 1) / 2)
    pn = 40 if person else 0
    body = np.c_[rng.uniform(-22, 22, pn), rng.uniform(-50, 50, pn)]
    psig = rng.uniform(1.6, 3.0, pn)
    pcol = rng.choice([-1, 1], (pn, 1)) * rng.uniform(80, 150, (pn, 3))
    path = np.c_[np.linspace(0.25 * width, 0.75 * width, frames), np.full(frames, 0.5 * height)]
    os.makedirs(folder, exist_ok=True)
    people = []
    for t in range(frames):
        pts = geo.apply(cam[t], world)
        ppl = body + path[t] if pn else np.zeros((0, 2))
        people.append(ppl)
        img = render_blobs(pts, sig, col, width, height, 128.0)
        if pn:   # an opaque body (an ellipse) with its own texture, hiding the background behind it
            fig = render_blobs(ppl, psig, pcol, width, height, 90.0).astype(np.float64)
            ys, xs = np.mgrid[0:height, 0:width]
            r = np.hypot((xs - path[t, 0]) / 30.0, (ys - path[t, 1]) / 60.0)
            alpha = np.clip((1.1 - r) / 0.2, 0.0, 1.0)[..., None]
            img = (img * (1 - alpha) + fig * alpha).round().astype(np.uint8)
        with open(os.path.join(folder, f"frame_{t + 1:04d}.png"), "wb") as fh:
            fh.write(encode_png(img))
    return cam, np.array(people)
