"""``python -m kino_backend bench train [--tiny] --json`` -> ``{"steps_per_s", "peak_mem_mb", "device",
"settings"}`` (docs/cli.md).

LoRA training steps per second at SD 1.5 size: a UNet built from the real SD 1.5 configuration in code
with random weights (nothing is downloaded), 512 px (64 x 64 latents), batch 1, LoRA rank 16 on the
attention projections (to_q, to_k, to_v, to_out.0), AdamW on the LoRA weights only, frozen base in
bf16 (fp16 where bf16 is unsupported) under autocast on CUDA. Prompt embeddings are random tensors of
the CLIP-L shape (Kino's trainer computes them once, so the text encoder is not in the step). A step is
forward + backward + optimizer step, timed after warm-up with CUDA synchronisation. Without ``--tiny``
it needs a CUDA GPU and exits 2 without one; ``--tiny`` runs a tiny UNet on the CPU in seconds.
Self-contained: needs only torch, diffusers and peft, so it runs under a GPU machine's own Python.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import List

SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280, 1280),
                 down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                 up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                 cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32, flip_sin_to_cos=True,
                 freq_shift=0, downsample_padding=1, act_fn="silu", norm_eps=1e-5)
TINY_UNET = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
                 down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                 up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                 attention_head_dim=8, norm_num_groups=32)
TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def parse_args(argv: List[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="kino bench train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiny", action="store_true", help="tiny UNet on the CPU (no GPU needed)")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON line")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 30 GPU, 5 tiny)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5 GPU, 2 tiny)")
    ap.add_argument("--resolution", type=int, default=None, help="pixels (default 512; 64 with --tiny)")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--batch", type=int, default=1)
    return ap.parse_args(argv)


def _peak_mb(device: str) -> float:
    import torch
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2 ** 20
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB; the whole process


def _build(a, device: str):
    import torch
    from diffusers import UNet2DConditionModel
    from peft import LoraConfig
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**(TINY_UNET if a.tiny else SD15_UNET))
    amp = None
    if device == "cuda":
        amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        unet.to(device, dtype=amp)
    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=a.rank, lora_alpha=a.rank, init_lora_weights="gaussian", target_modules=TARGETS))
    params = [p for n, p in unet.named_parameters() if "lora_" in n]
    for p in params:
        p.data = p.data.float()
        p.requires_grad_(True)
    unet.train()
    return unet, params, amp


def measure(a, device: str) -> dict:
    import contextlib

    import torch
    import torch.nn.functional as F

    from ..training.optim import optimizer_step

    unet, params, amp = _build(a, device)
    opt = torch.optim.AdamW(params, lr=1e-4)
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    lat = a.resolution // 8
    cross = unet.config.cross_attention_dim
    gen = torch.Generator(device).manual_seed(0)
    emb = torch.randn(a.batch, 77, cross, generator=gen, device=device)
    autocast = (lambda: torch.autocast("cuda", dtype=amp)) if amp is not None else contextlib.nullcontext

    def step():
        noisy = torch.randn(a.batch, 4, lat, lat, generator=gen, device=device)
        target = torch.randn(a.batch, 4, lat, lat, generator=gen, device=device)
        t = torch.randint(0, 1000, (a.batch,), generator=gen, device=device)
        with autocast():
            pred = unet(noisy, t, encoder_hidden_states=emb).sample
        loss = F.mse_loss(pred.float(), target)
        optimizer_step(loss, opt, scaler)
        return loss

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(a.warmup):
        step()
    sync()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    sync()
    seconds = time.perf_counter() - start
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the benchmark loss became {float(loss)}; the numbers would be meaningless")
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    settings = {"unet": "tiny" if a.tiny else "sd15", "resolution": a.resolution, "batch": a.batch, "rank": a.rank,
                "targets": TARGETS, "dtype": str(amp).replace("torch.", "") if amp else "float32",
                "steps": a.steps, "warmup": a.warmup, "unet_params": sum(p.numel() for p in unet.parameters()),
                "lora_params": sum(p.numel() for p in params), "torch": torch.__version__,
                "peak_mem_scope": "CUDA max allocated" if device == "cuda" else "process max RSS"}
    return {"steps_per_s": round(a.steps / seconds, 4), "peak_mem_mb": round(_peak_mb(device), 1),
            "device": name, "settings": settings}


def main(argv: List[str]) -> int:
    a = parse_args(argv)
    from . import pick_device
    device = pick_device(a.tiny, "train", "the SD 1.5-size training benchmark", "a tiny UNet")
    if device is None:
        return 2
    a.steps = a.steps or (5 if a.tiny else 30)
    a.warmup = a.warmup if a.warmup is not None else (2 if a.tiny else 5)
    a.resolution = a.resolution or (64 if a.tiny else 512)
    if a.resolution % 8 or a.steps < 1 or a.batch < 1 or a.rank < 1:
        print("kino bench train: --resolution must be a multiple of 8; --steps, --batch, --rank at least 1",
              file=sys.stderr)
        return 2
    result = measure(a, device)
    if a.json:
        print(json.dumps(result))
    else:
        print(f"train bench on {result['device']}: {result['steps_per_s']} steps/s, "
              f"peak {result['peak_mem_mb']} MB ({result['settings']['unet']} UNet, {a.resolution} px, "
              f"batch {a.batch}, rank {a.rank}, {result['settings']['dtype']})")
    return 0
