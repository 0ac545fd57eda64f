"""The registry: HF cache read offline, odd files listed with a reason, names resolved or a clear error."""
import json
import os
import shutil

import pytest

from kino_backend.models import configs
from kino_backend.models.registry import choices, resolve, scan
from kino_backend.models.st_header import shapes
from kino_backend.models.tiny_specs import SD15_UNET, VOCAB, vae
from kino_backend.stages.base import StageError


def test_hf_cache_snapshots_are_listed(tiny_dir, tmp_path, monkeypatch):
    repo = tmp_path / "hub" / "models--someone--tiny-sd"
    snap = repo / "snapshots" / "0123abcd"
    shutil.copytree(tiny_dir / "sd15-tiny", snap)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    cn = tmp_path / "hub" / "models--someone--control-canny" / "snapshots" / "ffff"
    shutil.copytree(tiny_dir / "controlnet-tiny", cn)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    found = {e["name"]: e for e in scan(None)}
    assert found["hf:someone/tiny-sd"]["kind"] == "checkpoint" and found["hf:someone/tiny-sd"]["arch"] == "sd15"
    assert found["hf:someone/control-canny"]["control_type"] == "canny"
    assert all(e["source"] == "hf_cache" for e in found.values())
    assert resolve("hf:someone/tiny-sd") == str(snap)


def test_odd_files_are_listed_with_a_reason(tmp_path):
    (tmp_path / "old.ckpt").write_bytes(b"\x80\x04pickle")
    (tmp_path / "broken.safetensors").write_bytes(b"\xff" * 20)
    found = {e["name"]: e for e in scan(str(tmp_path), hf_cache=False)}
    assert found["old.ckpt"]["kind"] == "unknown" and "models convert" in found["old.ckpt"]["note"]
    assert found["broken.safetensors"]["kind"] == "invalid" and "broken.safetensors" in found["broken.safetensors"]["error"]
    # a link to a moved model or an unmounted drive: listed with the reason, the rest still listed (the
    # whole scan failed with FileNotFoundError, so the panel's model list came back empty)
    os.symlink(str(tmp_path / "gone" / "model.safetensors"), str(tmp_path / "moved.safetensors"))
    found = {e["name"]: e for e in scan(str(tmp_path), hf_cache=False)}
    assert found["moved.safetensors"]["kind"] == "invalid" and "does not exist" in found["moved.safetensors"]["error"]
    assert "old.ckpt" in found and found["moved.safetensors"]["size"] == 0


def test_control_type_from_file_name(tiny_dir, tmp_path):
    for name, want in (("control_v11p_sd15_openpose", "pose"), ("cn-tile-sd15", "tile"), ("sd15_softedge", "softedge"),
                       ("lineart_anime", "lineart"), ("depth-midas", "depth")):
        shutil.copytree(tiny_dir / "controlnet-tiny", tmp_path / name)
    entries = choices(scan(str(tmp_path), hf_cache=False), "controlnet", "sd15")
    got = {e["name"]: e["control_type"] for e in entries}
    assert got == {"control_v11p_sd15_openpose": "pose", "cn-tile-sd15": "tile", "sd15_softedge": "softedge",
                   "lineart_anime": "lineart", "depth-midas": "depth"}


def test_resolve_names_and_errors(tiny_dir):
    assert resolve("lora-tiny", str(tiny_dir), kind="lora") == str(tiny_dir / "lora-tiny.safetensors")
    with pytest.raises(StageError) as err:
        resolve("missing-model.safetensors", str(tiny_dir), kind="checkpoint")
    assert err.value.code == "MODEL_MISSING"
    assert "missing-model.safetensors" in err.value.message and str(tiny_dir) in err.value.message
    with pytest.raises(StageError) as err:
        resolve("lora-tiny.safetensors", str(tiny_dir), kind="checkpoint")
    assert err.value.code == "INVALID_PARAMS"
    with pytest.raises(StageError) as err:
        scan(str(tiny_dir / "no-such-folder"))
    assert err.value.code == "MODEL_MISSING" and "no-such-folder" in err.value.message


