"""The diffusion look's frame engine: img2img (+ ControlNet, IP-Adapter) on batches of frames with a
loaded diffusers pipeline, with everything that does not change per frame computed once per clip.

Shared by the ``diffusion`` stage and ``bench diffusion``; needs torch and diffusers (imported
lazily), never cv2 or PIL: frames stay ``torch`` tensors on the device from upload to download.

What it does once per clip: encode the prompt (``encode_prompt``), encode a fixed reference image
(``image_embeds``), pick the scheduler, optionally swap in a TAESD decoder.
Per frame: upload, resize to the work size, run the pipeline with ``prompt_embeds`` /
``ip_adapter_image_embeds`` and one generator per frame seeded with the clip seed (the same noise
on every frame, unless the caller passes each frame's own: ``run(noise=...)``, the look's ``noise``
modes), resize back, download as uint8.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from ..base import StageError
from kino_addon.protocol.errors import INVALID_PARAMS, OUT_OF_MEMORY

@dataclass(frozen=True)
class ControlSettings:
    """How one ControlNet steers: conditioning scale and the fraction of steps it acts on."""

    scale: float = 1.0
    start: float = 0.0
    end: float = 1.0


def _view(pipe, swaps: dict):
    """A pipeline sharing ``pipe``'s modules with some components swapped (``from_pipe``, quiet)."""
    from diffusers.utils import logging as dlogging
    level = dlogging.get_verbosity()
    dlogging.set_verbosity_error()
    try:
        if "vae" in swaps:
            swaps["vae"] = swaps["vae"].to(device=pipe.device, dtype=pipe.dtype)
        return type(pipe).from_pipe(pipe, dtype=pipe.dtype, **swaps)
    finally:
        dlogging.set_verbosity(level)


def image_embeds(pipe, image: np.ndarray, device, *, hidden: bool, do_cfg: bool = True):
    """One image through the pipeline's CLIP image encoder, in the layout ``ip_adapter_image_embeds``
    takes (``[2 or 1, 1, ...]``, diffusers' unconditional input first under CFG): the image embedding, or
    with ``hidden`` the penultimate hidden states (IP-Adapter Plus, FaceID Plus)."""
    import torch
    with torch.inference_mode():
        cond, uncond = pipe.encode_image(np.ascontiguousarray(image), device, 1, hidden)
    return torch.cat([uncond[None], cond[None]]) if do_cfg else cond[None]


def is_out_of_memory(exc: BaseException) -> bool:
    import torch
    if isinstance(exc, MemoryError):
        return True
    oom_type = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def oom_error(exc: BaseException, *, frame: Optional[int] = None) -> StageError:
    return StageError(OUT_OF_MEMORY, "the diffusion look ran out of memory "
                      f"({str(exc).splitlines()[0][:160]}). Lower the resolution parameter or the batch size, "
                      "close other programs using the GPU, or use a smaller model (SD 1.5 instead of SDXL). "
                      "Kino already turns on attention slicing, VAE tiling and model CPU offload when the "
                      "GPU has little free memory at load time.", frame=frame, stage="diffusion")


