"""DreamBooth-style LoRA training on a folder of images (a character's photos or frames, or style images).

``train_lora(LoraSettings(...), progress=cb)`` loads the base checkpoint through
``kino_backend.models.loader`` (the same path as stylizing), encodes the images with the VAE and the
captions with the text encoder once, attaches peft LoRA layers to the UNet attention (to_q, to_k,
to_v, to_out.0) and optionally to the text encoder, trains with the noise-prediction MSE (plus the
prior-preservation loss on class images when asked), and saves kohya-keyed weights (``kohya.py``).

``loss_first`` / ``loss_last`` are the mean loss on one FIXED evaluation batch (the first images, their
latent means, seeded noise, fixed timesteps) before and after training, so they are comparable.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Optional

from kino_addon.core.folder_checks import unwritable_reason

from . import kohya
from .data import load_folder, square_array
from .optim import optimizer_step

UNET_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]
EVAL_IMAGES = 4
MAX_RANK = 256  # the panel's limit too
EVAL_TIMESTEP_FRACTIONS = (0.1, 0.35, 0.6, 0.85)


@dataclass
class LoraSettings:
    """Everything a LoRA training run is made from (images, base model, rank, steps, learning rate...)."""
    images: Optional[str]  # folder of training images (may be None when images are passed in memory)
    model: str
    out: str
    prompt: str = "a photo of kino_subject"
    steps: int = 500
    resolution: int = 512
    rank: int = 16
    alpha: Optional[float] = None  # default: rank (scale 1)
    lr: float = 1e-4
    batch: int = 1
    seed: int = 0
    train_text_encoder: bool = False
    class_prompt: Optional[str] = None  # prior preservation on when this is set
    class_images: Optional[str] = None  # folder of class images; generated from the base model when not given
    num_class_images: int = 50
    class_steps: int = 25  # denoising steps when generating class images
    prior_weight: float = 1.0
    device: str = "auto"

    def check(self) -> None:
        if self.steps < 1 or self.batch < 1 or self.rank < 1:
            raise ValueError("steps, batch and rank must be at least 1")
        if self.rank > MAX_RANK:
            raise ValueError(f"rank {self.rank} is more than {MAX_RANK}: a LoRA that large is bigger than the "
                             "model it changes; 4-64 is usual (default 16)")
        if self.alpha is not None and not (math.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"alpha {self.alpha} must be positive (the LoRA's scale is alpha / rank; leave it out "
                             "for alpha = rank)")
        if not self.class_prompt and (self.class_images or self.prior_weight != 1.0):
            raise ValueError("class images and the prior weight belong to prior preservation, which is on only with "
                             "a class prompt (--class-prompt, e.g. \"a photo of a person\")")
        if self.resolution < 64 or self.resolution % 8:
            raise ValueError(f"resolution {self.resolution} must be a multiple of 8, at least 64 (e.g. 512)")
        if not self.lr > 0:
            raise ValueError(f"learning rate {self.lr} must be positive (e.g. 1e-4)")
        if self.class_prompt and not self.class_images and self.num_class_images < 1:
            raise ValueError("prior preservation needs class images: give a folder or num_class_images >= 1")


def _load_pipe(s: LoraSettings, device: str):
    from ..models.loader import load_img2img_pipeline
    loaded = load_img2img_pipeline(s.model, device="cpu", dtype="fp32", cache={})
    if loaded.arch != "sd15":
        raise ValueError(f"LoRA training supports SD 1.x checkpoints; {s.model} is {loaded.arch}. "
                         "Pick an SD 1.5-family checkpoint.")
    pipe = loaded.pipe
    for name in ("unet", "vae", "text_encoder"):
        getattr(pipe, name).to(device).requires_grad_(False)
    return pipe


def _encode_images(pipe, images, device, chunk: int = 4):
    """VAE latent means and stds (scaled), computed once."""
    import torch
    vae = pipe.vae
    scale, shift = vae.config.scaling_factor, getattr(vae.config, "shift_factor", None) or 0.0
    means, stds = [], []
    with torch.no_grad():
        for i in range(0, len(images), chunk):
            x = torch.from_numpy(images[i:i + chunk]).permute(0, 3, 1, 2).float().div(127.5).sub(1.0).to(device)
            dist = vae.encode(x).latent_dist
            means.append((dist.mean - shift) * scale)
            stds.append(dist.std * scale)
    return torch.cat(means), torch.cat(stds)


def _tokens(pipe, captions, device):
    tok = pipe.tokenizer
    ids = tok(captions, padding="max_length", max_length=tok.model_max_length, truncation=True,
              return_tensors="pt").input_ids
    return ids.to(device)


def _embed(text_encoder, ids):
    return text_encoder(ids)[0]


def _attach_lora(pipe, s: LoraSettings, alpha: float):
    import torch
    from peft import LoraConfig, inject_adapter_in_model
    torch.manual_seed(s.seed)
    pipe.unet.add_adapter(LoraConfig(r=s.rank, lora_alpha=alpha, init_lora_weights="gaussian",
                                     target_modules=UNET_TARGETS))
    params = [p for n, p in pipe.unet.named_parameters() if "lora_" in n]
    if s.train_text_encoder:
        inject_adapter_in_model(LoraConfig(r=s.rank, lora_alpha=alpha, init_lora_weights="gaussian",
                                           target_modules=TEXT_TARGETS), pipe.text_encoder)
        params += [p for n, p in pipe.text_encoder.named_parameters() if "lora_" in n]
    for p in params:
        p.requires_grad_(True)
        p.data = p.data.float()
    return params


@dataclass
class _Set:
    """Precomputed training examples: latent mean/std, token ids, frozen prompt embeddings."""
    mean: object
    std: object
    ids: object
    emb: Optional[object]


def _prepare_set(pipe, images, captions, device, train_te: bool) -> _Set:
    import torch
    mean, std = _encode_images(pipe, images, device)
    ids = _tokens(pipe, captions, device)
    emb = None
    if not train_te:
        with torch.no_grad():
            emb = _embed(pipe.text_encoder, ids)
    return _Set(mean, std, ids, emb)


def _loss(pipe, noise_sched, data: _Set, idx, latents, noise, t, autocast):
    import torch
    import torch.nn.functional as F
    emb = data.emb[idx] if data.emb is not None else _embed(pipe.text_encoder, data.ids[idx])
    noisy = noise_sched.add_noise(latents, noise, t)
    if noise_sched.config.prediction_type == "v_prediction":
        target = noise_sched.get_velocity(latents, noise, t)
    else:
        target = noise
    with autocast():
        pred = pipe.unet(noisy, t, encoder_hidden_states=emb).sample
    return F.mse_loss(pred.float(), target.float())


def _fixed_eval(data: _Set, seed: int, num_timesteps: int, device):
    """The fixed evaluation batch: first images x fixed timesteps, seeded noise, latent means."""
    import torch
    n = min(EVAL_IMAGES, data.mean.shape[0])
    idx = torch.arange(n, device=device).repeat_interleave(len(EVAL_TIMESTEP_FRACTIONS))
    t = torch.tensor([int(f * num_timesteps) for f in EVAL_TIMESTEP_FRACTIONS] * n, device=device).long()
    gen = torch.Generator("cpu").manual_seed(seed + 1_000_003)
    noise = torch.randn((len(idx), *data.mean.shape[1:]), generator=gen).to(device)
    return idx, t, noise


def eval_loss(pipe, noise_sched, data: _Set, fixed, chunk: int, autocast) -> float:
    import torch
    idx, t, noise = fixed
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(idx), chunk):
            sl = slice(i, i + chunk)
            loss = _loss(pipe, noise_sched, data, idx[sl], data.mean[idx[sl]], noise[sl], t[sl], autocast)
            total += float(loss) * len(idx[sl])
    return total / len(idx)


def _class_images(pipe, s: LoraSettings, device):
    """Class images for prior preservation: a given folder, or generated from the base model (seeded)."""
    import numpy as np
    import torch
    if s.class_images:
        return load_folder(s.class_images, s.resolution, s.class_prompt, what="--class-images",
                           limit=s.num_class_images or None)
    from diffusers import StableDiffusionPipeline
    t2i = StableDiffusionPipeline(**{k: v for k, v in pipe.components.items()
                                     if k in ("vae", "text_encoder", "tokenizer", "unet", "scheduler")},
                                  safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    t2i.set_progress_bar_config(disable=True)
    out = []
    for i in range(s.num_class_images):
        gen = torch.Generator("cpu").manual_seed(s.seed + 7919 * (i + 1))
        img = t2i(s.class_prompt, height=s.resolution, width=s.resolution, num_inference_steps=s.class_steps,
                  generator=gen, output_type="np").images[0]
        out.append((np.clip(img, 0, 1) * 255).round().astype(np.uint8))
    return np.stack(out), [s.class_prompt] * len(out)


def _autocast_for(device: str):
    import contextlib

    import torch
    if device.startswith("cuda"):
        dt = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return (lambda: torch.autocast("cuda", dtype=dt)), dt
    return contextlib.nullcontext, None


def _sample_batch(data: _Set, batch: int, num_timesteps: int, gen, device):
    import torch
    n = data.mean.shape[0]
    idx = torch.randint(0, n, (batch,), generator=gen).to(device)
    eps = torch.randn((batch, *data.mean.shape[1:]), generator=gen).to(device)
    latents = data.mean[idx] + data.std[idx] * eps
    noise = torch.randn(latents.shape, generator=gen).to(device)
    t = torch.randint(0, num_timesteps, (batch,), generator=gen).to(device).long()
    return idx, latents, noise, t


def _train_loop(pipe, noise_sched, s, inst: _Set, prior: Optional[_Set], params, autocast, amp_dtype, progress):
    import torch
    opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=1e-2)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    gen = torch.Generator("cpu").manual_seed(s.seed)
    T = noise_sched.config.num_train_timesteps
    pipe.unet.train()
    for step in range(1, s.steps + 1):
        loss = _loss(pipe, noise_sched, inst, *_sample_batch(inst, s.batch, T, gen, pipe.unet.device), autocast)
        if prior is not None:
            loss = loss + s.prior_weight * _loss(pipe, noise_sched, prior,
                                                 *_sample_batch(prior, s.batch, T, gen, pipe.unet.device), autocast)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the training loss became {float(loss)} at step {step}; "
                                     "lower the learning rate (--lr) and try again.")
        optimizer_step(loss, opt, scaler)
        if progress is not None:
            progress(step=step, steps_total=s.steps, loss=float(loss.detach()))
    pipe.unet.eval()


def _training_images(s: LoraSettings, arrays):
    import numpy as np
    images, captions = (load_folder(s.images, s.resolution, s.prompt) if s.images
                        else (np.zeros((0, s.resolution, s.resolution, 3), np.uint8), []))
    if arrays:
        extra = np.stack([square_array(a, s.resolution) for a in arrays])
        images, captions = np.concatenate([images, extra]), captions + [s.prompt] * len(extra)
    if not len(images):
        raise ValueError("no training images: give a folder of images or frames")
    return images, captions


def check_output(out: str) -> None:
    """Before any training: the LoRA can be written where asked (a run of hours must not end in a
    refusal to save)."""
    folder = os.path.dirname(os.path.abspath(out))
    if os.path.isdir(out):
        raise ValueError(f"--out {out} is a folder; give a file name ending in .safetensors")
    try:
        os.makedirs(folder, exist_ok=True)
        probe = os.path.join(folder, f".kino-write-test-{os.getpid()}")
        with open(probe, "wb"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise ValueError(f"cannot write the LoRA into {folder} ({unwritable_reason(folder, exc)}); pick another "
                         "--out") from None


def training_record(s: LoraSettings, images, captions, device: str) -> dict:
    """What the LoRA file's ``kino_training`` metadata keeps to reproduce it: the settings and seed, the
    base model (size and header hash), the training images and captions (a digest of the pixels and
    text), the versions."""
    import hashlib

    import numpy as np

    from ..models.files import describe
    from ..provenance import versions
    pixels = hashlib.sha256()
    for img, cap in zip(images, captions):
        pixels.update(np.ascontiguousarray(img))
        pixels.update(cap.encode("utf-8"))
    info = {k: v for k, v in dataclasses.asdict(s).items() if k not in ("out",)}
    info.update(images_count=len(images), images_sha256=pixels.hexdigest(), model_file=os.path.basename(s.model),
                model=describe(s.model), device=device, versions=versions())
    return info


def train_lora(s: LoraSettings, progress: Optional[Callable[..., None]] = None, arrays=None) -> dict:
    """Train and save; return ``{"loss_first", "loss_last", "steps", "seconds", "out", "layers", "settings"}``.

    ``arrays``: extra training images in memory (RGB uint8, any size; e.g. a clip's frames), captioned
    with the prompt. ``progress(step=, steps_total=, loss=)`` is called after every step (the step's
    training loss); it may raise to stop training (e.g. a cancelled job).
    """
    import torch
    from diffusers import DDPMScheduler

    from ..models.device import resolve_device
    start = time.perf_counter()
    s.check()
    check_output(s.out)
    alpha = float(s.alpha if s.alpha is not None else s.rank)
    device = resolve_device(s.device)
    images, captions = _training_images(s, arrays)
    pipe = _load_pipe(s, device)
    noise_sched = DDPMScheduler.from_config(pipe.scheduler.config)
    autocast, amp_dtype = _autocast_for(device)
    prior = None
    if s.class_prompt:
        c_images, c_captions = _class_images(pipe, s, device)
        prior = _prepare_set(pipe, c_images, c_captions, device, s.train_text_encoder)
    inst = _prepare_set(pipe, images, captions, device, s.train_text_encoder)
    fixed = _fixed_eval(inst, s.seed, noise_sched.config.num_train_timesteps, device)
    params = _attach_lora(pipe, s, alpha)
    loss_first = eval_loss(pipe, noise_sched, inst, fixed, max(s.batch, 4), autocast)
    _train_loop(pipe, noise_sched, s, inst, prior, params, autocast, amp_dtype, progress)
    loss_last = eval_loss(pipe, noise_sched, inst, fixed, max(s.batch, 4), autocast)
    if not (math.isfinite(loss_first) and math.isfinite(loss_last)):
        raise FloatingPointError("the evaluation loss is not finite, so no LoRA was written; lower the learning "
                                 "rate (--lr) and try again.")
    info = training_record(s, images, captions, device)
    layers = kohya.save_kohya(s.out, pipe.unet, pipe.text_encoder if s.train_text_encoder else None,
                              s.rank, alpha, info)
    return {"loss_first": loss_first, "loss_last": loss_last, "steps": s.steps,
            "seconds": time.perf_counter() - start, "out": s.out, "layers": layers, "settings": info}
