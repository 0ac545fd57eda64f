"""Propagation against a known answer on real footage: every frame painted with a fixed filter, Kino
gets every 8th; it must beat holding the nearest keyframe by 4 dB and carrying the previous keyframe
forward along the flow by 0.5 dB, with less flicker than the latter."""
from __future__ import annotations

import json

import pytest

from kino_backend.benchmarks import interpolate as bench_interpolate
from kino_backend.benchmarks import keyframes as bench_keyframes

from .conftest import footage, real_clip

pytestmark = pytest.mark.slow  # real clips, tens of seconds


@pytest.mark.parametrize("name", ["runner_tracking_shot.mp4", "handheld_seattle.avi", "talking_head.mp4"])
def test_propagation_beats_hold_and_forward_carry(name):
    frames = real_clip(name, 17, 256)
    r = bench_keyframes.bench_clip(frames, bench_keyframes.painter("stylization"), 8)
    assert r["keyframes"] == [1, 9, 17] and r["keyframes_exact"]
    assert r["gain_over_hold_db"] >= 4.0, r
    assert r["gain_over_forward_db"] >= 0.5, r
    assert r["flicker_kino"] < r["flicker_forward"], r


def test_propagation_with_a_classic_look_as_the_painter():
    r = bench_keyframes.bench_clip(real_clip("runner_tracking_shot.mp4", 17, 192), bench_keyframes.painter("toon"), 8)
    assert r["gain_over_hold_db"] >= 4.0 and r["gain_over_forward_db"] >= 0.5, r


def test_bench_commands_print_their_figures(capsys):
    clip = footage("carphone_tiny.mp4")
    assert bench_keyframes.main(["--clip", clip, "--frames", "9", "--every", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    r = out["clips"][clip]
    assert out["bench"] == "keyframes" and r["keyframes"] == [1, 5, 9] and r["keyframes_exact"] is True
    assert {"psnr_kino", "psnr_hold", "psnr_forward", "flicker_kino", "flicker_forward", "fill_mean"} <= set(r)
    assert r["psnr_kino"] > r["psnr_hold"]
    assert bench_interpolate.main(["--clip", clip, "--frames", "9", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    r = out["clips"][clip]
    assert out["bench"] == "interpolate" and r["made"] >= 2
    assert {"psnr_kino", "psnr_blend", "psnr_symmetric", "gain_over_blend_db", "gain_over_symmetric_db"} <= set(r)
