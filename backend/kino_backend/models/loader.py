"""``load_img2img_pipeline``: the one code path for a user's checkpoint and the tiny test models.

Architecture and sizes come from the checkpoint's tensors; single files get a configs-only diffusers
folder written from those tensors (``configs.py``). Base pipelines are cached in the caller's ``cache``
dict keyed by file identity, device and dtype; ControlNet variants share the base's modules
(``from_pipe``); LoRAs, IP-Adapter and the scheduler change without reloading the base.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field

from . import adapters, files
from .device import dtype_name, memory_plan, oom_guard, place, resolve_device, resolve_dtype
from .load_parts import check_checkpoint, load_base, load_controlnet, load_vae, pipeline_class
from .schedulers import check_name, make_scheduler


@dataclass
class LoadedPipeline:
    """A loaded img2img pipeline and what it was loaded with (architecture, ControlNets, adapters)."""
    pipe: object  # a diffusers img2img pipeline (ControlNet img2img when controlnets are given)
    arch: str  # "sd15" | "sdxl"
    controlnet_types: list = field(default_factory=list)
    has_ip_adapter: bool = False
    ip_slots: tuple = ()  # the loaded adapters in diffusers' order: "reference" (IP-Adapter), "face" (FaceID)
    description: dict = field(default_factory=dict)  # provenance: files, sizes, header hashes, dtype, device


def _key(kind: str, path: str, vae, device: str, torch_dtype) -> str:
    """Readable cache key (``backend.status`` lists them); the entry also keeps the files' identity."""
    extra = f"+vae:{os.path.abspath(vae)}" if vae else ""
    return f"models:{kind}:{os.path.abspath(path)}{extra}@{device}/{dtype_name(torch_dtype)}"


def _base_entry(cache: dict, model_path: str, arch, vae, device: str, torch_dtype) -> dict:
    key = _key("base", model_path, vae, device, torch_dtype)
    ident = (files.identity(model_path), files.identity(vae))
    if key in cache and cache[key]["identity"] == ident:
        return cache[key]
    info = check_checkpoint(model_path, arch)
    cache.pop(key, None)
    if device != "cpu":  # keep one base model warm per accelerator; free the others first
        for old in [k for k in cache if isinstance(k, str) and k.startswith("models:base:") and k.endswith(f"@{device}/" + dtype_name(torch_dtype))]:
            del cache[old]
        gc.collect()
    with oom_guard("loading the model"):
        pipe = load_base(model_path, info, torch_dtype)
        if vae:
            pipe.vae = load_vae(vae, info["arch"], torch_dtype)
            pipe.register_modules(vae=pipe.vae)
    nbytes = files.param_count(model_path) * torch_dtype.itemsize
    plan = memory_plan(device, nbytes)
    place(pipe, device, plan)
    cache[key] = {"identity": ident, "pipe": pipe, "arch": info["arch"], "state": {}, "derived": {}, "plan": plan,
                  "scheduler_config": dict(pipe.scheduler.config), "format": info["format"]}
    return cache[key]


def _with_controlnets(cache: dict, entry: dict, controlnets, device: str, torch_dtype):
    if not controlnets:
        return entry["pipe"]
    key = tuple(files.identity(p) for p, _t in controlnets)
    if key not in entry["derived"]:
        models = []
        for path, _type in controlnets:
            ck = _key("controlnet", path, None, device, torch_dtype)
            if ck not in cache or cache[ck][0] != files.identity(path):
                with oom_guard("loading a ControlNet"):
                    cache[ck] = (files.identity(path), load_controlnet(path, entry["arch"], torch_dtype))
            models.append(cache[ck][1])
        cls = pipeline_class(entry["arch"], True)
        pipe = cls.from_pipe(entry["pipe"], controlnet=models[0] if len(models) == 1 else models, dtype=torch_dtype)
        place(pipe, device, entry["plan"])
        entry["derived"][key] = pipe
    return entry["derived"][key]


def load_img2img_pipeline(model_path: str, *, arch: str | None = None, vae: str | None = None,
                          controlnets=(), ip_adapter: str | None = None, loras=(), scheduler: str = "ddim",
                          faceid: str | None = None,
                          device: str = "cpu", dtype: str = "auto", cache: dict | None = None) -> LoadedPipeline:
    """Load (or take warm from ``cache``) an img2img pipeline for ``model_path`` with the given extras.

    ``controlnets``: [(path, type)]; ``loras``: [(path, weight)]; ``scheduler``: ddim, euler, euler_a,
    dpmpp_2m, lcm; ``faceid``: IP-Adapter FaceID weights (alone or with ``ip_adapter``). Errors are ``StageError`` with codes MODEL_MISSING, INVALID_PARAMS, OUT_OF_MEMORY.
    """
    check_name(scheduler)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is ever fetched at run time (local_files_only too)
    cache = {} if cache is None else cache
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    controlnets = [(p, t) for p, t in controlnets]
    entry = _base_entry(cache, model_path, arch, vae, device, torch_dtype)
    pipe = _with_controlnets(cache, entry, controlnets, device, torch_dtype)
    all_pipes = [entry["pipe"], *entry["derived"].values()]
    with oom_guard("loading adapters"):
        ip = adapters.sync_ip_adapter(pipe, entry["state"], ip_adapter, entry["arch"], device, torch_dtype, all_pipes,
                                      faceid=faceid)
        lora_desc = adapters.sync_loras(pipe, entry["state"], loras, entry["arch"])
    pipe.scheduler = make_scheduler(scheduler, entry["scheduler_config"])
    desc = {"model": files.describe(model_path), "format": entry["format"], "arch": entry["arch"],
            "vae": files.describe(vae), "controlnets": [dict(files.describe(p), type=t) for p, t in controlnets],
            "ip_adapter": {k: files.describe(ip[k]) for k in ("weights", "image_encoder")} if ip_adapter else None,
            "faceid": dict(files.describe(faceid), variant=ip["faceid_variant"],
                           **({"image_encoder": files.describe(ip["image_encoder"]), "plus_v2": ip["faceid_plus_v2"]}
                              if ip["faceid_variant"] == "faceid_plus" else {})) if faceid else None,
            "loras": [dict(files.describe(d["path"]), weight=d["weight"]) for d in lora_desc],
            "scheduler": scheduler, "dtype": dtype_name(torch_dtype), "device": device,
            "memory": {k: v for k, v in entry["plan"].items() if k not in ("free_bytes",)}}
    return LoadedPipeline(pipe=pipe, arch=entry["arch"], controlnet_types=[t for _p, t in controlnets],
                          has_ip_adapter=bool(ip), ip_slots=ip["slots"] if ip else (), description=desc)
