"""Temporal matte smoothing (``keying.temporal.MatteSmoother``). Real: Kino's keyer, DIS flow and the
smoother; the sequences are the synthetic known-alpha case (moved and re-noised per frame) and the real
green-screen clip."""
import os
import pytest

import cv2
import numpy as np

from kino_backend.keying import KeyParams, detect_key_color, pull_key
from kino_backend.keying.temporal import MatteSmoother

from kino_keying_support import read_frames


def moving_sequence(case, n=8, shift=(1.5, 0.75), noise=2.0, seed=0):
    """The case moved by ``shift`` px a frame with fresh sensor noise: (plates, true alphas, edge bands)."""
    rng = np.random.default_rng(seed)
    h, w = case.alpha.shape
    band = case.edge_band(2).astype(np.uint8)
    out = []
    for t in range(n):
        m = np.float32([[1, 0, shift[0] * t], [0, 1, shift[1] * t]])
        plate = cv2.warpAffine(case.plate.astype(np.float32), m, (w, h), borderMode=cv2.BORDER_REFLECT)
        plate = np.clip(plate + rng.normal(0, noise, plate.shape), 0, 255).astype(np.uint8)
        alpha = cv2.warpAffine(case.alpha, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        out.append((plate, alpha, cv2.warpAffine(band, m, (w, h), flags=cv2.INTER_NEAREST) > 0))
    return out


def run(seq, key, strength):
    sm = MatteSmoother(strength)
    return [sm(plate, pull_key(plate, key, KeyParams()).matte) for plate, _a, _b in seq], sm


def scores(seq, mattes, shift):
    """(mean edge error vs the true alpha, mean edge change vs the previous matte moved by the motion)."""
    err = np.mean([np.abs(m - a)[b].mean() for m, (_p, a, b) in list(zip(mattes, seq))[2:]])
    move = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    h, w = mattes[0].shape
    flick = np.mean([np.abs(mattes[t] - cv2.warpAffine(mattes[t - 1], move, (w, h), borderMode=cv2.BORDER_REFLECT))
                     [seq[t][2]].mean() for t in range(2, len(mattes))])
    return err, flick


@pytest.mark.slow
def test_smoothing_steadies_edges_without_losing_accuracy(synthetic):
    for shift in ((0.0, 0.0), (1.5, 0.75)):
        seq = moving_sequence(synthetic, shift=shift)
        raw_err, raw_flick = scores(seq, run(seq, synthetic.key_rgb, 0.0)[0], shift)
        err, flick = scores(seq, run(seq, synthetic.key_rgb, 0.5)[0], shift)
        assert flick < 0.85 * raw_flick, (shift, flick, raw_flick)
        assert err <= raw_err * 1.02, (shift, err, raw_err)


def test_strength_zero_and_the_first_frame_are_the_raw_matte(synthetic):
    seq = moving_sequence(synthetic, n=3)
    raw = [pull_key(p, synthetic.key_rgb, KeyParams()).matte for p, _a, _b in seq]
    off, _ = run(seq, synthetic.key_rgb, 0.0)
    on, _ = run(seq, synthetic.key_rgb, 0.7)
    assert all(np.array_equal(a, b) for a, b in zip(off, raw)) and np.array_equal(on[0], raw[0])
    assert not np.array_equal(on[2], raw[2])


def test_nothing_is_carried_across_a_hard_cut(synthetic):
    seq = moving_sequence(synthetic, n=3)
    other = np.ascontiguousarray(np.roll(seq[2][0][::-1], 40, axis=1))  # a different shot
    plates = [seq[0][0], seq[1][0], other]
    sm = MatteSmoother(0.7)
    out = [sm(p, pull_key(p, synthetic.key_rgb, KeyParams()).matte) for p in plates]
    assert sm.cuts == [3]
    assert np.array_equal(out[2], pull_key(other, synthetic.key_rgb, KeyParams()).matte)


@pytest.mark.slow
def test_real_clip_edges_chatter_less(footage):
    """What ``bench keying`` reports: on the real clip the smoothed matte's edges chatter less."""
    from kino_backend.benchmarks.keying_temporal import bench_temporal
    frames = read_frames(os.path.join(footage, "greenscreen_actor.mp4"), range(0, 12))
    res = bench_temporal(frames, detect_key_color(frames[:5]))
    assert res["frames"] == 12 and res["edge_flicker_per_frame_key"] > 0
    assert res["ratio"] < 0.85, res


def test_the_actor_colour_is_unmixed_with_the_adjusted_matte(synthetic):
    """``pull_key(adjust=...)`` (what the smoother plugs into): alpha and colour stay consistent, so the
    keyed colour over the clean screen with the adjusted alpha gives back the plate (despill off)."""
    from kino_backend.keying.colorspace import srgb_to_linear
    params = KeyParams(despill=0.0)
    raw = pull_key(synthetic.plate, synthetic.key_rgb, params)
    res = pull_key(synthetic.plate, synthetic.key_rgb, params, adjust=lambda m: m * 0.9)
    assert np.allclose(res.matte, raw.matte * 0.9)
    a = res.matte[..., None]
    rebuilt = a * srgb_to_linear(res.foreground) + (1 - a) * res.screen
    zone = (res.matte > 0.55) & (res.matte < 0.85)  # fully un-mixed, away from clipping
    assert zone.sum() > 50
    err = np.abs(rebuilt - srgb_to_linear(synthetic.plate))[zone].mean()
    stale = np.abs(a * srgb_to_linear(raw.foreground) + (1 - a) * raw.screen - srgb_to_linear(synthetic.plate))[zone]
    assert err < 0.01 and err < 0.5 * stale.mean(), (err, stale.mean())
