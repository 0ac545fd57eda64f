"""The ``diffusion`` look: Stable Diffusion (1.5 / SDXL) img2img on the user's own local checkpoints,
steered by ControlNets (canny, tile, pose; depth, lineart, softedge where their annotators exist),
an IP-Adapter reference image (a fixed image or the current frame), the actor's face through IP-Adapter
FaceID (``diffusion_faceid``) and LoRAs.

Models come from ``kino_backend.models.loader`` and stay warm across jobs in the backend's cache;
the per-frame work is ``diffusion_engine.DiffusionEngine``. Importing this module needs numpy and
cv2 only; torch and diffusers load in ``open()``.
"""
from __future__ import annotations

import importlib.metadata
from typing import Optional, Sequence

import cv2
import numpy as np

from ...annotators import make_annotator
from ..base import Cancelled, Frame, JobContext, ParamError, Stage, StageError, StageRun
from ...resources import warm_cache
from .params import PARAMS, parse_all, resolve_path
from kino_addon.protocol.errors import INTERNAL, MODEL_MISSING, NOT_FOUND

INIT_TRUST_STRENGTH_CUT = 0.5  # init_strength 1 halves the denoising strength


def read_image(path: str) -> np.ndarray:
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise StageError(NOT_FOUND, f"reference image {path!r} could not be read: give an existing PNG/JPEG "
                         "file, or reference=frame to use each source frame", stage="diffusion")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _torch_threads() -> int:
    import torch
    return torch.get_num_threads()


