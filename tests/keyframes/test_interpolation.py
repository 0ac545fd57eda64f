"""In-betweens: (n-1)K+1 frames with the inputs unchanged, against dropped real frames, no ghosting on
fast motion, cuts held instead of interpolated, and the command line."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from kino_backend.benchmarks.interpolate import bench_clip
from kino_backend.interpolation import plain_blend, symmetric_warp
from kino_backend.interpolation.sequence import Interpolator

from .conftest import pan_clip, psnr, real_clip, texture

REPO = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_outputs_count_and_inputs_unchanged_at_their_positions():
    clip = pan_clip(5, dx=2.0)
    interp = Interpolator(3)
    out = list(interp.run(iter(clip)))
    assert len(out) == (5 - 1) * 3 + 1 == interp.report.outputs and interp.report.inputs == 5
    for i, f in enumerate(clip):
        assert np.array_equal(out[3 * i], f)
    for j in (1, 2, 4, 5):
        assert not any(np.array_equal(out[j], f) for f in clip)
    assert interp.report.cuts == [] and interp.report.held_pairs == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["runner_tracking_shot.mp4", "handheld_seattle.avi"])
def test_in_betweens_beat_blend_and_symmetric_warp_on_dropped_real_frames(name):
    r = bench_clip(real_clip(name, 15, 256))
    assert r["made"] >= 6
    assert r["gain_over_blend_db"] >= 2.0, r
    assert r["gain_over_symmetric_db"] >= 0.3, r


@pytest.mark.slow
def test_a_still_shot_is_not_softened_below_a_blend():
    """A locked-off real shot (the green-screen clip: fixed camera, slow actor, compression noise): the
    flow there is sub-pixel noise, and resampling along it blurs the texture and averages the noise
    unevenly. A cross-fade is close to the best one can do on a still picture, and the made frames must
    not fall below it (the resampling candidates alone were 0.4 dB below it on these frames)."""
    r = bench_clip(real_clip("greenscreen_actor.mp4", 25, 0))
    assert r["made"] >= 10
    assert r["gain_over_blend_db"] >= -0.1, r
    assert r["gain_over_symmetric_db"] >= 0.3, r


def test_texture_stays_crisp_at_half_pixel_positions():
    """A real picture panned 1.5 px between the made frame and each input (made at twice the size and
    reduced, so the true middle frame is known exactly): sampling the inputs bilinearly at a half-pixel
    offset averages neighbouring pixels and softens the texture (Kino was 0.1 dB above the bilinear
    symmetric warp here); sampled bicubically the made frames keep it (0.6-0.7 dB above)."""
    big = real_clip("handheld_seattle.avi", 1, 0)[0]

    def pan(px):  # the picture moved by px full-size pixels, seen at half size
        return cv2.resize(big[40:296, 40 + px:424 + px], (192, 128), interpolation=cv2.INTER_AREA)
    inputs, truth = [pan(0), pan(6), pan(12)], [pan(3), pan(9)]
    interp = Interpolator(2)
    made = list(interp.run(inputs))[1::2]
    core = (slice(8, -8), slice(8, -8))
    for a, b, m, t in zip(inputs[:-1], inputs[1:], made, truth):
        sym = symmetric_warp(a, b, 0.5, interp.flows.flow(a, b), interp.flows.flow(b, a))
        assert psnr(m[core], t[core]) > psnr(sym[core], t[core]) + 0.4


def test_no_ghosting_on_fast_motion():
    """A real object (a crop of one clip) crossing a real background (another clip) 40 px between the
    input frames: the made middle frame puts it in the middle, and where it has just left, shows the
    background instead of a faded copy of it (what a blend shows)."""
    bg = real_clip("handheld_seattle.avi", 1, 320)[0]
    obj = real_clip("runner_tracking_shot.mp4", 1, 320)[0][100:196, 110:206]

    def frame(x):
        img = bg.copy()
        img[40:136, x:x + 96] = obj
        return img
    f = [frame(40 + 20 * k) for k in range(5)]
    interp = Interpolator(2)
    out = list(interp.run([f[0], f[2], f[4]]))
    made, truth = out[1], f[1]
    blend = plain_blend(f[0], f[2], 0.5)
    sym = symmetric_warp(f[0], f[2], 0.5, interp.flows.flow(f[0], f[2]), interp.flows.flow(f[2], f[0]))
    assert psnr(made, truth) > psnr(sym, truth) + 1.0 and psnr(made, truth) > psnr(blend, truth) + 6.0
    trail = (slice(40, 136), slice(40, 60))  # the object was here in the first frame, not in the middle
    err = lambda img: np.abs(img[trail].astype(int) - truth[trail]).mean()  # noqa: E731
    assert err(made) < 0.5 * err(blend) and err(made) < err(sym)


def test_cuts_are_held_never_interpolated():
    a, b = pan_clip(3, seed=1), pan_clip(3, seed=2)
    interp = Interpolator(3)
    out = list(interp.run(a + b))
    assert interp.report.cuts == [4] and interp.report.held_pairs == 1
    assert np.array_equal(out[7], a[2]) and np.array_equal(out[8], b[0])  # the pair across the cut
    assert np.array_equal(out[9], b[0])
    assert len(out) == 16


def _cmd(*args):
    return subprocess.run([sys.executable, "-m", "kino_backend", "interpolate", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def _write(folder, frames):
    os.makedirs(folder, exist_ok=True)
    for i, f in enumerate(frames):
        cv2.imwrite(os.path.join(str(folder), f"in_{i:03d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))


def test_command_writes_frames_and_kino_json(tmp_path):
    clip = pan_clip(4, dx=2.0)
    _write(tmp_path / "in", clip)
    run = _cmd(tmp_path / "in", "--factor", 2, "--out", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    names = sorted(os.listdir(tmp_path / "out"))
    assert names == [f"frame_{n:04d}.png" for n in range(1, 8)] + ["kino.json"]
    for i, f in enumerate(clip):
        got = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / f"frame_{2 * i + 1:04d}.png")), cv2.COLOR_BGR2RGB)
        assert np.array_equal(got, f)
    doc = json.loads((tmp_path / "out" / "kino.json").read_text())
    assert doc["frames"]["count"] == 7 and doc["frames"]["input_positions"] == [1, 3, 5, 7]
    assert doc["factor"] == 2 and "interpolate" in doc["command"] and "--factor 2" in doc["command"]
    again = _cmd(tmp_path / "in", "--factor", 3, "--out", tmp_path / "out")  # a re-run replaces the frames
    assert again.returncode == 0 and len(os.listdir(tmp_path / "out")) == 10 + 1


def test_command_bad_input_says_what_to_do(tmp_path):
    run = _cmd(tmp_path / "missing", "--factor", 2, "--out", tmp_path / "o1")
    assert run.returncode == 2 and "does not exist" in run.stderr
    _write(tmp_path / "in", pan_clip(2))
    run = _cmd(tmp_path / "in", "--factor", 1, "--out", tmp_path / "o2")
    assert run.returncode == 2 and "--factor must be 2 to 16" in run.stderr
    _write(tmp_path / "mixed", [pan_clip(1)[0], texture(40, 40, 1)])
    run = _cmd(tmp_path / "mixed", "--factor", 2, "--out", tmp_path / "o3")
    assert run.returncode == 1 and "same size" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "o3").exists()  # the frames made before the bad one are not left behind
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    run = _cmd(tmp_path / "in", "--factor", 2, "--out", tmp_path / "busy")
    assert run.returncode == 2 and "empty folder" in run.stderr and (tmp_path / "busy" / "notes.txt").exists()
    (tmp_path / "none").mkdir()
    run = _cmd(tmp_path / "none", "--factor", 2, "--out", tmp_path / "o4")
    assert run.returncode == 1 and "holds no images" in run.stderr and not (tmp_path / "o4").exists()
    (tmp_path / "exr").mkdir()  # OpenCV's own error was "OpenEXR codec is disabled ... OPENCV_IO_ENABLE_OPENEXR"
    for n in (1, 2):
        (tmp_path / "exr" / f"shot.{1000 + n}.exr").write_bytes(b"v/1\x01" + bytes(40))
    run = _cmd(tmp_path / "exr", "--factor", 2, "--out", tmp_path / "o5")
    last = run.stderr.strip().splitlines()[-1]
    assert run.returncode == 1 and "shot.1001.exr is float (HDR) EXR" in last and "PNG or TIFF" in last
    assert "OpenCV" not in run.stderr and not (tmp_path / "o5").exists()


def test_a_slate_beside_the_frames_is_not_a_frame(tmp_path):
    """The folder's numbered sequence is the clip: a slate whose name sorts first is left out."""
    clip = pan_clip(3, dx=2.0)
    _write(tmp_path / "in", clip)
    cv2.imwrite(str(tmp_path / "in" / "Slate.png"), np.full_like(clip[0], 255))
    run = _cmd(tmp_path / "in", "--factor", 2, "--out", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    first = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / "frame_0001.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(first, clip[0]) and len(os.listdir(tmp_path / "out")) == 5 + 1


def test_a_failed_run_leaves_the_earlier_result_in_its_folder(tmp_path):
    _write(tmp_path / "in", pan_clip(3, dx=2.0))
    assert _cmd(tmp_path / "in", "--factor", 2, "--out", tmp_path / "out").returncode == 0
    before = {n: (tmp_path / "out" / n).read_bytes() for n in os.listdir(tmp_path / "out")}
    _write(tmp_path / "broken", pan_clip(3, dx=2.0))
    (tmp_path / "broken" / "in_002.png").write_bytes(b"\x89PNG\r\n\x1a\n not the rest")
    run = _cmd(tmp_path / "broken", "--factor", 3, "--out", tmp_path / "out")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert {n: (tmp_path / "out" / n).read_bytes() for n in os.listdir(tmp_path / "out")} == before


def test_transparent_frames_keep_their_alpha_and_no_empty_colour_bleeds_in(tmp_path):
    """A Kino result with alpha (e.g. a keyed actor): RGBA in, RGBA out, the inputs bit for bit. The made
    frame's textured square sits half-way, and its colours are the square's: the random colour that the
    straight-alpha files hold where they are transparent is weighted by its alpha (0), so none mixes in."""
    rng = np.random.default_rng(5)
    patch = texture(24, 24, 3)

    def frame(x):
        img = rng.integers(0, 256, (56, 96, 4), dtype=np.uint8)  # colour under alpha 0 is anything
        img[..., 3] = 0
        img[16:40, x:x + 24, :3] = patch
        img[16:40, x:x + 24, 3] = 255
        return img
    frames = [frame(x) for x in (12, 28, 44)]
    os.makedirs(tmp_path / "in")
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / "in" / f"f_{i}.png"), cv2.cvtColor(f, cv2.COLOR_RGBA2BGRA))
    run = _cmd(tmp_path / "in", "--factor", 2, "--out", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    read = lambda n: cv2.cvtColor(cv2.imread(str(tmp_path / "out" / f"frame_{n:04d}.png"), cv2.IMREAD_UNCHANGED),  # noqa: E731
                                  cv2.COLOR_BGRA2RGBA)
    for i, f in enumerate(frames):
        assert np.array_equal(read(2 * i + 1), f)
    made, truth = read(2), frame(20)
    assert made.shape == (56, 96, 4)
    assert np.abs(made[..., 3].astype(int) - truth[..., 3]).mean() < 3.0  # the square moved half-way
    inside = (made[..., 3] > 128) & (truth[..., 3] > 128)
    assert inside.sum() > 0.9 * 24 * 24
    assert np.abs(made[inside][:, :3].astype(int) - truth[inside][:, :3]).mean() < 6.0
    assert json.loads((tmp_path / "out" / "kino.json").read_text())["frames"]["format"] == "RGBA, 8-bit"


def test_sixteen_bit_frames_stay_sixteen_bit(tmp_path):
    clip = pan_clip(3, dx=2.0, dy=0.0)
    os.makedirs(tmp_path / "in")
    deep = []
    for i, f in enumerate(clip):
        d = np.minimum(f.astype(np.int32) * 257 + 7 * i, 65535).astype(np.uint16)  # low bits 8 bits would lose
        deep.append(d)
        cv2.imwrite(str(tmp_path / "in" / f"f_{i}.png"), cv2.cvtColor(d, cv2.COLOR_RGB2BGR))
    run = _cmd(tmp_path / "in", "--factor", 2, "--out", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    out = [cv2.cvtColor(cv2.imread(str(tmp_path / "out" / f"frame_{n:04d}.png"), cv2.IMREAD_UNCHANGED),
                        cv2.COLOR_BGR2RGB) for n in range(1, 6)]
    assert all(o.dtype == np.uint16 for o in out)
    assert all(np.array_equal(out[2 * i], d) for i, d in enumerate(deep))
    made8 = np.clip(np.rint(out[1] / 257.0), 0, 255).astype(np.uint8)
    eight = list(Interpolator(2).run(clip))[1]  # the same frames at 8 bits
    assert np.abs(made8.astype(int) - eight.astype(int)).mean() < 0.5
