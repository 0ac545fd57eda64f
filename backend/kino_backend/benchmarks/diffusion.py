"""``python -m kino_backend bench diffusion [--tiny] [--json]``: frames per second of the diffusion look.

Same run, same models, same settings (SD 1.5 architecture with random weights -- speed does not
depend on the weights --, 512x512, img2img strength 0.5, 20 steps, guidance 7.5, one ControlNet):

- ``baseline_fps``: the per-frame loop a user would write with diffusers: call the pipeline once per
  frame with the prompt strings and PIL images;
- ``kino_fps``: Kino's engine (``stages/diffusion_engine.py``): prompt embeddings once per clip,
  frames as tensors on the device (no PIL), ``batch`` frames per call with one generator per frame,
  channels-last, cuDNN autotuning and fused QKV projections on CUDA;
- ``fast_fps``: Kino's fast mode: LCM scheduler, 4 steps (2 run at strength 0.5), guidance 1 (no
  CFG), TAESD encode/decode, the same ControlNet.

``--tiny`` runs the same on tiny models on the CPU (seconds). Without ``--tiny`` it needs a CUDA GPU
and exits 2 without one. Control images are precomputed for every path (annotator time is excluded),
so the numbers compare the diffusion work only. Needs torch and diffusers; not cv2.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Callable, List

import numpy as np

PROMPT = "an oil painting of a person, thick brush strokes"
NEGATIVE = "blurry, low quality"


def parse_args(argv: List[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="kino bench diffusion", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="tiny models on the CPU (no GPU needed)")
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    ap.add_argument("--frames", type=int, default=None, help="timed frames per path (default 16 GPU, 4 tiny)")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads for torch (default 1 with --tiny: the CPU is shared, and oversubscribed "
                         "OpenMP threads slow both paths down by 10x)")
    ap.add_argument("--batch", type=int, default=None, help="Kino frames per call (default 8 on GPU, 1 on CPU)")
    ap.add_argument("--size", type=int, default=None, help="frame size in pixels (default 512, tiny 128)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--strength", type=float, default=0.5)
    return ap.parse_args(argv)


def make_frames(n: int, size: int) -> List[np.ndarray]:
    """A moving, textured test clip (gradients + a travelling square), uint8 RGB."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = []
    for t in range(n):
        r = 0.5 + 0.5 * np.sin(6.0 * xx + 0.3 * t)
        g = 0.5 + 0.5 * np.cos(5.0 * yy - 0.2 * t)
        b = 0.5 + 0.25 * np.sin(9.0 * (xx + yy))
        img = np.stack([r, g, b], axis=2)
        x0 = int((0.1 + 0.05 * t) % 0.7 * size)
        img[size // 3: size // 3 + size // 4, x0: x0 + size // 4] = (0.9, 0.2, 0.1)
        out.append((img * 255).astype(np.uint8))
    return out


def edge_map(rgb: np.ndarray) -> np.ndarray:
    """A canny-like condition image from gradient magnitude (numpy only)."""
    gray = rgb.astype(np.float32).mean(axis=2)
    gy, gx = np.gradient(gray)
    mag = np.hypot(gx, gy)
    edges = (mag > np.percentile(mag, 90)).astype(np.uint8) * 255
    return np.repeat(edges[:, :, None], 3, axis=2)


class Clock:
    """Wall-clock timing that waits for the GPU (``cuda.synchronize``) before reading the time."""

    def __init__(self, device: str):
        import torch
        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def time(self, fn: Callable[[], list]) -> tuple[float, list]:
        self.sync()
        start = time.perf_counter()
        out = fn()
        self.sync()
        return time.perf_counter() - start, out


def time_paths(clock: Clock, paths: dict, frames: list, controls: list, batch: int, interleave: bool) -> tuple:
    """Seconds and outputs per path over ``frames[batch:]`` (``frames[:batch]`` warms each path up).
    ``interleave``: alternate the paths chunk by chunk, so load changes on a shared CPU hit all alike."""
    for fn in paths.values():
        fn(frames[:batch], controls[:batch])
    chunks = [slice(i, i + batch) for i in range(batch, len(frames), batch)]
    order = [(name, c) for c in chunks for name in paths] if interleave else \
        [(name, c) for name in paths for c in chunks]
    secs = {name: 0.0 for name in paths}
    outs: dict = {name: [] for name in paths}
    for name, c in order:
        dt, out = clock.time(lambda: paths[name](frames[c], controls[c]))
        secs[name] += dt
        outs[name].extend(out)
    return secs, outs


def run_baseline(pipe, a) -> Callable[[list, list], list]:
    """What a user writes: one pipeline call per frame, prompt strings, PIL images in and out."""
    import torch
    from PIL import Image

    def loop(frames, controls):
        outs = []
        for img, ctrl in zip(frames, controls):
            result = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, image=Image.fromarray(img),
                          control_image=Image.fromarray(ctrl), strength=a.strength, num_inference_steps=a.steps,
                          guidance_scale=7.5, controlnet_conditioning_scale=1.0,
                          generator=torch.Generator("cpu").manual_seed(0)).images[0]
            outs.append(np.asarray(result))
        return outs
    return loop


