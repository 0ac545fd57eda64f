"""The ``temporal`` stage (role "schedule"): removes the flicker of frame-by-frame stylization.

Per-frame mode (default): every frame is stylized; the previous OUTPUT frame is warped into the
current one with optical flow computed on the source frames (``frame.image`` as the prepare stages
left it), and blended in where it is reliable (forward-backward consistency, motion boundaries,
frame borders; soft and feathered): ``out = (1 - a m) stylized + a m warped_prev``, a = strength.
Looks that take an ``init`` (diffusion img2img) get the warped previous output mixed with the current
frame as their starting point (``init_strength`` = strength).

Keyframe mode (``keyframe_interval`` = K > 0, or ``keyframes`` = "motion"): see keyframes.py and spans.py;
the filled stream then gets the same recursive blend with ``keyframe_smoothing`` as its strength
(``strength`` there only sets the keyframes' ``init_strength``).

Hard cuts (motion-compensated residual above ``cut_threshold``) are never blended or propagated
across; a cut starts a new segment. ``deflicker`` steadies low-frequency colour afterwards.
What was done goes to ``ctx.provenance["temporal"]``.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Optional

import numpy as np

from ...flow import flow_cache_for, make_flow
from ...flow.scaled import grow_flow, grow_map, work_flows_for
from ...timing import ClipNumbers, Timing
from ..base import Frame, ParamSpec, Stage, StageError, StageRun, look_takes_init
from .deflicker import Deflicker
from .figure import ClipFigure
from .warp import agreement, blend, reliability, residual, warp
from kino_addon.protocol.errors import INVALID_PARAMS, MODEL_MISSING

PARAMS = (
    ParamSpec("strength", "float", 0.9, "How much of the warped previous frame to keep where the flow is "
              "reliable (0 = plain per-frame stylization, 1 = strongest steadiness)", min=0.0, max=1.0),
    ParamSpec("keyframe_interval", "int", 0, "Stylize only every Kth frame and propagate between "
              "keyframes along the flow (0 = stylize every frame; 5-20 is typical)", min=0, max=50),
    ParamSpec("keyframes", "enum", "interval", "How keyframes are picked: every keyframe_interval frames, "
              "or by accumulated motion/occlusion (keyframe_interval is then the longest gap, 20 when 0)",
              choices=("interval", "motion")),
    ParamSpec("motion_threshold", "float", 0.3, "Keyframes='motion': new keyframe when this fraction of "
              "the frame is no longer reliably reachable from the last keyframe", min=0.01, max=1.0),
    ParamSpec("keyframe_smoothing", "float", 0.7, "Keyframe mode: strength of the flow-warped blend run over "
              "the filled frames; the fill is already steady, this softens the hand-over between keyframes",
              min=0.0, max=1.0),
    ParamSpec("fallback_area", "float", 0.2, "Keyframe mode: stylize an in-between frame too when more "
              "than this fraction of it is reachable from neither keyframe", min=0.0, max=1.0),
    ParamSpec("ghost_guard", "float", 0.5, "Against double outlines on fast motion (hands, limbs): where "
              "things move fast and the previous frame, carried along the flow, does not match the current "
              "one, blend less of it (0 = off; 1 = none there: no ghosts, a little more flicker)", min=0.0, max=1.0),
    ParamSpec("deflicker", "bool", False, "Also steady the low-frequency colour and brightness, "
              "following the source's own lighting changes"),
    ParamSpec("cut_threshold", "float", 0.08, "Hard-cut detection: motion-compensated mean grey residual "
              "(0-1) above which two frames belong to different shots", min=0.01, max=1.0),
    ParamSpec("init_blend", "float", 0.75, "Looks that take an init image (diffusion): how much of the "
              "warped previous output goes into the init where reliable", min=0.0, max=1.0),
    ParamSpec("flow", "enum", "dis", "Optical flow: OpenCV DIS on the CPU, or RAFT (needs torchvision "
              "and raft_weights)", choices=("dis", "raft")),
    ParamSpec("flow_resolution", "int", 960, "Longest side (pixels) at which optical flow, occlusion and cut "
              "detection are worked out; larger frames are shrunk for them and the result is grown back "
              "for the full-size blend (0 = full size: slower, rarely better)", min=0, max=8192),
    ParamSpec("raft_weights", "path", None, "torchvision RAFT state dict (.pth) for flow='raft'"),
    ParamSpec("hold", "int", 1, "Timing: show each stylized frame for this many frames (2 = on twos, "
              "3 = on threes), aligned to the clip's frame numbers (frames 1-2, 3-4, ... for 2)", min=1, max=24),
    ParamSpec("interpolate", "int", 1, "Stylize only clip frames 1, 1+N, 1+2N, ... (and each shot's last "
              "frame) and make the frames between them along the footage's motion (1 = off)", min=1, max=24),
)


class Link:
    """The flows between the previous and the current frame, and what follows from them.

    ``back``/``fwd`` are at the working resolution (``flow_resolution``), and so are ``rel_s``,
    ``pull_s``, ``push_s()`` and ``rel_backward_s()`` (keyframe mode chains them there); ``rel`` and
    ``pull`` are those grown to the frame's full ``size`` (w, h) for the full-size warp and blend."""

    def __init__(self, back: np.ndarray, fwd: np.ndarray, score: float, is_cut: bool, size=None, res=None,
                 ghost_guard: float = 0.0):
        self.back, self.fwd, self.score, self.is_cut = back, fwd, score, is_cut
        self.ghost_guard = float(ghost_guard)
        self.res = res  # the motion-compensated source residual (working size), when known
        self.size = tuple(size) if size else (back.shape[1], back.shape[0])
        self._rel_s = self._pull_s = self._rel = self._pull = None

    @property
    def rel_s(self) -> np.ndarray:
        """Trust that the current frame's pixel is seen in the previous frame (working size)."""
        if self._rel_s is None:
            guard = self.res is not None and self.ghost_guard > 0
            agree = agreement(self.res, self.back, self.ghost_guard) if guard else None
            self._rel_s = reliability(self.back, self.fwd, agree=agree)
        return self._rel_s

    @property
    def pull_s(self) -> np.ndarray:
        """Flow current -> previous used for warping (working size): the backward flow refined to invert
        the forward one (B'(x) = -F(x + B(x))), so a frame carried along it moves as the forward flow says."""
        if self._pull_s is None:
            self._pull_s = -warp(self.fwd, self.back)
        return self._pull_s

    @property
    def rel(self) -> np.ndarray:
        if self._rel is None:
            self._rel = grow_map(self.rel_s, self.size)
        return self._rel

    @property
    def pull(self) -> np.ndarray:
        if self._pull is None:
            self._pull = grow_flow(self.pull_s, self.size)
        return self._pull

    def prepare(self) -> None:
        """Work out (and keep) the full-size trust and warp flow now, e.g. on a helper thread."""
        _ = self.rel, self.pull

    def rel_backward_s(self) -> np.ndarray:
        """Trust that the previous frame's pixel is seen in the current frame (working size)."""
        return reliability(self.fwd, self.back)

    def push_s(self) -> np.ndarray:
        """Flow previous -> current for warping the other way (F'(x) = -B(x + F(x))), working size."""
        return -warp(self.back, self.fwd)


