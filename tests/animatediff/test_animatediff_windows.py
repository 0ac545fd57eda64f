"""Sliding context windows: they cover the clip, and their overlaps are blended so windows meet without a
seam -- a test that fails with naive concatenation (overlap 0)."""
from __future__ import annotations

import numpy as np
import pytest

from kino_backend.animatediff.windows import context_windows, coverage, window_weights


@pytest.mark.parametrize("n,length,overlap", [(20, 8, 4), (20, 8, 0), (17, 16, 4), (5, 16, 4), (100, 16, 4), (9, 8, 7)])
def test_windows_cover_the_clip(n, length, overlap):
    wins = context_windows(n, length, overlap)
    assert coverage(wins, n).min() >= 1
    assert all(len(w) == min(n, length) for w in wins)
    assert all(w == list(range(w[0], w[0] + len(w))) for w in wins)
    assert wins[0][0] == 0 and wins[-1][-1] == n - 1
    weights = window_weights(wins, n, overlap)
    assert all(len(wt) == len(w) and wt.min() > 0 and wt.max() <= 1 for w, wt in zip(wins, weights))
    if n <= length:
        assert wins == [list(range(n))] and np.all(weights[0] == 1)


def _blend_constant_windows(n: int, length: int, overlap: int) -> np.ndarray:
    """Every window predicts a constant (its own number); one scheduler step that takes the blended
    prediction as the new latents. Returns the per-frame value."""
    import torch

    from kino_backend.animatediff.sampler import denoise
    wins = context_windows(n, length, overlap)
    numbers = {tuple(w): float(k) for k, w in enumerate(wins)}

    def predict(x, t, i, group):
        return torch.stack([torch.full_like(x[0], numbers[tuple(w)]) for w in group])
    latents = torch.zeros(1, 1, n, 2, 2)
    out = denoise(latents, [torch.tensor(1)], wins, window_weights(wins, n, overlap), predict,
                  lambda eps, t, x: eps, windows_per_call=2)
    return out[0, 0, :, 0, 0].numpy()


@pytest.mark.parametrize("n,length,overlap,largest_step", [(48, 16, 4, 0.21), (24, 8, 4, 0.41)])
def test_blended_windows_have_no_seam_where_concatenation_has_one(n, length, overlap, largest_step):
    naive = _blend_constant_windows(n, length, 0)
    blended = _blend_constant_windows(n, length, overlap)
    assert np.abs(np.diff(naive)).max() == pytest.approx(1.0)  # a whole window's difference in one frame
    assert np.abs(np.diff(blended)).max() <= largest_step  # spread over the overlap
    assert np.all(np.diff(blended) >= -1e-6)  # a monotone hand-over, no overshoot
    assert blended[0] == 0 and blended[-1] == pytest.approx(len(context_windows(n, length, overlap)) - 1)


def _still_clip_latents(tiny, n: int, overlap: int):
    """The tiny motion UNet denoising a still clip (same latents and noise on every frame) in 8-frame windows."""
    import torch

    from kino_backend.animatediff.adapter import load_motion_adapter
    from kino_backend.animatediff.conditioning import ClipConditioning
    from kino_backend.animatediff.look import animatediff_scheduler
    from kino_backend.animatediff.sampler import UNetPredictor, denoise, img2img_timesteps
    from kino_backend.animatediff.unet import build_motion_unet
    from kino_backend.models.loader import load_img2img_pipeline
    from kino_backend.stages.diffusion.engine import DiffusionEngine
    pipe = load_img2img_pipeline(tiny["sd15-tiny"], cache={}).pipe
    engine = DiffusionEngine(pipe, prompt="a painting", steps=4, strength=0.8, guidance=5.0, seed=1)
    sched = animatediff_scheduler(pipe.scheduler)
    g = torch.Generator().manual_seed(3)
    frame = torch.randn(4, 8, 8, generator=g)
    with torch.inference_mode():
        ts = img2img_timesteps(sched, 4, 0.8, "cpu")
        latents = sched.add_noise(frame, torch.randn(4, 8, 8, generator=g), ts[:1])[:, None].expand(4, n, 8, 8)[None]
        wins = context_windows(n, 8, overlap)
        predict = UNetPredictor(build_motion_unet(pipe.unet, load_motion_adapter(tiny["motion-adapter-tiny"])), sched,
                                ClipConditioning(engine, size=(64, 64), steps_total=len(ts)), guidance=5.0, do_cfg=True)
        out = denoise(latents.contiguous(), ts, wins, window_weights(wins, n, overlap), predict,
                      lambda eps, t, x: sched.step(eps, t, x).prev_sample)
    return (out[0].permute(1, 0, 2, 3) - out[0].permute(1, 0, 2, 3).mean(0)).numpy()


def test_tiny_motion_module_windows_meet_smoothly(tiny):
    """On a still clip only the motion module's frame positions make a window's frames differ, so windows
    denoised one after the other (overlap 0) jump where they meet; blended windows hand over smoothly."""
    naive, blended = _still_clip_latents(tiny, 16, 0), _still_clip_latents(tiny, 16, 4)
    step_naive = np.abs(np.diff(naive, axis=0)).mean(axis=(1, 2, 3))
    step_blended = np.abs(np.diff(blended, axis=0)).mean(axis=(1, 2, 3))
    print("naive", step_naive.round(4), "blended", step_blended.round(4))
    assert step_naive[7] > 1.8 * np.median(step_naive)  # the seam between frames 8 and 9
    assert step_blended[7] < 0.5 * step_naive[7]
    # where the windows overlap (frames 5-12) the clip is no rougher than inside a single window
    assert step_blended[4:12].max() <= 1.2 * np.concatenate([step_blended[:4], step_blended[12:]]).max()
