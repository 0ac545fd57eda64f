"""A LoRA training job from strips' frames (or a folder): the frames are read with the Stylize
operator's ``StripSource`` and sent through a ``TrainSession`` (``kino_addon.core.lora_training``).

``TRAINER`` (a ``jobs.Runner``) runs the training jobs; its own timer drives it in the UI, the
operator runs it to the end in background mode. No strip is placed on the timeline: the job's
pass-through frames go to a scratch folder that is removed when the job ends.
"""
from __future__ import annotations

import shutil
import tempfile

import bpy
import numpy as np

from ..core.lora_training import TrainSession, every_nth, train_workflow
from ..core.session import JobSpec
from . import addon, compat
from .extract import StripSource

INTERVAL = 0.05


def _fit(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour resize (strips of another size than the first one; training rescales anyway)."""
    if image.shape[:2] == (height, width):
        return image
    ys = (np.arange(height) * image.shape[0] // height).clip(0, image.shape[0] - 1)
    xs = (np.arange(width) * image.shape[1] // width).clip(0, image.shape[1] - 1)
    return np.ascontiguousarray(image[ys][:, xs])


class StripsReader:
    """Job frame ``n`` (1-based) = the n-th of every ``every``-th timeline frame of each strip, in order."""

    def __init__(self, scene, strips, every: int):
        self.sources, self.frames = [], []
        try:
            for strip in strips:
                src = StripSource(scene, strip)
                self.sources.append(src)
                self.frames += [(src, t) for t in every_nth(*compat.strip_span(strip), every)]
        except BaseException:
            self.close()
            raise
        self.width, self.height = self.sources[0].width, self.sources[0].height

    def read(self, number: int) -> np.ndarray:
        src, timeline_frame = self.frames[number - 1]
        return _fit(src.read(timeline_frame), self.height, self.width)

    def close(self) -> None:
        for src in self.sources:
            src.close()
        self.sources = []


class BlankReader:
    """One small black frame: a folder-only training job still needs a frame to run."""
    width, height, frames = 64, 64, [None]

    def read(self, number: int) -> np.ndarray:
        return np.zeros((self.height, self.width, 3), np.uint8)

    def close(self) -> None:
        pass


class TrainJob:
    """The ``jobs.Runner`` job interface (``step``, ``cancel``, ``abandon``, ``session``, ``strip_name``)."""

    def __init__(self, scene, client, hello: dict, reader, params: dict, options: dict, label: str, alive=None):
        self.strip_name = label
        self.scene_name = scene.name
        self.reader = reader
        self.scratch = tempfile.mkdtemp(prefix="kino-train-")
        spec = JobSpec(folder=self.scratch, count=len(reader.frames), width=reader.width, height=reader.height,
                       workflow=train_workflow(params), options=options,
                       source={"training": label, "frames": len(reader.frames)},
                       versions={"kino": addon.version(), "blender": bpy.app.version_string,
                                 "backend": hello.get("backend"), "protocol": hello.get("protocol")})
        self.session = TrainSession(client, spec, reader.read, alive=alive, max_in_flight=4)
        self.out = params["out"]

    def step(self) -> bool:
        if not self.session.step():
            return False
        self.abandon()
        scene = bpy.data.scenes.get(self.scene_name)
        if self.session.state == "completed" and scene is not None:
            scene.kino_train.trained = self.out  # "Use in look" offers it
        return True

    def cancel(self) -> None:
        self.session.cancel()

    def abandon(self) -> None:
        self.reader.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _pump():
    from .lora_train import TRAINER, tag_redraw
    done = TRAINER.step()
    tag_redraw()
    return None if done else INTERVAL


def start_pump() -> None:
    if not bpy.app.timers.is_registered(_pump):
        bpy.app.timers.register(_pump, first_interval=0.0)


def stop_pump() -> None:
    if bpy.app.timers.is_registered(_pump):
        bpy.app.timers.unregister(_pump)
