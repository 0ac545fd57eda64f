"""load_img2img_pipeline: the single file and the folder are the same model, adapters change the output."""
import pytest
import torch

from kino_models_support import latents
from kino_backend.models.loader import load_img2img_pipeline
from kino_backend.stages.base import StageError


@pytest.fixture(scope="module")
def cache():
    return {}


def test_single_file_equals_folder(tiny_dir, init_image, cache):
    single = load_img2img_pipeline(str(tiny_dir / "sd15-tiny.safetensors"), cache=cache)
    folder = load_img2img_pipeline(str(tiny_dir / "sd15-tiny"), cache=cache)
    assert single.arch == folder.arch == "sd15"
    assert single.description["format"] == "single_file" and folder.description["format"] == "diffusers"
    a, b = latents(single, init_image), latents(folder, init_image)
    assert a.shape == (1, 4, 8, 8)
    assert float(a.abs().mean()) > 0.05
    assert torch.allclose(a, b, atol=1e-4), float((a - b).abs().max())
    # a different seed gives different latents (the comparison above can fail)
    assert float((latents(single, init_image, seed=2) - a).abs().max()) > 1e-2


def test_cache_keeps_base_warm(tiny_dir, cache):
    one = load_img2img_pipeline(str(tiny_dir / "sd15-tiny.safetensors"), cache=cache)
    two = load_img2img_pipeline(str(tiny_dir / "sd15-tiny.safetensors"), cache=cache, scheduler="euler")
    assert one.pipe is two.pipe
    assert type(two.pipe.scheduler).__name__ == "EulerDiscreteScheduler"
    d = one.description
    assert d["model"]["files"][0]["sha256_header"] and d["model"]["size"] > 1_000_000
    assert d["dtype"] == "fp32" and d["device"] == "cpu"


def test_lora_changes_output_and_weight_zero_is_base(tiny_dir, init_image, cache):
    model, lora = str(tiny_dir / "sd15-tiny.safetensors"), str(tiny_dir / "lora-tiny.safetensors")
    base = latents(load_img2img_pipeline(model, cache=cache), init_image)
    with_lora = load_img2img_pipeline(model, cache=cache, loras=[(lora, 1.0)])
    assert with_lora.description["loras"][0]["weight"] == 1.0
    full = latents(with_lora, init_image)
    half = latents(load_img2img_pipeline(model, cache=cache, loras=[(lora, 0.5)]), init_image)
    zero = latents(load_img2img_pipeline(model, cache=cache, loras=[(lora, 0.0)]), init_image)
    assert float((full - base).abs().max()) > 0.1
    assert float((half - base).abs().max()) > 0.01 and not torch.allclose(half, full, atol=1e-3)
    assert torch.allclose(zero, base, atol=1e-4)
    again = latents(load_img2img_pipeline(model, cache=cache), init_image)  # LoRA off again, same base
    assert torch.allclose(again, base, atol=1e-4)


def test_controlnet_pipeline(tiny_dir, init_image, ref_image, cache):
    loaded = load_img2img_pipeline(str(tiny_dir / "sd15-tiny.safetensors"), cache=cache,
                                   controlnets=[(str(tiny_dir / "controlnet-tiny"), "canny")])
    assert type(loaded.pipe).__name__ == "StableDiffusionControlNetImg2ImgPipeline"
    assert loaded.controlnet_types == ["canny"]
    on = latents(loaded, init_image, control_image=ref_image, controlnet_conditioning_scale=1.0)
    off = latents(loaded, init_image, control_image=ref_image, controlnet_conditioning_scale=0.0)
    other = latents(loaded, init_image, control_image=init_image, controlnet_conditioning_scale=1.0)
    assert float((on - off).abs().max()) > 0.05
    assert float((on - other).abs().max()) > 0.01  # the control image itself matters
    multi = load_img2img_pipeline(str(tiny_dir / "sd15-tiny.safetensors"), cache=cache,
                                  controlnets=[(str(tiny_dir / "controlnet-tiny"), "canny"),
                                               (str(tiny_dir / "controlnet-tiny"), "tile")])
    assert type(multi.pipe.controlnet).__name__ == "MultiControlNetModel"
    assert multi.pipe.unet is loaded.pipe.unet  # ControlNet variants share the warm base


def test_ip_adapter_image_changes_output(tiny_dir, init_image, ref_image, cache):
    model = str(tiny_dir / "sd15-tiny.safetensors")
    base = latents(load_img2img_pipeline(model, cache=cache), init_image)
    loaded = load_img2img_pipeline(model, cache=cache, ip_adapter=str(tiny_dir / "ip-adapter-tiny"))
    assert loaded.has_ip_adapter and loaded.description["ip_adapter"]["image_encoder"]["size"] > 0
    with_ref = latents(loaded, init_image, ip_adapter_image=ref_image)
    with_other = latents(loaded, init_image, ip_adapter_image=init_image)
    assert float((with_ref - base).abs().max()) > 0.05
    assert float((with_ref - with_other).abs().max()) > 0.01
    loaded.pipe.set_ip_adapter_scale(0.0)
    assert torch.allclose(latents(loaded, init_image, ip_adapter_image=ref_image), base, atol=1e-4)
    plain = load_img2img_pipeline(model, cache=cache)  # unloaded again: the base is back
    assert not plain.has_ip_adapter
    assert torch.allclose(latents(plain, init_image), base, atol=1e-4)


