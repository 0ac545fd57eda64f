"""The keyframes look: painted frames come back bit-exact, the in-betweens follow the motion and stay
crisp, fill is reported with suggestions, cuts are respected, and bad input gets a clear message."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from kino_backend.flow import DISFlow, FlowCache
from kino_backend.propagation import Item, Propagator
from kino_backend.stages.base import StageError
from kino_backend.stages.temporal.warp import warp

from .conftest import keyframes_workflow, paint, pan_clip, psnr, run_workflow, texture, write_keyframes


def test_painted_keyframes_come_back_bit_exact(tmp_path):
    clip = pan_clip(13)
    painted = write_keyframes(tmp_path, clip, [1, 7, 13])
    out, prov = run_workflow(keyframes_workflow(tmp_path), clip)
    assert [f.index for f in out] == list(range(1, 14))
    for n, image in painted.items():
        assert np.array_equal(out[n - 1].image, image)
        assert out[n - 1].meta["keyframe"] is True
    for f in out:
        assert "keyframes.image" not in f.meta  # the made image does not leave the backend as meta
        if f.index not in painted:
            assert f.meta["keyframe"] is False
            assert not any(np.array_equal(f.image, p) for p in painted.values())
    kf = prov["keyframes"]
    assert kf["used"] == [1, 7, 13] and kf["frames"] == 13 and len(kf["fill"]) == 13
    assert prov["temporal"]["strength"] == 0.0  # the preset keeps the painting exact


def test_in_betweens_follow_the_motion_from_both_sides(tmp_path):
    clip = pan_clip(17, dx=2.0, dy=0.7)
    write_keyframes(tmp_path, clip, [1, 9, 17])
    out, _ = run_workflow(keyframes_workflow(tmp_path), clip)
    truth = [paint(f) for f in clip]
    mids = [i for i in range(17) if i + 1 not in (1, 9, 17)]
    ours = np.mean([psnr(out[i].image, truth[i]) for i in mids])
    held = np.mean([psnr(truth[min((0, 8, 16), key=lambda k: abs(k - i))], truth[i]) for i in mids])
    assert ours > 30.0 and ours > held + 10.0, (ours, held)


def test_texture_stays_crisp_over_a_long_gap():
    """One resampling along the composed flow, not one per frame: after 24 frames the carried painting
    is as sharp as the truth, where frame-by-frame resampling has blurred it."""
    clip = pan_clip(25, dx=1.37, dy=0.61, seed=3)
    truth = [paint(f) for f in clip]
    flows = FlowCache(DISFlow())
    prop = Propagator(flows, lambda it: it.number == 1, lambda it: truth[0])
    ours = {r.item.number: r.image for r in prop.run(Item(i + 1, f) for i, f in enumerate(clip))}
    stepwise = truth[0]
    for i in range(1, 25):
        back, fwd = flows.flow(clip[i], clip[i - 1]), flows.flow(clip[i - 1], clip[i])
        stepwise = np.clip(warp(stepwise, -warp(fwd, back)) + 0.5, 0, 255).astype(np.uint8)

    def sharpness(img):
        core = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[8:-8, 8:-24].astype(np.float32)
        return float(cv2.Laplacian(core, cv2.CV_32F).var())

    assert sharpness(ours[25]) > 0.85 * sharpness(truth[24])
    assert sharpness(stepwise) < 0.7 * sharpness(truth[24])
    assert psnr(ours[25][8:-8, 8:-24], truth[24][8:-8, 8:-24]) > psnr(stepwise[8:-8, 8:-24], truth[24][8:-8, 8:-24]) + 3


def test_fill_is_reported_and_frames_to_paint_next_suggested(tmp_path):
    clip = pan_clip(16, dx=2.5, dy=0.0)  # new picture enters at the right edge, seen by no keyframe
    write_keyframes(tmp_path, clip, [1])
    out, prov = run_workflow(keyframes_workflow(tmp_path), clip)
    kf = prov["keyframes"]
    fill = kf["fill"]
    assert fill[0] == 0.0 and fill[-1] > 0.2 and fill[-1] >= fill[7] >= fill[2] > 0.0
    assert kf["fill_max_frame"] == 16 and kf["suggest"] and kf["suggest"][0] == 16
    assert out[15].meta["keyframes_fill"] == pytest.approx(fill[-1], abs=1e-3)
    # the fill follows what is visible: the entering strip gets the painting's colours for the source there
    truth = paint(clip[15])
    strip = slice(None), slice(96 - 30, 96 - 2)
    assert psnr(out[15].image[strip], truth[strip]) > 24.0
    assert psnr(out[15].image[strip], truth[strip]) > psnr(clip[15][strip], truth[strip]) + 10


def test_nothing_is_carried_across_a_cut():
    a, b = pan_clip(6, seed=1), pan_clip(6, seed=2, dx=-1.0)
    clip = a + b
    painted = {n: paint(clip[n - 1]) + 0 for n in (1, 12)}
    painted[1][:] = (200, 30, 30)  # keyframes of two plain colours: any leak across the cut shows
    painted[12][:] = (30, 30, 200)
    prop = Propagator(FlowCache(DISFlow()), lambda it: it.number in painted, lambda it: painted[it.number])
    res = list(prop.run(Item(i + 1, f) for i, f in enumerate(clip)))
    assert prop.cuts == [7]
    assert [r.kind for r in res] == ["key"] + ["left"] * 5 + ["right"] * 5 + ["key"]
    for r in res[:6]:
        assert np.abs(r.image.astype(int) - (200, 30, 30)).max() <= 2
    for r in res[6:]:
        assert np.abs(r.image.astype(int) - (30, 30, 200)).max() <= 2


def test_a_shot_without_keyframes_takes_the_colours_of_one_and_counts_as_filled():
    clip = pan_clip(5, seed=1) + pan_clip(5, seed=2)
    truth = [paint(f) for f in clip]
    prop = Propagator(FlowCache(DISFlow()), lambda it: it.number == 8, lambda it: truth[7])
    res = list(prop.run(Item(i + 1, f) for i, f in enumerate(clip)))
    assert [r.kind for r in res[:5]] == ["model"] * 5 and all(r.fill == 1.0 for r in res[:5])
    assert [r.item.number for r in res] == list(range(1, 11))
    assert np.mean([psnr(r.image, t) for r, t in zip(res[:5], truth[:5])]) > 15.0


def test_transparent_parts_of_a_painted_frame_show_the_footage(tmp_path):
    clip = pan_clip(5)
    rgba = np.zeros(clip[0].shape[:2] + (4,), np.uint8)
    rgba[..., :3] = (10, 200, 10)
    rgba[:, :48, 3] = 255  # left half painted, right half transparent
    cv2.imwrite(str(tmp_path / "frame_0001.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    out, _ = run_workflow(keyframes_workflow(tmp_path), clip)
    assert np.all(out[0].image[:, :48] == (10, 200, 10))
    assert np.array_equal(out[0].image[:, 48:], clip[0][:, 48:])


def test_keyframes_are_numbered_by_the_clip_frames_of_the_job(tmp_path):
    clip = pan_clip(12)
    painted = write_keyframes(tmp_path, clip, [5, 12])
    part = clip[4:]  # the job stylizes clip frames 5..12 (--frames 5:12)
    out, prov = run_workflow(keyframes_workflow(tmp_path), part, {"clip_frames": {"first": 5, "count": 12}})
    assert np.array_equal(out[0].image, painted[5]) and np.array_equal(out[7].image, painted[12])
    assert prov["keyframes"]["used"] == [5, 12]


def _error(tmp_path, clip, options=None, **params):
    wf = keyframes_workflow(tmp_path)
    wf["stages"][0]["params"].update(params)
    with pytest.raises(StageError) as exc:
        run_workflow(wf, clip, options)
    assert exc.value.code == "INVALID_PARAMS" and exc.value.stage == "keyframes"
    return exc.value.message


def test_bad_input_gets_a_clear_message(tmp_path):
    clip = pan_clip(6)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no keyframes folder given" in _error(tmp_path, clip, dir=None)
    assert "does not exist" in _error(tmp_path, clip, dir=str(tmp_path / "nope"))
    msg = _error(tmp_path, clip, dir=str(empty))
    assert "no painted keyframes" in msg and "frame_NNNN.png" in msg
    big = tmp_path / "big"
    write_keyframes(big, [texture(90, 120, 1)], [1])
    msg = _error(tmp_path, clip, dir=str(big))
    assert "frame_0001.png is 120x90 but the clip is 96x72" in msg
    far = tmp_path / "far"
    write_keyframes(far, clip + [clip[0]] * 20, [3, 20])
    msg = _error(tmp_path, clip, dir=str(far))
    assert "frame_0020.png" in msg and "outside the clip" in msg and "1-6" in msg
    part = tmp_path / "part"
    write_keyframes(part, clip, [1])
    msg = _error(tmp_path, clip[2:], {"clip_frames": {"first": 3, "count": 6}}, dir=str(part))
    assert "within the frames being stylized (3-6)" in msg
    os.remove(part / "frame_0001.png")
    (part / "frame_0002.png").write_bytes(b"not a png at all")
    assert "cannot read the painted keyframe" in _error(tmp_path, clip, dir=str(part))


def test_a_painting_damaged_after_its_header_is_the_artists_to_fix(tmp_path):
    """A painted PNG whose header reads but whose pixels do not (saved half-way): the job stops at that
    frame with INVALID_PARAMS naming the file, not an internal error."""
    clip = pan_clip(6)
    folder = tmp_path / "cut_short"
    write_keyframes(folder, clip, [1, 4])
    data = (folder / "frame_0004.png").read_bytes()
    (folder / "frame_0004.png").write_bytes(data[:len(data) // 3])
    msg = _error(tmp_path, clip, dir=str(folder))
    assert "frame_0004.png" in msg and "cannot read the painted keyframe" in msg


def test_frames_painted_in_another_format_are_named(tmp_path):
    clip = pan_clip(4)
    folder = tmp_path / "jpegs"
    folder.mkdir()
    cv2.imwrite(str(folder / "frame_0001.jpg"), clip[0])
    msg = _error(tmp_path, clip, dir=str(folder))
    assert "no painted keyframes" in msg and "frame_0001.jpg must be saved as PNG" in msg


def test_the_command_line_says_how_much_was_filled_and_what_to_paint_next(tmp_path):
    from kino_addon.core.painted_keyframes import fill_note
    clip = pan_clip(16, dx=2.5, dy=0.0)
    write_keyframes(tmp_path, clip, [1])
    _, prov = run_workflow(keyframes_workflow(tmp_path), clip)
    note = fill_note({"stages": prov})
    kf = prov["keyframes"]
    assert f"most {kf['fill_max'] * 100:.1f}% at frame 16" in note
    assert f"paint frame{'s' if len(kf['suggest']) > 1 else ''} {kf['suggest'][0]}" in note
    assert fill_note({"stages": {"temporal": {}}}) is None
