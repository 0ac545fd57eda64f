"""A user's models folder as it really is: damaged headers, interrupted diffusers downloads, files under
the wrong name, SD 2 and refiner models, encoder parts. Each is listed with what to do, never fails the
listing, and a load says which model and what to do (never an INTERNAL error)."""
import json
import os
import shutil
import struct

import pytest

from kino_backend.models.classify import classify
from kino_backend.models.convert import convert
from kino_backend.models.load_parts import check_checkpoint, load_base, load_controlnet, load_vae
from kino_backend.models.registry import scan
from kino_backend.stages.base import StageError


def write_header(path, header: dict, payload: int = 16) -> None:
    raw = json.dumps(header).encode()
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)) + raw + b"\0" * payload)


@pytest.mark.parametrize("entry", [
    {"dtype": "F32", "shape": [4], "data_offsets": None},
    {"dtype": "F32", "shape": [4], "data_offsets": [0]},
    {"dtype": "F32", "shape": 320, "data_offsets": [0, 16]},
    {"dtype": "F32", "shape": None, "data_offsets": [0, 16]},
    {"dtype": "F32", "shape": "abc", "data_offsets": [0, 16]},
    {"dtype": "F32", "shape": [4], "data_offsets": [0, 1e12]},
])
def test_one_damaged_header_is_listed_invalid_and_the_rest_still_listed(tmp_path, tiny_dir, entry):
    shutil.copy(tiny_dir / "sd15-tiny.safetensors", tmp_path / "good.safetensors")
    write_header(tmp_path / "zz_bad.safetensors", {"model.diffusion_model.x": entry})
    found = {e["name"]: e for e in scan(str(tmp_path), hf_cache=False)}
    assert found["good.safetensors"]["kind"] == "checkpoint"
    assert found["zz_bad.safetensors"]["kind"] == "invalid"
    assert "damaged header" in found["zz_bad.safetensors"]["error"] and "Download it again" in \
        found["zz_bad.safetensors"]["error"]


@pytest.mark.parametrize("remove", ["unet", "unet/diffusion_pytorch_model.safetensors", "text_encoder"])
def test_an_interrupted_diffusers_download_is_named_not_loaded(tmp_path, tiny_dir, remove):
    folder = tmp_path / "sd"
    shutil.copytree(tiny_dir / "sd15-tiny", folder)
    target = folder / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    entry = next(e for e in scan(str(tmp_path), hf_cache=False) if e["name"] == "sd")
    part = remove.split("/")[0]
    assert entry["kind"] == "invalid" and f"lacks {part}" in entry["error"]
    with pytest.raises(StageError, match=f"lacks {part}.*download or copy the whole folder again") as err:
        check_checkpoint(str(folder), None)
    assert err.value.code == "MODEL_MISSING"


def test_an_sd2_folder_and_an_sdxl_refiner_are_refused_by_name(tmp_path, tiny_dir):
    sd2 = tmp_path / "sd2"
    shutil.copytree(tiny_dir / "sd15-tiny", sd2)
    cfg = json.loads((sd2 / "unet" / "config.json").read_text())
    (sd2 / "unet" / "config.json").write_text(json.dumps(dict(cfg, cross_attention_dim=1024)))
    assert classify(str(sd2))["arch"] == "sd2"  # it was listed, and loaded, as sd15
    entry = next(e for e in scan(str(tmp_path), hf_cache=False) if e["name"] == "sd2")
    assert "SD 2.x" in entry["note"] and "SD 1.5 and SDXL base" in entry["note"]
    with pytest.raises(StageError, match="architecture sd2 is not supported"):
        check_checkpoint(str(sd2), None)
    refiner = tmp_path / "refiner.safetensors"
    write_header(refiner, {"model.diffusion_model.label_emb.0.0.weight": {"dtype": "F32", "shape": [4, 4],
                                                                          "data_offsets": [0, 64]},
                           "conditioner.embedders.0.model.ln_final.weight": {"dtype": "F32", "shape": [4],
                                                                             "data_offsets": [64, 80]}}, 80)
    assert classify(str(refiner))["arch"] == "sdxl_refiner"
    with pytest.raises(StageError, match="SDXL refiner"):
        check_checkpoint(str(refiner), None)


