"""AnimateDiff never denoises across a hard cut: each shot is its own video (windows split at cuts),
and keyframe mode picks the frames the temporal stage will ask for, shot by shot."""
from __future__ import annotations

import numpy as np

from animatediff_support import moving_frames, run_look
from kino_backend.animatediff.shots import ShotStarts, keyframe_positions, split_at_shots


def other_shot(n: int, size: int = 64) -> list:
    """A second shot: a bright disc drifting over a dark checkerboard (nothing like ``moving_frames``)."""
    yy, xx = np.mgrid[0:size, 0:size]
    board = (((yy // 8) + (xx // 8)) % 2 * 60 + 20).astype(np.uint8)
    out = []
    for t in range(n):
        img = np.stack([board, board // 2, board], axis=2).copy()
        img[(yy - 30) ** 2 + (xx - 20 - 3 * t) ** 2 < 100] = (250, 240, 120)
        out.append(img)
    return out


def test_split_at_shots_and_keyframe_positions():
    assert split_at_shots([0, 1, 2, 3, 4, 5], [0, 3]) == [[0, 1, 2], [3, 4, 5]]
    assert split_at_shots([0, 3, 6, 7], [0, 5]) == [[0, 3], [6, 7]]  # the cut at 5 lies between 3 and 6
    assert split_at_shots([], [0]) == []
    # one shot: 0, K, 2K and the last frame when at least K/2 after the previous keyframe
    assert keyframe_positions(8, [0], 3) == [0, 3, 6, 7]
    assert keyframe_positions(11, [0], 4) == [0, 4, 8, 10]
    assert keyframe_positions(10, [0], 4) == [0, 4, 8]  # a tail of 1 < K/2 is filled from frame 8
    # a cut at 5 restarts the count there, as the temporal stage's keyframe mode does
    assert keyframe_positions(12, [0, 5], 3) == [0, 3, 4, 5, 8, 11]


def test_shot_starts_find_the_cut_and_a_new_size():
    shots = ShotStarts(None)
    frames = moving_frames(4) + other_shot(3) + [np.zeros((32, 32, 3), np.uint8)]
    assert [shots.add(f) for f in frames] == [True, False, False, False, True, False, False, True]
    assert shots.starts == [0, 4, 7]


def test_the_second_shot_is_denoised_as_if_alone(tiny):
    """With one window over both shots the motion module linked them: shot B changed with shot A. Split
    at the cut, B comes out as it does on its own (fixed noise: the same start for every frame)."""
    a, b = moving_frames(4), other_shot(4)
    params = {"model": tiny["sd15-tiny"], "motion_adapter": tiny["motion-adapter-tiny"], "noise": "fixed",
              "context_frames": 8, "context_overlap": 2}
    both, ctx = run_look(params, a + b)
    alone, _ = run_look(params, b)
    first_alone, _ = run_look(params, a)
    worst_b = max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(both[4:], alone))
    worst_a = max(int(np.abs(x.astype(int) - y.astype(int)).max()) for x, y in zip(both[:4], first_alone))
    assert worst_b <= 1 and worst_a <= 1, (worst_a, worst_b)
    rec = ctx.provenance["diffusion"]["animatediff"]
    assert rec["shots"] == [1, 5] and rec["windows"] == 2 and rec["frames_denoised"] == 8
