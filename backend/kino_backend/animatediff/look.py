"""AnimateDiff in the ``diffusion`` look (``motion_adapter=PATH``): the user's SD 1.5 checkpoint, its
LoRAs, ControlNets, IP-Adapter and FaceID, plus a motion module, denoising the clip as a video.

The look's ``prepare`` takes the whole clip first (frames and condition images are held in a
``Spool``: in memory up to a budget, then on disk, so any length works): each frame is encoded as it
arrives (the VAE's latent distribution sampled with the clip seed's frame generator, as Kino's img2img
does), its noise taken from the look's ``noise`` mode, its condition images and IP-Adapter / FaceID
inputs computed. Then the frames are denoised together in sliding context windows (``sampler``,
``windows``), decoded a VAE chunk at a time, and handed to the schedule stage; ``stylize`` returns the
finished frame (the temporal stage's ``init`` is not used: the motion module links the frames).

Which frames: all of them; in the temporal stage's keyframe mode with ``keyframes=interval`` only the
keyframes (each shot's first frame, every K-th after it, and a long enough tail's last, as the
temporal stage picks them) as one sparser video, so keyframe mode keeps saving work. A frame the
schedule asks for that was not denoised (a fallback frame) is denoised on its own as a one-frame window.

Shots: a hard cut (the temporal stage's cut test, ``shots``) ends the video being denoised; each shot is
denoised on its own, so no context window links two unrelated shots.
"""
from __future__ import annotations

import inspect
from typing import Iterator, List

import numpy as np

from ..stages.base import Cancelled, StageError
from .spool import Spool

LINEAR_BETAS = {"beta_schedule": "linear", "beta_start": 0.00085, "beta_end": 0.012}  # AnimateDiff's training


def motion_models(path: str, unet, cache: dict):
    """(adapter, motion UNet sharing ``unet``), kept warm in ``cache`` per adapter file, device and dtype."""
    from ..models import files
    from .adapter import load_motion_adapter
    from .unet import build_motion_unet
    key = f"models:motion_adapter:{path}@{unet.device}/{unet.dtype}"
    entry = cache.get(key)
    ident = files.identity(path)
    if entry is None or entry["identity"] != ident:
        from ..models.device import oom_guard
        with oom_guard("loading the motion adapter"):
            adapter = load_motion_adapter(path).to(device=unet.device, dtype=unet.dtype)
        entry = cache[key] = {"identity": ident, "adapter": adapter, "unets": {}}
    if id(unet) not in entry["unets"]:
        entry["unets"] = {id(unet): build_motion_unet(unet, entry["adapter"])}  # one base UNet at a time
    return entry["adapter"], entry["unets"][id(unet)]


def animatediff_scheduler(scheduler):
    """A private copy of the look's scheduler on AnimateDiff's training noise schedule (linear betas)."""
    cfg = dict(scheduler.config)
    cfg.update(LINEAR_BETAS)
    return type(scheduler).from_config(cfg)


