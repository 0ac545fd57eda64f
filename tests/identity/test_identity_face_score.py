"""The ``face_score`` finish stage inside the real workflow runner with real looks (``none``, ``toon``)
and insightface's own code path (real), using the tiny face pack (a test model: a bright square is
the "face")."""
import cv2
import numpy as np
import pytest

from kino_backend.stages.base import Frame, JobContext, StageError
from kino_backend.workflow import Pipeline, validate_workflow

from kino_identity_support import square_image


def clip(n=3):
    """A small clip: the textured "face" square drifting right by 6 px a frame."""
    return [square_image(boxes=((30 + 6 * i, 40, 64),), texture_seed=5) for i in range(n)]


def run(stages, look, frames, options):
    w = validate_workflow({"version": 1, "look": look, "stages": stages})
    h, wd = frames[0].shape[:2]
    ctx = JobContext(job_id="j", frames_total=len(frames), width=wd, height=h, options=options)
    src = (Frame(i + 1, f, f.copy()) for i, f in enumerate(frames))
    with Pipeline(w, ctx) as pipe:
        out = list(pipe.run(src))
    return out, ctx.provenance["face_score"]


def score_stage(**params):
    return {"name": "face_score", "params": dict({"pack": "face-tiny", "det_size": 256}, **params)}


def test_passthrough_look_keeps_identity_exactly(face_pack):
    _dir, root = face_pack
    frames = clip()
    out, prov = run([score_stage(), {"name": "none"}], "none", frames, {"models_dir": root})
    assert [f.index for f in out] == [1, 2, 3]
    assert all(np.array_equal(o.image, f) for o, f in zip(out, frames))  # frames pass through unchanged
    sims = [p["similarity"] for p in prov["per_frame"]]
    assert sims == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    assert prov["mean"] == pytest.approx(1.0, abs=1e-5) and prov["frames_scored"] == 3
    assert [o.meta["face_score"] for o in out] == sims
    assert prov["files"] == ["det_tiny.onnx", "w600k_tiny.onnx"]


def test_toon_frames_score_between_unrelated_and_identical(face_pack, tmp_path):
    """A look that changes the face lowers the score; the numbers are checked against a direct
    computation, not just their range."""
    _dir, root = face_pack
    frames = clip(2)
    # "stylized" here = the classic toon look (a real Kino look)
    out, prov = run([score_stage(), {"name": "toon"}], "toon", frames, {"models_dir": root})
    from kino_backend.identity.faces import cosine, load_face_model
    model = load_face_model(_dir, det_size=256)
    for o, f, p in zip(out, frames, prov["per_frame"]):
        emb_out = model.embedding(o.image)
        if emb_out is None:
            assert p["similarity"] is None
        else:
            assert p["similarity"] == pytest.approx(cosine(model.embedding(f), emb_out), abs=1e-5)
    unrelated = model.embedding(square_image(boxes=((30, 40, 64),), texture_seed=9))
    scored = [p["similarity"] for p in prov["per_frame"] if p["similarity"] is not None]
    assert scored, "the toon look should keep the bright square detectable"
    assert max(scored) <= 1.0 + 1e-6
    assert min(scored) > cosine(model.embedding(frames[0]), unrelated)


def test_reference_photo_and_frames_without_face(face_pack, tmp_path):
    _dir, root = face_pack
    ref = tmp_path / "actor.png"
    face = square_image(boxes=((20, 20, 64),), texture_seed=5)
    cv2.imwrite(str(ref), face[..., ::-1])
    frames = clip(2) + [np.full((160, 192, 3), 30, np.uint8)]  # last frame: no face
    out, prov = run([score_stage(reference=str(ref)), {"name": "none"}], "none", frames, {"models_dir": root})
    sims = [p["similarity"] for p in prov["per_frame"]]
    # same "face" as the reference at another place: alignment resamples it, so close to 1, not exact
    assert sims[0] == pytest.approx(1.0, abs=0.01) and sims[1] == pytest.approx(1.0, abs=0.01)
    assert sims[2] is None
    assert prov["frames_without_face"] == 1 and prov["frames_scored"] == 2
    assert prov["reference"] == str(ref)


def test_missing_pack_fails_at_open_with_model_missing(tmp_path):
    with pytest.raises(StageError) as err:
        run([{"name": "face_score", "params": {"pack": "buffalo_l"}}, {"name": "none"}], "none", clip(1),
            {"models_dir": str(tmp_path)})
    assert err.value.code == "MODEL_MISSING"
    assert "insightface/models/buffalo_l" in err.value.message


def test_det_size_must_be_multiple_of_32():
    from kino_backend.stages import get_stage
    from kino_backend.stages.base import ParamError
    with pytest.raises(ParamError):
        get_stage("face_score").validate({"det_size": 300})
