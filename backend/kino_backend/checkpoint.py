"""Resume checkpoints on the wire: the pipeline's state ({stage: {key: array | JSON value}}, see
``Pipeline.checkpoint``) as a JSON description plus raw byte buffers, and back.

A job submitted with option ``checkpoints: N`` sends, with a ``job.frame`` at most every N frames
where every stage has a clean point, ``body["checkpoint"] = {"version", "arrays", "values"}`` and one
buffer per array named ``state/<stage>/<key>``. The client keeps the latest one next to the frames
(opaque to it) and, to resume, submits the remaining frames with option ``resume_state`` = that
description and the same buffers; the backend restores every stage before the first frame, so the
resumed frames equal the uninterrupted run's.
"""
from __future__ import annotations

import math
from typing import Dict, List, Tuple

import numpy as np

from kino_addon.protocol.envelope import buffer_spec

VERSION = 1
PREFIX = "state/"
DTYPES = ("uint8", "float32", "float64", "int32", "int64", "bool")


class CheckpointError(ValueError):
    """A resume state that cannot be decoded; the message says what is wrong."""


def _json_safe(value):
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise CheckpointError(f"state value {value!r} is not finite; keep it in an array")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    raise CheckpointError(f"state value of type {type(value).__name__} cannot be sent")


def encode(states: Dict[str, dict]) -> Tuple[dict, list]:
    """(description, buffers) of a pipeline checkpoint; an array shared by two keys travels once."""
    arrays, values, buffers, seen = {}, {}, [], {}
    for stage, state in states.items():
        for key, value in state.items():
            name = f"{stage}/{key}"
            if not isinstance(value, np.ndarray):
                values[name] = _json_safe(value)
                continue
            if id(value) in seen:
                arrays[name] = {"same_as": seen[id(value)]}
                continue
            seen[id(value)] = name
            if value.dtype.name not in DTYPES:
                raise CheckpointError(f"state array {name} has dtype {value.dtype}; use one of {', '.join(DTYPES)}")
            entry = {"dtype": value.dtype.name, "shape": list(value.shape)}
            if value.size:
                data = np.ascontiguousarray(value).tobytes()
                shape = list(value.shape) if value.dtype == np.uint8 and 1 <= value.ndim <= 4 else [len(data)]
                entry["buffer"] = PREFIX + name
                buffers.append((buffer_spec(PREFIX + name, len(data), shape), data))
            arrays[name] = entry
    return {"version": VERSION, "arrays": arrays, "values": values}, buffers


def _array(name: str, entry, data: Dict[str, bytes]) -> np.ndarray:
    if not isinstance(entry, dict) or entry.get("dtype") not in DTYPES:
        raise CheckpointError(f"state array {name}: dtype must be one of {', '.join(DTYPES)}")
    shape = entry.get("shape")
    if not isinstance(shape, list) or len(shape) > 4 or not all(isinstance(s, int) and 0 <= s <= 1 << 16
                                                                  for s in shape):
        raise CheckpointError(f"state array {name}: shape must be up to 4 sizes, got {shape!r}")
    dtype = np.dtype(entry["dtype"])
    size = int(np.prod(shape)) if shape else 1
    if size == 0:
        return np.zeros(shape, dtype)
    raw = data.get(entry.get("buffer"))
    if raw is None or len(raw) != size * dtype.itemsize:
        raise CheckpointError(f"state array {name}: its buffer is missing or has the wrong size")
    return np.frombuffer(raw, dtype).reshape(shape).copy()


def decode(desc, buffers: List[tuple]) -> Dict[str, dict]:
    """The states ``encode`` described, from the description and the ``(spec, bytes)`` buffers."""
    if not isinstance(desc, dict) or desc.get("version") != VERSION:
        raise CheckpointError(f"resume_state must be a checkpoint of version {VERSION}")
    arrays, values = desc.get("arrays") or {}, desc.get("values") or {}
    if not isinstance(arrays, dict) or not isinstance(values, dict):
        raise CheckpointError("resume_state.arrays and .values must be objects")
    data = {spec.get("name"): bytes(raw) for spec, raw in buffers}
    states: Dict[str, dict] = {}

    def put(name: str, value) -> None:
        stage, sep, key = name.partition("/")
        if not sep or not stage or not key:
            raise CheckpointError(f"state name {name!r} must be STAGE/KEY")
        states.setdefault(stage, {})[key] = value

    made = {}
    for name, entry in arrays.items():
        if not (isinstance(entry, dict) and "same_as" in entry):
            made[name] = _array(name, entry, data)
            put(name, made[name])
    for name, entry in arrays.items():
        if isinstance(entry, dict) and "same_as" in entry:
            if entry["same_as"] not in made:
                raise CheckpointError(f"state array {name} refers to an unknown array {entry['same_as']!r}")
            put(name, made[entry["same_as"]])
    for name, value in values.items():
        put(name, value)
    return states


def wanted_every(options: dict) -> int:
    """``options["checkpoints"]``: true or N >= 1 -> every N frames; absent/false/0 -> 0 (none)."""
    value = options.get("checkpoints")
    if value is True:
        return 1
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return 0


def wanted_every_s(options: dict) -> float:
    """``options["checkpoint_every_s"]``: seconds that must pass between two checkpoints (a checkpoint
    of a 1080p temporal job is ~12 MB; the add-on keeps one a second); absent -> 0 (every N frames)."""
    value = options.get("checkpoint_every_s")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return 0.0


def is_state(spec: dict) -> bool:
    return str(spec.get("name", "")).startswith(PREFIX)


def state_budget(width: int, height: int) -> int:
    """Bytes of resume state a job may bring: about 160 bytes a pixel (a few images, flows and mattes,
    on a canvas up to 1.5x the frame each way), at least 64 MiB."""
    return max(64 << 20, 160 * width * height)


def state_problem(specs, options: dict, width: int, height: int):
    """What is wrong with the ``state/...`` buffers a ``job.submit`` declares (before reading them)."""
    state = [s for s in specs if is_state(s)]
    if not state:
        return None
    if not isinstance((options or {}).get("resume_state"), dict):
        return "job.submit carries state/... buffers without options.resume_state"
    if sum(s["nbytes"] for s in state) > state_budget(width, height):
        return f"the resume state is larger than a {width}x{height} job can need ({state_budget(width, height)} bytes)"
    return None
