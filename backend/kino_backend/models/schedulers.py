"""Schedulers by name (img2img sampling), built from the checkpoint's own scheduler config."""
from __future__ import annotations

from ..stages.base import StageError
from kino_addon.protocol.errors import INVALID_PARAMS

SCHEDULERS = {
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "lcm": ("LCMScheduler", {}),  # few-step (2-8 steps); best with an LCM LoRA or LCM-distilled checkpoint
}
SCHEDULER_NAMES = tuple(SCHEDULERS)


def check_name(name: str) -> str:
    if name not in SCHEDULERS:
        raise StageError(INVALID_PARAMS, f"unknown scheduler {name!r}; valid names: {', '.join(SCHEDULER_NAMES)}")
    return name


def make_scheduler(name: str, base_config):
    """A new scheduler of kind ``name`` configured from ``base_config`` (betas, timesteps, prediction type)."""
    import diffusers
    cls_name, extra = SCHEDULERS[check_name(name)]
    cls = getattr(diffusers, cls_name)
    return cls.from_config(dict(base_config), **extra)
