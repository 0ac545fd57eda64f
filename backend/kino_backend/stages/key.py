"""Stage ``key``: pull a green/blue-screen matte so the look stylizes only the actor.

Role prepare. For every frame it sets ``frame.matte`` (float32 HxW, 1 = actor) and replaces
``frame.image`` with the despilled, un-mixed actor colour, so the look never sees the screen's cast at
the edges. It composites nothing: ``scripts/kino composite`` puts the stylized actor over the
stylized background through the matte (a straight alpha-over on sRGB values).

The key colour is found automatically (``key_color = "auto"``, from the job's first frames) or given
as ``"R,G,B"`` (sRGB 0-255). Black letterbox bars at the frame edges are not the screen but not the
actor either: they are outside the picture. By default they stay opaque black (the keyed frame keeps
its letterbox, and a background never shows under the actor's body as a band above the frame edge);
``remove_bars`` keys them out instead. ``scripts/kino composite`` crops them from both plates first.
"""
from __future__ import annotations

from typing import Iterator, List, Optional

import numpy as np

from ..keying import KeyParams, detect_bars, detect_key_color, garbage_mask, parse_key_color, parse_rect, pull_key
from ..keying.keycolor import screen_doubt
from .base import Frame, ParamError, ParamSpec, Stage, StageError, StageRun
from kino_addon.protocol.errors import INVALID_PARAMS

AUTO_FRAMES = 5  # frames buffered to detect the key colour and bars


def _intersect(rects: List[Optional[tuple]]) -> Optional[tuple]:
    """The largest picture area all frames agree is inside their bars (None: no bars)."""
    if not rects or any(r is None for r in rects):
        return None
    x0 = min(r[0] for r in rects)
    y0 = min(r[1] for r in rects)
    x1 = max(r[0] + r[2] for r in rects)
    y1 = max(r[1] + r[3] for r in rects)
    return (x0, y0, x1 - x0, y1 - y0)


