"""Choosing the plan of a cluster job: how its frames are split into tasks (see ``plan_base``)."""
from __future__ import annotations

from typing import Callable, Optional

from ..workflow import Workflow
from .plan_base import ClipPlan, FramesPlan, Plan, choose_plan
from .plan_shots import ShotsPlan
from .plan_spans import SpansPlan


def make_plan(workflow: Workflow, n: int, put: Callable, kind: Optional[str] = None, workers: int = 1) -> Plan:
    """The plan for ``n`` frames of ``workflow`` over ``workers`` workers (its task sizes, never its
    result, depend on the worker count)."""
    kind = kind or choose_plan(workflow)
    plan = {"clip": ClipPlan, "frames": FramesPlan, "shots": ShotsPlan, "spans": SpansPlan}[kind]
    return plan(workflow, n, put, workers)