def run_kino(engine, size: int) -> Callable[[list, list], list]:
    def call(frames, controls):
        return engine.run(frames, size=(size, size), control_images=[controls])
    return call


def kino_optimizations(pipe, device: str) -> List[str]:
    """Switches for Kino's path on CUDA (after the baseline ran, as they change shared modules)."""
    import torch
    applied = []
    if device != "cuda":
        return applied
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    applied += ["channels_last", "cudnn.benchmark", "tf32"]
    try:
        pipe.fuse_qkv_projections()
        applied.append("fused_qkv")
    except (AttributeError, ValueError, RuntimeError) as exc:  # optional speed-up, never a failure
        applied.append(f"fused_qkv unavailable: {type(exc).__name__}")
    return applied


def peak_memory_mb(device: str) -> float:
    import torch
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2 ** 20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build(size_name: str, device: str, dtype):
    from ..models.random_pipelines import build_components, build_pipeline
    parts = build_components(size_name)
    pipe = build_pipeline(parts, controlnet=True).to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe, parts["taesd"].to(device=device, dtype=dtype)


def measure(a: argparse.Namespace, device: str) -> dict:
    import torch

    from ..stages.diffusion.engine import DiffusionEngine
    size = a.size or (128 if a.tiny else 512)
    n = a.frames or (4 if a.tiny else 16)
    batch = a.batch or (8 if device == "cuda" else 1)
    dtype = torch.float16 if device == "cuda" else torch.float32
    t0 = time.perf_counter()
    pipe, taesd = build("tiny" if a.tiny else "full", device, dtype)
    build_s = time.perf_counter() - t0
    frames = make_frames(n + batch, size)
    controls = [edge_map(f) for f in frames]
    clock = Clock(device)

    def engines():
        kino = DiffusionEngine(pipe, prompt=PROMPT, negative_prompt=NEGATIVE, steps=a.steps, strength=a.strength,
                               guidance=7.5, seed=0, channels_last=True)
        fast = DiffusionEngine(pipe, prompt=PROMPT, negative_prompt=NEGATIVE, steps=4, strength=a.strength,
                               guidance=1.0, seed=0, scheduler="lcm", taesd=taesd, channels_last=True)
        return {"kino": run_kino(kino, size), "fast": run_kino(fast, size)}

    if device == "cuda":  # baseline first: Kino's switches change modules the baseline shares
        secs, outs = time_paths(clock, {"baseline": run_baseline(pipe, a)}, frames, controls, batch, False)
        applied = kino_optimizations(pipe, device)
        torch.cuda.reset_peak_memory_stats()
        more = time_paths(clock, engines(), frames, controls, batch, False)
        secs.update(more[0])
        outs.update(more[1])
    else:
        applied = []
        secs, outs = time_paths(clock, {"baseline": run_baseline(pipe, a), **engines()}, frames, controls, batch, True)
    baseline_fps, kino_fps, fast_fps = (n / secs[k] for k in ("baseline", "kino", "fast"))
    kino_out, base_out = outs["kino"], outs["baseline"]
    agreement = float(np.mean([np.abs(k.astype(np.float32) - b).mean() for k, b in zip(kino_out, base_out)]))
    return {
        "baseline_fps": round(baseline_fps, 4), "kino_fps": round(kino_fps, 4),
        "ratio": round(kino_fps / baseline_fps, 3), "fast_fps": round(fast_fps, 4),
        "peak_mem_mb": round(peak_memory_mb(device), 1), "device": device_name(device),
        "settings": {
            "models": f"SD 1.5 architecture, random weights ({'tiny' if a.tiny else 'full size'}), 1 ControlNet",
            "size": [size, size], "frames_timed": n, "warmup_frames": batch, "steps": a.steps,
            "strength": a.strength, "guidance": 7.5, "scheduler": "ddim", "dtype": str(dtype).replace("torch.", ""),
            "kino_batch": batch, "kino_optimizations": ["prompt embeddings once", "tensor frames (no PIL)"] + applied,
            "fast": {"scheduler": "lcm", "steps": 4, "strength": a.strength, "guidance": 1.0, "decoder": "taesd"},
            "control_images": "precomputed for all paths (annotator time excluded)",
            "timing": "paths interleaved chunk by chunk" if device != "cuda" else "baseline, then Kino, then fast",
            "kino_vs_baseline_mean_abs_diff_0_255": round(agreement, 3),
            "build_seconds": round(build_s, 1), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "diffusers": __import__("diffusers").__version__,
        },
    }


def device_name(device: str) -> str:
    import torch
    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu"


def main(argv: List[str]) -> int:
    a = parse_args(argv)
    import torch

    from . import pick_device
    device = pick_device(a.tiny, "diffusion", "the full-size benchmark", "tiny models")
    if device is None:
        return 2
    if a.tiny:
        torch.set_num_threads(a.threads or 1)
    result = measure(a, device)
    if not a.json:
        for key in ("baseline_fps", "kino_fps", "ratio", "fast_fps", "peak_mem_mb", "device"):
            print(f"{key:>13}: {result[key]}")
    else:
        print(f"diffusion bench on {result['device']}: kino {result['kino_fps']} fps vs baseline "
              f"{result['baseline_fps']} fps (x{result['ratio']}), fast {result['fast_fps']} fps")
        print(json.dumps(result))
    return 0
