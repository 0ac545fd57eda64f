"""``python -m kino_backend bench animatediff [--tiny] [--json]``: AnimateDiff video-to-video, frames per
second of Kino's path against diffusers' plain pipeline, in the same run, same models, same settings.

Models: the SD 1.5 architecture plus an AnimateDiff v2-shaped motion adapter, built from configs with
random weights (speed does not depend on the weights). Settings: 16 frames at 512x512, 20 steps,
strength 0.5, guidance 7.5, DDIM.

- ``baseline_fps``: diffusers' ``AnimateDiffVideoToVideoPipeline`` as a user calls it: prompt strings,
  PIL frames in and out, its defaults (decode chunk 16);
- ``kino_fps``: Kino's path (``animatediff.sampler``): prompt embeddings once, tensor frames, the motion
  UNet sharing the checkpoint's modules, context windows (one window here) with the windows-per-call and
  VAE chunk chosen from the free GPU memory, and on CUDA channels-last, cuDNN autotuning and fused QKV
  projections. It is fed the same random draws as the baseline, so the two outputs must agree
  (``kino_vs_baseline_max_abs_diff``).

``--tiny`` runs the same on tiny models on the CPU (seconds). Without ``--tiny`` it needs a CUDA GPU and
exits 2 without one. Needs torch and diffusers; not cv2.
"""
from __future__ import annotations

import argparse
import gc
import json
import time
from typing import List

import numpy as np

PROMPT = "an oil painting of a person walking, thick brush strokes"
NEGATIVE = "blurry, low quality"
ADAPTER = {"full": dict(block_out_channels=(320, 640, 1280, 1280), motion_layers_per_block=2),
           "tiny": dict(block_out_channels=(32, 64), motion_layers_per_block=2)}


