"""Helpers for the AnimateDiff tests (a uniquely named module: several test folders have a conftest)."""
from __future__ import annotations

import os
import types

import numpy as np


def write_tiny_video_models(folder) -> dict:
    """The tiny models these tests need, written by ``models.tiny``'s own builders (real formats)."""
    import torch
    from safetensors.torch import save_file

    from kino_backend.animatediff.tiny import write_tiny_motion_adapter
    from kino_backend.models import tiny as T
    folder = str(folder)
    out = {}
    with torch.no_grad():
        sd15 = T.sd15_pipeline()
        out["sd15-tiny"] = os.path.join(folder, "sd15-tiny")
        sd15.save_pretrained(out["sd15-tiny"], safe_serialization=True)
        out["controlnet-tiny"] = os.path.join(folder, "controlnet-tiny")
        T.controlnet(sd15.unet).save_pretrained(out["controlnet-tiny"], safe_serialization=True)
        out["lora-tiny.safetensors"] = os.path.join(folder, "lora-tiny.safetensors")
        save_file(T.kohya_lora_state(sd15), out["lora-tiny.safetensors"], metadata={"ss_network_module": "networks.lora"})
        ipa = os.path.join(folder, "ip-adapter-tiny", "models")
        enc = T.image_encoder()
        enc.save_pretrained(os.path.join(ipa, "image_encoder"), safe_serialization=True)
        save_file(T.ip_adapter_state(sd15.unet, enc.config.projection_dim),
                  os.path.join(ipa, "ip-adapter_sd15.safetensors"), metadata={"format": "pt"})
        out["ip-adapter-tiny"] = os.path.dirname(ipa)
        from kino_backend.models.tiny_adapters import tiny_faceid_state
        out["ip-adapter-faceid-tiny.safetensors"] = os.path.join(folder, "ip-adapter-faceid-tiny.safetensors")
        save_file(tiny_faceid_state(sd15.unet), out["ip-adapter-faceid-tiny.safetensors"], metadata={"format": "pt"})
    from kino_backend.identity.tiny_face import make_face_pack
    out["face-tiny"] = os.path.join(folder, "face-tiny")
    make_face_pack(out["face-tiny"])
    out["motion-adapter-tiny"] = write_tiny_motion_adapter(os.path.join(folder, "motion-adapter-tiny"))
    return out


def moving_frames(n: int, size: int = 64) -> list:
    """A textured square sliding over a gradient (uint8 RGB)."""
    yy, xx = np.mgrid[0:size, 0:size]
    out = []
    for t in range(n):
        img = np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 90)], axis=2).astype(np.uint8)
        x0 = 4 + (2 * t) % (size - 24)
        img[20:40, x0:x0 + 20] = (230, 60, 40)
        img[24:28, x0 + 4:x0 + 16] = (20, 20, 200)
        out.append(img)
    return out


def context(frames_total: int, seed: int = 5, cache=None):
    from kino_backend.stages.base import JobContext
    return JobContext(job_id="t", frames_total=frames_total, width=64, height=64, seed=seed,
                      resources=types.SimpleNamespace(cache={} if cache is None else cache))


def as_frames(images: list) -> list:
    from kino_backend.stages.base import Frame
    return [Frame(index=i + 1, source=im, image=im) for i, im in enumerate(images)]


def run_look(params: dict, images: list, ctx=None) -> tuple:
    """Open the diffusion stage with ``params``, run ``images`` through its prepare + stylize; (outputs, ctx)."""
    from kino_backend.stages import get_stage
    stage = get_stage("diffusion")
    ctx = ctx or context(len(images))
    run = stage.open(stage.validate(dict({"prompt": "a painting", "steps": 4, "strength": 0.6}, **params)), ctx)
    try:
        outs = [run.stylize(f) for f in run.prepare(iter(as_frames(images)))]
    finally:
        run.close()
    return outs, ctx


def face_frames(n: int, size: int = 128) -> list:
    """Dark frames with a bright textured square moving right: what the tiny face pack takes for a face."""
    yy, xx = np.mgrid[0:size, 0:size]
    rng = np.random.default_rng(1)
    coarse = np.repeat(np.repeat(rng.integers(180, 256, (4, 4, 3)), 12, 0), 12, 1).astype(np.uint8)
    out = []
    for t in range(n):
        img = np.stack([40 + xx * 30 // size, 40 + yy * 30 // size, np.full_like(xx, 40)], axis=2).astype(np.uint8)
        img[40:88, 30 + 4 * t:78 + 4 * t] = coarse
        out.append(img)
    return out
