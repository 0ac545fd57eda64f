"""LoRA training on the tiny SD 1.5 model (a test model with random weights, loaded from a real
single-file checkpoint through Kino's loader). Real: diffusers' UNet/VAE/text encoder code, peft LoRA
layers, the training loop, kohya-key saving, diffusers' ``load_lora_weights`` reading the file back."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors import safe_open

from kino_backend.training.lora import LoraSettings, train_lora

from kino_training_support import latents, settings


@pytest.fixture(scope="module")
def trained(tiny, images, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("lora") / "character.safetensors")
    seen = []
    result = train_lora(settings(tiny, images, out), progress=lambda **kw: seen.append(kw))
    return result, seen


def test_training_lowers_the_fixed_eval_loss(trained):
    result, seen = trained
    assert result["steps"] == 25
    assert math.isfinite(result["loss_first"]) and math.isfinite(result["loss_last"])
    assert result["loss_last"] < 0.9 * result["loss_first"]
    assert [s["step"] for s in seen] == list(range(1, 26))
    assert all(s["steps_total"] == 25 and math.isfinite(s["loss"]) for s in seen)


def test_file_has_kohya_keys_for_every_attention_projection(trained, tiny):
    result, _ = trained
    from diffusers import UNet2DConditionModel
    unet = UNet2DConditionModel.from_pretrained(tiny["sd15-tiny"], subfolder="unet")
    expected = {"lora_unet_" + n.replace(".", "_") for n, _m in unet.named_modules()
                if n.endswith(("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
                               "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0"))}
    with safe_open(result["out"], "pt") as f:
        keys = set(f.keys())
        meta = f.metadata()
        stems = {k.rsplit(".", 2)[0] if k.endswith("weight") else k.rsplit(".", 1)[0] for k in keys}
        assert stems == expected and len(keys) == 3 * len(expected)
        some = sorted(expected)[0]
        assert f.get_tensor(some + ".lora_down.weight").shape[0] == 4
        assert f.get_tensor(some + ".lora_up.weight").shape[1] == 4
        assert float(f.get_tensor(some + ".alpha")) == 4.0
    assert meta["ss_network_module"] == "networks.lora" and meta["ss_network_dim"] == "4"
    assert json.loads(meta["kino_training"])["steps"] == 25


def test_lora_loads_in_diffusers_and_changes_the_output(trained, tiny):
    import torch
    from kino_backend.models.loader import load_img2img_pipeline
    result, _ = trained
    image = np.full((64, 64, 3), 128, np.uint8)
    from PIL import Image
    init = Image.fromarray(image)
    base = load_img2img_pipeline(tiny["sd15-tiny.safetensors"], cache={}).pipe
    before = latents(base, init)
    with safe_open(result["out"], "pt") as f:
        stem = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q"
        if stem + ".lora_down.weight" not in f.keys():
            stem = sorted(k for k in f.keys() if k.endswith("attn1_to_q.lora_down.weight"))[0].rsplit(".", 2)[0]
        down, up = f.get_tensor(stem + ".lora_down.weight"), f.get_tensor(stem + ".lora_up.weight")
    module = next(m for n, m in base.unet.named_modules() if "lora_unet_" + n.replace(".", "_") == stem)
    w0 = module.weight.detach().clone()
    base.load_lora_weights(result["out"], adapter_name="character")
    after = latents(base, init)
    assert (after - before).abs().max() > 1e-3  # the LoRA changes the output
    base.fuse_lora(lora_scale=1.0)
    # the fused weight is exactly base + up @ down * alpha / rank: every key mapped to the right layer
    assert torch.allclose(module.weight.detach(), w0 + up @ down, atol=1e-5)


def test_eval_batch_is_fixed_and_comparable(tiny, images, tmp_path):
    a = train_lora(settings(tiny, images, str(tmp_path / "a.safetensors"), steps=1, lr=1e-3))
    b = train_lora(settings(tiny, images, str(tmp_path / "b.safetensors"), steps=1, lr=5e-2))
    assert a["loss_first"] == b["loss_first"]  # same batch, same noise, same timesteps, same initial LoRA
    assert a["loss_last"] != b["loss_last"]


def test_prior_preservation_with_generated_and_given_class_images(tiny, images, tmp_path):
    gen = train_lora(settings(tiny, images, str(tmp_path / "p.safetensors"), steps=6,
                              class_prompt="a photo of a person", num_class_images=2, class_steps=2))
    plain = train_lora(settings(tiny, images, str(tmp_path / "n.safetensors"), steps=6))
    assert gen["settings"]["class_prompt"] == "a photo of a person"
    assert gen["loss_first"] == plain["loss_first"] and gen["loss_last"] != plain["loss_last"]
    given = train_lora(settings(tiny, images, str(tmp_path / "g.safetensors"), steps=6,
                                class_prompt="a photo of a person", class_images=images))
    assert math.isfinite(given["loss_last"]) and given["loss_last"] != plain["loss_last"]


def test_text_encoder_lora_is_saved_and_loaded(tiny, images, tmp_path):
    import torch
    from kino_backend.models.loader import load_img2img_pipeline
    out = str(tmp_path / "te.safetensors")
    train_lora(settings(tiny, images, out, steps=8, train_text_encoder=True))
    with safe_open(out, "pt") as f:
        te_keys = [k for k in f.keys() if k.startswith("lora_te_text_model_encoder_layers_")]
    assert te_keys and any("self_attn_q_proj.lora_down" in k for k in te_keys)
    pipe = load_img2img_pipeline(tiny["sd15-tiny.safetensors"], cache={}).pipe
    ids = pipe.tokenizer(["a photo of kino_subject"], padding="max_length", max_length=pipe.tokenizer.model_max_length,
                         return_tensors="pt").input_ids
    with torch.no_grad():
        e0 = pipe.text_encoder(ids)[0].clone()
        pipe.load_lora_weights(out)
        e1 = pipe.text_encoder(ids)[0]
    assert (e1 - e0).abs().max() > 1e-4


def test_bad_settings_say_how_to_fix(tiny, tmp_path):
    with pytest.raises(ValueError, match="not a folder"):
        train_lora(LoraSettings(images=str(tmp_path / "nope"), model=tiny["sd15-tiny"], out=str(tmp_path / "x.safetensors"),
                                steps=1, resolution=64))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        train_lora(LoraSettings(images=str(tmp_path / "empty"), model=tiny["sd15-tiny"], out=str(tmp_path / "x.safetensors"),
                                steps=1, resolution=64))
    with pytest.raises(ValueError, match="multiple of 8"):
        LoraSettings(images=".", model=".", out="x", resolution=100).check()


def test_sdxl_checkpoint_is_refused_clearly(tiny, images, tmp_path):
    with pytest.raises(ValueError, match="SD 1.x"):
        train_lora(settings(tiny, images, str(tmp_path / "x.safetensors"), model=tiny["sdxl-tiny"], steps=1))


def test_cli_json_contract(tiny, images, tmp_path):
    out = tmp_path / "cli.safetensors"
    proc = subprocess.run([sys.executable, "-m", "kino_backend", "train", "lora", "--images", images,
                           "--model", tiny["sd15-tiny.safetensors"], "--steps", "3", "--out", str(out),
                           "--resolution", "64", "--rank", "4", "--json"],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) == {"loss_first", "loss_last", "steps", "seconds"}
    assert result["steps"] == 3 and result["seconds"] > 0 and out.is_file()
    assert "step 3/3 loss" in proc.stderr


def test_cli_missing_folder_is_one_line_error(tiny, tmp_path, capsys):
    from kino_backend.commands import main
    rc = main(["train", "lora", "--images", str(tmp_path / "none"), "--model", tiny["sd15-tiny"], "--steps", "1",
               "--out", str(tmp_path / "o.safetensors")])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a folder" in err[0]


def test_training_on_in_memory_frames(tiny, tmp_path):
    """Frames of any size (e.g. a clip's) train without a folder."""
    frames = [np.full((48, 80, 3), 60 + 40 * i, np.uint8) for i in range(3)]
    r = train_lora(settings(tiny, None, str(tmp_path / "f.safetensors"), steps=2), arrays=frames)
    assert r["settings"]["images_count"] == 3 and math.isfinite(r["loss_last"])


def test_a_diverged_training_writes_nothing_and_keeps_the_lora_there(tiny, images, tmp_path):
    """lr 100 blows the weights up: the NaN LoRA was written (over a good one), and the look then turned
    every frame black. Now nothing is written and the earlier file is byte for byte as it was."""
    out = tmp_path / "keep.safetensors"
    train_lora(settings(tiny, images, str(out), steps=2))
    before = out.read_bytes()
    with pytest.raises(FloatingPointError, match="nothing was written|no LoRA was written"):
        train_lora(settings(tiny, images, str(out), steps=3, lr=100.0))
    assert out.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.safetensors"]  # no part file left


def test_the_output_and_settings_are_checked_before_any_training(tiny, images, tmp_path):
    seen = []
    (tmp_path / "folder.safetensors").mkdir()
    (tmp_path / "file").write_text("")
    for out, match in ((tmp_path / "folder.safetensors", "is a folder"),
                       (tmp_path / "file" / "x.safetensors", "cannot write the LoRA into .*file is a file, not a folder")):
        with pytest.raises(ValueError, match=match):
            train_lora(settings(tiny, images, str(out), steps=2), progress=lambda **kw: seen.append(kw))
    for bad, match in (({"alpha": 0.0}, "alpha 0.0 must be positive"), ({"alpha": -3.0}, "must be positive"),
                       ({"rank": 5000}, "rank 5000 is more than 256"),
                       ({"class_images": images}, "only with a class prompt|on only with a class prompt")):
        with pytest.raises(ValueError, match=match):
            train_lora(settings(tiny, images, str(tmp_path / "x.safetensors"), steps=2, **bad),
                       progress=lambda **kw: seen.append(kw))
    assert not seen  # refused before the first step


def test_a_caption_that_is_not_utf8_is_named_and_a_bom_is_not_kept(tmp_path):
    from kino_backend.training.data import caption_for
    img = tmp_path / "f0.png"
    (tmp_path / "f0.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(ValueError, match=r"f0.txt is not UTF-8 text .* save it as UTF-8"):
        caption_for(str(img), "default")
    (tmp_path / "f0.txt").write_bytes("\ufeffa photo with bom".encode("utf-8"))
    assert caption_for(str(img), "default") == "a photo with bom"


def test_the_lora_file_records_what_reproduces_it(trained, tiny):
    result, _ = trained
    with safe_open(result["out"], "pt") as f:
        info = json.loads(f.metadata()["kino_training"])
    assert info["seed"] == result["settings"]["seed"] and len(info["images_sha256"]) == 64
    assert info["model"]["files"] and info["model"]["files"][0]["sha256_header"]
    assert info["versions"]["torch"] and info["versions"]["kino"]


def test_class_options_without_a_class_prompt_are_refused_on_the_command_line(tiny, images, tmp_path, capsys):
    from kino_backend.commands.train import main
    code = main(["lora", "--images", images, "--model", tiny["sd15-tiny.safetensors"], "--steps", "1",
                 "--num-class-images", "3", "--out", str(tmp_path / "x.safetensors")])
    assert code == 2 and "on only with --class-prompt" in capsys.readouterr().err
    assert not (tmp_path / "x.safetensors").exists()