def test_files_under_the_wrong_name_say_what_they_are(tmp_path, tiny_dir):
    shutil.copy(tiny_dir / "sd15-tiny.safetensors", tmp_path / "renamed.ckpt")
    shutil.copy(tiny_dir / "sd15-tiny.safetensors", tmp_path / "upper.SAFETENSORS")
    (tmp_path / "page.ckpt").write_text("<!DOCTYPE html><html>403 Forbidden</html>")
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "old.ckpt").write_bytes(b"\x80\x02}q\x00.")
    found = {e["name"]: e for e in scan(str(tmp_path), hf_cache=False)}
    assert "rename it to renamed.safetensors" in found["renamed.ckpt"]["error"]
    assert "rename it to upper.safetensors (lower case)" in found["upper.SAFETENSORS"]["error"]
    assert "text (a web page" in found["page.ckpt"]["error"] and "download it again" in found["page.ckpt"]["error"]
    assert "is empty" in found["empty.pt"]["error"]
    assert found["old.ckpt"]["kind"] == "unknown" and "models convert" in found["old.ckpt"]["note"]
    for name in ("renamed.ckpt", "upper.SAFETENSORS", "page.ckpt"):
        with pytest.raises(StageError, match="cannot be used") as err:
            check_checkpoint(str(tmp_path / name), None)
        assert err.value.code == "MODEL_MISSING"
    with pytest.raises(StageError, match="rename it to renamed.safetensors; it needs no conversion"):
        convert(str(tmp_path / "renamed.ckpt"))
    with pytest.raises(StageError, match="web page"):
        convert(str(tmp_path / "page.ckpt"))


def test_conversion_words_are_kinos_own(tmp_path):
    import pickle

    import numpy as np
    src = tmp_path / "arrays.pt"
    with open(src, "wb") as fh:
        pickle.dump({"w": np.ones(3)}, fh, protocol=2)
    with pytest.raises(StageError) as err:
        convert(str(src))
    assert "weights_only" not in err.value.message and "\x1b[" not in err.value.message
    assert "will not load it" in err.value.message
    import torch
    good = tmp_path / "good.pt"
    torch.save({"w": torch.ones(2)}, good)
    with pytest.raises(StageError, match="must end with .safetensors"):
        convert(str(good), str(tmp_path / "out.ckpt"))
    with pytest.raises(StageError, match="does not exist; create it"):
        convert(str(good), str(tmp_path / "nodir" / "out.safetensors"))


def test_a_text_encoder_part_is_not_taken_for_taesd(tiny_dir):
    enc = tiny_dir / "sd15-tiny" / "text_encoder" / "model.safetensors"
    assert classify(str(enc))["kind"] == "unknown" and "whole folder" in classify(str(enc))["note"]


def test_a_model_of_another_kind_says_where_it_belongs(tiny_dir):
    import torch
    ckpt = str(tiny_dir / "sd15-tiny.safetensors")
    with pytest.raises(StageError, match="is a checkpoint, not a VAE; give it as model= and pick a VAE"):
        load_vae(ckpt, "sd15", torch.float32)
    with pytest.raises(StageError, match="is a lora, not a ControlNet model; give it as lora= and pick a ControlNet"):
        load_controlnet(str(tiny_dir / "lora-tiny.safetensors"), "sd15", torch.float32)


def test_a_missing_unet_file_at_load_names_the_model(tmp_path, tiny_dir):
    """Past the listing (the folder changed meanwhile), diffusers' OSError becomes Kino's message."""
    import torch
    folder = tmp_path / "sd"
    shutil.copytree(tiny_dir / "sd15-tiny", folder)
    info = check_checkpoint(str(folder), None)
    os.remove(folder / "unet" / "diffusion_pytorch_model.safetensors")
    with pytest.raises(StageError, match=r"the checkpoint .*sd could not be loaded \(.*\): a file of it is missing or "
                                         r"damaged; download or copy the whole"):
        load_base(str(folder), info, torch.float32)


def test_a_models_folder_that_is_a_file_is_called_that(tmp_path):
    (tmp_path / "models").write_text("")
    with pytest.raises(StageError, match="is a file, not a folder"):
        scan(str(tmp_path / "models"), hf_cache=False)