def parse_args(argv: List[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="kino bench animatediff", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="tiny models on the CPU (no GPU needed)")
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    ap.add_argument("--frames", type=int, default=None, help="frames of the clip (default 16; tiny 8)")
    ap.add_argument("--size", type=int, default=None, help="frame size in pixels (default 512; tiny 64)")
    ap.add_argument("--steps", type=int, default=None, help="sampling steps (default 20; tiny 4)")
    ap.add_argument("--strength", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for torch with --tiny (default 1)")
    return ap.parse_args(argv)


def build(size_name: str, device: str, dtype):
    import torch
    from diffusers import MotionAdapter

    from ..models.random_pipelines import build_components, build_pipeline
    parts = build_components(size_name)
    pipe = build_pipeline(parts, controlnet=False).to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    torch.manual_seed(7)
    adapter = MotionAdapter(motion_norm_num_groups=32, motion_num_attention_heads=8, use_motion_mid_block=True,
                            **ADAPTER[size_name]).to(device=device, dtype=dtype)
    return pipe, adapter


def baseline(pipe, adapter, a, frames: list):
    """diffusers' plain video-to-video pipeline over the clip."""
    import torch
    from diffusers import AnimateDiffVideoToVideoPipeline
    from PIL import Image

    from ..animatediff.look import animatediff_scheduler
    ad = AnimateDiffVideoToVideoPipeline(vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer,
                                         unet=pipe.unet, motion_adapter=adapter,
                                         scheduler=animatediff_scheduler(pipe.scheduler), feature_extractor=None,
                                         image_encoder=None).to(pipe.device, pipe.dtype)
    ad.set_progress_bar_config(disable=True)
    video = [Image.fromarray(f) for f in frames]

    def call():
        out = ad(video=video, prompt=PROMPT, negative_prompt=NEGATIVE, height=a.size, width=a.size,
                 num_inference_steps=a.steps, strength=a.strength, guidance_scale=7.5,
                 generator=torch.Generator("cpu").manual_seed(0), output_type="np").frames[0]
        return np.asarray(out)
    return call


def kino(pipe, adapter, a, frames: list, device: str):
    """Kino's path with the baseline's random draws (one generator: VAE samples, then the noise)."""
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    from ..animatediff.conditioning import ClipConditioning
    from ..animatediff.look import animatediff_scheduler
    from ..animatediff.memory import plan
    from ..animatediff.sampler import UNetPredictor, decode_latents, denoise, encode_video, img2img_timesteps
    from ..animatediff.unet import build_motion_unet
    from ..animatediff.windows import context_windows, window_weights
    from ..stages.diffusion.engine import DiffusionEngine
    engine = DiffusionEngine(pipe, prompt=PROMPT, negative_prompt=NEGATIVE, steps=a.steps, strength=a.strength,
                             guidance=7.5, seed=0, channels_last=True)
    motion = build_motion_unet(pipe.unet, adapter)
    applied = optimize(motion, device)
    mem = plan(engine.device, (a.size // 8, a.size // 8), 16, True, pipe.dtype)
    n = len(frames)
    windows = context_windows(n, 16, 4)

    def call():
        sched = animatediff_scheduler(pipe.scheduler)
        with torch.inference_mode():
            ts = img2img_timesteps(sched, a.steps, a.strength, engine.device)
            g = torch.Generator("cpu").manual_seed(0)
            x0 = encode_video(pipe.vae, engine.to_tensor(frames, (a.size, a.size)), g, chunk=16)
            noise = randn_tensor((1, *x0.shape), generator=g, device=x0.device, dtype=x0.dtype)
            latents = sched.add_noise(x0[None], noise, ts[:1]).permute(0, 2, 1, 3, 4)
            cond = ClipConditioning(engine, size=(a.size, a.size), steps_total=len(ts))
            predict = UNetPredictor(motion, sched, cond, guidance=7.5, do_cfg=True)
            out = denoise(latents, ts, windows, window_weights(windows, n, 4), predict,
                          lambda eps, t, x: sched.step(eps, t, x, eta=0.0).prev_sample,
                          windows_per_call=mem["windows_per_call"])
            images = decode_latents(pipe.vae, out[0].permute(1, 0, 2, 3), chunk=mem["vae_chunk"])
            return images.permute(0, 2, 3, 1).cpu().numpy()
    return call, applied, mem


def optimize(motion, device: str) -> list:
    import torch
    if device != "cuda":
        return []
    torch.backends.cudnn.benchmark = True
    motion.to(memory_format=torch.channels_last)
    applied = ["channels_last", "cudnn.benchmark"]
    try:
        motion.fuse_qkv_projections()
        applied.append("fused_qkv")
    except (AttributeError, ValueError, RuntimeError) as exc:  # optional speed-up, never a failure
        applied.append(f"fused_qkv unavailable: {type(exc).__name__}")
    return applied


def timed(fn, device: str) -> tuple:
    import torch
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - t0, out


def measure(a: argparse.Namespace, device: str) -> dict:
    import torch

    from .diffusion import device_name, make_frames, peak_memory_mb
    a.size = a.size or (64 if a.tiny else 512)
    a.steps = a.steps or (4 if a.tiny else 20)
    n = a.frames or (8 if a.tiny else 16)
    dtype = torch.float16 if device == "cuda" else torch.float32
    t0 = time.perf_counter()
    pipe, adapter = build("tiny" if a.tiny else "full", device, dtype)
    frames = make_frames(n, a.size)
    base_call = baseline(pipe, adapter, a, frames)
    build_s = time.perf_counter() - t0
    base_call()  # warm-up (and cuDNN autotuning) before timing
    base_s, base_out = timed(base_call, device)
    base_peak = peak_memory_mb(device)
    base_call = None  # the baseline's own copy of the UNet goes before Kino's run is measured
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    kino_call, applied, mem = kino(pipe, adapter, a, frames, device)
    kino_call()
    kino_s, kino_out = timed(kino_call, device)
    diff = float(np.abs(kino_out.astype(np.float32) - base_out.astype(np.float32)).max())
    return {"baseline_fps": round(n / base_s, 4), "kino_fps": round(n / kino_s, 4), "ratio": round(base_s / kino_s, 3),
            "peak_mem_mb": round(peak_memory_mb(device), 1), "baseline_peak_mem_mb": round(base_peak, 1),
            "device": device_name(device),
            "settings": {"models": "SD 1.5 architecture + AnimateDiff v2-shaped motion adapter, random weights ("
                                   + ("tiny" if a.tiny else "full size") + ")",
                         "frames": n, "size": [a.size, a.size], "steps": a.steps, "strength": a.strength,
                         "guidance": 7.5, "scheduler": "ddim, linear betas", "dtype": str(dtype).replace("torch.", ""),
                         "context_frames": 16, "context_overlap": 4, "memory_plan": mem,
                         "kino_optimizations": ["prompt embeddings once", "tensor frames (no PIL)"] + applied,
                         "kino_vs_baseline_max_abs_diff": round(diff, 5), "build_seconds": round(build_s, 1),
                         "torch": torch.__version__, "diffusers": __import__("diffusers").__version__}}


def main(argv: List[str]) -> int:
    a = parse_args(argv)
    import torch

    from . import pick_device
    device = pick_device(a.tiny, "animatediff", "the full-size AnimateDiff benchmark", "tiny models")
    if device is None:
        return 2
    if a.tiny:
        torch.set_num_threads(a.threads or 1)
    result = measure(a, device)
    print(f"animatediff bench on {result['device']}: kino {result['kino_fps']} fps vs diffusers "
          f"{result['baseline_fps']} fps (x{result['ratio']}), peak {result['peak_mem_mb']} MB")
    if a.json:
        print(json.dumps(result))
    return 0
