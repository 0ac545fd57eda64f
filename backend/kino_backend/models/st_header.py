"""Read a safetensors file's header (tensor names, dtypes, shapes) without loading any weights."""
from __future__ import annotations

import hashlib
import json
import os
import struct

from ..stages.base import StageError
from kino_addon.protocol.errors import MODEL_MISSING

MAX_HEADER = 100 * 1024 * 1024


def _read_raw(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ValueError("file is shorter than a safetensors header")
            (n,) = struct.unpack("<Q", head)
            if n <= 1 or n > MAX_HEADER or n + 8 > os.path.getsize(path):
                raise ValueError(f"header length {n} is not plausible")
            raw = fh.read(n)
    except FileNotFoundError:
        raise StageError(MODEL_MISSING, f"model file not found: {path}. Put the file there, or pick "
                         "another one from the models folder.") from None
    except (OSError, ValueError) as exc:
        raise StageError(MODEL_MISSING, f"{path} is not a readable .safetensors file ({exc}). Download it "
                         "again or convert it to .safetensors.") from None
    return raw


def read_header(path: str) -> dict:
    """Return ``{name: {"dtype": str, "shape": [..]}}`` (``__metadata__`` dropped) of a safetensors file.

    Raises ``StageError(MODEL_MISSING)`` naming the file when it is absent or not safetensors.
    """
    raw = _read_raw(path)
    try:
        header = json.loads(raw.decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("header is not an object")
    except (UnicodeDecodeError, ValueError) as exc:
        raise StageError(MODEL_MISSING, f"{path} is not a valid .safetensors file (bad header: {exc}). "
                         "Download it again.") from None
    header.pop("__metadata__", None)
    tensors = {}
    for name, entry in header.items():
        problem = _entry_problem(entry)
        if problem:
            raise StageError(MODEL_MISSING, f"{path} has a damaged header (tensor {name[:80]!r}: {problem}). "
                             "Download it again.")
        tensors[name] = {"dtype": entry["dtype"], "shape": list(entry["shape"])}
    _check_whole(path, len(raw), header)
    return tensors


def _entry_problem(entry) -> str:
    """What is wrong with one tensor's header entry ("" when it is well formed)."""
    if not isinstance(entry, dict):
        return "not an object"
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not isinstance(entry.get("dtype"), str):
        return "no dtype"
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in shape):
        return "the shape is not a list of sizes"
    if not isinstance(offsets, list) or len(offsets) != 2 or \
            not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets) or \
            offsets[0] > offsets[1]:
        return "data_offsets are not two increasing byte positions"
    return ""


def _check_whole(path: str, header_bytes: int, header: dict) -> None:
    """A download cut short keeps its header: the tensors it lists must all lie within the file."""
    need = 8 + header_bytes + max((v["data_offsets"][1] for v in header.values()), default=0)
    have = os.path.getsize(path)
    if have < need:
        raise StageError(MODEL_MISSING, f"{path} is truncated: it holds {have:,} of the {need:,} bytes its header "
                         "lists (an interrupted download or copy). Download or copy it again.")


def header_sha256(path: str) -> str:
    """sha256 of the header bytes: identifies a file's tensors cheaply (no weight read)."""
    return hashlib.sha256(_read_raw(path)).hexdigest()


def shapes(path: str) -> dict:
    """``{name: tuple(shape)}`` of a safetensors file."""
    return {k: tuple(v["shape"]) for k, v in read_header(path).items()}
