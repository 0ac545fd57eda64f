"""File identity (cache keys) and provenance descriptions of model files and folders."""
from __future__ import annotations

import os

from .st_header import MAX_HEADER, header_sha256, read_header

WEIGHT_EXT = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".onnx")
PICKLE_EXT = (".ckpt", ".pt", ".pth", ".bin")  # never loaded while stylizing; ``models convert`` reads them


def weight_files(path: str) -> list:
    if os.path.isfile(path):
        return [path]
    out = []
    for root, dirs, files in os.walk(path):
        dirs.sort()
        out += [os.path.join(root, f) for f in sorted(files) if f.endswith(WEIGHT_EXT)]
    return out


def identity(path: str | None) -> tuple | None:
    """A hashable key that changes when the file (or a weight file in the folder) changes."""
    if not path:
        return None
    path = os.path.abspath(path)
    return (path,) + tuple((f, os.path.getsize(f), os.stat(f).st_mtime_ns) for f in weight_files(path))


def describe(path: str | None) -> dict | None:
    """Provenance: path, total size, and per weight file its size, mtime and (safetensors) sha256 of its
    header."""
    if not path:
        return None
    files = []
    for f in weight_files(path):
        st = os.stat(f)
        entry = {"file": os.path.relpath(f, path) if os.path.isdir(path) else os.path.basename(f),
                 "size": st.st_size, "mtime": st.st_mtime}  # the header's hash does not see new weights
        if f.endswith(".safetensors"):
            entry["sha256_header"] = header_sha256(f)
        files.append(entry)
    return {"path": os.path.abspath(path), "size": sum(e["size"] for e in files), "files": files}


def param_count(path: str) -> int:
    """Number of parameters in the safetensors weight files of ``path`` (from headers only)."""
    total = 0
    found = [f for f in weight_files(path) if os.sep + "safety_checker" + os.sep not in f]
    st = [f for f in found if f.endswith(".safetensors")]
    plain = [f for f in st if not any(v in os.path.basename(f) for v in (".fp16.", ".non_ema.", ".ema."))]
    for f in (plain or st or found):  # what from_pretrained loads: non-variant safetensors first
        if f.endswith(".safetensors"):
            for info in read_header(f).values():
                n = 1
                for d in info["shape"]:
                    n *= d
                total += n
        else:
            total += os.path.getsize(f) // 2
    return total


def sniff(path: str) -> str:
    """What a weights file really is, from its first bytes: ``safetensors``, ``torch_zip`` (PyTorch's zip
    format), ``pickle`` (the legacy format), ``empty``, ``text`` (a web page, an error message, a Git LFS
    pointer) or ``other``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return "other"
    if not head:
        return "empty"
    if len(head) >= 9:
        n = int.from_bytes(head[:8], "little")
        if 1 < n <= MAX_HEADER and head[8:9] == b"{":
            return "safetensors"
    if head.startswith(b"PK\x03\x04"):
        return "torch_zip"
    if head[:1] == b"\x80":
        return "pickle"
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "text"
    return "other"


def not_weights_note(path: str, kind: str) -> str:
    """The listing's and the loader's word for a file that is not the weights its name says."""
    name = os.path.basename(path)
    if kind == "safetensors":
        stem = os.path.splitext(name)[0] if os.path.splitext(name)[1] else name
        return f"{name} is a .safetensors file under another name: rename it to {stem}.safetensors"
    what = {"empty": "empty", "text": "text (a web page, an error message or a Git LFS pointer, not the "
                                         "weights)"}.get(kind, "not a weights file Kino knows")
    return f"{name} is {what}: download it again"
