"""Carrying painted (or stylized) keyframes through a clip along the source's motion.

The artist's workflow of EbSynth, with Kino's own method: a few frames of a shot are painted, every
other frame is made from the nearest painted frames on both sides. For an in-between frame ``t`` and a
keyframe ``k`` the flow ``t -> k`` is composed from the flows between consecutive source frames
(``carry.Chain``), refined once directly against the keyframe's source frame, and the painting is
resampled ONCE along it (bicubic), so texture stays crisp over long gaps. Each side's result is
trusted per pixel by how well the keyframe's source, moved the same way, matches the current source
frame (``carry.carry``). The two sides are blended by distance and trust (``blend.combine``). Where
neither side is trusted (a region that appears between two keyframes) the frame is filled from what
is visible (``fill``): a local colour model fitted on the trusted pixels maps the current source
frame into the painting's colours. The fraction filled per frame is reported, and ``suggest`` picks
the frames worth painting next.

``segment.propagate_segment`` does one run of frames between two keyframes (either may be missing);
``engine.Propagator`` streams a clip through it, splitting at hard cuts.
"""
from .engine import Item, Propagator, Result
from .painted import KeyframeError, PaintedKeyframes
from .segment import Key, propagate_segment
from .suggest import suggest_frames

__all__ = ["Item", "Key", "KeyframeError", "PaintedKeyframes", "Propagator", "Result", "propagate_segment",
           "suggest_frames"]
