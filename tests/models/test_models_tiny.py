"""make-tiny writes every model in its real format, and the registry classifies each one."""
import json
import os
import subprocess
import sys

from kino_backend.models.classify import classify
from kino_backend.models.registry import scan
from kino_backend.models.st_header import read_header

EXPECTED = {  # name -> (kind, arch, format)
    "sd15-tiny.safetensors": ("checkpoint", "sd15", "single_file"),
    "sd15-tiny": ("checkpoint", "sd15", "diffusers"),
    "sdxl-tiny": ("checkpoint", "sdxl", "diffusers"),
    "sdxl-tiny.safetensors": ("checkpoint", "sdxl", "single_file"),
    "controlnet-tiny": ("controlnet", "sd15", "diffusers"),
    "ip-adapter-tiny/models/ip-adapter_sd15.safetensors": ("ip_adapter", "sd15", "single_file"),
    "ip-adapter-tiny/models/image_encoder": ("image_encoder", None, "diffusers"),
    "lora-tiny.safetensors": ("lora", "sd15", "kohya"),
    "taesd-tiny": ("taesd", None, "diffusers"),
    "motion-adapter-tiny": ("motion_adapter", "sd15", "diffusers"),
}


def test_every_file_written(tiny_dir):
    for rel in ("sd15-tiny.safetensors", "sd15-tiny/model_index.json", "sd15-tiny/unet/diffusion_pytorch_model.safetensors",
                "sd15-tiny/tokenizer/tokenizer.json", "sdxl-tiny/text_encoder_2/model.safetensors",
                "sdxl-tiny/tokenizer_2/tokenizer_config.json", "controlnet-tiny/config.json",
                "ip-adapter-tiny/models/ip-adapter_sd15.safetensors", "ip-adapter-tiny/models/image_encoder/config.json",
                "lora-tiny.safetensors", "taesd-tiny/config.json", "motion-adapter-tiny/config.json",
                "motion-adapter-tiny/diffusion_pytorch_model.safetensors"):
        assert (tiny_dir / rel).is_file(), rel
        assert (tiny_dir / rel).stat().st_size > 0
    # readable by others under the usual umask, as any new file (safetensors itself writes 0600)
    from kino_addon.protocol.atomic import file_mode
    modes = {p.relative_to(tiny_dir): p.stat().st_mode & 0o777 for p in tiny_dir.rglob("*") if p.is_file()}
    assert {m for m in modes.values()} == {file_mode()}, {p: oct(m) for p, m in modes.items() if m != file_mode()}


def test_single_file_is_ldm_layout(tiny_dir):
    keys = read_header(str(tiny_dir / "sd15-tiny.safetensors"))
    assert any(k.startswith("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2") for k in keys)
    assert keys["first_stage_model.encoder.mid.attn_1.q.weight"]["shape"][2:] == [1, 1]  # 1x1 conv
    assert "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight" in keys
    assert not any(k.startswith(("unet.", "down_blocks.")) for k in keys)
    xl = read_header(str(tiny_dir / "sdxl-tiny.safetensors"))
    assert "model.diffusion_model.label_emb.0.0.weight" in xl
    assert "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight" in xl  # OpenCLIP layout
    assert "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight" in xl


def test_lora_is_kohya_style(tiny_dir):
    keys = read_header(str(tiny_dir / "lora-tiny.safetensors"))
    assert "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight" in keys
    assert "lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha" in keys
    assert any(k.startswith("lora_te_") for k in keys)


def test_registry_classifies_each(tiny_dir):
    found = {e["name"]: e for e in scan(str(tiny_dir), hf_cache=False)}
    for name, (kind, arch, fmt) in EXPECTED.items():
        assert name in found, f"{name} not listed; got {sorted(found)}"
        e = found[name]
        assert (e["kind"], e["arch"], e["format"]) == (kind, arch, fmt), (name, e)
        assert e["size"] > 0 and os.path.exists(e["path"])
    ipa = found["ip-adapter-tiny/models/ip-adapter_sd15.safetensors"]
    assert ipa["image_encoder"].endswith(os.path.join("models", "image_encoder"))
    assert classify(str(tiny_dir / "ip-adapter-tiny"))["kind"] == "ip_adapter"


def test_models_list_command(tiny_dir):
    env = dict(os.environ, HF_HUB_CACHE=str(tiny_dir / "no-hf-cache"))
    proc = subprocess.run([sys.executable, "-m", "kino_backend", "models", "list", str(tiny_dir), "--json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    models = json.loads(proc.stdout.strip().splitlines()[-1])["models"]
    kinds = {m["name"]: m["kind"] for m in models}
    assert kinds["sd15-tiny.safetensors"] == "checkpoint" and kinds["controlnet-tiny"] == "controlnet"


def test_face_pack_or_clear_skip(tiny_dir, tmp_path, capsys):
    try:
        import kino_backend.identity.tiny_face  # noqa: F401  (written by the identity part)
    except ImportError:
        from kino_backend.models.tiny import _face_pack
        assert _face_pack(str(tmp_path / "face-tiny")) is None
        assert "face-tiny skipped: identity module not present" in capsys.readouterr().out
        assert not (tmp_path / "face-tiny").exists()
    else:
        assert classify(str(tiny_dir / "face-tiny"))["kind"] == "face_pack"


def test_onnx_folder_is_a_face_pack(tmp_path):
    (tmp_path / "pack").mkdir()
    (tmp_path / "pack" / "det_tiny.onnx").write_bytes(b"onnx")
    (tmp_path / "root" / "models" / "buffalo_l").mkdir(parents=True)
    (tmp_path / "root" / "models" / "buffalo_l" / "w600k_r50.onnx").write_bytes(b"onnx")
    assert classify(str(tmp_path / "pack"))["kind"] == "face_pack"
    assert classify(str(tmp_path / "root"))["kind"] == "face_pack"
