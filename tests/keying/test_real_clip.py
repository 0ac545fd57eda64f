"""Keying the real green-screen clip: the matte covers the man, not the screen, and the black bar at
the bottom (27 rows) is treated as outside the picture (background), not as the actor."""
import os

import numpy as np

from kino_backend.keying import detect_bars, detect_key_color, garbage_mask, pull_key

from kino_keying_support import read_frames

BODY = (slice(300, 480), slice(180, 330))    # chest and shirt
FACE = (slice(150, 300), slice(200, 310))
CORNERS = [(slice(0, 60), slice(0, 60)), (slice(0, 60), slice(452, 512)),
           (slice(380, 440), slice(0, 60)), (slice(380, 440), slice(452, 512))]


def test_matte_covers_the_man_not_the_screen(footage):
    frames = read_frames(os.path.join(footage, "greenscreen_actor.mp4"), [0, 60])
    key = detect_key_color(frames)
    bars = detect_bars(frames[0])
    assert bars == (0, 0, 512, 485), bars
    mask = garbage_mask(frames[0].shape, None, bars)
    for frame in frames:
        res = pull_key(frame, key, garbage=mask)
        m = res.matte
        assert m[BODY].mean() > 0.9 and m[FACE].mean() > 0.9
        for c in CORNERS:
            assert m[c].mean() < 0.05
        assert m[-27:].max() == 0.0
        # the despilled actor carries no green cast where the matte is solid: G not above max(R, B)
        solid = m > 0.99
        fg = res.foreground.astype(int)
        excess = fg[..., 1] - np.maximum(fg[..., 0], fg[..., 2])
        assert np.percentile(excess[solid], 99) <= 2
