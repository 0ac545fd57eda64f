"""Optional RAFT optical flow through torchvision, weights from a local file (no downloads).

torchvision is not part of the CPU environment (it breaks this torch, see notes/ml-cpu.md); on a GPU
machine install a matching torch + torchvision and pass ``raft_weights`` = a torchvision RAFT state
dict (``raft_large_C_T_SKHT_V2-ff5fadd5.pth`` or ``raft_small_C_T_V2-01064c6d.pth``).
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np


class RAFTUnavailable(RuntimeError):
    """RAFT cannot run here; the message says how to fix it."""


def _import_torchvision():
    try:
        import torch
        from torchvision.models import optical_flow
    except ImportError as exc:  # torchvision missing or broken beside this torch
        raise RAFTUnavailable(
            f"flow 'raft' needs torchvision, which is not importable here ({exc}). Use flow='dis' (the "
            "default), or run the backend in a GPU environment with torch + torchvision installed."
        ) from None
    return torch, optical_flow


def _read_state(torch, weights: str) -> dict:
    """The RAFT state dict from a ``.safetensors`` file (what ``scripts/kino models convert`` writes) or
    torchvision's ``.pth`` (PyTorch's restricted loader: tensors only, never code)."""
    import pickle
    if weights.endswith(".safetensors"):
        from safetensors.torch import load_file
        return load_file(weights)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise RAFTUnavailable(f"{weights} is not a readable RAFT weights file ({type(exc).__name__}); download "
                              "torchvision's RAFT .pth again, or use flow='dis'") from None
    return state.get("state_dict", state) if isinstance(state, dict) else state


class RAFTFlow:
    """RAFT (large or small, picked from the weights' keys) run with ``iters`` refinement steps."""

    name = "raft"

    def __init__(self, weights: Optional[str], device: str = "cpu", iters: int = 12):
        if not weights:
            raise RAFTUnavailable("flow 'raft' needs raft_weights=PATH: a torchvision RAFT state dict file "
                                  "(e.g. raft_large_C_T_SKHT_V2-ff5fadd5.pth) in your models folder")
        if not os.path.isfile(weights):
            raise RAFTUnavailable(f"RAFT weights not found: {weights}; put the torchvision RAFT .pth there "
                                  "or use flow='dis'")
        torch, optical_flow = _import_torchvision()
        self._torch = torch
        state = _read_state(torch, weights)
        errors = []
        for build in (optical_flow.raft_large, optical_flow.raft_small):
            model = build(weights=None, progress=False)
            try:
                model.load_state_dict(state)
                break
            except RuntimeError as exc:
                errors.append(str(exc).splitlines()[0])
        else:
            raise RAFTUnavailable(f"{weights} is neither a RAFT-large nor a RAFT-small state dict: {errors}")
        self.device = device
        self.iters = int(iters)
        self.model = model.eval().to(device)
        self.key = f"raft:{os.path.basename(weights)}:{iters}"

    def _tensor(self, image: np.ndarray):
        img = np.asarray(image)
        if img.dtype != np.uint8:
            img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        t = self._torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float()
        return (t / 127.5 - 1.0)[None].to(self.device)

    def calc(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        torch = self._torch
        h, w = np.asarray(a).shape[:2]
        ph, pw = (-h) % 8, (-w) % 8
        ta, tb = self._tensor(a), self._tensor(b)
        if ph or pw:
            pad = torch.nn.functional.pad
            ta, tb = pad(ta, (0, pw, 0, ph), mode="replicate"), pad(tb, (0, pw, 0, ph), mode="replicate")
        with torch.inference_mode():
            flows = self.model(ta, tb, num_flow_updates=self.iters)
        flow = flows[-1][0, :, :h, :w].permute(1, 2, 0).float().cpu().numpy()
        return np.ascontiguousarray(flow, dtype=np.float32)
