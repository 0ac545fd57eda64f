"""The warping error of contract §4 against the shared oracles, plus its CLI."""
from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from kino_backend.commands import metrics as metrics_cmd
from kino_backend.flow import DISFlow, FlowCache
from kino_backend.metrics.flowio import read_flo, write_flo
from kino_backend.metrics.frames import load_clip, read_image
from kino_backend.metrics.warp_error import occlusion_mask, pair_error, warping_error

from .conftest import footage, panning_clip


@pytest.mark.parametrize("name, warped, unwarped", [("easy", 0.00020, 0.00485), ("hard", 0.00172, 0.01204)])
def test_sintel_ground_truth_flow_reproduces_reference(name, warped, unwarped):
    d = footage(f"sintel_flow_{name}")
    i2, i3 = read_image(os.path.join(d, "frame_0002.png")), read_image(os.path.join(d, "frame_0003.png"))
    flow = read_flo(os.path.join(d, "frame_0002.flo"))
    assert flow.shape == i2.shape[:2] + (2,)
    occluded = cv2.imread(os.path.join(d, "occlusions_0002.png"), cv2.IMREAD_GRAYSCALE) > 127
    invalid = cv2.imread(os.path.join(d, "invalid_0002.png"), cv2.IMREAD_GRAYSCALE) > 127
    visible = ~occluded & ~invalid
    assert pair_error(i2, i3, flow, visible) == pytest.approx(warped, abs=0.000006)
    assert pair_error(i2, i3, np.zeros_like(flow), visible) == pytest.approx(unwarped, abs=0.000006)


@pytest.mark.slow
def test_goat_flicker_pair_is_about_three_times_worse():
    src = load_clip(footage("goat_flicker", "input"))
    processed = load_clip(footage("goat_flicker", "processed"))
    cache = FlowCache(DISFlow())
    steady, per_frame = warping_error(src, flow_cache=cache)
    computed = cache.computed
    flicker, _ = warping_error(processed, src, flow_cache=cache)
    assert cache.computed == computed  # the source's flows were reused, not recomputed
    assert len(per_frame) == len(src) - 1 == 19
    assert steady == pytest.approx(0.00090, abs=0.00003)
    assert flicker == pytest.approx(0.00272, abs=0.00005)
    assert 2.7 < flicker / steady < 3.3


def test_translation_is_consistent_and_noise_is_not():
    clip = panning_clip(5, dx=3.0)
    err, per_frame = warping_error(clip)
    assert err < 2e-4 and len(per_frame) == 4
    rng = np.random.default_rng(1)
    noisy = [np.clip(f.astype(np.int16) + rng.integers(-40, 40, f.shape), 0, 255).astype(np.uint8) for f in clip]
    assert warping_error(noisy, clip)[0] > 20 * err


def test_occlusion_mask_flags_inconsistent_flow():
    h, w = 40, 50
    fwd = np.zeros((h, w, 2), np.float32)
    fwd[..., 0] = 2.0
    back = -fwd.copy()
    assert not occlusion_mask(fwd, back)[5:-5, 5:-5].any()
    back[10:20, 10:20] = 0.0  # backward flow disagrees there: occluded
    mask = occlusion_mask(fwd, back)
    assert mask[12:18, 8:18].all() and not mask[30:, :].any()


def test_flo_roundtrip(tmp_path):
    flow = np.random.default_rng(0).normal(size=(7, 9, 2)).astype(np.float32)
    write_flo(tmp_path / "a.flo", flow)
    assert np.array_equal(read_flo(tmp_path / "a.flo"), flow)
    (tmp_path / "bad.flo").write_bytes(b"\0" * 16)
    with pytest.raises(ValueError, match="magic"):
        read_flo(tmp_path / "bad.flo")


def _write(folder, frames):
    os.makedirs(folder, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(os.path.join(folder, f"frame_{i + 1:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))


def test_cli_warp_error_and_report(tmp_path, capsys):
    clip = panning_clip(5, dx=2.0)
    rng = np.random.default_rng(3)
    noisy = [np.clip(f.astype(np.int16) + rng.integers(-30, 30, f.shape), 0, 255).astype(np.uint8) for f in clip]
    _write(tmp_path / "src", clip)
    _write(tmp_path / "noisy", noisy)
    (tmp_path / "noisy" / "kino.json").write_text("{}")  # non-image files are ignored
    assert metrics_cmd.main(["warp-error", str(tmp_path / "noisy"), "--flow-from", str(tmp_path / "src"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(out["per_frame"]) == 4 and out["warp_error"] > 0.001
    assert out["warp_error"] == pytest.approx(warping_error(noisy, clip)[0], rel=1e-5)
    plot = tmp_path / "plot.png"
    assert metrics_cmd.main(["report", str(tmp_path / "noisy"), str(tmp_path / "src"), "--source",
                             str(tmp_path / "src"), "--plot", str(plot), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["outputs"][0]["warp_error"] > 10 * rep["source"]["warp_error"]
    assert rep["outputs"][1]["warp_error"] == pytest.approx(rep["source"]["warp_error"])
    img = cv2.imread(str(plot))
    assert img is not None and img.shape[0] > 200 and img.std() > 5


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert metrics_cmd.main(["warp-error", str(tmp_path / "missing")]) == 1
    err = capsys.readouterr().err.strip()
    assert "does not exist" in err and len(err.splitlines()) == 1
    _write(tmp_path / "a", panning_clip(4))
    _write(tmp_path / "b", panning_clip(3))
    assert metrics_cmd.main(["warp-error", str(tmp_path / "a"), "--flow-from", str(tmp_path / "b")]) == 1
    assert "fewer frames" in capsys.readouterr().err
