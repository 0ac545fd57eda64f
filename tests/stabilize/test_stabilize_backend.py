"""The backend stage ``stabilize`` (warp / restore) and the residual-jitter metric, with OpenCV."""
import os

import cv2
import numpy as np
import pytest

from kino_backend import stabilize_metrics as sm
from kino_addon.core.kino_command import LAUNCHER as KINO
from kino_backend.stages import get_stage
from kino_backend.stages.base import Frame, JobContext, StageError

FOOTAGE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "footage")


def texture(h=192, w=256, seed=0):
    """A static scene with detail at several scales (corners for KLT)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.float32)
    for scale in (4, 12, 32):
        small = rng.uniform(0, 255, (h // scale + 2, w // scale + 2, 3)).astype(np.float32)
        img += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)[:h, :w] / 3
    return np.clip(cv2.GaussianBlur(img, (0, 0), 1.0), 0, 255).astype(np.uint8)


def real_frame():
    path = os.path.join(FOOTAGE, "greenscreen_actor.mp4")
    if not os.path.exists(path):
        pytest.skip(f"real footage not found at {path} (../shared/footage); this test needs it")
    frame = sm.read_frames(path, limit=1)[0]
    return cv2.resize(frame[:480], (256, 240), interpolation=cv2.INTER_AREA)


def run_stage(frames, matrices, params=None, restore_only=False):
    stage = get_stage("stabilize")
    ctx = JobContext(job_id="t", frames_total=len(frames), width=frames[0].shape[1], height=frames[0].shape[0],
                     options={"stabilize": {"matrices": np.asarray(matrices).tolist()}})
    run = stage.open(stage.validate(dict({"canvas": "source"}, **(params or {}))), ctx)  # geometry at source size
    items = [Frame(i + 1, f, f.copy()) for i, f in enumerate(frames)]
    if restore_only:
        return [f.image for f in run.finish(iter(items))]
    return [f.image for f in run.prepare(iter(items))], run, ctx


@pytest.mark.parametrize("source", ["texture", "real"])
def test_round_trip_returns_the_frame(source):
    img = texture() if source == "texture" else real_frame()
    h, w = img.shape[:2]
    m = sm.shake_matrices(3, w, h, shift_px=5.0, degrees=1.5, seed=2)
    stabilized, run, ctx = run_stage([img] * 3, m)
    assert all(sm.border_cut_mad(s, img) > 3.0 for s in stabilized)       # the warp did move pixels
    restored = list(run.finish(iter(Frame(i + 1, img, s) for i, s in enumerate(stabilized))))
    for f in restored:
        assert sm.border_cut_mad(f.image, img) <= 2.0
    assert ctx.provenance["stabilize"]["frames"] == 3


def test_prepare_undoes_known_shake():
    img = texture()
    h, w = img.shape[:2]
    shake = sm.shake_matrices(4, w, h, seed=5)
    shaken = sm.shake([img] * 4, shake)
    inv = np.array([cv2.invertAffineTransform(m) for m in shake])     # shaken px -> original px
    stabilized, _, _ = run_stage(shaken, inv)
    for s in stabilized:
        assert sm.border_cut_mad(s, img) < 2.5
    assert sm.border_cut_mad(shaken[1], img) > 10


def test_restore_off_keeps_stabilized_and_matte_follows():
    img = texture(96, 128)
    m = sm.shake_matrices(1, 128, 96, seed=1)
    stage = get_stage("stabilize")
    ctx = JobContext(job_id="t", frames_total=1, width=128, height=96, options={"stabilize": {"matrices": m.tolist()}})
    run = stage.open(stage.validate({"restore": False, "border": "black"}), ctx)
    matte = np.zeros((96, 128), np.float32)
    matte[30:60, 40:80] = 1.0
    [f] = list(run.prepare(iter([Frame(1, img, img.copy(), matte=matte)])))
    assert f.meta["stabilize_matrix"] == m[0].tolist()
    moved = cv2.warpAffine(matte, m[0], (128, 96), flags=cv2.INTER_LANCZOS4)
    assert np.abs(f.matte - moved).mean() < 1e-3
    [g] = list(run.finish(iter([f])))
    assert g.image is f.image


def test_missing_or_bad_matrices_are_clear_errors():
    stage = get_stage("stabilize")
    for options, words in [({}, "needs the job option"), ({"stabilize": {"matrices": [[1, 2]]}}, "shape"),
                           ({"stabilize": {"matrices": [[[1, 0, 0], [0, 1, 0]]]}}, "1 matrices for 2 frames")]:
        ctx = JobContext(job_id="t", frames_total=2, width=8, height=8, options=options)
        with pytest.raises(StageError, match=words):
            stage.open(stage.validate({}), ctx)


def test_residual_jitter_sees_shake_and_its_removal():
    img = texture()
    h, w = img.shape[:2]
    n = 16
    still = [img] * n
    shake = sm.shake_matrices(n, w, h, shift_px=4.0, degrees=1.0, seed=3)
    shaken = sm.shake(still, shake)
    inv = np.array([cv2.invertAffineTransform(m) for m in shake])
    restored = sm.shake(shaken, inv)
    j_still, j_shaken, j_fixed = (sm.residual_jitter(c) for c in (still, shaken, restored))
    assert j_still < 0.05
    assert j_shaken > 1.5
    assert j_fixed < 0.2


def test_warp_frames_command_writes_warped_pngs(tmp_path):
    import json
    from kino_backend.commands import warp_frames
    img = texture(64, 80)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        cv2.imwrite(str(src / f"img_{i:03d}.png"), cv2.cvtColor(np.roll(img, i, axis=1), cv2.COLOR_RGB2BGR))
    m = sm.shake_matrices(2, 80, 64, seed=4)
    doc = {"width": 80, "height": 64, "frames": [{"frame": i + 1, "matrix": m[i].tolist()} for i in range(2)]}
    (tmp_path / "t.json").write_text(json.dumps(doc))
    out = tmp_path / "out"
    assert warp_frames.main([str(src), "--transforms", str(tmp_path / "t.json"), "--out", str(out), "--frames", "2:3"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["frame_0001.png", "frame_0002.png", "kino.json"]
    side = json.loads((out / "kino.json").read_text())
    assert side["frames"]["count"] == 2 and side["frames"]["source_first"] == 2
    assert "--frames 2:3" in side["command"] and side["versions"]["kino"]
    assert side["command"].startswith(f"{KINO} warp_frames ") and side["source"]["input"]["files_digest"]
    before = (out / "frame_0001.png").read_bytes()
    with pytest.raises(ValueError, match="selects 3 frames, but .* has 2 matrices"):  # before writing anything
        warp_frames.main([str(src), "--transforms", str(tmp_path / "t.json"), "--out", str(out), "--frames", "1:3"])
    assert (out / "frame_0001.png").read_bytes() == before and (out / "kino.json").exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds files that are not warped frames"):
        warp_frames.main([str(src), "--transforms", str(tmp_path / "t.json"), "--out", str(tmp_path / "busy")])
    got = cv2.cvtColor(cv2.imread(str(out / "frame_0002.png")), cv2.COLOR_BGR2RGB)
    want = cv2.warpAffine(np.roll(img, 2, axis=1), m[1], (80, 64), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT101)
    from kino_backend.stages.stabilize_fill import coverage
    real = coverage(m[1], (80, 64), (80, 64))  # the uncovered border is filled from the other frame
    assert real.mean() > 0.7 and np.abs(got.astype(int) - want)[real].max() <= 1


def test_find_face_on_a_real_talking_head_and_a_clear_error_without_face(tmp_path):
    from kino_backend.commands.find_face import find_face
    path = os.path.join(FOOTAGE, "talking_head.mp4")
    if not os.path.exists(path):
        pytest.skip(f"real footage not found at {path} (../shared/footage); this test needs it")
    found = find_face(path, 1, 2)
    x, y, w, h = found["region"]
    assert 80 < w < 400 and 80 < h < 400 and 0 <= x and x + w <= 512 and 0 <= y and y + h <= 512
    assert x < 256 < x + w and y < 300 < y + h            # the face is in the middle of the frame
    blank = tmp_path / "blank"
    blank.mkdir()
    cv2.imwrite(str(blank / "f_001.png"), texture(96, 96))
    with pytest.raises(LookupError, match="no face found"):
        find_face(str(blank), 1, 1)


def test_expand_canvas_keeps_the_edges_through_the_round_trip():
    img = texture()
    h, w = img.shape[:2]
    band = np.ones((h, w), bool)
    band[10:-10, 10:-10] = False          # the outer 10 px the shake pushes out of the frame
    m = sm.shake_matrices(2, w, h, shift_px=6.0, degrees=1.5, seed=8)
    stage = get_stage("stabilize")
    errs = {}
    for canvas in ("source", "expand"):
        ctx = JobContext(job_id="t", frames_total=2, width=w, height=h, options={"stabilize": {"matrices": m.tolist()}})
        run = stage.open(stage.validate({"canvas": canvas}), ctx)
        out = list(run.finish(run.prepare(iter([Frame(i + 1, img, img.copy()) for i in range(2)]))))
        assert all(f.image.shape == img.shape for f in out)
        errs[canvas] = max(np.abs(f.image.astype(float) - img)[band].mean() for f in out)
        if canvas == "expand":
            l, t, r, b = run.margins
            assert l + r + t + b >= 6 and run.canvas == (w + l + r, h + t + b)
    assert errs["expand"] < 3.0 and errs["source"] > 2 * errs["expand"], errs


def test_expand_without_restore_is_refused():
    stage = get_stage("stabilize")
    ctx = JobContext(job_id="t", frames_total=1, width=8, height=8,
                     options={"stabilize": {"matrices": [[[1, 0, 0], [0, 1, 0]]]}})
    with pytest.raises(StageError, match="canvas=expand needs restore"):
        stage.open(stage.validate({"canvas": "expand", "restore": False}), ctx)
