"""Stage ``stabilize``: reverse stabilization around the look.

``prepare`` warps every frame by its stabilizing matrix (source pixels -> stabilized pixels) taken
from the job option ``stabilize.matrices`` (one 2x3 matrix per job frame, in job order; computed in
Blender by ``kino_addon.blender.stabilize.transforms``), so the look sees a steady shot. ``finish`` warps the
stylized frame back by the inverse, so the original camera motion returns. What the warp uncovers is
filled as ``border`` says: by default from the neighbouring frames along the motion (``stabilize_fill``:
the stabilized shot saw that area in other frames), never by stretching edge pixels. With ``canvas``
expand (the default while restoring) the stabilized canvas is large enough to keep every source pixel,
so the restored frames have real stylized pixels up to their edges.
"""
from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np

from kino_addon.protocol.errors import INVALID_PARAMS

from .base import Frame, ParamSpec, Stage, StageError, StageRun
from .stabilize_fill import NeighbourFill, Warped, coverage

BORDERS = {"replicate": cv2.BORDER_REPLICATE, "reflect": cv2.BORDER_REFLECT101, "black": cv2.BORDER_CONSTANT}
BORDER_CHOICES = ("fill", "reflect", "black", "replicate")
INTERPOLATIONS = {"lanczos": cv2.INTER_LANCZOS4, "cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR}


def warp(image: np.ndarray, matrix, *, inverse: bool = False, border: str = "reflect",
         interpolation: str = "lanczos", size=None) -> np.ndarray:
    """Warp ``image`` by ``matrix`` (2x3, source px -> destination px; y down, origin top-left).

    ``inverse=True`` applies the inverse mapping (destination -> source), which restores a frame
    that was warped by ``matrix``. The output has ``size`` (w, h), by default the input's size.
    """
    m = np.asarray(matrix, dtype=np.float64).reshape(2, 3)
    h, w = image.shape[:2]
    size = (w, h) if size is None else (int(size[0]), int(size[1]))
    flags = INTERPOLATIONS[interpolation] | (cv2.WARP_INVERSE_MAP if inverse else 0)
    mode = BORDERS["reflect" if border == "fill" else border]  # "fill": the neighbours come on top
    out = cv2.warpAffine(image, m, size, flags=flags, borderMode=mode, borderValue=0)
    return out.reshape((size[1], size[0]) + image.shape[2:])


def expand_margins(matrices: np.ndarray, width: int, height: int, cap: float = 0.25) -> tuple:
    """(left, top, right, bottom) px a stabilized canvas needs to hold every source pixel of every
    frame, each capped at ``cap`` of the frame size."""
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], float)
    pts = corners @ np.swapaxes(matrices[:, :, :2], 1, 2) + matrices[:, None, :, 2]
    lo, hi = pts.reshape(-1, 2).min(0), pts.reshape(-1, 2).max(0)
    caps = (cap * width, cap * height)
    left, top = (int(np.ceil(min(max(0.0, -lo[i]), caps[i]))) for i in (0, 1))
    right = int(np.ceil(min(max(0.0, hi[0] - (width - 1)), caps[0])))
    bottom = int(np.ceil(min(max(0.0, hi[1] - (height - 1)), caps[1])))
    return left, top, right, bottom


def job_matrices(options: dict, frames_total: int) -> np.ndarray:
    """The per-frame matrices from the job options, validated: (frames_total, 2, 3)."""
    spec = (options or {}).get("stabilize")
    if not isinstance(spec, dict) or "matrices" not in spec:
        raise StageError(INVALID_PARAMS, "the stabilize stage needs the job option "
                         "stabilize = {\"matrices\": [[[a, b, tx], [c, d, ty]], ...]} (one per frame); "
                         "compute it with kino_addon.blender.stabilize.transforms.stabilization_for_input or "
                         "scripts/kino stabilize", stage="stabilize")
    try:
        m = np.asarray(spec["matrices"], dtype=np.float64)
    except (TypeError, ValueError):
        raise StageError(INVALID_PARAMS, "stabilize.matrices must be a list of 2x3 number matrices",
                         stage="stabilize") from None
    if m.ndim != 3 or m.shape[1:] != (2, 3) or not np.isfinite(m).all():
        raise StageError(INVALID_PARAMS, f"stabilize.matrices must have shape (frames, 2, 3) with finite "
                         f"numbers, got shape {list(m.shape)}", stage="stabilize")
    if len(m) < frames_total:
        raise StageError(INVALID_PARAMS, f"stabilize.matrices has {len(m)} matrices for {frames_total} "
                         "frames; give one per frame of the job", stage="stabilize")
    if np.any(np.abs(np.linalg.det(m[:, :, :2])) < 1e-6):
        raise StageError(INVALID_PARAMS, "a stabilize matrix is not invertible", stage="stabilize")
    return m