def test_sdxl_runs(tiny_dir, init_image, cache):
    loaded = load_img2img_pipeline(str(tiny_dir / "sdxl-tiny"), cache=cache)
    assert loaded.arch == "sdxl" and type(loaded.pipe).__name__ == "StableDiffusionXLImg2ImgPipeline"
    out = latents(loaded, init_image, steps=2)
    assert out.shape == (1, 4, 8, 8) and torch.isfinite(out).all()
    with pytest.raises(StageError) as err:  # an SD 1.5 LoRA on an SDXL checkpoint is refused clearly
        load_img2img_pipeline(str(tiny_dir / "sdxl-tiny"), cache=cache, loras=[(str(tiny_dir / "lora-tiny.safetensors"), 1)])
    assert "sd15" in err.value.message and "sdxl" in err.value.message


def test_sdxl_single_file_equals_folder(tiny_dir, init_image, cache):
    single = load_img2img_pipeline(str(tiny_dir / "sdxl-tiny.safetensors"), cache=cache)
    folder = load_img2img_pipeline(str(tiny_dir / "sdxl-tiny"), cache=cache)
    assert single.arch == "sdxl" and single.description["format"] == "single_file"
    a, b = latents(single, init_image, steps=2), latents(folder, init_image, steps=2)
    assert float(a.abs().mean()) > 0.05
    assert torch.allclose(a, b, atol=1e-4), float((a - b).abs().max())


def test_taesd_as_vae_decodes(tiny_dir, init_image, cache):
    loaded = load_img2img_pipeline(str(tiny_dir / "sd15-tiny"), vae=str(tiny_dir / "taesd-tiny"), cache=cache)
    assert type(loaded.pipe.vae).__name__ == "AutoencoderTiny"
    img = loaded.pipe(prompt="x", image=init_image, strength=0.6, num_inference_steps=2,
                      generator=torch.Generator().manual_seed(0), output_type="np").images
    assert img.shape == (1, 64, 64, 3) and float(img.std()) > 1e-3
    assert float(((img > 0) & (img < 1)).mean()) > 0.5  # a real decode, not a clipped black frame


@pytest.mark.parametrize("name", ["ddim", "euler", "euler_a", "dpmpp_2m", "lcm"])
def test_schedulers_run(tiny_dir, init_image, cache, name):
    loaded = load_img2img_pipeline(str(tiny_dir / "sd15-tiny.safetensors"), cache=cache, scheduler=name)
    assert torch.isfinite(latents(loaded, init_image, steps=4)).all()


def test_unknown_scheduler_lists_valid_names(tiny_dir):
    with pytest.raises(StageError) as err:
        load_img2img_pipeline(str(tiny_dir / "sd15-tiny"), scheduler="karras9")
    assert err.value.code == "INVALID_PARAMS" and "dpmpp_2m" in err.value.message and "lcm" in err.value.message


def test_missing_and_garbage_files(tmp_path, tiny_dir):
    missing = tmp_path / "nothere.safetensors"
    with pytest.raises(StageError) as err:
        load_img2img_pipeline(str(missing))
    assert err.value.code == "MODEL_MISSING" and str(missing) in err.value.message
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!" + b"x" * 100)
    with pytest.raises(StageError) as err:
        load_img2img_pipeline(str(garbage))
    assert err.value.code == "MODEL_MISSING" and "garbage.safetensors" in err.value.message
    with pytest.raises(StageError) as err:  # a LoRA given as the model
        load_img2img_pipeline(str(tiny_dir / "lora-tiny.safetensors"))
    assert err.value.code == "INVALID_PARAMS" and "lora" in err.value.message
    with pytest.raises(StageError) as err:
        load_img2img_pipeline(str(tiny_dir / "sd15-tiny"), controlnets=[(str(tmp_path / "cn-missing"), "canny")])
    assert err.value.code == "MODEL_MISSING" and "cn-missing" in err.value.message


def test_dtype_reaches_every_module(tiny_dir, init_image, ref_image):
    """bf16 (what CUDA gets) is applied to all parts, also after the ControlNet view shares the base."""
    cache = {}
    model = str(tiny_dir / "sd15-tiny.safetensors")
    base = load_img2img_pipeline(model, dtype="bf16", cache=cache)
    loaded = load_img2img_pipeline(model, dtype="bf16", cache=cache, ip_adapter=str(tiny_dir / "ip-adapter-tiny"),
                                   controlnets=[(str(tiny_dir / "controlnet-tiny"), "canny")])
    p = loaded.pipe
    for module in (p.unet, p.vae, p.text_encoder, p.controlnet, p.image_encoder, base.pipe.unet):
        assert module.dtype == torch.bfloat16, type(module).__name__
    assert loaded.description["dtype"] == "bf16"
    out = latents(loaded, init_image, steps=2, control_image=ref_image, ip_adapter_image=ref_image)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_ip_adapter_without_fitting_encoder(tiny_dir, tmp_path):
    import json
    import shutil
    ipa = tmp_path / "ipa" / "models"
    shutil.copytree(tiny_dir / "ip-adapter-tiny" / "models", ipa)
    shutil.rmtree(ipa / "image_encoder")
    with pytest.raises(StageError) as err:
        load_img2img_pipeline(str(tiny_dir / "sd15-tiny"), ip_adapter=str(ipa / "ip-adapter_sd15.safetensors"))
    assert err.value.code == "MODEL_MISSING" and "image_encoder" in err.value.message
    shutil.copytree(tiny_dir / "ip-adapter-tiny" / "models" / "image_encoder", ipa / "image_encoder")
    cfg = json.loads((ipa / "image_encoder" / "config.json").read_text())
    cfg["projection_dim"] = 48
    (ipa / "image_encoder" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(StageError) as err:
        load_img2img_pipeline(str(tiny_dir / "sd15-tiny"), ip_adapter=str(ipa / "ip-adapter_sd15.safetensors"))
    assert "48" in err.value.message and "32" in err.value.message