class DiffusionEngine:
    """Runs frames through ``pipe`` (an img2img or ControlNet img2img pipeline, SD 1.5 or SDXL).

    ``controls`` has one ``ControlSettings`` per ControlNet the pipeline holds; ``run`` then takes
    one condition image per ControlNet per frame. ``taesd`` is an ``AutoencoderTiny`` used for
    encode and decode (fast mode). ``scheduler`` is a name from ``models.schedulers`` or None (keep the
    pipeline's). The cached ``pipe`` is never modified: a private view shares its modules.
    """

    def __init__(self, pipe, *, prompt: str, negative_prompt: str = "", steps: int = 20,
                 strength: float = 0.5, guidance: float = 7.5, seed: int = 0,
                 controls: Sequence[ControlSettings] = (), scheduler: Optional[str] = None,
                 taesd=None, ip_scale: Optional[float] = None, channels_last: bool = False,
                 ip_slots: Optional[Sequence[str]] = None):
        import torch
        swaps = {}
        if scheduler is not None:
            from ...models.schedulers import make_scheduler
            swaps["scheduler"] = make_scheduler(scheduler, pipe.scheduler.config)
        if taesd is not None:
            swaps["vae"] = taesd
        self.pipe = _view(pipe, swaps) if swaps else pipe
        self.pipe.set_progress_bar_config(disable=True)
        self.device = getattr(pipe, "_execution_device", pipe.device)  # the GPU even with CPU offload
        self.is_xl = "XL" in type(pipe).__name__
        self.steps, self.strength, self.guidance, self.seed = steps, strength, guidance, seed
        self.controls = list(controls)
        self.has_controlnet = getattr(self.pipe, "controlnet", None) is not None
        if self.has_controlnet and not self.controls:
            self.controls = [ControlSettings()] * self._controlnet_count()
        if channels_last and self.device.type == "cuda":
            for module in (self.pipe.unet, getattr(self.pipe, "controlnet", None)):
                if module is not None:
                    module.to(memory_format=torch.channels_last)
        # the pipeline's IP-Adapters in diffusers' order: "reference" (an image through CLIP), "face" (FaceID)
        self.ip_slots = tuple(ip_slots) if ip_slots is not None else (("reference",) if self.has_ip_adapter else ())
        self._slot_scale = {slot: 1.0 for slot in self.ip_slots}
        self._slot_embeds: dict = {}  # slot -> embeddings fixed for the clip
        if ip_scale is not None and "reference" in self.ip_slots:
            self.set_adapter_scale("reference", ip_scale)
        with torch.inference_mode():
            self._prompt = self._encode_prompt(prompt, negative_prompt)
        self.before_call: Optional[Callable[[int], None]] = None  # hook(n_frames) before each pipeline call

    # ---- once per clip -------------------------------------------------------------------------
    def _controlnet_count(self) -> int:
        nets = getattr(self.pipe.controlnet, "nets", None)
        return len(nets) if nets is not None else 1

    @property
    def do_cfg(self) -> bool:
        unet_cond = getattr(self.pipe.unet.config, "time_cond_proj_dim", None)
        return self.guidance > 1.0 and unet_cond is None

    def _encode_prompt(self, prompt: str, negative_prompt: str) -> dict:
        if self.is_xl:
            pe, ne, pp, npp = self.pipe.encode_prompt(prompt=prompt, device=self.device, num_images_per_prompt=1,
                                                      do_classifier_free_guidance=self.do_cfg,
                                                      negative_prompt=negative_prompt or None)
            out = {"prompt_embeds": pe, "pooled_prompt_embeds": pp}
            if self.do_cfg:
                out.update(negative_prompt_embeds=ne, negative_pooled_prompt_embeds=npp)
            return out
        pe, ne = self.pipe.encode_prompt(prompt, self.device, 1, self.do_cfg, negative_prompt or None)
        return {"prompt_embeds": pe, **({"negative_prompt_embeds": ne} if self.do_cfg else {})}

    @property
    def has_ip_adapter(self) -> bool:
        return getattr(self.pipe.unet, "encoder_hid_proj", None) is not None

    def set_adapter_scale(self, slot: str, scale: float) -> None:
        """How strongly adapter ``slot`` steers (the others keep theirs)."""
        self._slot_scale[slot] = float(scale)
        self.pipe.set_ip_adapter_scale([self._slot_scale[s] for s in self.ip_slots])

    def encode_reference(self, image: np.ndarray):
        """IP-Adapter embeddings of one uint8 RGB reference image (in the pipeline's CFG layout)."""
        from diffusers.models.embeddings import ImageProjection
        if "reference" not in self.ip_slots or getattr(self.pipe, "image_encoder", None) is None:
            raise StageError(INVALID_PARAMS, "a reference image needs an IP-Adapter: set the ip_adapter parameter")
        layer = self.pipe.unet.encoder_hid_proj.image_projection_layers[self.ip_slots.index("reference")]
        return image_embeds(self.pipe, image, self.device, hidden=not isinstance(layer, ImageProjection),
                            do_cfg=self.do_cfg)

    def set_reference(self, image: Optional[np.ndarray]) -> None:
        """Fix the reference image for the clip (None: no reference)."""
        self.set_slot_embeds("reference", None if image is None else self.encode_reference(image))

    def encode_face_crop(self, crop: np.ndarray):
        """CLIP patch features of an aligned face crop for FaceID Plus, ``[2 or 1, 1, tokens, channels]``
        (CFG layout: the features of a black image first)."""
        return image_embeds(self.pipe, crop, self.device, hidden=True, do_cfg=self.do_cfg)

    def _set_face_clip(self, clip, n: int) -> None:
        """FaceID Plus reads its CLIP features from its projection layer: one copy per frame of the call,
        in the pipeline's layout (all unconditional rows, then all conditional ones)."""
        import torch
        layer = self.pipe.unet.encoder_hid_proj.image_projection_layers[self.ip_slots.index("face")]
        parts = clip.chunk(2) if self.do_cfg else (clip,)
        layer.clip_embeds = torch.cat([p.expand(n, *p.shape[1:]) for p in parts])

    def set_slot_embeds(self, slot: str, embeds) -> None:
        """Fix ready-made embeddings of adapter ``slot`` for the clip (e.g. FaceID's face embedding)."""
        if embeds is None:
            self._slot_embeds.pop(slot, None)
        else:
            self._slot_embeds[slot] = embeds

    # ---- per batch -----------------------------------------------------------------------------
    def _batched_kwargs(self, n: int, frame_refs: Optional[dict]) -> dict:
        kw = {k: v.expand(n, *v.shape[1:]) if v.shape[0] == 1 else v for k, v in self._prompt.items()}
        # the pipeline repeats reference embeddings for every frame of the call itself
        refs = {**self._slot_embeds, **(frame_refs or {})}
        if refs:
            missing = [s for s in self.ip_slots if s not in refs]
            if missing:
                raise StageError(INVALID_PARAMS, f"the pipeline's {' and '.join(missing)} adapter has no input: "
                                 "set reference= for an IP-Adapter and face_reference= for FaceID")
            kw["ip_adapter_image_embeds"] = [refs[s] for s in self.ip_slots]
        if refs.get("face_clip") is not None:
            self._set_face_clip(refs["face_clip"], n)
        return kw

    def to_tensor(self, images: Sequence[np.ndarray], size: tuple[int, int]):
        """uint8 HxWx3 frames -> float [0, 1] (N, 3, h, w) on the device, resized to ``size`` (h, w)."""
        import torch
        import torch.nn.functional as F
        batch = torch.from_numpy(np.stack([np.ascontiguousarray(im) for im in images]))
        batch = batch.to(self.device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        if tuple(batch.shape[-2:]) != tuple(size):
            batch = F.interpolate(batch, size=size, mode="bilinear", antialias=True, align_corners=False)
        return batch.clamp_(0.0, 1.0)

    def run(self, images: Sequence[np.ndarray], *, size: tuple[int, int],
            control_images: Optional[Sequence[Sequence[np.ndarray]]] = None, strength: Optional[float] = None,
            references: Optional[Sequence[np.ndarray]] = None, on_step: Optional[Callable[[int, int], None]] = None,
            output: str = "uint8", frame: Optional[int] = None, reference_embeds: Optional[Sequence] = None,
            noise=None):
        """Stylize a batch of same-size frames at work size ``size`` = (h, w).

        ``control_images``: per ControlNet, one condition image per frame. ``references``: one
        reference image per frame (``reference=frame``), else the clip's reference. ``reference_embeds``:
        per frame, ``({"face": embeddings[, "face_clip": CLIP features]}, FaceID scale)`` (FaceID with
        ``face_reference=frame``). ``noise``: the initial noise per frame, (N, C, h, w) (None: the seed's draw).
        Returns a list of uint8 frames at the input size, or the latents (``output="latent"``).
        """
        import torch
        n = len(images)
        if (references or reference_embeds) and n > 1:  # the pipeline takes one reference per call
            parts = [self.run([im], size=size, control_images=[[c[i]] for c in control_images] if control_images
                              else None, strength=strength, references=[references[i]] if references else None,
                              on_step=on_step, output=output, frame=None if frame is None else frame + i,
                              reference_embeds=[reference_embeds[i]] if reference_embeds else None,
                              noise=None if noise is None else noise[i:i + 1])
                     for i, im in enumerate(images)]
            return torch.cat(parts) if output == "latent" else [x for part in parts for x in part]
        frame_refs = {}
        if reference_embeds:
            face, scale = reference_embeds[0]
            frame_refs.update(face)
            self.set_adapter_scale("face", scale)
        if references:
            frame_refs["reference"] = self.encode_reference(references[0])
        kwargs = self._batched_kwargs(n, frame_refs)
        kwargs.update(self._control_kwargs(control_images, size, n))
        callback = None
        if on_step is not None:
            def callback(pipe, i, t, cb_kwargs):
                on_step(i + 1, pipe.num_timesteps)
                return cb_kwargs
        if self.before_call is not None:
            self.before_call(n)
        try:
            from ...noise.inject import preset_noise
            with torch.inference_mode(), preset_noise(self.pipe.scheduler, noise):
                result = self.pipe(image=self.to_tensor(images, size),
                                   num_inference_steps=self.steps, strength=self.effective_strength(strength),
                                   guidance_scale=self.guidance, generator=self.generators(n),
                                   output_type="latent" if output == "latent" else "pt",
                                   callback_on_step_end=callback, **kwargs).images
                if output == "latent":
                    return result
                return self.to_uint8(result, images[0].shape[:2])
        except StageError:
            raise
        except (RuntimeError, MemoryError) as exc:
            if is_out_of_memory(exc):
                raise oom_error(exc, frame=frame) from exc
            raise

    def effective_strength(self, strength: Optional[float]) -> float:
        """At least one denoising step always runs."""
        s = self.strength if strength is None else strength
        return float(min(1.0, max(s, 1.0 / self.steps + 1e-6)))

    def generators(self, n: int) -> list:
        import torch
        return [torch.Generator("cpu").manual_seed(self.seed) for _ in range(n)]

    def _control_kwargs(self, control_images, size, n: int) -> dict:
        if not self.has_controlnet:
            if control_images:
                raise StageError(INVALID_PARAMS, "control images given but no ControlNet is loaded")
            return {}
        if not control_images or len(control_images) != len(self.controls):
            raise StageError(INVALID_PARAMS, f"the pipeline has {len(self.controls)} ControlNet(s); "
                             f"got condition images for {len(control_images or [])}")
        tensors = [self.to_tensor(imgs, size) for imgs in control_images]
        single = getattr(self.pipe.controlnet, "nets", None) is None
        scales = [c.scale for c in self.controls]
        starts = [c.start for c in self.controls]
        ends = [c.end for c in self.controls]
        common = {"height": size[0], "width": size[1]}
        if single:
            return {**common, "control_image": tensors[0], "controlnet_conditioning_scale": scales[0],
                    "control_guidance_start": starts[0], "control_guidance_end": ends[0]}
        return {**common, "control_image": tensors, "controlnet_conditioning_scale": scales,
                "control_guidance_start": starts, "control_guidance_end": ends}

    @staticmethod
    def to_uint8(images, size: tuple[int, int]) -> list[np.ndarray]:
        """(N, 3, h, w) float [0, 1] -> list of uint8 HxWx3 at ``size``, converted on the device."""
        import torch.nn.functional as F
        images = images.float()
        if tuple(images.shape[-2:]) != tuple(size):
            images = F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)
        out = images.clamp(0, 1).mul(255.0).round_().to(dtype=__import__("torch").uint8)
        out = out.permute(0, 2, 3, 1).contiguous().cpu().numpy()
        return [out[i] for i in range(out.shape[0])]


def work_size(height: int, width: int, resolution: int = 0, *, multiple: int = 64, native: int = 768) -> tuple[int, int]:
    """The (h, w) the model works at: the source size with its long side scaled to ``resolution``
    (0: the source size, capped at ``native``), each side rounded to a multiple of ``multiple``."""
    long_side = max(height, width)
    target = resolution if resolution > 0 else min(long_side, native)
    scale = target / long_side
    return (max(multiple, int(round(height * scale / multiple)) * multiple),
            max(multiple, int(round(width * scale / multiple)) * multiple))
