"""FaceID in the diffusion look. Real: the stage, Kino's loader, diffusers' IP-Adapter loader and
pipeline, insightface's FaceAnalysis code path. Test models: the tiny SD 1.5 checkpoint, the random
tiny FaceID weights (``ip-adapter-faceid-tiny.safetensors`` from ``make_tiny``) and the tiny face pack
``face-tiny`` (its detector takes a bright square for a face)."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from kino_backend.stages.base import ParamError, StageError

from diffusion_support import face_frame as frame, face_image, mean_abs_diff as diff, write_face_refs


@pytest.fixture
def face_setup(tiny, make_ctx, tmp_path):
    models = os.path.dirname(tiny["sd15-tiny"])
    refs = write_face_refs(tmp_path)
    base = {"model": tiny["sd15-tiny.safetensors"], "faceid": "ip-adapter-faceid-tiny.safetensors",
            "face_pack": "face-tiny", "faceid_scale": 1.0, "strength": 0.7}

    def ctx():
        return make_ctx(options={"models_dir": models}, width=128, height=128)
    return base, refs, ctx


def test_make_tiny_writes_faceid_weights(tiny):
    from kino_backend.models.classify import classify
    info = classify(tiny["ip-adapter-faceid-tiny.safetensors"])
    assert info["kind"] == "ip_adapter" and info["arch"] == "sd15"


def test_face_reference_steers_the_output_and_the_seed_fixes_it(open_stage, tiny, face_setup):
    base, refs, ctx = face_setup
    f = frame(1)
    plain = open_stage({"model": tiny["sd15-tiny.safetensors"], "strength": 0.7}, ctx()).stylize(f)
    run_a = open_stage({**base, "face_reference": str(refs[1])}, ctx())
    a = run_a.stylize(f)
    a2 = open_stage({**base, "face_reference": str(refs[1])}, ctx()).stylize(f)
    b = open_stage({**base, "face_reference": str(refs[2])}, ctx()).stylize(f)
    zero = open_stage({**base, "face_reference": str(refs[1]), "faceid_scale": 0.0}, ctx()).stylize(f)
    assert np.array_equal(a, a2)  # same seed, same face: same frame
    assert diff(a, plain) > 0.5  # the face changes the output
    assert diff(a, b) > 0.2  # another face, another output
    assert diff(zero, plain) < 0.05  # scale 0 = no FaceID
    prov = run_a.ctx.provenance["diffusion"]
    assert prov["faceid"]["weights"].endswith("ip-adapter-faceid-tiny.safetensors")
    assert prov["faceid"]["pack"].endswith("face-tiny") and prov["faceid"]["pack_files"]
    assert prov["files"]["faceid"]["files"][0]["sha256_header"] and prov["files"]["ip_adapter"] is None
    # the warm pipeline drops FaceID again when the next job does not ask for it
    again = open_stage({"model": tiny["sd15-tiny.safetensors"], "strength": 0.7}, ctx()).stylize(f)
    assert np.array_equal(again, plain)
    # ... and a plain IP-Adapter after FaceID on the same warm pipeline gets its own image processor
    run_a = open_stage({**base, "face_reference": str(refs[1])}, ctx())
    ipa = open_stage({"model": tiny["sd15-tiny.safetensors"], "ip_adapter": tiny["ip-adapter-tiny"],
                      "reference": "frame", "strength": 0.7}, ctx()).stylize(f)
    assert ipa.shape == f.image.shape and diff(ipa, plain) > 0.5


def test_face_reference_frame_uses_each_frames_face_and_the_last_good_one(open_stage, tiny, face_setup, tmp_path):
    base, _refs, ctx = face_setup
    run = open_stage({**base, "face_reference": "frame"}, ctx())
    no_face = frame(1, face=False)
    out = [run.stylize(no_face), run.stylize(frame(2)), run.stylize(frame(3, face=False))]
    assert run.ctx.provenance["diffusion"]["faceid"]["frames_without_face"] == [1, 3]
    # frame 3 has no face: it keeps frame 2's face, i.e. it is what a fixed reference of frame 2 gives
    ref2 = tmp_path / "frame2.png"
    cv2.imwrite(str(ref2), frame(2).image[:, :, ::-1])
    kept = open_stage({**base, "face_reference": str(ref2)}, ctx()).stylize(frame(3, face=False))
    # (opened one after the other: the runs share the warm pipeline, as jobs do)
    plain = open_stage({"model": tiny["sd15-tiny.safetensors"], "strength": 0.7}, ctx())
    assert diff(out[0], plain.stylize(no_face)) < 0.05  # no face yet: FaceID off for that frame
    assert np.array_equal(out[2], kept)
    assert diff(out[2], plain.stylize(frame(3, face=False))) > 0.5


def test_missing_pack_weights_and_parameters_are_clear(open_stage, tiny, face_setup, tmp_path):
    base, refs, ctx = face_setup
    with pytest.raises(StageError) as err:
        open_stage({**base, "face_reference": str(refs[1]), "face_pack": "buffalo_l"}, ctx())
    assert err.value.code == "MODEL_MISSING" and "buffalo_l" in err.value.message
    assert "insightface/models/buffalo_l" in err.value.message
    with pytest.raises(StageError) as err:
        open_stage({**base, "face_reference": str(refs[1]), "faceid": "ip-adapter-faceid_sd15.safetensors"}, ctx())
    assert err.value.code == "MODEL_MISSING" and "ip-adapter-faceid_sd15.safetensors" in err.value.message
    with pytest.raises(ParamError, match="face_reference"):
        open_stage(base, ctx())
    with pytest.raises(StageError, match="no face found"):
        blank = tmp_path / "blank.png"
        cv2.imwrite(str(blank), face_image(0, face=False))
        open_stage({**base, "face_reference": str(blank)}, ctx())


def test_wrong_faceid_files_are_clear(open_stage, tiny, face_setup, tmp_path):
    """A pickle .bin is not read (convert it); FaceID Plus without its image encoder and an image
    IP-Adapter given as FaceID are clear errors."""
    import torch
    from safetensors.torch import save_file
    base, refs, ctx = face_setup
    binary = tmp_path / "ip-adapter-faceid_sd15.bin"
    binary.write_bytes(b"\x80\x02}q\x00.")  # a pickle: never read while stylizing
    with pytest.raises(StageError, match="scripts/kino models convert") as err:
        open_stage({**base, "face_reference": str(refs[1]), "faceid": str(binary)}, ctx())
    assert err.value.code == "INVALID_PARAMS"
    page = tmp_path / "ip-adapter-faceid_sd15-page.bin"
    page.write_bytes(b"<html>Not Found</html>")  # a download that saved an error page
    with pytest.raises(StageError, match="is text .*download it again"):
        open_stage({**base, "face_reference": str(refs[1]), "faceid": str(page)}, ctx())
    plus = tmp_path / "ip-adapter-faceid-plusv2_sd15.safetensors"
    save_file({"image_proj.perceiver_resampler.proj_in.weight": torch.zeros(4, 4),
               "ip_adapter.1.to_k_ip.weight": torch.zeros(4, 4)}, str(plus))
    with pytest.raises(StageError, match="image encoder") as err:  # FaceID Plus needs its CLIP encoder beside it
        open_stage({**base, "face_reference": str(refs[1]), "faceid": str(plus)}, ctx())
    assert err.value.code == "MODEL_MISSING" and "image_encoder" in err.value.message
    with pytest.raises(StageError, match="not IP-Adapter FaceID") as err:  # an image IP-Adapter given as faceid
        open_stage({**base, "face_reference": str(refs[1]), "faceid": tiny["ip-adapter-tiny"]}, ctx())


def test_faceid_combines_with_a_plain_ip_adapter_reference(open_stage, tiny, face_setup):
    """FaceID (the face) and an IP-Adapter reference image (the look, e.g. a character sheet) together:
    one diffusers multi-adapter; each scale acts on its own adapter only."""
    base, refs, ctx = face_setup
    f = frame(1)
    ipa = {"model": tiny["sd15-tiny.safetensors"], "ip_adapter": tiny["ip-adapter-tiny"],
           "reference": str(refs[2]), "ip_scale": 1.0, "strength": 0.7}
    only_ip = open_stage(ipa, ctx()).stylize(f)
    only_face = open_stage({**base, "face_reference": str(refs[1])}, ctx()).stylize(f)
    run = open_stage({**ipa, **base, "face_reference": str(refs[1])}, ctx())
    both = run.stylize(f)
    assert diff(both, only_ip) > 0.5 and diff(both, only_face) > 0.5
    assert run.ctx.provenance["diffusion"]["files"]["ip_adapter"]["weights"]["files"]
    assert run.ctx.provenance["diffusion"]["files"]["faceid"]["files"]
    # a scale of 0 switches one adapter off and leaves the other exactly as it was alone
    no_face = open_stage({**ipa, **base, "face_reference": str(refs[1]), "faceid_scale": 0.0}, ctx()).stylize(f)
    no_ip = open_stage({**ipa, **base, "face_reference": str(refs[1]), "ip_scale": 0.0}, ctx()).stylize(f)
    assert diff(no_face, only_ip) < 0.05 and diff(no_ip, only_face) < 0.05
    # per-frame faces with a fixed reference image
    per_frame = open_stage({**ipa, **base, "face_reference": "frame"}, ctx())
    out = per_frame.stylize(frame(2))
    assert out.shape == f.image.shape and diff(out, only_ip) > 0.5


def test_a_converted_pickle_faceid_file_gives_the_same_frames(open_stage, tiny, face_setup, tmp_path):
    """Released FaceID weights are a pickle ``.bin`` of nested dicts; ``models convert`` turns them into the
    safetensors layout diffusers reads. Real: torch.save/torch.load(weights_only=True), the converter,
    the loader. Test model: the tiny FaceID weights re-saved as a nested-dict .bin."""
    import torch
    from safetensors.torch import load_file

    from kino_backend.models.convert import convert
    base, refs, ctx = face_setup
    flat = load_file(tiny["ip-adapter-faceid-tiny.safetensors"])
    nested = {"image_proj": {k[len("image_proj."):]: v for k, v in flat.items() if k.startswith("image_proj.")},
              "ip_adapter": {k[len("ip_adapter."):]: v for k, v in flat.items() if k.startswith("ip_adapter.")}}
    binary = tmp_path / "ip-adapter-faceid_sd15.bin"
    torch.save(nested, binary)
    done = convert(str(binary))
    assert done["output"].endswith("ip-adapter-faceid_sd15.safetensors") and done["tensors"] == len(flat)
    converted = load_file(done["output"])
    assert set(converted) == set(flat) and all(torch.equal(converted[k], flat[k]) for k in flat)
    f = frame(1)
    a = open_stage({**base, "face_reference": str(refs[1])}, ctx()).stylize(f)
    b = open_stage({**base, "face_reference": str(refs[1]), "faceid": done["output"]}, ctx()).stylize(f)
    assert np.array_equal(a, b)


def test_faceid_plus_v2_uses_the_face_crop_and_its_embedding(open_stage, tiny, face_setup):
    """FaceID Plus v2: the face embedding and the CLIP features of the aligned face crop (insightface's
    ``norm_crop`` on the detector's 5 landmarks). Real: diffusers' FaceID Plus loader and projection,
    Kino's encoder/crop path. Test models: tiny SD 1.5, tiny CLIP image encoder, random Plus v2 weights
    (``make_tiny``), the tiny face pack."""
    base, refs, ctx = face_setup
    f = frame(1)
    plus = {**base, "faceid": tiny["ip-adapter-faceid-plusv2-tiny"]}
    plain = open_stage({"model": tiny["sd15-tiny.safetensors"], "strength": 0.7}, ctx()).stylize(f)
    run = open_stage({**plus, "face_reference": str(refs[1])}, ctx())
    a = run.stylize(f)
    b = open_stage({**plus, "face_reference": str(refs[2])}, ctx()).stylize(f)
    zero = open_stage({**plus, "face_reference": str(refs[1]), "faceid_scale": 0.0}, ctx()).stylize(f)
    assert diff(a, plain) > 0.5 and diff(a, b) > 0.2 and diff(zero, plain) < 0.05
    desc = run.ctx.provenance["diffusion"]["files"]["faceid"]
    assert desc["variant"] == "faceid_plus" and desc["plus_v2"] is True and desc["image_encoder"]["files"]
    assert run.ctx.provenance["diffusion"]["faceid"]["plus"] is True
    layer = run.engine.pipe.unet.encoder_hid_proj.image_projection_layers[0]
    assert layer.shortcut is True and tuple(layer.clip_embeds.shape[:2]) == (2, 1)  # CFG: black image, face
    # a batch of frames: each frame gets the same face features (one copy per frame and CFG half)
    run2 = open_stage({**plus, "face_reference": str(refs[1]), "batch": 2}, ctx())
    outs = run2.engine.run([f.image, f.image], size=(128, 128), frame=1)
    assert run2.engine.pipe.unet.encoder_hid_proj.image_projection_layers[0].clip_embeds.shape[0] == 4
    assert diff(outs[0], outs[1]) < 0.05
    # per-frame faces, and with an image IP-Adapter reference as well (one CLIP encoder for both)
    per_frame = open_stage({**plus, "face_reference": "frame", "ip_adapter": tiny["ip-adapter-tiny"],
                            "reference": str(refs[2])}, ctx())
    out = per_frame.stylize(frame(2))
    assert out.shape == f.image.shape and diff(out, plain) > 0.5


def test_faceid_steers_an_sdxl_checkpoint_through_the_stage(open_stage, tiny, face_setup, tmp_path):
    """FaceID on SDXL: the same stage path with the tiny SDXL single file and random FaceID weights made
    for its UNet (test models; the architecture is read from the file name, as for real SDXL files)."""
    from safetensors.torch import save_file

    from kino_backend.models.tiny_adapters import tiny_faceid_state
    from kino_backend.models.tiny import sdxl_pipeline
    base, refs, ctx = face_setup
    path = tmp_path / "ip-adapter-faceid_sdxl-tiny.safetensors"
    save_file(tiny_faceid_state(sdxl_pipeline().unet), str(path))
    xl = {**base, "model": tiny["sdxl-tiny.safetensors"], "faceid": str(path)}
    f = frame(1)
    plain = open_stage({"model": tiny["sdxl-tiny.safetensors"], "strength": 0.7}, ctx()).stylize(f)
    run = open_stage({**xl, "face_reference": str(refs[1])}, ctx())
    a = run.stylize(f)
    b = open_stage({**xl, "face_reference": str(refs[2])}, ctx()).stylize(f)
    assert run.ctx.provenance["diffusion"]["arch"] == "sdxl"
    assert diff(a, plain) > 0.5 and diff(a, b) > 0.2
    with pytest.raises(StageError, match="for sdxl"):  # an SDXL FaceID file on an SD 1.5 checkpoint
        open_stage({**xl, "model": tiny["sd15-tiny.safetensors"], "face_reference": str(refs[1])}, ctx())