def _versions() -> dict:
    out = {}
    for name in ("torch", "diffusers", "transformers", "peft", "mediapipe"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


class DiffusionRun(StageRun):
    """The diffusion look opened for one job: resolved model paths, the warm pipeline and engine, prompt
    and reference embeddings computed once, identity adapters, and frames stylized ahead when batching."""

    def __init__(self, stage: Stage, params: dict, ctx: JobContext):
        super().__init__(stage, params, ctx)
        self.loras, self.controls = parse_all(params)
        self.seed = int(params["seed"] if params.get("seed") is not None else ctx.options.get("seed", ctx.seed))
        self._ready: dict = {}  # frame index -> (image it was computed from, stylized) when batching ahead
        self._prebatch_on = True
        self._cross_frame = None
        self.animatediff = None
        self.reference = params.get("reference")
        self.per_frame_reference = self.reference == "frame"
        self.paths = self._paths()
        ref_path = face_path = None
        if self.reference and not self.per_frame_reference:  # check files before the slow model load
            ref_path = resolve_path(self.reference, self.models_dir, what="reference image", field="reference")
        self.face = self.pulid = None
        if self.paths["faceid"]:
            from .faceid import FaceIdentity
            self.face = FaceIdentity(params, self.models_dir, warm_cache(ctx))
        if self.paths["pulid"]:
            from .pulid import PulidIdentity, find_encoder
            encoder = self.paths["pulid_encoder"] or find_encoder(self.paths["pulid"], self.models_dir)
            self.pulid = PulidIdentity(params, self.paths["pulid"], encoder, self.models_dir, warm_cache(ctx))
        if (self.face or self.pulid) and params["face_reference"] != "frame":
            face_path = resolve_path(params["face_reference"], self.models_dir, what="face reference image",
                                     field="face_reference")
        self.annotators = []
        try:
            self.annotators = [make_annotator(c.type, models_dir=self.models_dir, video=True) for c in self.controls]
            self.loaded = self._load()
            self.engine = self._make_engine()
            if ref_path:
                self.engine.set_reference(read_image(ref_path))
            if self.face is not None:
                plus = (self.loaded.description.get("faceid") or {}).get("variant") == "faceid_plus"
                self.face.open(self.engine, read_image(face_path) if face_path else None, plus=plus)
            if self.pulid is not None:
                self.pulid.open(self.engine, read_image(face_path) if face_path else None, self.loaded.arch)
            from ...noise.look import LookNoise
            self.noise = LookNoise(self)
            if self.paths["motion_adapter"]:
                from ...animatediff.look import AnimateDiffLook
                self.animatediff = AnimateDiffLook(self)
            if params.get("cross_frame_attention"):
                from .xframe import CrossFrameAttention
                self._cross_frame = xf = CrossFrameAttention(self.engine.pipe.unet)
                self.engine.before_call = lambda n: xf.begin(n, self.engine.do_cfg)
        except BaseException:
            self.close()
            raise
        self._record_provenance()

    # ---- opening ---------------------------------------------------------------------------------
    @property
    def models_dir(self) -> Optional[str]:
        return self.ctx.models_dir

    def _paths(self) -> dict:
        p, md = self.params, self.models_dir
        if not p.get("model"):
            raise StageError(MODEL_MISSING, "the diffusion look needs a checkpoint: set model=PATH to an SD 1.5 "
                             "or SDXL .safetensors file or diffusers folder", stage="diffusion")
        return {
            "model": resolve_path(p["model"], md, what="checkpoint", field="model"),
            "vae": resolve_path(p.get("vae"), md, what="VAE", field="vae"),
            "ip_adapter": resolve_path(p.get("ip_adapter"), md, what="IP-Adapter", field="ip_adapter"),
            "faceid": resolve_path(p.get("faceid"), md, what="IP-Adapter FaceID weights", field="faceid"),
            "pulid": resolve_path(p.get("pulid"), md, what="PuLID weights", field="pulid"),
            "pulid_encoder": resolve_path(p.get("pulid_encoder"), md, what="EVA-CLIP encoder for PuLID",
                                          field="pulid_encoder"),
            "taesd": resolve_path(p.get("taesd"), md, what="TAESD", field="taesd"),
            "motion_adapter": resolve_path(p.get("motion_adapter"), md, what="motion adapter", field="motion_adapter"),
            "loras": [(resolve_path(x.path, md, what="LoRA", field="lora"), x.weight) for x in self.loras],
            "controlnets": [(resolve_path(c.path, md, what="ControlNet", field="controlnet"), c.type)
                            for c in self.controls],
        }

    def _load(self):
        from ...models.loader import load_img2img_pipeline
        return load_img2img_pipeline(self.paths["model"], vae=self.paths["vae"], controlnets=self.paths["controlnets"],
                                     ip_adapter=self.paths["ip_adapter"], loras=self.paths["loras"],
                                     faceid=self.paths["faceid"],
                                     scheduler=self.params["scheduler"], device=self._device(),
                                     cache=warm_cache(self.ctx))

    def _device(self) -> str:
        """The ``device`` parameter when set, else the job's device (the add-on's preference)."""
        chosen = self.params["device"]
        return chosen if chosen and chosen != "auto" else (self.ctx.device or "auto")

    def _taesd(self):
        path = self.paths["taesd"]
        if not path:
            return None
        from diffusers import AutoencoderTiny
        pipe = self.loaded.pipe
        key = f"taesd:{path}@{pipe.device}/{pipe.dtype}"
        cache = warm_cache(self.ctx)
        if key not in cache:
            try:
                cache[key] = AutoencoderTiny.from_pretrained(path, local_files_only=True).to(pipe.device, pipe.dtype)
            except (OSError, ValueError) as exc:
                raise StageError(MODEL_MISSING, f"taesd={path!r} is not a TAESD (AutoencoderTiny) diffusers folder "
                                 f"with config.json and weights ({exc}); use madebyollin/taesd (SD 1.5) or "
                                 "madebyollin/taesdxl (SDXL)", stage="diffusion") from exc
        return cache[key]

    def _make_engine(self):
        from ...models.device import oom_guard
        from .engine import ControlSettings, DiffusionEngine
        p = self.params
        with oom_guard("preparing the prompt"):
            return DiffusionEngine(
                self.loaded.pipe, prompt=p["prompt"] or "", negative_prompt=p["negative_prompt"] or "",
                steps=p["steps"], strength=p["strength"], guidance=p["guidance"], seed=self.seed,
                controls=[ControlSettings(c.scale, c.start, c.end) for c in self.controls],
                taesd=self._taesd(), ip_scale=p["ip_scale"] if "reference" in self.loaded.ip_slots else None,
                channels_last=True, ip_slots=self.loaded.ip_slots)

    def _record_provenance(self) -> None:
        h, w = self.work_size(self.ctx.height, self.ctx.width) if self.ctx.height and self.ctx.width else (None, None)
        self.ctx.provenance["diffusion"] = {
            "files": self.loaded.description, "arch": self.loaded.arch, "params": dict(self.params),
            "seed": self.seed, "scheduler": self.params["scheduler"],
            "strength_used": self.engine.effective_strength(self.params["strength"]),
            "loras": [{"path": p, "weight": wt} for p, wt in self.paths["loras"]],
            "controlnets": [{"path": path, "type": c.type, "scale": c.scale, "start": c.start, "end": c.end}
                            for (path, _t), c in zip(self.paths["controlnets"], self.controls)],
            "taesd": self.paths["taesd"], "faceid": self.face.provenance(self.paths["faceid"]) if self.face else None,
            "pulid": self.pulid.provenance() if self.pulid else None, "noise": self.noise.record,
            "animatediff": self.animatediff.record if self.animatediff else None,
            "work_size": [w, h], "device": str(self.engine.device),
            "dtype": str(self.engine.pipe.dtype).replace("torch.", ""), "versions": _versions(),
            "cpu_threads": _torch_threads()}  # CPU results differ in the last bit with the thread count

    def work_size(self, height: int, width: int) -> tuple[int, int]:
        from .engine import work_size
        native = 1024 if self.loaded.arch == "sdxl" else 768
        return work_size(height, width, self.params["resolution"], native=native)

    # ---- stylizing -------------------------------------------------------------------------------
    def strength_for(self, init_strength: Optional[float]) -> float:
        """The denoising strength for a frame whose img2img start is the temporal stage's ``init``."""
        trust = 0.0 if init_strength is None else min(1.0, max(0.0, float(init_strength)))
        return self.params["strength"] * (1.0 - INIT_TRUST_STRENGTH_CUT * trust)

    # With batch > 1, ``prepare`` stylizes ``batch`` frames per model call ahead of the scheduler and
    # ``stylize`` hands the results out. It switches itself off for good as soon as the scheduler
    # shows it wants something else: an ``init`` (temporal per-frame mode), skipped frames (keyframe
    # mode), or a frame changed by a later stage's prepare. At most one batch is then wasted.
    def prepare(self, frames):
        frames = self.noise.attach(frames)
        if self.animatediff is not None:  # the whole clip as a video
            yield from self.animatediff.prepare(frames)
            return
        batch = self.params["batch"]
        buf: list[Frame] = []
        for f in frames:
            if batch <= 1 or not self._prebatch_on:
                yield from buf
                buf = []
                yield f
                continue
            buf.append(f)
            if len(buf) == batch:
                yield from self._prebatch(buf)
                buf = []
        yield from self._prebatch(buf)

    def _prebatch(self, buf: list) -> list:
        if buf and self._prebatch_on:
            for f, out in zip(buf, self.stylize_batch(buf)):
                self._ready[f.index] = (f.image, out)
        return buf

    def _take_ready(self, frame: Frame, init) -> Optional[np.ndarray]:
        if not self._ready:
            return None
        image, out = self._ready.pop(frame.index, (None, None))
        skipped = any(i < frame.index for i in self._ready)
        if init is not None or skipped or image is None or not np.array_equal(image, frame.image):
            self._prebatch_on = False
            self._ready.clear()
            return None
        return out

    def stylize(self, frame: Frame, init: Optional[np.ndarray] = None, init_strength: Optional[float] = None) -> np.ndarray:
        if self.animatediff is not None:
            return self.animatediff.stylize(frame)
        ready = self._take_ready(frame, init)
        if ready is not None:
            return ready
        return self.stylize_batch([frame], [init], [init_strength])[0]

    def stylize_batch(self, frames: Sequence[Frame], inits: Optional[Sequence[Optional[np.ndarray]]] = None,
                      init_strengths: Optional[Sequence[Optional[float]]] = None) -> list[np.ndarray]:
        """Stylize independent frames, ``batch`` at a time (one generator per frame, same seed)."""
        n = len(frames)
        inits = list(inits) if inits is not None else [None] * n
        strengths = [self.strength_for(s if i is not None else None)
                     for i, s in zip(inits, init_strengths if init_strengths is not None else [None] * n)]
        out: list[np.ndarray] = []
        i = 0
        while i < n:
            j = i + 1
            while j < n and j - i < self.params["batch"] and strengths[j] == strengths[i]:
                j += 1
            try:
                out.extend(self._run_batch(frames[i:j], inits[i:j], strengths[i]))
            except StageError as exc:
                if exc.code != "OUT_OF_MEMORY" or j - i == 1:
                    raise
                self._shrink_batch(j - i)  # retry the same frames in smaller batches
                continue
            i = j
        return out

    def _shrink_batch(self, tried: int) -> None:
        """Out of memory with several frames per call: halve ``batch`` for the rest of the job."""
        import gc

        import torch
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.params = {**self.params, "batch": max(1, tried // 2)}
        self.ctx.provenance["diffusion"].setdefault("batch_reduced_to", []).append(self.params["batch"])

    def _run_batch(self, frames: Sequence[Frame], inits: Sequence[Optional[np.ndarray]], strength: float) -> list:
        self.ctx.check_cancelled()
        images = [init if init is not None else f.image for f, init in zip(frames, inits)]
        for img, f in zip(images, frames):
            if img.shape != f.image.shape or img.dtype != np.uint8:
                raise StageError(INTERNAL, f"init image {img.shape} {img.dtype} does not match frame "
                                 f"{f.image.shape} uint8", frame=f.index, stage="diffusion")
        size = self.work_size(*frames[0].image.shape[:2])
        sources = [self._at(f.image, size) for f in frames] if self.annotators else []
        controls = [[ann(src) for src in sources] for ann in self.annotators] or None  # crisp at work size
        refs = [f.image for f in frames] if self.per_frame_reference else None
        face_refs = self.face.for_frames(frames) if self.face is not None else None
        if self.pulid is not None:
            self.pulid.before_frames(frames)
        first = frames[0].index

        def on_step(step: int, total: int) -> None:
            if self.ctx.is_cancelled():
                raise Cancelled()
            self.ctx.report(frame=first, step=step, steps_total=total, stage="diffusion")

        return self.engine.run(images, size=size, control_images=controls,
                               strength=strength, references=refs, on_step=on_step, frame=first,
                               reference_embeds=face_refs, noise=self.noise.for_frames(frames, size, strength))

    @staticmethod
    def _at(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """``image`` at the work size (h, w), area-averaged, for the condition annotators."""
        if image.shape[:2] == tuple(size):
            return image
        return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)

    def checkpoint(self):
        """Frames are independent but for warped noise, whose state travels in the checkpoint, unless
        cross-frame attention holds the first frame's tokens, a face followed per frame carries the last
        face found, frames were stylized ahead or AnimateDiff denoises them together: then no checkpoint,
        and a resume starts the clip again (exact, not faster)."""
        per_frame_face = any(x is not None and x.per_frame for x in (self.face, self.pulid))
        if self._cross_frame is not None or per_frame_face or self._ready or self.animatediff is not None:
            return None  # AnimateDiff: each frame depends on its windows, which span the clip
        return self.noise.state()

    def restore(self, state: dict) -> None:
        self.noise.restore(state)

    def close(self) -> None:
        for ann in self.annotators:
            close = getattr(ann, "close", None)
            if close is not None:
                close()
        self.annotators = []
        if self._cross_frame is not None:
            self._cross_frame.remove()
            self._cross_frame = None
            self.engine.before_call = None
        if getattr(self, "pulid", None) is not None:  # after cross-frame attention: it was attached first
            self.pulid.close()
        self._ready.clear()
        if getattr(self, "animatediff", None) is not None:
            self.animatediff.close()


class DiffusionStage(Stage):
    """The ``diffusion`` look: Stable Diffusion img2img (SD 1.5 / SDXL) with ControlNet, IP-Adapter, FaceID, PuLID and LoRA."""
    name = "diffusion"
    role = "look"
    label = "Diffusion"
    help = ("Stable Diffusion img2img on your own checkpoint (SD 1.5 or SDXL), with ControlNets, an IP-Adapter "
            "reference image, the actor's face (IP-Adapter FaceID, or PuLID with SDXL) and LoRAs")
    params = PARAMS
    run_class = DiffusionRun

    def frame_independent(self, params: dict, temporal: bool = False) -> bool:
        """Each frame has its own generator seeded with the clip seed, so frames are independent unless
        a feature carries something across frames: warped noise (``noise=warped``, or ``auto`` with the
        temporal stage on), AnimateDiff windows (``motion_adapter``), cross-frame attention (the clip's
        first frame), FaceID / PuLID on ``face_reference=frame`` (the last face found), batching ahead."""
        noise = params.get("noise") or "auto"
        warped = noise == "warped" or (noise == "auto" and temporal)
        per_frame_face = (params.get("faceid") or params.get("pulid")) and params.get("face_reference") == "frame"
        return not (warped or params.get("motion_adapter") or params.get("cross_frame_attention") or per_frame_face
                    or (params.get("batch") or 1) > 1)

    def validate(self, params: dict) -> dict:
        out = super().validate(params)
        parse_all(out)  # raises ParamError on a malformed lora / controlnet item
        if out.get("reference") == "":
            raise ParamError("reference", "give an image path or 'frame'")
        return out


STAGES = [DiffusionStage()]
