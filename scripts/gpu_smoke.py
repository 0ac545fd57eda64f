"""GPU smoke checks for the paths CI never runs: Kino's tiny models through the real loader and engine
on CUDA in the pipeline's fp16/bf16 dtype, with every adapter kind at once. Run by
``scripts/gpu_checks.sh``; on a machine without CUDA it runs the same checks in float32 on the CPU.

1. SD 1.5 + ControlNet + LoRA + IP-Adapter reference + FaceID (a random unit face embedding: no face
   pack needed), a batch of 2 frames with classifier-free guidance.
2. SDXL + PuLID (the "no identity" tokens and random ID tokens; no face pack needed), 2 frames.
3. The diffusion look with AnimateDiff (tiny motion adapter, 4-frame windows overlapping by 2, warped
   noise) + ControlNet + LoRA over 6 frames; the adapter effect is against the same look without it.

Prints one JSON line: per check, whether the frames are finite, their spread, how far the adapter moves
them, and the time. Exit status 1 when any output is NaN/inf or constant.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path[:0] = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "backend"),
                os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")]


def _frames(n: int = 2, size: int = 128):
    from kino_backend.benchmarks.diffusion import edge_map, make_frames
    frames = make_frames(n, size)
    return frames, [edge_map(f) for f in frames]


def _summary(outs, plain, seconds: float) -> dict:
    arr = np.stack(outs).astype(np.float32)
    return {"finite": bool(np.isfinite(arr).all()), "std": round(float(arr.std()), 3),
            "adapter_effect": round(float(np.abs(arr - np.stack(plain).astype(np.float32)).mean()), 3),
            "seconds": round(seconds, 2)}


def check_sd15(tiny: dict, device: str) -> dict:
    import torch

    from kino_backend.models.loader import load_img2img_pipeline
    from kino_backend.stages.diffusion.engine import ControlSettings, DiffusionEngine
    frames, edges = _frames()
    cache: dict = {}
    common = dict(controlnets=[(tiny["controlnet-tiny"], "canny")], loras=[(tiny["lora-tiny.safetensors"], 0.8)],
                  device=device, cache=cache)
    t0 = time.perf_counter()
    plain = load_img2img_pipeline(tiny["sd15-tiny.safetensors"], **common)
    eng = DiffusionEngine(plain.pipe, prompt="a painting", steps=4, strength=0.6, guidance=5.0, seed=1,
                          controls=[ControlSettings()], ip_slots=plain.ip_slots)
    base = eng.run(frames, size=(128, 128), control_images=[edges])
    loaded = load_img2img_pipeline(tiny["sd15-tiny.safetensors"], ip_adapter=tiny["ip-adapter-tiny"],
                                   faceid=tiny["ip-adapter-faceid-tiny.safetensors"], **common)
    eng = DiffusionEngine(loaded.pipe, prompt="a painting", steps=4, strength=0.6, guidance=5.0, seed=1,
                          controls=[ControlSettings()], ip_scale=0.7, ip_slots=loaded.ip_slots)
    eng.set_reference(frames[0])
    face = torch.nn.functional.normalize(torch.randn(1, 1, 512, generator=torch.Generator().manual_seed(3)), dim=-1)
    eng.set_slot_embeds("face", torch.cat([torch.zeros_like(face), face]).to(eng.device, loaded.pipe.dtype))
    eng.set_adapter_scale("face", 0.8)
    outs = eng.run(frames, size=(128, 128), control_images=[edges])
    return dict(_summary(outs, base, time.perf_counter() - t0), dtype=str(loaded.pipe.dtype))


def check_sdxl_pulid(tiny: dict, device: str) -> dict:
    import torch

    from kino_backend.identity.pulid.adapter import PulidAdapter
    from kino_backend.models.loader import load_img2img_pipeline
    from kino_backend.stages.diffusion.engine import DiffusionEngine
    frames, _ = _frames()
    t0 = time.perf_counter()
    loaded = load_img2img_pipeline(tiny["sdxl-tiny.safetensors"], device=device, cache={})
    eng = DiffusionEngine(loaded.pipe, prompt="a portrait", steps=4, strength=0.6, guidance=5.0, seed=1)
    base = eng.run(frames, size=(128, 128))
    adapter = PulidAdapter(tiny["pulid-tiny.safetensors"], tiny["eva-clip-tiny.safetensors"], device=eng.device)
    adapter.attach(loaded.pipe.unet)
    uncond = adapter.embed_none()
    cond = uncond + torch.randn(uncond.shape, generator=torch.Generator().manual_seed(5)).to(uncond)
    adapter.set_embedding(uncond, cond, scale=1.0, mode="fidelity", do_cfg=eng.do_cfg)
    outs = eng.run(frames, size=(128, 128))
    adapter.detach(loaded.pipe.unet)
    return dict(_summary(outs, base, time.perf_counter() - t0), dtype=str(loaded.pipe.dtype))


def check_animatediff(tiny: dict, device: str) -> dict:
    import types

    from kino_backend.stages import get_stage
    from kino_backend.stages.base import Frame, JobContext
    frames, _ = _frames(6)
    stage = get_stage("diffusion")
    base = {"model": tiny["sd15-tiny.safetensors"], "prompt": "a painting", "steps": 4, "strength": 0.6,
            "device": device, "noise": "warped", "controlnet": [tiny["controlnet-tiny"] + ":canny"],
            "lora": [tiny["lora-tiny.safetensors"] + ":0.8"]}
    t0 = time.perf_counter()
    outs = {}
    for name, extra in (("plain", {}), ("animatediff", {"motion_adapter": tiny["motion-adapter-tiny"],
                                                          "context_frames": 4, "context_overlap": 2})):
        ctx = JobContext(job_id=name, frames_total=6, width=128, height=128, seed=1,
                         resources=types.SimpleNamespace(cache={}))
        run = stage.open(stage.validate(dict(base, **extra)), ctx)
        try:
            outs[name] = [run.stylize(f) for f in run.prepare(iter([Frame(i + 1, im, im) for i, im in enumerate(frames)]))]
        finally:
            run.close()
    dtype = ctx.provenance["diffusion"]["dtype"]
    return dict(_summary(outs["animatediff"], outs["plain"], time.perf_counter() - t0), dtype=dtype,
                windows=ctx.provenance["diffusion"]["animatediff"]["windows"])


def main() -> int:
    import torch

    from kino_backend.models.tiny import make_tiny
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu", "torch": torch.__version__}
    with tempfile.TemporaryDirectory(prefix="kino-gpu-smoke-") as work:
        tiny = make_tiny(work)
        for name, check in (("sd15_controlnet_lora_ipadapter_faceid", check_sd15), ("sdxl_pulid", check_sdxl_pulid),
                            ("sd15_animatediff_warped_noise", check_animatediff)):
            try:
                result[name] = check(tiny, device)
            except Exception as exc:  # report every check, then fail below
                result[name] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))
    ok = all(isinstance(v, dict) and v.get("finite") and v.get("std", 0) > 0.5 and v.get("adapter_effect", 0) > 0.1
             for k, v in result.items() if k not in ("device", "torch"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