class TemporalRun(StageRun):
    """The temporal stage opened for one job: the flow backend, the previous source and stylized frames
    (the recursive state), cut detection, deflicker and the clip figure."""

    def __init__(self, stage, params, ctx):
        super().__init__(stage, params, ctx)
        p = self.params
        try:
            backend = make_flow(p["flow"], raft_weights=p.get("raft_weights"), device=ctx.device)
        except RuntimeError as exc:  # RAFTUnavailable: torchvision / weights missing
            raise StageError(MODEL_MISSING, str(exc), stage="temporal") from None
        self.flows = work_flows_for(ctx.cache, flow_cache_for(ctx.cache, backend), p["flow_resolution"])
        self.prov = {"mode": self.mode, "strength": p["strength"], "flow": p["flow"],
                     "flow_resolution": p["flow_resolution"],
                     "keyframe_interval": p["keyframe_interval"], "keyframes": [],
                     "cuts": [], "frames_stylized": 0, "fallback_frames": [], "deflicker": p["deflicker"],
                     "frames": 0}
        ctx.provenance["temporal"] = self.prov
        ctx.cache["kino.temporal.plan"] = {"mode": self.mode, "interval": p["keyframe_interval"],
                                           "flows": self.flows, "cut_threshold": p["cut_threshold"]}
        # what the next frame needs from the previous ones (resume continues from it: state.py)
        self.carry = {"src": None, "out": None}  # the recursive blend's previous source and output
        self.keyframes = None  # KeyframeScheduler in keyframe mode
        self.deflicker = Deflicker() if p["deflicker"] else None
        self.deflicker_src = None
        self.figure = ClipFigure(self.flows, p["flow"])
        self._pool: Optional[ThreadPoolExecutor] = None
        try:
            self.timing = Timing(p["hold"], p["interpolate"], ClipNumbers.from_options(ctx.options, ctx.frames_total),
                                 self.flows, self._is_cut, self.prov)
        except ValueError as exc:
            raise StageError(INVALID_PARAMS, str(exc), stage="temporal") from None

    @property
    def mode(self) -> str:
        p = self.params
        if p["keyframes"] == "motion":
            return "keyframes-motion"
        return "keyframes-interval" if p["keyframe_interval"] > 0 else "per-frame"

    def link(self, prev_src: Optional[np.ndarray], src: np.ndarray) -> Optional[Link]:
        """Flows between two consecutive source frames (cached, at the working resolution), or None at
        the clip's first frame."""
        found = self._backward(prev_src, src)
        if found is None:
            return None
        a, b, back, res, score = found
        fwd = self.flows.small_flow(a, b)
        return Link(back, fwd, score, score > self.params["cut_threshold"], size=(src.shape[1], src.shape[0]),
                    res=res, ghost_guard=self.params["ghost_guard"])

    def is_cut_between(self, prev_src: np.ndarray, src: np.ndarray) -> bool:
        """``link(prev_src, src)`` is a cut, from the backward flow alone (the cluster's cut checks: the
        forward flow is left to whoever fills the span, which finds the backward one in the cache)."""
        found = self._backward(prev_src, src)
        return found is not None and found[4] > self.params["cut_threshold"]

    def _backward(self, prev_src: Optional[np.ndarray], src: np.ndarray):
        """(working copies a, b, the flow b -> a, the residual, the cut score), or None at the first frame."""
        if prev_src is None or prev_src.shape != src.shape:
            return None
        a, b = self.flows.small(prev_src), self.flows.small(src)
        back = self.flows.small_flow(b, a)
        res = residual(a, b, back)
        return a, b, back, res, float(res.mean())

    def stylize(self, look: StageRun, frame: Frame, init=None, init_strength=None) -> np.ndarray:
        self.ctx.check_cancelled()
        self.prov["frames_stylized"] += 1
        if init is None:
            out = look.stylize(frame)
        else:
            out = look.stylize(frame, init=init, init_strength=init_strength)
        return np.asarray(out, dtype=np.uint8)

    def note_cut(self, frame: Frame, link: Optional[Link]) -> None:
        if link is not None and link.is_cut:
            self.prov["cuts"].append(frame.index)

    def _is_cut(self, a: Frame, b: Frame) -> bool:
        lk = self.link(np.asarray(a.image), np.asarray(b.image))
        return lk is None or lk.is_cut

    def _styled(self, frames: Iterator[Frame], look: StageRun) -> Iterator[Frame]:
        if self.mode == "per-frame":
            out = self._per_frame(frames, look)
        else:
            from .keyframes import KeyframeScheduler

            self.keyframes = self.keyframes or KeyframeScheduler(self)
            out = self._smooth(self.keyframes.run(frames, look))
        if self.deflicker is not None:
            out = self._deflicker(out)
        return out

    def schedule(self, frames: Iterator[Frame], look: StageRun) -> Iterator[Frame]:
        if self.timing.active:  # hold / interpolate: the look runs on the anchor frames only
            out = self.timing.run(frames, lambda anchors: self._styled(anchors, look))
        else:
            out = self._styled(frames, look)
        yield from self._measure(out)

    def post_pass(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """What ``schedule`` does in keyframe mode after the keyframes and spans: the smoothing blend,
        deflicker and the figure, from the state in ``carry``, ``deflicker`` and ``figure`` (the cluster
        runs it part after part, carrying that state: cluster/tasks.py)."""
        out = self._smooth(frames)
        if self.deflicker is not None:
            out = self._deflicker(out)
        return self._measure(out)

    def _measure(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """The clip figure and the frame count over the output frames; ``temporal_source`` leaves the meta.
        The figure's pairs are measured on the helper thread while the look works on the next frame."""
        figure = self.figure
        for f in frames:
            src = f.meta.get("temporal_source")
            if src is not None:
                figure.add_later(self._helper(), f.image, src, after_cut=f.index in self.prov["cuts"])
            self.prov["frames"] += 1
            self.prov["figure"] = figure.summary()  # the pairs measured so far
            meta = dict(f.meta)
            meta.pop("temporal_source", None)
            yield f.replace(meta=meta)
        figure.flush()
        self.prov["figure"] = figure.summary()

    def _per_frame(self, frames: Iterator[Frame], look: StageRun) -> Iterator[Frame]:
        a = float(self.params["strength"])
        takes_init = look_takes_init(look)
        for f in frames:
            src, prev_out, prev_src = np.asarray(f.image), self.carry["out"], self.carry["src"]
            stylized = warped = None
            if a <= 0:
                lk = None
            elif takes_init or prev_src is None:
                lk = self.ready_link(prev_src, src)
            else:  # the look needs nothing from the link: work it out, and warp, while the look runs
                pending = self._helper().submit(self._carried, prev_src, src, prev_out)
                try:
                    stylized = self.stylize(look, f)
                finally:
                    lk, warped = pending.result()
            self.note_cut(f, lk)
            if lk is None or lk.is_cut:
                out = stylized if stylized is not None else self.stylize(look, f)
            else:
                if warped is None:
                    warped = warp(prev_out, lk.pull, cubic=True)
                if stylized is None:
                    init = blend(src, warped, lk.rel * self.params["init_blend"])
                    stylized = self.stylize(look, f, init=init, init_strength=a)
                out = blend(stylized, warped, a * lk.rel)
            self.carry = {"src": src, "out": out}
            yield f.replace(image=out, meta={**f.meta, "temporal_source": src})

    def _carried(self, prev_src: np.ndarray, src: np.ndarray, prev_out: np.ndarray):
        """(the link, the previous output warped onto this frame or None at a cut): all the recursive blend
        needs besides the stylized frame (run on the helper thread beside the look)."""
        lk = self.ready_link(prev_src, src)
        if lk is None or lk.is_cut:
            return lk, None
        return lk, warp(prev_out, lk.pull, cubic=True)

    def ready_link(self, prev_src: Optional[np.ndarray], src: np.ndarray) -> Optional[Link]:
        """``link`` with its trust and warp flow worked out (so a helper thread does that work too)."""
        lk = self.link(prev_src, src)
        if lk is not None and not lk.is_cut:
            lk.prepare()
        return lk

    def beside_look(self, fn, *args):
        """Run ``fn(*args)`` on the helper thread (e.g. while the look works); returns its future."""
        return self._helper().submit(fn, *args)

    def _helper(self) -> ThreadPoolExecutor:
        """One helper thread for work that runs beside the look (OpenCV and NumPy release the GIL)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kino-temporal")
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        super().close()

    def _smooth(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """The per-frame recursive blend applied to already stylized frames (keyframe mode)."""
        a = float(self.params["keyframe_smoothing"])
        for f in frames:
            src = f.meta["temporal_source"]
            lk = self.link(self.carry["src"], src) if a > 0 and f.index not in self.prov["cuts"] else None
            out = f.image if lk is None else blend(f.image, warp(self.carry["out"], lk.pull, cubic=True), a * lk.rel)
            self.carry = {"src": src, "out": out}
            yield f.replace(image=out)

    def _deflicker(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        df = self.deflicker
        cuts = self.prov["cuts"]
        for f in frames:
            src, prev_src = f.meta.get("temporal_source"), self.deflicker_src
            back = None
            if prev_src is not None and f.index not in cuts and prev_src.shape == src.shape:
                back = self.flows.flow(src, prev_src)
            else:
                df.reset()
            image = df.apply(f.image, src, back)
            self.deflicker_src = src
            yield f.replace(image=image)

    def checkpoint(self):
        from .state import checkpoint
        return checkpoint(self)

    def restore(self, state: dict) -> None:
        from .state import restore
        restore(self, state)


class TemporalStage(Stage):
    """The ``temporal`` stage (schedule): flow-warped recursive blending, or keyframes and propagation."""
    name = "temporal"
    role = "schedule"
    label = "Temporal consistency"
    help = ("Removes flicker: blends the previous stylized frame, warped by optical flow from the source, "
            "into the current one where it is visible; or stylizes keyframes only and propagates them. "
            "Never blends across hard cuts.")
    params = PARAMS
    run_class = TemporalRun


STAGES = [TemporalStage()]
