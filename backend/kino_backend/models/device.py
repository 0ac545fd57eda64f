"""Device and dtype choice, automatic memory options, and out-of-memory errors that say what to change."""
from __future__ import annotations

import contextlib

from ..stages.base import StageError
from kino_addon.protocol.errors import INVALID_PARAMS, OUT_OF_MEMORY

DTYPES = ("auto", "fp32", "fp16", "bf16")
GiB = 1024 ** 3


def resolve_device(device: str = "auto") -> str:
    import torch
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    base = device.split(":")[0]
    if base == "cuda" and not torch.cuda.is_available():
        raise StageError(INVALID_PARAMS, "device 'cuda' was asked for but this backend's torch has no CUDA GPU; "
                         "use device 'auto' or 'cpu', or run the backend on a GPU machine.")
    if base not in ("cuda", "mps", "cpu"):
        raise StageError(INVALID_PARAMS, f"unknown device {device!r}; use auto, cuda, cuda:N, mps or cpu.")
    return device


def resolve_dtype(dtype: str, device: str):
    import torch
    if dtype not in DTYPES:
        raise StageError(INVALID_PARAMS, f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}.")
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16 if device == "mps" else torch.float32
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[dtype]


def dtype_name(dt) -> str:
    return {"torch.float32": "fp32", "torch.float16": "fp16", "torch.bfloat16": "bf16"}.get(str(dt), str(dt))


def choose_memory_options(free_bytes: int, model_bytes: int) -> dict:
    """Memory savers for a model of ``model_bytes`` on a GPU with ``free_bytes`` free (pure logic)."""
    headroom = 2 * GiB  # activations at 512-1024 px with a ControlNet
    tight = free_bytes < model_bytes + headroom
    return {"attention_slicing": tight, "vae_tiling": tight,
            "cpu_offload": free_bytes < model_bytes * 1.1 + 0.5 * GiB}


def memory_plan(device: str, model_bytes: int) -> dict:
    """Which memory savers to switch on, from free GPU memory vs the model's size at the load dtype."""
    plan = {"attention_slicing": False, "vae_tiling": False, "cpu_offload": False, "free_bytes": None,
            "model_bytes": int(model_bytes)}
    if not device.startswith("cuda"):
        return plan
    import torch
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    plan["free_bytes"] = int(free)
    plan.update(choose_memory_options(free, model_bytes))
    return plan


def place(pipe, device: str, plan: dict) -> None:
    """Move ``pipe`` to ``device`` applying ``plan``; out of memory becomes a clear StageError."""
    with oom_guard("loading the model"):
        if plan.get("cpu_offload"):
            pipe.enable_model_cpu_offload(device=device)
        elif device != "cpu":  # weights are loaded on the CPU already
            pipe.to(device)
        if plan.get("attention_slicing"):
            pipe.enable_attention_slicing()
        if plan.get("vae_tiling") and hasattr(pipe, "vae") and hasattr(pipe.vae, "enable_tiling"):
            pipe.vae.enable_tiling()


def _is_oom(exc: BaseException) -> bool:
    import torch
    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


@contextlib.contextmanager
def oom_guard(what: str = "running the model"):
    """Turn an out-of-memory error into ``StageError(OUT_OF_MEMORY)`` with what to change."""
    try:
        yield
    except (RuntimeError, MemoryError) as exc:
        if isinstance(exc, MemoryError) or _is_oom(exc):
            _free_cache()
            raise StageError(OUT_OF_MEMORY, f"out of memory while {what}. Lower the resolution, use fewer "
                             "ControlNets, pick dtype fp16, close other GPU programs, or let Kino offload the "
                             f"model to the CPU (device memory option). Detail: {str(exc)[:200]}") from exc
        raise


def _free_cache() -> None:
    import gc

    import torch
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
