"""What a finished frame or a failure looks like on the wire: the ``job.frame`` body and buffers, and the
``error`` object of an exception. Shared by the local job runner (``jobs``) and the cluster driver."""
from __future__ import annotations

import traceback

import numpy as np

from kino_addon.protocol.envelope import buffer_spec
from kino_addon.protocol.errors import INTERNAL, INVALID_PARAMS, OUT_OF_MEMORY, WIRE_CODES, error_object
from kino_addon.protocol.quoting import clip

from .stages.base import Frame, ParamError, StageError


def error_from_exception(exc: BaseException) -> dict:
    stage, frame = getattr(exc, "kino_where", None) or (None, None)
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    kind = type(exc).__name__
    if isinstance(exc, StageError):
        code = exc.code if exc.code in WIRE_CODES else INTERNAL
        return error_object(code, exc.message, type=kind, traceback=tb, frame=exc.frame if exc.frame is not None
                            else frame, stage=exc.stage or stage)
    if isinstance(exc, MemoryError) or "OutOfMemory" in kind or "out of memory" in str(exc).lower():
        return error_object(OUT_OF_MEMORY, f"out of memory ({exc}); use a smaller size, fewer ControlNets, "
                                           "or free memory used by other programs", type=kind, traceback=tb,
                            frame=frame, stage=stage)
    if isinstance(exc, ParamError):
        return error_object(INVALID_PARAMS, str(exc), type=kind, traceback=tb, frame=frame, stage=stage)
    return error_object(INTERNAL, f"{kind}: {exc}", type=kind, traceback=tb, frame=frame, stage=stage)


def frame_event(job, out: Frame) -> tuple:
    """Body and buffers of the ``job.frame`` event for one finished frame."""
    image = out.image
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.shape != (job.height, job.width, 3):
        raise StageError(INTERNAL, f"frame {out.index} came out as {getattr(image, 'dtype', None)} "
                                   f"{getattr(image, 'shape', None)}, expected uint8 ({job.height}, {job.width}, 3)",
                         frame=out.index)
    image = np.ascontiguousarray(image)
    buffers = [(buffer_spec("image", image.nbytes, image.shape), image)]
    if out.matte is not None:
        matte = np.asarray(out.matte)
        if matte.dtype != np.uint8:
            matte = np.clip(np.rint(matte.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
        matte = np.ascontiguousarray(matte.reshape(job.height, job.width, 1))
        buffers.append((buffer_spec("matte", matte.nbytes, matte.shape), matte))
    meta = {clip(str(k), 100): clip(v, 1000) if isinstance(v, str) else v for k, v in out.meta.items()
            if isinstance(v, (bool, int, float, str)) or v is None}
    return {"job_id": job.id, "frame": out.index, "meta": meta}, buffers