def test_configs_are_derived_from_tensors(tiny_dir):
    sh = shapes(str(tiny_dir / "sd15-tiny.safetensors"))
    unet = configs.unet_config(sh, "sd15")
    for k in ("block_out_channels", "layers_per_block", "down_block_types", "up_block_types", "cross_attention_dim"):
        assert (list(unet[k]) if isinstance(unet[k], (list, tuple)) else unet[k]) == \
               (list(SD15_UNET[k]) if isinstance(SD15_UNET[k], (list, tuple)) else SD15_UNET[k]), k
    v = configs.vae_config(sh, "sd15")
    assert v["block_out_channels"] == list(vae(0.18215)["block_out_channels"]) and v["layers_per_block"] == 1
    te = configs.clip_hf_config(sh, configs.TE_SD15)
    assert (te["vocab_size"], te["hidden_size"], te["num_hidden_layers"]) == (VOCAB, 32, 2)
    folder = configs.write_config_folder(sh, "sd15", str(tiny_dir / "_cfg"))
    index = json.load(open(os.path.join(folder, "model_index.json")))
    assert index["_class_name"] == "StableDiffusionPipeline" and index["tokenizer"] == ["transformers", "CLIPTokenizer"]
    assert not any(f.endswith(".safetensors") for _r, _d, fs in os.walk(folder) for f in fs)  # configs only
    shutil.rmtree(folder)


def test_hf_cache_ip_adapter_repo_layout(tiny_dir, tmp_path, monkeypatch):
    """h94/IP-Adapter style: weights under models/ with models/image_encoder; pickles are not offered."""
    snap = tmp_path / "hub" / "models--h94--IP-Adapter" / "snapshots" / "1234"
    shutil.copytree(tiny_dir / "ip-adapter-tiny" / "models", snap / "models")
    (snap / "models" / "ip-adapter_sd15.bin").write_bytes(b"\x80\x04pickle")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    found = {e["name"]: e for e in scan(None)}
    ipa = found["hf:h94/IP-Adapter/models/ip-adapter_sd15.safetensors"]
    assert ipa["kind"] == "ip_adapter" and ipa["image_encoder"] == str(snap / "models" / "image_encoder")
    assert not any(n.endswith(".bin") for n in found)


def test_identity_files_are_listed_by_kind_and_variant(tiny_dir):
    """What the panel's menus read: FaceID (plain / Plus) apart from image IP-Adapters, PuLID weights
    and EVA-CLIP towers as their own kinds (test models from make_tiny)."""
    found = {e["name"]: e for e in scan(str(tiny_dir), hf_cache=False)}
    assert found["ip-adapter-faceid-tiny.safetensors"]["variant"] == "faceid"
    assert found["ip-adapter-tiny/models/ip-adapter-faceid-plusv2-tiny.safetensors"]["variant"] == "faceid_plus"
    assert found["ip-adapter-tiny/models/ip-adapter_sd15.safetensors"]["variant"] == "plain"
    from kino_backend.models.classify import classify
    folder = classify(str(tiny_dir / "ip-adapter-tiny"))  # an h94-style folder means its image IP-Adapter,
    assert folder["variant"] == "plain" and folder["weights"].endswith("ip-adapter_sd15.safetensors")  # not FaceID
    assert found["pulid-tiny.safetensors"]["kind"] == "pulid" and found["pulid-tiny.safetensors"]["arch"] == "sdxl"
    assert found["eva-clip-tiny.safetensors"]["kind"] == "eva_clip"
    json.dumps(list(found.values()))  # goes over the wire as models.list


def test_inpainting_and_misshapen_checkpoints_are_refused_by_name(tiny_dir, tmp_path):
    """An inpainting checkpoint (9 UNet input channels) was listed as a usable SD 1.5 checkpoint and
    failed at frame 1 with INTERNAL; a file with SDXL's tensor names but other shapes, likewise."""
    import torch
    from safetensors.torch import load_file, save_file
    from kino_backend.models.load_parts import check_checkpoint, config_folder
    sd = load_file(str(tiny_dir / "sd15-tiny.safetensors"))
    key = "model.diffusion_model.input_blocks.0.0.weight"
    sd[key] = torch.cat([sd[key], torch.zeros(sd[key].shape[0], 5, *sd[key].shape[2:])], 1)
    save_file(sd, str(tmp_path / "inpaint.safetensors"))
    found = {e["name"]: e for e in scan(str(tmp_path), hf_cache=False)}
    assert found["inpaint.safetensors"]["made_for"] == "inpainting"
    assert "9 input channels" in found["inpaint.safetensors"]["note"]
    with pytest.raises(StageError, match="inpainting checkpoint .*regular \\(non-inpainting\\) version"):
        check_checkpoint(str(tmp_path / "inpaint.safetensors"), None)
    plain = {e["name"]: e for e in scan(str(tiny_dir), hf_cache=False)}
    assert "made_for" not in plain["sd15-tiny.safetensors"] and "made_for" not in plain["sd15-tiny"]
    odd = {k: torch.zeros(1) for k in load_file(str(tiny_dir / "sdxl-tiny.safetensors"))}
    save_file(odd, str(tmp_path / "odd.safetensors"))
    with pytest.raises(StageError, match="tensor names of an sdxl checkpoint but not their shapes"):
        config_folder(str(tmp_path / "odd.safetensors"), "sdxl")
