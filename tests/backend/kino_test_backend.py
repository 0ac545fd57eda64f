"""A backend with test-only stages, for the server tests (run as a script, like ``-m kino_backend``).

The stages are registered in the stage registry of this process only; nothing is written into
``kino_backend/stages``. Usage: ``python kino_test_backend.py serve --connection-file PATH``.
"""
from __future__ import annotations

import sys
import time

import numpy as np

from kino_backend import stages as stage_registry
from kino_backend.stages.base import ParamSpec, Stage, StageError, StageRun


class _Invert(StageRun):
    """Inverts the image after ``delay`` seconds, so tests can check pixels and cancel mid-job."""

    def stylize(self, frame, init=None, init_strength=None):
        time.sleep(self.params["delay"])
        self.ctx.report(frame=frame.index, step=1, steps_total=1, stage="test_invert")
        if self.params["fail_at"] and frame.index == self.params["fail_at"]:
            raise ZeroDivisionError("test failure on purpose")
        if self.params["model_missing_at"] and frame.index == self.params["model_missing_at"]:
            raise StageError("MODEL_MISSING", "model test.safetensors not found: put it in models_dir")
        self.ctx.provenance.setdefault("test_invert", {"delay": self.params["delay"]})
        return 255 - frame.image


class TestInvert(Stage):
    name = "test_invert"
    role = "look"
    label = "Test invert"
    help = "Test-only look: 255 - pixel."
    params = (ParamSpec("delay", "float", 0.0, "seconds per frame", min=0.0, max=5.0),
              ParamSpec("fail_at", "int", 0, "raise at this frame (0: never)", min=0),
              ParamSpec("model_missing_at", "int", 0, "raise MODEL_MISSING at this frame", min=0))
    run_class = _Invert


class _Matte(StageRun):
    def prepare(self, frames):
        for f in frames:
            yield f.replace(matte=np.full(f.image.shape[:2], self.params["value"], np.float32))

    def close(self):
        CLOSED.append(self.stage.name)


class TestMatte(Stage):
    name = "test_matte"
    role = "prepare"
    help = "Test-only prepare stage: sets a constant matte."
    params = (ParamSpec("value", "float", 0.5, "matte value", min=0.0, max=1.0),)
    run_class = _Matte


class TestNeedsModel(Stage):
    """Test-only look that fails when opened, before its first frame, as the diffusion look does
    without a checkpoint."""
    name = "test_needs_model"
    role = "look"
    help = "Test-only look: refuses to open."
    params = (ParamSpec("model", "path", None, "a model file"),)

    def open(self, params, ctx):
        raise StageError("MODEL_MISSING", "the test look needs a checkpoint: set model=PATH to a file")


CLOSED: list = []


def register() -> None:
    registry = stage_registry.all_stages()  # loads the real stages first
    for stage in (TestInvert(), TestMatte(), TestNeedsModel()):
        if stage.name not in registry:
            stage_registry._REGISTRY[stage.name] = stage


if __name__ == "__main__":
    register()
    from kino_backend.commands import main
    sys.exit(main(sys.argv[1:]))
