"""``TrainJob``: train a LoRA, the queued job behind the Train LoRA operator. Its frames (``readers``)
go through one backend job (``TrainSession``: the training's progress, cancel, stall check) whose
``train_lora`` stage writes the LoRA file. No strip is placed on the timeline: the job's pass-through
frames go to a scratch folder that is removed when the job ends. The train ``QUEUE`` runs these jobs
on the single timer pump.
"""
from __future__ import annotations

import shutil

import bpy

from ...core import tempdirs
from ...core.job_queue import QueuedJob
from ...core.job_session import JobSpec
from ...core.lora_training import TrainSession, train_workflow
from .. import addon, job_pump

QUEUE = job_pump.register_queue("train")


class TrainJob(QueuedJob):
    """Train one LoRA on ``reader``'s frames (or the folder in ``params``).

    State: the scene's name (``Scene.kino_train.trained`` is set there when the file is written), the
    reader, the scratch folder, ``session`` (the backend job), ``out`` (the LoRA file).
    """

    def __init__(self, scene, client, hello: dict, reader, params: dict, options: dict, label: str, alive=None):
        self.scene_name = scene.name
        self.reader = reader
        tempdirs.sweep(("kino-train-",))  # what a killed run left behind
        self.scratch = tempdirs.make("kino-train-")
        spec = JobSpec(folder=self.scratch, count=len(reader.frames), width=reader.width, height=reader.height,
                       workflow=train_workflow(params), options=options,
                       source={"training": label, "frames": len(reader.frames)}, versions=addon.versions(hello))
        self.session = TrainSession(client, spec, reader.read, alive=alive, max_in_flight=4)
        self.out = params["out"]
        super().__init__(label, [self.session])

    def on_completed(self) -> None:
        scene = bpy.data.scenes.get(self.scene_name)
        if scene is not None:
            scene.kino_train.trained = self.out  # "Use in Look" offers it

    def close(self) -> None:
        self.reader.close()
        shutil.rmtree(self.scratch, ignore_errors=True)
