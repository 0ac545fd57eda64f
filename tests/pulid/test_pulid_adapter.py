"""PulidAdapter's files, face preparation and ID tokens (real code), and PuLID inside diffusers' SDXL
img2img pipeline. Test models: tiny random SDXL pipeline, tiny PuLID/EVA files, tiny face pack."""
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from kino_backend.identity.pulid.adapter import PulidAdapter
from kino_backend.identity.pulid.face_prep import FFHQ_TEMPLATE_512, align_face, face_mask, features_image, tower_input
from kino_backend.stages.base import StageError

from pulid_fixtures import square_face, unet_inputs, unet_out


def _error(weights, encoder):
    with pytest.raises(StageError) as err:
        PulidAdapter(weights, encoder)
    return err.value


def test_missing_pickle_and_wrong_kind_files(pulid_files, tmp_path):
    w, e = pulid_files["pulid-tiny.safetensors"], pulid_files["eva-clip-tiny.safetensors"]
    err = _error(str(tmp_path / "pulid_v1.1.safetensors"), e)
    assert err.code == "MODEL_MISSING" and "pulid_v1.1.safetensors" in err.message and "models folder" in err.message
    err = _error(w, str(tmp_path / "EVA02_CLIP_L_336_psz14_s6B.safetensors"))
    assert err.code == "MODEL_MISSING" and "EVA02_CLIP_L_336_psz14_s6B" in err.message
    pickle = tmp_path / "pulid_v1.bin"
    torch.save({"id_adapter.body.0.weight": torch.zeros(2, 2)}, str(pickle))
    err = _error(str(pickle), e)
    assert err.code == "INVALID_PARAMS" and f"scripts/kino models convert {pickle}" in err.message
    err = _error(e, w)  # swapped
    assert err.code == "INVALID_PARAMS" and "not a PuLID weights file" in err.message
    err = _error(w, w)
    assert err.code == "INVALID_PARAMS" and "not an EVA-CLIP vision tower" in err.message


def test_sd15_and_flux_pulid_files_are_refused(pulid_files, tmp_path):
    e = pulid_files["eva-clip-tiny.safetensors"]
    state = load_file(pulid_files["pulid-tiny.safetensors"])
    sd15 = {k: v for k, v in state.items() if k.startswith("id_adapter.")}
    sd15["id_adapter_attn_layers.1.id_to_k.weight"] = torch.zeros(320, 768)  # SD 1.5 cross-attention width
    sd15["id_adapter_attn_layers.1.id_to_v.weight"] = torch.zeros(320, 768)
    save_file(sd15, str(tmp_path / "pulid_sd15.safetensors"))
    err = _error(str(tmp_path / "pulid_sd15.safetensors"), e)
    assert err.code == "INVALID_PARAMS" and "SDXL only" in err.message
    save_file({"pulid_encoder.latents": torch.zeros(1, 2, 2), "pulid_ca.0.to_q.weight": torch.zeros(2, 2)},
              str(tmp_path / "pulid_flux.safetensors"))
    err = _error(str(tmp_path / "pulid_flux.safetensors"), e)
    assert err.code == "INVALID_PARAMS" and "FLUX" in err.message


def test_face_alignment_mask_and_features(pulid_face_model):
    img = square_face(x=50, y=40, side=64, seed=3)
    face = pulid_face_model.largest_face(img)
    assert face is not None and np.allclose(face.bbox, [50, 40, 114, 104], atol=1.5)
    aligned, matrix = align_face(img, face.kps)
    kps = face.kps @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(kps - FFHQ_TEMPLATE_512).max() < 12.0  # the toy detector's keypoints sit near the template
    mask = face_mask(face.bbox, matrix)
    eyes, mouth = kps[:2].mean(0).astype(int), kps[3:].mean(0).astype(int)
    assert mask[eyes[1], eyes[0]] and mask[mouth[1], mouth[0]] and not mask[5, 5] and not mask[-5, -5]
    assert 0.15 < mask.mean() < 0.6
    feats = features_image(aligned, mask)
    assert feats.shape == (512, 512, 3) and np.all(feats[~mask] == 1.0)  # background whitened
    assert np.array_equal(feats[..., 0], feats[..., 2])  # grayscale
    rgb = aligned[eyes[1], eyes[0]].astype(np.float64) / 255
    assert feats[eyes[1], eyes[0], 0] == pytest.approx(rgb @ [0.299, 0.587, 0.114], abs=1e-6)
    # the tower's input: bicubic resize, then CLIP mean/std (white background -> (1 - mean) / std)
    from kino_backend.identity.pulid.eva_vit import IMAGE_MEAN, IMAGE_STD
    x = tower_input(feats, 32, IMAGE_MEAN, IMAGE_STD)
    assert tuple(x.shape) == (1, 3, 32, 32)
    for c in range(3):
        assert x[0, c, 0, 0].item() == pytest.approx((1 - IMAGE_MEAN[c]) / IMAGE_STD[c], abs=1e-5)


