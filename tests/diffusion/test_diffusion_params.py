"""Parameters of the diffusion look: list items, validation messages, work size, missing files."""
from __future__ import annotations

import pytest

from kino_backend.stages import get_stage
from kino_backend.stages.base import ParamError, StageError
from kino_backend.stages.diffusion.engine import work_size
from kino_backend.stages.diffusion.params import ControlItem, LoraItem, parse_controlnet, parse_lora


def test_lora_items():
    assert parse_lora("/m/style.safetensors") == LoraItem("/m/style.safetensors", 1.0)
    assert parse_lora("/m/style.safetensors:0.7") == LoraItem("/m/style.safetensors", 0.7)
    assert parse_lora("C:\\models\\s.safetensors") == LoraItem("C:\\models\\s.safetensors", 1.0)
    assert parse_lora("C:\\models\\s.safetensors:-0.5") == LoraItem("C:\\models\\s.safetensors", -0.5)
    with pytest.raises(ParamError, match="outside"):
        parse_lora("/m/s.safetensors:50")


def test_controlnet_items():
    assert parse_controlnet("/m/cn") == ControlItem("/m/cn", "canny", 1.0, 0.0, 1.0)
    assert parse_controlnet("/m/cn:pose") == ControlItem("/m/cn", "pose")
    assert parse_controlnet("/m/cn:tile:0.5") == ControlItem("/m/cn", "tile", 0.5)
    assert parse_controlnet("/m/cn:canny:0.8:0.1:0.6") == ControlItem("/m/cn", "canny", 0.8, 0.1, 0.6)
    assert parse_controlnet("D:\\cn:depth") == ControlItem("D:\\cn", "depth")
    for bad, msg in [("/m/cn:canny:x", "not a number"), ("/m/cn:canny:1:0.5", "START:END"),
                     ("/m/cn:canny:1:0.7:0.2", "start < end"), ("/m/cn:canny:9", "outside")]:
        with pytest.raises(ParamError, match=msg):
            parse_controlnet(bad)


def test_stage_validation_messages():
    stage = get_stage("diffusion")
    assert stage.role == "look"
    names = {p.name for p in stage.params}
    assert {"model", "vae", "prompt", "negative_prompt", "strength", "steps", "guidance", "seed", "scheduler",
            "lora", "controlnet", "ip_adapter", "reference", "ip_scale", "device", "taesd", "batch"} <= names
    spec = {p["name"]: p for p in stage.spec()["params"]}
    assert spec["lora"]["kind"] == "list" and spec["lora"]["item_kind"] == "str"
    assert "lcm" in spec["scheduler"]["choices"]
    out = stage.validate({"model": "m.safetensors", "lora": "a.safetensors:0.5", "controlnet": ["c:pose"]})
    assert out["lora"] == ["a.safetensors:0.5"] and out["strength"] == 0.5 and out["seed"] is None
    cases = [({"strength": 1.5}, "strength"), ({"scheduler": "heun"}, "scheduler"),
             ({"controlnet": ["c:canny:zz"]}, "controlnet"), ({"reference": "ref.png"}, "reference"),
             ({"ip_adapter": "ipa"}, "reference"),
             ({"colour": 1}, "colour")]
    for params, field in cases:
        with pytest.raises(ParamError) as err:
            stage.validate(params)
        assert err.value.field == field


def test_work_size_multiple_of_64_near_the_source():
    assert work_size(64, 64) == (64, 64)
    assert work_size(1080, 1920) == (448, 768)  # capped at the native 768 long side
    assert work_size(1080, 1920, 1024) == (576, 1024)
    assert work_size(360, 480) == (384, 512)
    assert work_size(20, 30) == (64, 64)


def test_missing_model_is_model_missing_naming_the_file(tmp_path, make_ctx):
    stage = get_stage("diffusion")
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(StageError) as err:
        stage.open(stage.validate({"model": str(missing)}), make_ctx())
    assert err.value.code == "MODEL_MISSING" and str(missing) in err.value.message
    with pytest.raises(StageError) as err:
        stage.open(stage.validate({}), make_ctx())
    assert err.value.code == "MODEL_MISSING" and "model=PATH" in err.value.message


