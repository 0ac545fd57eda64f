"""Other single-file layouts users download: LDM ControlNets (with and without ``control_model.``) and
LDM VAEs (sd-vae-ft-mse style) load through the loader and equal their diffusers originals."""
import pytest
import torch

from kino_models_support import latents
from kino_backend.models.classify import classify
from kino_backend.models.ldm_convert import controlnet_to_ldm
from kino_backend.models.loader import load_img2img_pipeline


@pytest.fixture(scope="module")
def ldm_files(tiny_dir, tmp_path_factory):
    from diffusers import ControlNetModel
    from safetensors.torch import load_file, save_file
    out = tmp_path_factory.mktemp("ldm-files")
    cn = ControlNetModel.from_pretrained(str(tiny_dir / "controlnet-tiny"))
    save_file(controlnet_to_ldm(cn.state_dict(), dict(cn.config)), str(out / "control_sd15_canny.safetensors"))
    save_file(controlnet_to_ldm(cn.state_dict(), dict(cn.config), prefix=""), str(out / "control_v11f1e_sd15_tile.safetensors"))
    ckpt = load_file(str(tiny_dir / "sd15-tiny.safetensors"))
    vae = {k[len("first_stage_model."):]: v for k, v in ckpt.items() if k.startswith("first_stage_model.")}
    save_file(vae, str(out / "vae-ft-tiny.safetensors"))
    return out


def test_ldm_controlnets_equal_the_folder(tiny_dir, ldm_files, init_image, ref_image):
    cache = {}
    model = str(tiny_dir / "sd15-tiny.safetensors")
    ref = latents(load_img2img_pipeline(model, cache=cache, controlnets=[(str(tiny_dir / "controlnet-tiny"), "canny")]),
                  init_image, control_image=ref_image)
    for name, ctype in (("control_sd15_canny.safetensors", "canny"), ("control_v11f1e_sd15_tile.safetensors", "tile")):
        info = classify(str(ldm_files / name))
        assert (info["kind"], info["arch"], info["control_type"]) == ("controlnet", "sd15", ctype)
        got = latents(load_img2img_pipeline(model, cache=cache, controlnets=[(str(ldm_files / name), ctype)]),
                      init_image, control_image=ref_image)
        assert torch.allclose(got, ref, atol=1e-4), (name, float((got - ref).abs().max()))


def test_ldm_vae_file(tiny_dir, ldm_files, init_image):
    assert classify(str(ldm_files / "vae-ft-tiny.safetensors"))["kind"] == "vae"
    model = str(tiny_dir / "sd15-tiny.safetensors")
    base = latents(load_img2img_pipeline(model), init_image)
    loaded = load_img2img_pipeline(model, vae=str(ldm_files / "vae-ft-tiny.safetensors"))
    assert loaded.description["vae"]["files"][0]["file"] == "vae-ft-tiny.safetensors"
    assert torch.allclose(latents(loaded, init_image), base, atol=1e-4)


def test_diffusers_style_lora_equals_kohya(tiny_dir, tmp_path, init_image):
    """The same LoRA in diffusers/peft key style (``unet.*.lora_A``) loads like the kohya file."""
    from safetensors.torch import load_file, save_file
    cache = {}
    model = str(tiny_dir / "sd15-tiny")
    base = load_img2img_pipeline(model, cache=cache)
    names = {"lora_unet_" + n.replace(".", "_"): "unet." + n for n, _ in base.pipe.unet.named_modules()}
    names.update({"lora_te_text_model_" + n.replace(".", "_"): "text_encoder.text_model." + n
                  for n, _ in base.pipe.text_encoder.named_modules()})
    converted = {}
    for key, value in load_file(str(tiny_dir / "lora-tiny.safetensors")).items():
        stem, _, rest = key.partition(".")
        if rest != "alpha":  # alpha == rank in the tiny LoRA: scale 1 either way
            converted[names[stem] + (".lora_A.weight" if rest == "lora_down.weight" else ".lora_B.weight")] = value
    path = tmp_path / "style_lora.safetensors"
    save_file(converted, str(path))
    assert classify(str(path)) == {"kind": "lora", "arch": "sd15", "format": "diffusers"}
    kohya = latents(load_img2img_pipeline(model, cache=cache, loras=[(str(tiny_dir / "lora-tiny.safetensors"), 1.0)]), init_image)
    diff = latents(load_img2img_pipeline(model, cache=cache, loras=[(str(path), 1.0)]), init_image)
    plain = latents(load_img2img_pipeline(model, cache=cache), init_image)
    assert float((kohya - plain).abs().max()) > 0.1
    assert torch.allclose(kohya, diff, atol=1e-4)
    both = latents(load_img2img_pipeline(model, cache=cache, loras=[(str(path), 0.5), (str(tiny_dir / "lora-tiny.safetensors"), 0.5)]), init_image)
    assert torch.allclose(both, kohya, atol=1e-3)  # two halves of the same LoRA = the whole one


def test_fp16_variant_only_folder(tiny_dir, tmp_path, init_image):
    """Some Hugging Face repos ship only ``*.fp16.safetensors``: the folder still loads, same model."""
    import os
    import shutil
    folder = tmp_path / "variant-only"
    shutil.copytree(tiny_dir / "sd15-tiny", folder)
    for sub, name in (("unet", "diffusion_pytorch_model"), ("vae", "diffusion_pytorch_model"), ("text_encoder", "model")):
        os.rename(folder / sub / f"{name}.safetensors", folder / sub / f"{name}.fp16.safetensors")
    a = latents(load_img2img_pipeline(str(folder)), init_image)
    b = latents(load_img2img_pipeline(str(tiny_dir / "sd15-tiny")), init_image)
    assert torch.allclose(a, b, atol=1e-4)
