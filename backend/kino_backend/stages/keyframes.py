"""The ``keyframes`` look: the artist's painted frames carried through the clip along its motion.

``dir`` holds painted frames ``frame_NNNN.png`` named by the clip's frame number (any subset, at
least one). Painted frames come back unchanged, bit for bit. Every other frame is made from the nearest
painted frames on both sides (``kino_backend.propagation``): each is moved along the composed source
flow (one resampling, so texture stays crisp), trusted per pixel by how well the source agrees, and the
two are blended by distance and trust; what neither sees is filled from the visible colours and
reported. The work happens in ``prepare`` (it needs the frames up to the next keyframe); ``stylize``
hands out the result, so holds and other schedules work as with any look.

``ctx.provenance["keyframes"]`` (so ``kino.json``) records the keyframes used, the fraction of every
frame that was filled, and the frames to paint next (where the most was filled).
"""
from __future__ import annotations

from typing import Iterator, Optional

import numpy as np

from kino_addon.protocol.errors import INTERNAL, INVALID_PARAMS

from ..flow import DISFlow, flow_cache_for
from ..flow.scaled import work_flows_for
from ..propagation import Item, KeyframeError, PaintedKeyframes, Propagator, suggest_frames
from ..timing import ClipNumbers
from .base import Frame, ParamSpec, Stage, StageError, StageRun

IMAGE = "keyframes.image"  # Frame.meta key of the made image (stripped before it leaves the backend)

PARAMS = (
    ParamSpec("dir", "path", None, "Folder of painted keyframes: frame_NNNN.png, NNNN = the clip's frame "
              "number (Export Frames for Painting writes the frames to paint over); any subset, at least one"),
    ParamSpec("refine", "bool", True, "Refine the composed motion directly against each keyframe: sharper "
              "alignment over long gaps, a little slower"),
    ParamSpec("cut_threshold", "float", 0.08, "Hard-cut detection (motion-compensated mean residual, 0-1): "
              "nothing is carried across a cut", min=0.01, max=1.0),
    ParamSpec("suggest", "int", 3, "How many frames to suggest for painting next (where the most had to "
              "be filled)", min=0, max=20),
)


class KeyframesRun(StageRun):
    def __init__(self, stage, params, ctx):
        super().__init__(stage, params, ctx)
        try:
            self.numbers = ClipNumbers.from_options(ctx.options, ctx.frames_total)
            self.painted = PaintedKeyframes(params["dir"])
            self.used = set(self.painted.check(self.numbers.total, ctx.width, ctx.height, self.numbers.all()))
        except (KeyframeError, ValueError) as exc:
            raise StageError(INVALID_PARAMS, str(exc), stage="keyframes") from None
        self.fill: dict = {}
        self.prov = {"dir": self.painted.folder, "painted": self.painted.numbers, "used": sorted(self.used),
                     "frames": 0, "fill": [], "fill_mean": 0.0, "fill_max": 0.0, "fill_max_frame": None,
                     "suggest": [], "cuts": [], "refine": params["refine"],
                     "note": "fill = fraction of each frame (in order) that no keyframe reached"}
        ctx.provenance["keyframes"] = self.prov

    def checkpoint(self):
        return None  # each frame depends on the painted keyframes on both sides: resumed whole

    def prepare(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        # the clip's flows at the default working resolution: shared with the temporal stage's
        flows = work_flows_for(self.ctx.cache, flow_cache_for(self.ctx.cache, DISFlow()))
        prop = Propagator(flows, lambda it: it.number in self.used,
                          self._painting,
                          cut_threshold=self.params["cut_threshold"], refine=self.params["refine"])
        items = (Item(self.numbers.of(f.index), np.asarray(f.image), f) for f in frames)
        for res in prop.run(items):
            self.ctx.check_cancelled()
            self._record(res.item.number, res.fill)
            f = res.item.payload
            meta = {**f.meta, IMAGE: res.image, "keyframe": res.kind == "key",
                    "keyframes_fill": round(res.fill, 4)}
            if len(self.fill) % 25 == 0:
                self._summarize(prop.cuts)
            yield f.replace(meta=meta)
        self._summarize(prop.cuts)

    def _painting(self, item: Item) -> np.ndarray:
        try:
            return self.painted.image(item.number, item.src)
        except KeyframeError as exc:  # a painting damaged or changed since the job started: the artist's to fix
            raise StageError(INVALID_PARAMS, str(exc), frame=item.payload.index, stage="keyframes") from None

    def _record(self, number: int, fill: float) -> None:
        self.fill[number] = fill
        p = self.prov
        p["frames"] += 1
        p["fill"].append(round(fill, 3))
        if p["fill_max_frame"] is None or fill > p["fill_max"]:
            p["fill_max"], p["fill_max_frame"] = round(fill, 4), number

    def _summarize(self, cuts) -> None:
        p = self.prov
        p["fill_mean"] = round(float(np.mean(list(self.fill.values()))), 4) if self.fill else 0.0
        p["cuts"] = list(cuts)
        p["suggest"] = suggest_frames(self.fill, self.used, count=self.params["suggest"])

    def stylize(self, frame: Frame, init: Optional[np.ndarray] = None,
                init_strength: Optional[float] = None) -> np.ndarray:
        image = frame.meta.get(IMAGE)
        if image is None:
            raise StageError(INTERNAL, "the keyframes look got a frame its prepare step did not make",
                             frame=frame.index, stage="keyframes")
        return image

    def finish(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for f in frames:
            if IMAGE in f.meta:
                meta = dict(f.meta)
                meta.pop(IMAGE)
                f = f.replace(meta=meta)
            yield f


class KeyframesStage(Stage):
    name = "keyframes"
    role = "look"
    label = "Painted keyframes"
    help = ("Your painted frames carried through the shot along its motion (EbSynth-style): painted frames "
            "come back unchanged, the rest are made from the nearest painted frames on both sides.")
    params = PARAMS
    run_class = KeyframesRun


STAGES = [KeyframesStage()]
