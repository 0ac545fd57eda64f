"""Convert a pickle weights file (``.bin``, ``.pt``, ``.pth``, ``.ckpt``) to ``.safetensors``.

Many released weights (IP-Adapter FaceID, EVA-CLIP, PuLID v1, older checkpoints) ship as pickles.
Kino never loads a pickle while stylizing; this one-off conversion reads the file with
``torch.load(weights_only=True)``, PyTorch's restricted unpickler that builds tensors, dicts, lists
and numbers only and refuses any other Python object, so a crafted file cannot run code. Nested
dicts are flattened with dots (``{"image_proj": {"proj.weight": t}}`` -> ``image_proj.proj.weight``,
the layout diffusers reads from IP-Adapter safetensors); a lone ``state_dict`` / ``module`` /
``model`` wrapper is unwrapped; training bookkeeping (epoch, step numbers) is left out and named in
the file's metadata.
"""
from __future__ import annotations

import os

from kino_addon.protocol.atomic import usual_file_modes
from kino_addon.protocol.errors import INVALID_PARAMS, MODEL_MISSING

from ..stages.base import StageError
from .files import not_weights_note, sniff

WRAPPERS = ("state_dict", "module", "model", "params_ema")


def default_output(src: str) -> str:
    return os.path.splitext(src)[0] + ".safetensors"


def _load(src: str):
    import pickle

    import torch
    found = sniff(src)
    if found not in ("torch_zip", "pickle"):
        raise StageError(INVALID_PARAMS, not_weights_note(src, found) + (
            "; it needs no conversion" if found == "safetensors" else "") + ".")
    try:
        return torch.load(src, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's own text suggests weights_only=False: never, here
        raise StageError(INVALID_PARAMS, f"{src} holds Python objects other than tensors (classes, functions, "
                         "arrays), so Kino will not load it: unpickling those can run code. Get a .safetensors "
                         "version of these weights from their publisher.") from None
    except (RuntimeError, EOFError, OSError):  # torch reports a damaged archive as RuntimeError
        raise StageError(INVALID_PARAMS, f"{src} is a damaged PyTorch weights file (cut short, or not all of "
                         "it was copied); download it again.") from None


def _unwrap(obj) -> tuple:
    """(the weights inside a lone wrapper key, the names of the wrapper's other entries)."""
    dropped = []
    while isinstance(obj, dict) and len([k for k in obj if k in WRAPPERS]) == 1 and \
            not any(_is_tensor(v) for v in obj.values()):
        key = next(k for k in obj if k in WRAPPERS)
        dropped += [str(k) for k in obj if k != key]
        obj = obj[key]
    return obj, dropped


def _is_tensor(value) -> bool:
    import torch
    return isinstance(value, torch.Tensor)


def flatten(obj, prefix: str = "") -> tuple[dict, list]:
    """({dotted name: tensor}, [dotted names of non-tensor entries left out])."""
    tensors, skipped = {}, []
    if _is_tensor(obj):
        return {prefix: obj}, skipped
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)) and obj and all(_is_tensor(v) or isinstance(v, dict) for v in obj):
        items = ((str(i), v) for i, v in enumerate(obj))
    else:
        return tensors, [prefix or "<root>"]
    for key, value in items:
        t, s = flatten(value, f"{prefix}.{key}" if prefix else str(key))
        tensors.update(t)
        skipped += s
    return tensors, skipped


def convert(src: str, dst: str | None = None, *, overwrite: bool = False) -> dict:
    """Write ``dst`` (default: ``src`` with ``.safetensors``); return a summary dict."""
    from safetensors.torch import save_file
    if not os.path.isfile(src):
        raise StageError(MODEL_MISSING, f"no such file: {src}")
    if src.lower().endswith(".safetensors"):
        raise StageError(INVALID_PARAMS, f"{src} is a .safetensors file already; it needs no conversion.")
    dst = dst or default_output(src)
    if not dst.endswith(".safetensors"):
        raise StageError(INVALID_PARAMS, f"the output {dst} must end with .safetensors (that is what it holds, "
                         "and the only ending Kino's loaders read).")
    if not os.path.isdir(os.path.dirname(os.path.abspath(dst))):
        raise StageError(INVALID_PARAMS, f"the output's folder {os.path.dirname(os.path.abspath(dst))} does not "
                         "exist; create it or pick another --out.")
    if os.path.exists(dst) and not overwrite:
        raise StageError(INVALID_PARAMS, f"{dst} exists already; remove it or pass --force to replace it.")
    weights, dropped = _unwrap(_load(src))
    tensors, skipped = flatten(weights)
    skipped = dropped + skipped
    if not tensors:
        raise StageError(INVALID_PARAMS, f"{src} holds no tensors, so there is nothing to convert.")
    # safetensors refuses shared or strided storage: give every tensor its own contiguous copy
    tensors = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    meta = {"format": "pt", "converted_by": "kino models convert", "source": os.path.basename(src)}
    if skipped:
        meta["skipped"] = ",".join(skipped)[:2000]
    tmp = dst + ".part"
    save_file(tensors, tmp, metadata=meta)
    usual_file_modes(tmp)  # save_file makes it 0600
    os.replace(tmp, dst)
    return {"source": os.path.abspath(src), "output": os.path.abspath(dst), "tensors": len(tensors),
            "bytes": os.path.getsize(dst), "skipped": skipped}
