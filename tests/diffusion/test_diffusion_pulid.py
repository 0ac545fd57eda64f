"""PuLID in the diffusion look (SDXL). Real: the stage, Kino's loader, the SDXL img2img pipeline, Kino's
PuLID code (EVA tower, ID encoder, attention processors), insightface's FaceAnalysis code path. Test
models: the tiny SDXL checkpoint, random tiny PuLID v1.1 weights and EVA tower (``make_tiny``), and the
tiny face pack ``face-tiny`` (its detector takes a bright square for a face)."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from kino_backend.stages.base import ParamError, StageError

from diffusion_support import face_frame as frame, mean_abs_diff as diff, write_face_refs


@pytest.fixture
def setup(tiny, make_ctx, tmp_path):
    models = os.path.dirname(tiny["sd15-tiny"])
    refs = write_face_refs(tmp_path)
    plain = {"model": tiny["sdxl-tiny.safetensors"], "strength": 0.7}
    base = {**plain, "pulid": "pulid-tiny.safetensors", "pulid_encoder": "eva-clip-tiny.safetensors",
            "face_pack": "face-tiny", "pulid_scale": 1.0}

    def ctx():
        return make_ctx(options={"models_dir": models}, width=128, height=128)
    return plain, base, refs, ctx


def test_make_tiny_writes_pulid_files_the_registry_knows(tiny):
    from kino_backend.models.classify import classify
    assert classify(tiny["pulid-tiny.safetensors"])["kind"] == "pulid"
    assert classify(tiny["pulid-tiny.safetensors"])["arch"] == "sdxl"
    assert classify(tiny["eva-clip-tiny.safetensors"])["kind"] == "eva_clip"


def test_the_actors_face_steers_sdxl_and_the_unet_is_given_back(open_stage, setup):
    plain, base, refs, ctx = setup
    f = frame(1)
    before = open_stage(plain, ctx()).stylize(f)
    run = open_stage({**base, "face_reference": str(refs[1])}, ctx())
    a = run.stylize(f)
    a2 = open_stage({**base, "face_reference": str(refs[1])}, ctx()).stylize(f)
    b = open_stage({**base, "face_reference": str(refs[2])}, ctx()).stylize(f)
    style = open_stage({**base, "face_reference": str(refs[1]), "pulid_mode": "style"}, ctx()).stylize(f)
    zero = open_stage({**base, "face_reference": str(refs[1]), "pulid_scale": 0.0}, ctx()).stylize(f)
    assert np.array_equal(a, a2)
    assert diff(a, before) > 0.5 and diff(a, b) > 0.2 and diff(a, style) > 0.05
    assert diff(zero, before) < 0.05
    prov = run.ctx.provenance["diffusion"]["pulid"]
    assert prov["weights"].endswith("pulid-tiny.safetensors") and prov["version"] == "v1.1"
    assert prov["pack"].endswith("face-tiny") and prov["mode"] == "fidelity"
    # once the PuLID jobs are closed, the warm UNet is plain SDXL again
    run.close()
    after = open_stage(plain, ctx()).stylize(f)
    assert np.array_equal(after, before)


def test_face_reference_frame_follows_the_face(open_stage, setup):
    plain, base, refs, ctx = setup
    plain_out = open_stage(plain, ctx()).stylize(frame(2))  # (jobs run one after the other on the warm UNet)
    run = open_stage({**base, "face_reference": "frame"}, ctx())
    outs = [run.stylize(frame(1, face=False)), run.stylize(frame(2)), run.stylize(frame(3, face=False))]
    assert run.ctx.provenance["diffusion"]["pulid"]["frames_without_face"] == [1, 3]
    assert diff(outs[1], plain_out) > 0.5
    # frame 3 has no face: it keeps frame 2's identity, i.e. what a fixed reference of frame 2 gives
    cv2.imwrite(str(refs[1].parent / "f2.png"), frame(2).image[:, :, ::-1])
    kept = open_stage({**base, "face_reference": str(refs[1].parent / "f2.png")}, ctx()).stylize(frame(3, face=False))
    assert np.array_equal(outs[2], kept)
    # a batch of frames with different faces: one row of ID tokens per frame, as if run one by one
    batched = open_stage({**base, "face_reference": "frame", "batch": 2}, ctx())
    both = batched.stylize_batch([frame(2), frame(4)])
    single = open_stage({**base, "face_reference": "frame"}, ctx())
    assert diff(both[0], single.stylize(frame(2))) < 0.5 and diff(both[1], single.stylize(frame(4))) < 0.5
    assert diff(both[0], both[1]) > 0.5


def test_parameters_and_files_are_checked(open_stage, setup, tiny, tmp_path, make_ctx):
    plain, base, refs, ctx = setup
    ref = {"face_reference": str(refs[1])}
    with pytest.raises(ParamError, match="one of them"):
        open_stage({**base, **ref, "faceid": "ip-adapter-faceid-tiny.safetensors"}, ctx())
    with pytest.raises(ParamError, match="IP-Adapter"):
        open_stage({**base, **ref, "ip_adapter": tiny["ip-adapter-tiny"], "reference": "frame"}, ctx())
    # without pulid_encoder the EVA tower is found next to the weights (make_tiny's eva-clip-tiny) ...
    found = open_stage({**base, **ref, "pulid_encoder": None}, ctx())
    assert found.ctx.provenance["diffusion"]["pulid"]["encoder"].endswith("eva-clip-tiny.safetensors")
    found.close()
    # ... and its absence is a clear error naming where Kino looked
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "pulid-tiny.safetensors").write_bytes(open(tiny["pulid-tiny.safetensors"], "rb").read())
    with pytest.raises(StageError, match="EVA02") as err:
        open_stage({**base, **ref, "pulid": str(lonely / "pulid-tiny.safetensors"), "pulid_encoder": None},
                   make_ctx(options={}, width=128, height=128))
    assert err.value.code == "MODEL_MISSING" and str(lonely) in err.value.message
    with pytest.raises(ParamError, match="face_reference"):
        open_stage(base, ctx())
    with pytest.raises(StageError, match="SDXL") as err:
        open_stage({**base, **ref, "model": tiny["sd15-tiny.safetensors"]}, ctx())
    assert err.value.code == "INVALID_PARAMS"
    pickle_file = tmp_path / "pulid_v1.bin"
    pickle_file.write_bytes(b"x")
    with pytest.raises(StageError, match="models convert"):
        open_stage({**base, **ref, "pulid": str(pickle_file)}, ctx())
    with pytest.raises(StageError) as err:
        open_stage({**base, **ref, "pulid": "pulid_v1.1.safetensors"}, ctx())
    assert err.value.code == "MODEL_MISSING" and "pulid_v1.1.safetensors" in err.value.message
    with pytest.raises(StageError, match="antelopev2") as err:
        open_stage({**base, **ref, "face_pack": None}, ctx())
    assert err.value.code == "MODEL_MISSING"