class AnimateDiffLook:
    def __init__(self, run):
        from ..models import files
        from .adapter import variant
        self.run = run
        engine = run.engine
        if run.loaded.arch != "sd15":
            raise StageError("INVALID_PARAMS", "AnimateDiff motion modules work with SD 1.5 checkpoints; this "
                             f"checkpoint is {run.loaded.arch}. Pick an SD 1.5 model or drop motion_adapter",
                             stage="diffusion")
        from ..resources import warm_cache
        self.path = run.paths["motion_adapter"]
        self.adapter, self.unet = motion_models(self.path, engine.pipe.unet, warm_cache(run.ctx))
        self.length = int(run.params["context_frames"])
        self.overlap = min(int(run.params["context_overlap"]), self.length - 1)
        self.spool = Spool()
        self.frames: List = []  # the clip's frames with their arrays in the spool
        self.pos: dict = {}  # frame index -> position in the clip
        self.latents: list = []
        self.noises: dict = {}
        self.adapter_inputs: dict = {}
        self.done: set = set()
        self.size = None
        self.shots = None  # ShotStarts, made with the first frame (every stage is open by then)
        cfg = dict(self.adapter.config)
        self.record = {"motion_adapter": files.describe(self.path),
                       "variant": variant(cfg, self.path),
                       "context_frames": self.length, "context_overlap": self.overlap,
                       "scheduler_betas": "linear (AnimateDiff's training schedule)", "windows": 0,
                       "frames_denoised": 0, "frames_on_their_own": [], "shots": []}

    # ---- taking the clip in -------------------------------------------------------------------------
    def prepare(self, frames: Iterator) -> Iterator:
        chunk: list = []
        for f in frames:
            self._take(f)
            chunk.append(len(self.frames) - 1)
            if len(chunk) >= self._plan()["vae_chunk"]:
                self._encode(chunk)
                chunk = []
        self._encode(chunk)
        from .shots import split_at_shots
        starts = self.shots.starts if self.shots else []
        for run in split_at_shots(self._selected(len(self.frames), starts), starts):
            self._denoise(run)
        self.record["shots"] = [int(self.frames[j].index) for j in starts]
        self.record["spooled_to_disk"] = self.spool.on_disk
        for j, f in enumerate(self.frames):
            image = self.spool.get(("img", j))
            yield f.replace(source=self.spool.get(("src", j)) if ("src", j) in self.spool else image, image=image)

    def _take(self, f) -> None:
        run = self.run
        j = len(self.frames)
        if self.size is None:
            self.size = run.work_size(*f.image.shape[:2])
        if self.shots is None:
            from ..noise.look import PLAN_KEY
            from .shots import ShotStarts
            self.shots = ShotStarts(run.ctx.cache.get(PLAN_KEY))
        self.shots.add(f.image)
        self.spool.put(("img", j), f.image)
        if f.source is not f.image:
            self.spool.put(("src", j), f.source)
        if run.annotators:
            at = run._at(f.image, self.size)
            for k, ann in enumerate(run.annotators):
                self.spool.put(("ctl", j, k), ann(at))
        self.adapter_inputs[j] = self._adapter_inputs(f)
        noise = run.noise.for_frames([f], self.size, self._strength())
        self.noises[j] = None if noise is None else noise[0]
        self.pos[f.index] = j
        self.frames.append(f.replace(source=None, image=None))

    def _adapter_inputs(self, f):
        run, engine = self.run, self.run.engine
        if not engine.ip_slots:
            return None
        inputs = dict(engine._slot_embeds)
        scale = None
        if run.per_frame_reference:
            inputs["reference"] = engine.encode_reference(f.image)
        if run.face is not None and run.face.per_frame:
            face, scale = run.face.for_frames([f])[0]
            inputs.update(face)
        return inputs, scale

    def _encode(self, chunk: list) -> None:
        import torch
        if not chunk:
            return
        engine = self.run.engine
        images = [self.spool.get(("img", j)) for j in chunk]
        gens = [torch.Generator("cpu").manual_seed(self.run.seed) for _ in chunk]
        from .sampler import encode_video
        with torch.inference_mode():
            lat = encode_video(engine.pipe.vae, engine.to_tensor(images, self.size), gens, chunk=len(chunk))
        self.latents.extend(lat.to("cpu", engine.pipe.unet.dtype))

    def _selected(self, n: int, starts: list) -> list:
        from ..noise.look import PLAN_KEY
        from .shots import keyframe_positions
        plan = self.run.ctx.cache.get(PLAN_KEY) or {}
        if plan.get("mode") == "keyframes-interval" and plan.get("interval", 0) > 1:
            return keyframe_positions(n, starts, int(plan["interval"]))
        return list(range(n))

    # ---- denoising ----------------------------------------------------------------------------------
    def _strength(self) -> float:
        return self.run.engine.effective_strength(self.run.params["strength"])

    def _plan(self) -> dict:
        if "plan" not in self.record:
            from .memory import plan
            engine = self.run.engine
            h, w = self.size if self.size else (512, 512)
            self.record["plan"] = plan(engine.device, (h // 8, w // 8), self.length, engine.do_cfg,
                                       engine.pipe.unet.dtype)
        return self.record["plan"]

    def _denoise(self, clip_frames: list) -> None:
        import torch
        from ..noise.clip import fixed_noise
        from .sampler import UNetPredictor, denoise, img2img_timesteps
        from .windows import context_windows, window_weights
        engine, run = self.run.engine, self.run
        sched = animatediff_scheduler(engine.pipe.scheduler)
        device, dtype = engine.device, engine.pipe.unet.dtype
        timesteps = img2img_timesteps(sched, run.params["steps"], self._strength(), device)
        x0 = torch.stack([self.latents[j] for j in clip_frames]).to(device)
        shape = tuple(x0.shape[1:])
        noise = torch.stack([self.noises[j] if self.noises[j] is not None else
                             torch.from_numpy(fixed_noise(run.seed, shape)) for j in clip_frames]).to(device, dtype)
        latents = sched.add_noise(x0, noise, timesteps[:1]).permute(1, 0, 2, 3)[None]
        windows = context_windows(len(clip_frames), self.length, self.overlap)
        cond = self._conditioning(clip_frames, len(timesteps))
        predict = UNetPredictor(self.unet, sched, cond, guidance=engine.guidance, do_cfg=engine.do_cfg,
                                controlnet=getattr(engine.pipe, "controlnet", None) if run.annotators else None)
        step_kw = self._step_kwargs(sched)
        first = self.frames[clip_frames[0]].index

        def on_step(window, windows_total, step, steps_total):
            if run.ctx.is_cancelled():
                raise Cancelled()
            run.ctx.report(frame=first, step=step, steps_total=steps_total, stage="diffusion", window=window,
                           windows_total=windows_total)

        from ..models.device import oom_guard
        with torch.inference_mode(), oom_guard("denoising with AnimateDiff (lower context_frames or the resolution)"):
            out = denoise(latents, timesteps, windows, window_weights(windows, len(clip_frames), self.overlap),
                          predict, lambda eps, t, x: sched.step(eps, t, x, **step_kw).prev_sample,
                          windows_per_call=self._plan()["windows_per_call"], on_step=on_step)
            self._decode(out[0].permute(1, 0, 2, 3), clip_frames)
        self.record["windows"] += len(windows)
        self.record["frames_denoised"] += len(clip_frames)

    def _conditioning(self, clip_frames: list, steps_total: int):
        from .conditioning import ClipConditioning
        run = self.run
        controls = (lambda j: [self.spool.get(("ctl", clip_frames[j], k)) for k in range(len(run.annotators))]) \
            if run.annotators else None
        adapters = (lambda j: self.adapter_inputs[clip_frames[j]]) if run.engine.ip_slots else None
        return ClipConditioning(run.engine, size=self.size, steps_total=steps_total, controls=controls,
                                adapters=adapters)

    def _step_kwargs(self, sched) -> dict:
        import torch
        params = set(inspect.signature(sched.step).parameters)
        kw = {}
        if "eta" in params:
            kw["eta"] = 0.0
        if "generator" in params:
            kw["generator"] = torch.Generator("cpu").manual_seed(self.run.seed)
        return kw

    def _decode(self, latents, clip_frames: list) -> None:
        from .sampler import decode_latents
        engine = self.run.engine
        chunk = self._plan()["vae_chunk"]
        for i in range(0, len(clip_frames), chunk):
            images = decode_latents(engine.pipe.vae, latents[i:i + chunk], chunk=chunk)
            shape = self._source_shape(clip_frames[i])
            for j, img in zip(clip_frames[i:i + chunk], engine.to_uint8(images, shape)):
                self.spool.put(("out", j), img)
                self.done.add(j)

    def _source_shape(self, j: int) -> tuple:
        return tuple(self.spool.get(("img", j)).shape[:2])

    # ---- handing frames out -------------------------------------------------------------------------
    def stylize(self, frame) -> np.ndarray:
        j = self.pos.get(frame.index)
        if j is None:
            raise StageError("INTERNAL", f"frame {frame.index} did not pass through the look's prepare",
                             frame=frame.index, stage="diffusion")
        if j not in self.done:
            self.record["frames_on_their_own"].append(int(frame.index))
            self._denoise([j])
        return np.array(self.spool.get(("out", j)))

    def close(self) -> None:
        self.spool.close()
        self.latents.clear()
        self.noises.clear()
