"""The temporal benchmark runs end to end (tiny settings) and reports its numbers."""
from __future__ import annotations

import json

from kino_backend.benchmarks import temporal as bench

from .conftest import FOOTAGE, footage


def test_bench_temporal_tiny(capsys):
    footage("talking_head.mp4")
    rc = bench.main(["--look", "standin", "--clips", "talking_head.mp4", "--footage", FOOTAGE,
                     "--frames", "6", "--width", "96", "--k", "3", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    r = out["clips"]["talking_head.mp4"]
    assert r["frames"] == 6 and r["frames_stylized"] == 6
    assert r["kf_frames_stylized"] == len(r["kf_keyframes"]) + len(r["kf_fallback_frames"]) < 6
    assert 0 < r["temporal_we"] < r["per_frame_we"]
    assert r["source_we"] > 0 and r["mad_to_per_frame"] > 0
    assert 0 <= r["flow_failure_area"] <= 1 and r["ghost"] >= 0 and r["kf_ghost"] >= 0


def test_ghost_counts_only_where_the_flow_fails():
    import numpy as np
    per_frame = [np.zeros((4, 5, 3), np.uint8) for _ in range(3)]
    out = [f.copy() for f in per_frame]
    out[2][0, 0] = 90  # content left behind at a pixel where the flow failed
    out[2][3, 4] = 200  # a difference where the flow is fine: not ghosting
    failures = [np.zeros((4, 5), bool), np.zeros((4, 5), bool)]
    assert bench.ghost(out, per_frame, failures) == 0.0
    failures[1][0, 0] = failures[1][1, 1] = True
    assert bench.ghost(out, per_frame, failures) == 45.0
