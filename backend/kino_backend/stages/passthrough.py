"""The ``none`` look: frames pass through untouched (bit-exact), for compositing-only jobs.

It ignores ``init`` and has no parameters; the ``none`` preset lists only this stage, so no temporal
blending touches the frames either (other stages a client adds, such as ``stabilize``, still apply).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .base import Frame, Stage, StageRun


class PassthroughRun(StageRun):
    """The ``none`` look for one job: returns each frame untouched."""

    def stylize(self, frame: Frame, init: Optional[np.ndarray] = None,
                init_strength: Optional[float] = None) -> np.ndarray:
        return frame.image


class Passthrough(Stage):
    """The ``none`` look: frames pass through bit for bit (stabilize- or composite-only jobs)."""
    name = "none"
    role = "look"
    label = "None"
    help = "No look: the frames pass through untouched (for stabilizing or compositing only)."
    params = ()
    run_class = PassthroughRun
    takes_init = False

    def frame_independent(self, params: dict, temporal: bool = False) -> bool:
        return True


STAGES = [Passthrough()]