class KeyRun(StageRun):
    """The key stage opened for one job: keyer settings, the screen colour (found once), the garbage matte,
    and the temporal matte smoother's state."""

    def __init__(self, stage, params, ctx):
        super().__init__(stage, params, ctx)
        p = params
        self.key_params = KeyParams(clip_black=p["clip_black"], clip_white=p["clip_white"],
                                    despill=p["despill"], refine_radius=int(p["refine_radius"]))
        self.key_rgb = None if p["key_color"] == "auto" else parse_key_color(p["key_color"])
        self.rect = None
        self.mask = None
        from ..keying.temporal import MatteSmoother
        # flows of the plates, not shared with the temporal stage: it follows the keyed frames (their
        # screen filled in), and the plates' sharp silhouettes give the matte's edges better flow
        self.smoother = MatteSmoother(p["matte_smoothing"])
        self._held = 0  # first frames held while the key colour and bars are found

    def _setup(self, first: List[Frame]) -> None:
        images = [f.image for f in first]
        h, w = images[0].shape[:2]
        source = "given"
        if self.key_rgb is None:
            try:
                self.key_rgb = detect_key_color(images)
            except ValueError as exc:
                raise StageError(INVALID_PARAMS, f"{exc} (key.key_color)", stage="key") from None
            source = "auto"
        try:
            self.rect = parse_rect(self.params["garbage_matte"], w, h)
        except ValueError as exc:
            raise StageError(INVALID_PARAMS, f"key.garbage_matte: {exc}", stage="key") from None
        bars = _intersect([detect_bars(i) for i in images]) if self.params["remove_bars"] else None
        if bars is not None and max(self.key_rgb) < 40:
            bars = None  # a black screen: the keyer already treats black as background
        self.mask = garbage_mask((h, w), self.rect, bars)
        self.ctx.provenance["key"] = {"key_color": list(self.key_rgb), "key_color_source": source,
                                      "garbage_matte": list(self.rect) if self.rect else None,
                                      "bars_removed_picture_area": list(bars) if bars else None,
                                      "params": dict(self.params)}
        doubt = screen_doubt(self.key_rgb) if source == "auto" else None
        if doubt:
            self.ctx.provenance["key"]["note"] = doubt

    def _key(self, frame: Frame) -> Frame:
        if frame.image.shape[:2] != self.mask.shape:
            raise StageError(INVALID_PARAMS, f"frame {frame.index} is {frame.image.shape[1]}x"
                             f"{frame.image.shape[0]}, the job's first frame was {self.mask.shape[1]}x"
                             f"{self.mask.shape[0]}; key one clip size per job", frame=frame.index, stage="key")
        res = pull_key(frame.image, self.key_rgb, self.key_params, garbage=self.mask,
                       adjust=lambda matte: self.smoother(frame.image, matte))  # colour un-mixed with it
        meta = dict(frame.meta, key_color=list(self.key_rgb))
        return frame.replace(image=res.foreground, matte=res.matte, meta=meta)

    def prepare(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        it = iter(frames)
        head: List[Frame] = []
        if self.mask is None:  # not resumed: detect the key colour and bars from the first frames
            want = max(1, min(AUTO_FRAMES, self.ctx.frames_total or AUTO_FRAMES))
            for f in it:
                head.append(f)
                if len(head) >= want:
                    break
            if not head:
                return
            self._setup(head)
        for i, f in enumerate(head):
            out = self._key(f)
            self._held = len(head) - i - 1
            yield out
        self._held = 0
        for f in it:
            self.ctx.check_cancelled()
            yield self._key(f)
        self.ctx.provenance.setdefault("key", {})["matte_cuts"] = list(self.smoother.cuts)

    def held(self) -> int:
        return self._held

    def checkpoint(self):
        if self.mask is None:
            return None
        return {"key_rgb": list(self.key_rgb), "mask": self.mask, "provenance": self.ctx.provenance.get("key"),
                **self.smoother.checkpoint()}

    def restore(self, state: dict) -> None:
        if not state:
            return
        self.key_rgb = tuple(int(v) for v in state["key_rgb"])
        mask = np.asarray(state["mask"], np.float32)
        if mask.shape != (self.ctx.height, self.ctx.width):
            raise ValueError(f"its matte mask is {mask.shape[1]}x{mask.shape[0]}")
        self.mask = mask
        self.ctx.provenance["key"] = dict(state.get("provenance") or {})
        self.smoother.restore(state)


class KeyStage(Stage):
    """The ``key`` stage (prepare): pulls the actor's matte from a green or blue screen."""
    name = "key"
    role = "prepare"
    label = "Key (green/blue screen)"
    help = ("Pulls a matte of the actor in front of a green or blue screen (soft edges that keep hair, "
            "spill removed) so the look stylizes only the actor; scripts/kino composite puts it over a "
            "background.")
    params = (
        ParamSpec("key_color", "str", "auto", "screen colour as R,G,B (sRGB 0-255), or auto to detect it"),
        ParamSpec("garbage_matte", "str", "", "X,Y,W,H in source px: everything outside is background "
                                              "(empty = the whole frame)"),
        ParamSpec("clip_black", "float", 0.03, "matte values below this become 0 (screen noise)", 0.0, 0.5),
        ParamSpec("clip_white", "float", 0.99, "matte values above this become 1 (solid actor)", 0.5, 1.0),
        ParamSpec("despill", "float", 1.0, "spill suppression strength (0 = off)", 0.0, 1.0),
        ParamSpec("refine_radius", "int", 0, "guided-filter edge refinement radius in px (0 = off)", 0, 16),
        ParamSpec("remove_bars", "bool", False, "key out black letterbox bars at the frame edges (off: they "
                  "stay opaque black, outside the picture, so the background never shows under the actor's body)"),
        ParamSpec("matte_smoothing", "float", 0.5, "steadies chattering edges from frame to frame along the "
                  "motion (0 = each frame on its own; never blends across cuts or occlusions)", 0.0, 0.9),
    )
    run_class = KeyRun

    def validate(self, params: dict) -> dict:
        out = super().validate(params)
        if out["key_color"] != "auto":
            try:
                parse_key_color(out["key_color"])
            except ValueError as exc:
                raise ParamError("key_color", str(exc)) from None
        try:
            parse_rect(out["garbage_matte"])
        except ValueError as exc:
            raise ParamError("garbage_matte", str(exc)) from None
        if out["clip_black"] >= out["clip_white"]:
            raise ParamError("clip_black", f"must be below clip_white ({out['clip_white']})")
        return out


STAGES = [KeyStage()]
