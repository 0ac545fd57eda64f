"""Optical flow for Kino: OpenCV DIS on the CPU (default), optional RAFT (torchvision, local weights),
and a per-clip cache so each frame pair's flow is computed once and shared by the temporal stage and
the warping-error metric.

Convention everywhere: a flow ``F`` from image A to image B is float32 (H, W, 2) with
``A(x) ~ B(x + F(x))``.
"""
from __future__ import annotations

from typing import Optional

from .cache import FlowCache, flow_cache_for
from .dis import DISFlow

BACKENDS = ("dis", "raft")


def make_flow(name: str = "dis", *, raft_weights: Optional[str] = None, device: str = "cpu"):
    """Return a flow backend object with ``name`` and ``calc(a_rgb, b_rgb) -> (H, W, 2)``."""
    if name == "dis":
        return DISFlow()
    if name == "raft":
        from .raft import RAFTFlow  # torchvision is imported lazily inside

        return RAFTFlow(raft_weights, device=device)
    raise ValueError(f"unknown flow backend {name!r}; use one of: {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "DISFlow", "FlowCache", "flow_cache_for", "make_flow"]