def test_embed_shapes_several_photos_and_no_face(pulid_adapter, pulid_face_model, pulid_pipe, pulid_files):
    a, b = square_face(seed=1), square_face(seed=2, x=90, y=60, side=56)
    uncond, cond = pulid_adapter.embed(pulid_face_model, [a])
    assert tuple(uncond.shape) == tuple(cond.shape) == (1, 32, 96)
    u2, c2 = pulid_adapter.embed(pulid_face_model, [a, np.full((64, 64, 3), 20, np.uint8), b])  # 1 of 3 has none
    assert tuple(c2.shape) == (1, 32, 96) and (c2 - cond).abs().max().item() > 1e-4 and torch.equal(u2, uncond)
    assert torch.equal(pulid_adapter.embed_none(), uncond)  # the "no identity" tokens need no face
    with pytest.raises(StageError) as err:
        pulid_adapter.embed(pulid_face_model, [np.full((64, 64, 3), 20, np.uint8)])
    assert err.value.code == "INVALID_PARAMS" and "no face found" in err.value.message


def test_v1_weights(pulid_pipe, pulid_files, pulid_face_model, tmp_path):
    from kino_backend.identity.pulid.tiny import tiny_pulid_state
    path = tmp_path / "pulid-v1-tiny.safetensors"
    save_file(tiny_pulid_state(pulid_pipe.unet, version="v1"), str(path))
    ad = PulidAdapter(str(path), pulid_files["eva-clip-tiny.safetensors"])
    assert ad.version == "v1"
    uncond, cond = ad.embed(pulid_face_model, [square_face(seed=1)])
    assert tuple(cond.shape) == tuple(uncond.shape) == (1, 10, 96)
    u2, c2 = ad.embed(pulid_face_model, [square_face(seed=1), square_face(seed=2)])  # + 5 ID tokens per photo
    assert tuple(c2.shape) == tuple(u2.shape) == (1, 15, 96) and torch.allclose(c2[:, :10], cond, atol=1e-6)
    unet = pulid_pipe.unet
    inputs = unet_inputs(unet)
    base = unet_out(unet, inputs)
    ad.attach(unet)
    try:
        ad.set_embedding(uncond, cond, scale=1.0, mode="style")
        assert ad._attached[id(unet)][2][0].num_zero == 16  # the reference's v1 "extremely style" setting
        assert (unet_out(unet, inputs) - base).abs().max().item() > 1e-3
    finally:
        ad.detach(unet)
    assert torch.equal(unet_out(unet, inputs), base)


def _img2img(pipe, seed=3, frames=1):
    from PIL import Image
    init = [Image.fromarray(square_face(h=64, w=64, x=16, y=12, side=32, seed=9 + i)) for i in range(frames)]
    return pipe(prompt=["a portrait"] * frames, image=init, strength=0.6, num_inference_steps=4, guidance_scale=5.0,
                generator=[torch.Generator("cpu").manual_seed(seed + i) for i in range(frames)],
                output_type="latent").images


def test_sdxl_img2img_end_to_end(pulid_pipe, pulid_adapter, pulid_face_model):
    """diffusers' StableDiffusionXLImg2ImgPipeline with PuLID attached, CFG on, 2 frames in one batch."""
    from diffusers import StableDiffusionXLImg2ImgPipeline
    assert isinstance(pulid_pipe, StableDiffusionXLImg2ImgPipeline)
    base = _img2img(pulid_pipe, frames=2)
    uncond, cond = pulid_adapter.embed(pulid_face_model, [square_face(seed=1)])
    pulid_adapter.attach(pulid_pipe.unet)
    try:
        pulid_adapter.set_embedding(uncond, cond, scale=0.0, do_cfg=True)
        assert torch.allclose(_img2img(pulid_pipe, frames=2), base, atol=1e-6)
        pulid_adapter.set_embedding(uncond, cond, scale=1.0, mode="fidelity", do_cfg=True)
        with_id = _img2img(pulid_pipe, frames=2)
        assert torch.isfinite(with_id).all() and (with_id - base).abs().max().item() > 1e-3
        assert torch.allclose(_img2img(pulid_pipe, frames=2), with_id, atol=1e-6)  # deterministic
        one = _img2img(pulid_pipe, frames=1)  # frame 0 alone: the same as in the batch of 2
        assert torch.allclose(one[0], with_id[0], atol=1e-4)
    finally:
        pulid_adapter.clear()
        pulid_adapter.detach(pulid_pipe.unet)
    assert torch.allclose(_img2img(pulid_pipe, frames=2), base, atol=1e-6)