def test_relative_paths_resolve_in_the_models_folder(tmp_path, make_ctx, tiny):
    stage = get_stage("diffusion")
    params = stage.validate({"model": "sd15-tiny.safetensors", "lora": ["missing-lora.safetensors:0.5"]})
    import os
    ctx = make_ctx(options={"models_dir": os.path.dirname(tiny["sd15-tiny"])})
    with pytest.raises(StageError) as err:  # the model resolves; the LoRA does not
        stage.open(params, ctx)
    assert err.value.code == "MODEL_MISSING" and "missing-lora.safetensors" in err.value.message
    assert "LoRA" in err.value.message


def test_unavailable_condition_type_fails_before_the_model_loads(make_ctx, tiny):
    import importlib.util
    if importlib.util.find_spec("torchvision") and importlib.util.find_spec("controlnet_aux"):
        pytest.skip("torchvision and controlnet_aux present: depth may be available")
    stage = get_stage("diffusion")
    params = stage.validate({"model": tiny["sd15-tiny.safetensors"], "controlnet": [tiny["controlnet-tiny"] + ":depth"]})
    with pytest.raises(StageError) as err:
        stage.open(params, make_ctx())
    assert err.value.code == "MODEL_MISSING" and "depth" in err.value.message and "torchvision" in err.value.message


def test_a_bad_weight_or_type_after_an_existing_file_is_named_not_called_missing(tmp_path):
    lora = tmp_path / "style.safetensors"
    lora.write_bytes(b"x")
    with pytest.raises(ParamError, match="weight 'abc' is not a number"):
        parse_lora(f"{lora}:abc")
    cn = tmp_path / "cn"
    cn.mkdir()
    with pytest.raises(ParamError, match="'bogus' is not a ControlNet type; the types are canny"):
        parse_controlnet(f"{cn}:bogus")
    assert parse_lora("/no/such:abc") == LoraItem("/no/such:abc", 1.0)  # then it is a missing path


def test_wrong_model_files_say_what_they_are_and_what_to_do(tmp_path, tiny):
    from kino_backend.models.load_parts import check_checkpoint
    whole = open(tiny["sd15-tiny.safetensors"], "rb").read()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(StageError, match="is truncated: it holds .* Download or copy it again"):
        check_checkpoint(str(cut), None)
    pickle = tmp_path / "old.ckpt"
    pickle.write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(StageError, match="convert it: scripts/kino models convert"):
        check_checkpoint(str(pickle), None)
    with pytest.raises(StageError, match="is an ip_adapter file|is a motion_adapter file.*motion_adapter="):
        check_checkpoint(tiny["motion-adapter-tiny"], None)


def test_names_as_the_model_list_shows_them_resolve(tmp_path, monkeypatch, tiny):
    """``model=NAME`` without .safetensors, and an ``hf:`` name of the Hugging Face cache, resolve as
    the registry (and ``train lora``) resolves them; stylize said "not found"."""
    import shutil

    from kino_backend.stages.diffusion.params import resolve_path
    models = tmp_path / "models" / "b"
    models.mkdir(parents=True)
    shutil.copy(tiny["sd15-tiny.safetensors"], models / "model.safetensors")
    found = resolve_path("b/model", str(tmp_path / "models"), what="checkpoint", field="model")
    assert found == str(models / "model.safetensors")
    snap = tmp_path / "hub" / "models--someone--tiny-sd" / "snapshots" / "0123"
    shutil.copytree(tiny["sd15-tiny"], snap)
    (tmp_path / "hub" / "models--someone--tiny-sd" / "refs").mkdir()
    (tmp_path / "hub" / "models--someone--tiny-sd" / "refs" / "main").write_text("0123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert resolve_path("hf:someone/tiny-sd", None, what="checkpoint", field="model") == str(snap)


def test_a_models_folder_that_is_a_file_is_named_when_a_name_is_looked_up(tmp_path):
    from kino_backend.stages.diffusion.params import resolve_path
    (tmp_path / "models").write_text("")
    with pytest.raises(StageError, match="the models folder .*models is a file, not a folder"):
        resolve_path("a/model.safetensors", str(tmp_path / "models"), what="checkpoint", field="model")
