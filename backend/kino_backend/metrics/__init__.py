"""Temporal-consistency metrics: the warping error of docs/metrics.md, flow file I/O, per-frame reports."""
from .warp_error import pair_error, occlusion_mask, warp_backward, warping_error

__all__ = ["pair_error", "occlusion_mask", "warp_backward", "warping_error"]