class StabilizeRun(StageRun):
    """The stabilize stage opened for one job: the per-frame matrices from the job's options, the canvas margins."""

    def __init__(self, stage, params, ctx):
        super().__init__(stage, params, ctx)
        self.matrices = job_matrices(ctx.options, ctx.frames_total)
        self.margins = (0, 0, 0, 0)
        if params["canvas"] == "auto":
            self.params = params = dict(params, canvas="expand" if params["restore"] else "source")
        if params["canvas"] == "expand" and not params["restore"]:
            raise StageError(INVALID_PARAMS, "canvas=expand needs restore on (frames leave the job at the "
                             "source size); use canvas=source to keep the frames stabilized", stage="stabilize")
        self._raw, self.canvas = self.matrices, (ctx.width, ctx.height)
        if params["canvas"] == "expand":
            self._set_margins(expand_margins(self.matrices, ctx.width, ctx.height))
        self.fill = NeighbourFill(params["fill_lookahead"]) if params["border"] == "fill" else None
        ctx.provenance.setdefault("stabilize", {"frames": len(self.matrices), "border": params["border"],
                                                "interpolation": params["interpolation"],
                                                "restore": params["restore"], "canvas": params["canvas"],
                                                "margins": list(self.margins)})

    def _set_margins(self, margins) -> None:
        """The expanded canvas: ``margins`` (left, top, right, bottom) px around the source frame."""
        self.margins = tuple(int(v) for v in margins)
        self.matrices = self._raw.copy()
        self.matrices[:, 0, 2] += self.margins[0]
        self.matrices[:, 1, 2] += self.margins[1]
        l, t, r, b = self.margins
        self.canvas = (self.ctx.width + l + r, self.ctx.height + t + b)
        self.ctx.provenance.get("stabilize", {})["margins"] = list(self.margins)

    def _matrix(self, frame: Frame) -> np.ndarray:
        if not 1 <= frame.index <= len(self.matrices):
            raise StageError(INVALID_PARAMS, f"no stabilize matrix for frame {frame.index}",
                             frame=frame.index, stage="stabilize")
        return self.matrices[frame.index - 1]

    def _warp(self, image, m, inverse):
        size = (self.ctx.width, self.ctx.height) if inverse else self.canvas
        return warp(image, m, inverse=inverse, border=self.params["border"],
                    interpolation=self.params["interpolation"], size=size)

    def _warped(self, frames: Iterator[Frame]) -> Iterator[Warped]:
        source = (self.ctx.width, self.ctx.height)
        for f in frames:
            m = self._matrix(f)
            matte = None if f.matte is None else self._warp(f.matte, m, False)
            yield Warped(f.replace(meta=dict(f.meta, stabilize_matrix=m.tolist())), self._warp(f.image, m, False),
                         matte, coverage(m, source, self.canvas) if self.fill is not None else None)

    def prepare(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        warped = self._warped(frames)
        for w in (self.fill.run(warped) if self.fill is not None else warped):
            yield w.payload.replace(image=w.image, matte=w.matte)

    def held(self) -> int:
        return self.fill.held if self.fill is not None else 0

    def checkpoint(self):
        state = self.fill.checkpoint() if self.fill is not None else {}
        return dict(state, margins=list(self.margins)) if self.params["canvas"] == "expand" else state

    def restore(self, state: dict) -> None:
        """A resumed job carries only the remaining frames' matrices: the canvas stays the clip's."""
        if state.get("margins") is not None and self.params["canvas"] == "expand":
            self._set_margins(state["margins"])
        if self.fill is not None and state:
            self.fill.restore(state)

    def finish(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        if not self.params["restore"]:
            yield from frames
            return
        for f in frames:
            m = self._matrix(f)
            matte = None if f.matte is None else self._warp(f.matte, m, True)
            yield f.replace(image=self._warp(f.image, m, True), matte=matte)


class StabilizeStage(Stage):
    """The ``stabilize`` stage (prepare and finish): warps frames steady before the look and back after it."""
    name = "stabilize"
    role = "prepare"
    label = "Reverse stabilization"
    help = ("Warps each frame by its stabilizing transform (job option stabilize.matrices) before the "
            "look and back afterwards, so the look sees a steady shot and the camera motion returns.")
    params = (
        ParamSpec("border", "enum", "fill", "how the area the warp uncovers is filled: fill = from the "
                  "neighbouring frames along the motion (then mirrored where no frame saw it); reflect = mirrored; "
                  "black; replicate = the edge pixels stretched (shows as bands)", choices=BORDER_CHOICES),
        ParamSpec("fill_lookahead", "int", 8, "border=fill: how many later frames may fill an uncovered area "
                  "(earlier frames always may)", min=0, max=30),
        ParamSpec("interpolation", "enum", "lanczos", "resampling filter of both warps",
                  choices=tuple(INTERPOLATIONS)),
        ParamSpec("restore", "bool", True, "warp the stylized frames back (off: output stays stabilized)"),
        ParamSpec("canvas", "enum", "auto", "expand: a larger stabilized canvas keeps every source pixel, so the "
                  "restored frames have stylized pixels up to their edges; source: the source size (what the "
                  "shake pushes out is lost and comes back mirrored); auto: expand while restoring, else source",
                  choices=("auto", "expand", "source")),
    )
    run_class = StabilizeRun

    def frame_independent(self, params: dict, temporal: bool = False) -> bool:
        return True  # each frame is warped by its own matrix


STAGES = [StabilizeStage()]
