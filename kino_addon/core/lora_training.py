"""LoRA training started from the add-on: the job's workflow, a ``JobSession`` that follows the
training's progress (step n of m, loss), and the "Use in look" list edit. Stdlib + numpy only.

The training is a backend job like stylizing (the backend's ``train_lora`` stage): the
``none`` look plus the ``train_lora`` finish stage; the frames go out through the same session code
as Stylize. The frames that come back are pass-through copies: they land in a scratch folder (the
caller removes it), never on the timeline. The result is the LoRA file named in ``out``.
"""
from __future__ import annotations

import os
from typing import Optional

from .job_session import JobSession
from .job_workflow import PASSTHROUGH_LOOK
from .plan import safe_name

TRAIN_STAGE = "train_lora"


def train_workflow(params: dict) -> dict:
    """The job's workflow: frames pass through (``none``); ``train_lora`` trains after the last one."""
    return {"version": 1, "look": PASSTHROUGH_LOOK,
            "stages": [{"name": TRAIN_STAGE, "params": dict(params)}, {"name": PASSTHROUGH_LOOK}]}


def default_lora_path(base: str, name: str) -> str:
    """``<base>/lora/<name>.safetensors`` (``base`` is the add-on's //kino folder)."""
    return os.path.join(base, "lora", f"{safe_name(name or 'lora')}.safetensors")


def every_nth(first: int, end: int, every: int) -> list:
    """Timeline frames ``first, first + every, ...`` before ``end`` (exclusive)."""
    return list(range(int(first), int(end), max(1, int(every))))


def append_lora(current: str, path: str) -> str:
    """The diffusion look's ``lora`` list (``"; "``-separated ``PATH[:WEIGHT]``) with ``path`` added once."""
    items = [v.strip() for v in (current or "").split(";") if v.strip()]
    paths = [v.rpartition(":")[0] if _has_weight(v) else v for v in items]
    if path not in paths:
        items.append(path)
    return "; ".join(items)


def _has_weight(item: str) -> bool:
    head, sep, tail = item.rpartition(":")
    if not sep or not head or tail.startswith(("\\", "/")):
        return False
    try:
        float(tail)
    except ValueError:
        return False
    return True


class TrainSession(JobSession):
    """A ``JobSession`` whose progress is the training's: step n of m and the latest loss.

    State (besides ``JobSession``'s): ``step_n``, ``steps_total``, ``loss`` from ``job.progress``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.step_n = 0
        self.steps_total = 0
        self.loss: Optional[float] = None

    def _on_progress(self, msg) -> None:
        super()._on_progress(msg)
        body = msg.body
        if body.get("stage") != TRAIN_STAGE:
            return
        self.step_n = int(body.get("step") or 0)
        self.steps_total = int(body.get("steps_total") or 0)
        if isinstance(body.get("loss"), (int, float)):
            self.loss = float(body["loss"])

    def progress_text(self) -> str:
        if self.steps_total and not self.done:
            loss = f", loss {self.loss:.4f}" if self.loss is not None else ""
            return f"training step {self.step_n} of {self.steps_total}{loss}"
        if not self.done and self.sent < len(self.todo):
            return f"sending frame {self.sent + 1} of {len(self.todo)}"
        return "training starts" if not self.done else self.state

    @property
    def fraction(self) -> float:
        if self.steps_total:
            return self.step_n / self.steps_total
        return 0.0

    def _fail(self, message: str, kept_note: bool = True) -> None:
        super()._fail(message, kept_note=False)  # nothing to resume: a failed training writes no LoRA

    @property
    def result(self) -> dict:
        """``train_lora`` provenance of the finished job (out, loss_first, loss_last, steps, images...)."""
        return ((self.provenance or {}).get("stages") or {}).get(TRAIN_STAGE) or {}
