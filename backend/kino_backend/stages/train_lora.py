"""The ``train_lora`` stage (finish role): train a LoRA on the job's frames as a backend job.

How the add-on starts training from a panel: submit a job whose workflow is the ``none`` look plus
this stage (``{"version": 1, "look": "none", "stages": [{"name": "train_lora", "params": {...}}, {"name":
"none"}]}``) and send the frames of the selected strips (or one frame with ``use_frames`` false and a
folder in ``images``). Frames pass through unchanged; every ``every``-th frame (at most
``max_images``) is kept, and after the last one the LoRA is trained (``kino_backend.training.lora``).
Progress goes out as ``job.progress`` (``stage: "train_lora"``, ``step`` / ``steps_total``); the last
frame is held back until training ends and its ``job.frame`` meta carries ``lora_out``,
``lora_loss_first`` and ``lora_loss_last``; ``job.done`` provenance has ``train_lora`` = ``{"out",
"loss_first", "loss_last", "steps", "seconds", "layers", "losses"}`` (the training loss every
``steps / 50`` steps). The file is ready to use as a ``loras`` entry of the diffusion look.
"""
from __future__ import annotations

from typing import Iterator, Optional

from .base import Frame, ParamSpec, Stage, StageError, StageRun
from kino_addon.protocol.errors import INVALID_PARAMS


class TrainLoraRun(StageRun):
    """The train_lora stage opened for one job: collects the job's frames, then trains after the last one."""

    def finish(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        p = self.params
        kept, held = [], None
        for frame in frames:
            self.ctx.check_cancelled()
            if p["use_frames"] and (frame.index - 1) % p["every"] == 0 and len(kept) < p["max_images"]:
                kept.append(frame.source.copy())
            if held is not None:
                yield held
            held = frame
        if held is None:
            return
        result = self._train(kept)
        yield held.replace(meta=dict(held.meta, lora_out=result["out"], lora_loss_first=result["loss_first"],
                                     lora_loss_last=result["loss_last"]))

    def checkpoint(self):
        return None  # it trains on all the job's frames at the end: a resume starts the clip again

    def _settings(self):
        from ..models.registry import resolve
        from ..training.lora import LoraSettings
        p = self.params
        models_dir = self.ctx.models_dir
        if not p["model"] or not p["out"]:
            raise StageError(INVALID_PARAMS, "train_lora needs model (the base SD 1.x checkpoint) and out "
                             "(the .safetensors file to write)", stage=self.stage.name)
        if not p["out"].endswith(".safetensors"):
            raise StageError(INVALID_PARAMS, f"out: {p['out']!r} must end with .safetensors", stage=self.stage.name)
        return LoraSettings(images=p["images"] or None, model=resolve(p["model"], models_dir), out=p["out"],
                            prompt=p["prompt"], steps=p["steps"], resolution=p["resolution"], rank=p["rank"],
                            lr=p["lr"], batch=p["batch"], seed=self.ctx.seed, class_prompt=p["class_prompt"] or None,
                            class_images=p["class_images"] or None, num_class_images=p["num_class_images"],
                            train_text_encoder=p["train_text_encoder"], device=self.ctx.device or "auto")

    def _train(self, kept) -> dict:
        from ..training.lora import train_lora
        s = self._settings()
        losses = []
        every = max(1, s.steps // 50)

        def progress(step, steps_total, loss):
            self.ctx.check_cancelled()
            if step % every == 0 or step == steps_total:
                losses.append([step, round(loss, 6)])
            self.ctx.report(frame=self.ctx.frames_total, step=step, steps_total=steps_total, stage=self.stage.name,
                            loss=loss, force=step == steps_total)

        try:
            r = train_lora(s, progress=progress, arrays=kept)
        except (ValueError, FloatingPointError) as exc:  # bad settings or images; a diverged training
            raise StageError(INVALID_PARAMS, str(exc), stage=self.stage.name) from None
        record = {k: r[k] for k in ("out", "loss_first", "loss_last", "steps", "seconds", "layers")}
        self.ctx.provenance["train_lora"] = dict(record, losses=losses, images=len(kept))
        return record


class TrainLora(Stage):
    """The ``train_lora`` stage (finish): trains a LoRA on the job's frames; frames pass through."""
    name = "train_lora"
    role = "finish"
    label = "Train LoRA"
    help = ("Trains a LoRA (DreamBooth-style) on the job's frames and/or a folder of images after the last "
            "frame; frames pass through. Saves kohya-keyed .safetensors usable as a LoRA of the diffusion look.")
    params = (
        ParamSpec("model", "path", None, "Base SD 1.x checkpoint (file, diffusers folder, or name in the models folder)."),
        ParamSpec("out", "path", None, "The LoRA file to write (.safetensors)."),
        ParamSpec("prompt", "str", "a photo of kino_subject", "Instance prompt: the word that will call the character/style."),
        ParamSpec("images", "path", None, "Optional folder of more training images (an <image>.txt beside one is its caption)."),
        ParamSpec("use_frames", "bool", True, "Train on the job's frames."),
        ParamSpec("every", "int", 1, "Use every N-th frame (video frames are very alike).", min=1, max=1000),
        ParamSpec("max_images", "int", 200, "At most this many frames.", min=1, max=10000),
        ParamSpec("steps", "int", 500, "Training steps.", min=1, max=100000),
        ParamSpec("resolution", "int", 512, "Training resolution in pixels (multiple of 8).", min=64, max=2048),
        ParamSpec("rank", "int", 16, "LoRA rank.", min=1, max=256),
        ParamSpec("lr", "float", 1e-4, "Learning rate.", min=1e-7, max=1.0),
        ParamSpec("batch", "int", 1, "Images per step.", min=1, max=64),
        ParamSpec("train_text_encoder", "bool", False, "Also train LoRA layers in the text encoder."),
        ParamSpec("class_prompt", "str", "", "Prior preservation on when set (e.g. 'a photo of a person')."),
        ParamSpec("class_images", "path", None, "Folder of class images (when not given, they are generated from the base model)."),
        ParamSpec("num_class_images", "int", 50, "Class images to use or generate.", min=1, max=10000),
    )
    run_class = TrainLoraRun


STAGES = [TrainLora()]
