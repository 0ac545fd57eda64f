"""Motion modules in the registry and through ``models convert``: a diffusers MotionAdapter folder and an
original AnimateDiff motion-module file (pickle ``.ckpt`` -> tensors-only conversion -> the same adapter),
versions told apart, pickles with code refused."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from animatediff_support import moving_frames, run_look

_TO_ORIGINAL = ((".attn1.", ".attention_blocks.0."), (".attn2.", ".attention_blocks.1."), (".norm1.", ".norms.0."),
                (".norm2.", ".norms.1."), (".norm3.", ".ff_norm."))


def original_layout(state: dict) -> dict:
    """diffusers MotionAdapter keys -> the original AnimateDiff motion-module keys (what mm_sd_v15_v2.ckpt holds)."""
    import re
    out = {}
    for key, value in state.items():
        new = re.sub(r"(motion_modules\.\d+\.)", r"\1temporal_transformer.", key)
        if new.endswith("pos_embed.pe"):
            for i in (0, 1):
                out[new.replace("pos_embed.pe", f"attention_blocks.{i}.pos_encoder.pe")] = value.clone()
            continue
        for old, rep in _TO_ORIGINAL:
            new = new.replace(old, rep)
        out[new] = value
    return out


def _convert_cli(path) -> dict:
    r = subprocess.run([sys.executable, "-m", "kino_backend", "models", "convert", str(path), "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])["converted"][0]


def test_folder_is_a_motion_adapter_in_the_registry(tiny):
    from kino_backend.models.classify import classify
    from kino_backend.models.registry import scan
    info = classify(tiny["motion-adapter-tiny"])
    assert info == {"kind": "motion_adapter", "arch": "sd15", "format": "diffusers", "variant": "v2", "frames": 32}
    found = [e for e in scan(os.path.dirname(tiny["motion-adapter-tiny"]), hf_cache=False) if e["kind"] == "motion_adapter"]
    assert [os.path.basename(e["path"]) for e in found] == ["motion-adapter-tiny"]


def test_original_motion_module_file_converts_and_loads_as_the_same_adapter(tiny, tmp_path):
    import torch

    from kino_backend.animatediff.adapter import load_motion_adapter
    from kino_backend.models.classify import classify
    folder = load_motion_adapter(tiny["motion-adapter-tiny"])
    src = tmp_path / "mm_sd_v15_v2.ckpt"
    torch.save({"state_dict": original_layout(folder.state_dict()), "epoch": 7}, src)
    assert classify(str(src))["kind"] == "unknown"  # a pickle is never read while stylizing
    done = _convert_cli(src)
    assert done["skipped"] == ["epoch"] and done["output"].endswith("mm_sd_v15_v2.safetensors")
    info = classify(done["output"])
    assert info["kind"] == "motion_adapter" and info["variant"] == "v2" and info["layout"] == "original"
    loaded = load_motion_adapter(done["output"])
    a, b = folder.state_dict(), loaded.state_dict()
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    # and the look gives the same frames from either
    base = {"model": tiny["sd15-tiny"], "context_frames": 3}
    images = moving_frames(3)
    from_folder, _ = run_look(dict(base, motion_adapter=tiny["motion-adapter-tiny"]), images)
    from_file, ctx = run_look(dict(base, motion_adapter=done["output"]), images)
    assert all(np.array_equal(x, y) for x, y in zip(from_folder, from_file))
    assert ctx.provenance["diffusion"]["animatediff"]["motion_adapter"]["path"] == done["output"]


def test_versions_are_told_apart_from_the_tensors():
    from kino_backend.models.classify import classify_tensors

    def shapes(mid: bool, frames: int) -> dict:
        out = {}
        for b, ch in enumerate((320, 640, 1280, 1280)):
            for m in range(2):
                pre = f"down_blocks.{b}.motion_modules.{m}.temporal_transformer."
                out[pre + "proj_in.weight"] = (ch, ch)
                out[pre + "transformer_blocks.0.attention_blocks.0.pos_encoder.pe"] = (1, frames, ch)
        if mid:
            out["mid_block.motion_modules.0.temporal_transformer.proj_in.weight"] = (1280, 1280)
        return out
    assert classify_tensors(shapes(False, 24), "mm_sd_v14.safetensors")["variant"] == "v1"
    assert classify_tensors(shapes(True, 32), "mm_sd_v15_v2.safetensors")["variant"] == "v2"
    assert classify_tensors(shapes(False, 32), "v3_sd15_mm.safetensors")["variant"] == "v3"
    assert classify_tensors(shapes(True, 32), "AnimateLCM_sd15_t2v.safetensors")["variant"] == "animatelcm"


class Payload:
    """Unpickling this would run ``os.system`` under a plain ``pickle.load``."""

    def __reduce__(self):
        return (os.system, ("touch owned-by-motion-module",))


def test_motion_module_pickle_with_code_is_refused(tmp_path, tiny):
    from kino_backend.stages.base import StageError
    src = tmp_path / "mm_evil.ckpt"
    with open(src, "wb") as fh:
        pickle.dump({"state_dict": {"down_blocks.0.motion_modules.0.x": Payload()}}, fh)
    r = subprocess.run([sys.executable, "-m", "kino_backend", "models", "convert", str(src)], capture_output=True,
                       text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 1 and "will not load it" in r.stderr
    assert not (tmp_path / "owned-by-motion-module").exists() and not (tmp_path / "mm_evil.safetensors").exists()
    with pytest.raises(StageError, match="convert it once"):
        run_look({"model": tiny["sd15-tiny"], "motion_adapter": str(src)}, moving_frames(2))
