"""Choosing the plan of a cluster job: how its frames are split into tasks (see ``plan_base``)."""
from __future__ import annotations

from typing import Callable, Optional

from ..workflow import Workflow
from .plan_base import ClipPlan, FramesPlan, Plan, choose_plan
from .plan_shots import ShotsPlan
from .plan_spans import SpansPlan


def make_plan(workflow: Workflow, n: int, put: Callable, kind: Optional[str] = None) -> Plan:
    kind = kind or choose_plan(workflow)
    return {"clip": ClipPlan, "frames": FramesPlan, "shots": ShotsPlan, "spans": SpansPlan}[kind](workflow, n, put)
