"""LoRAs and IP-Adapter on a cached pipeline: applied and changed without reloading the base model.

All pipelines derived from one base (ControlNet variants via ``from_pipe``) share the UNet and text
encoders, so the adapter state lives in one ``state`` dict per base.
"""
from __future__ import annotations

import os

from ..stages.base import StageError
from .classify import classify, find_image_encoder
from .load_parts import wrong_kind
from .st_header import header_sha256
from kino_addon.protocol.errors import INVALID_PARAMS, MODEL_MISSING


def adapter_name(path: str) -> str:
    """The name a LoRA is loaded under in a warm pipeline: its header and its file's size and mtime, so a
    LoRA retrained or replaced under the same name (same tensor names and shapes) is loaded again."""
    import hashlib
    st = os.stat(path)
    return "kino_" + hashlib.sha256(f"{header_sha256(path)}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:12]


def sync_loras(pipe, state: dict, loras, arch: str) -> list:
    """Load missing LoRAs and activate exactly ``loras`` [(path, weight)]; return their descriptions."""
    loaded = state.setdefault("loras", {})
    want = {}
    for path, weight in loras:
        info = classify(path)
        if info["kind"] != "lora":
            raise wrong_kind(path, info, "a LoRA", "pick a LoRA file as lora=PATH[:WEIGHT]")
        if info["arch"] != arch:
            raise StageError(INVALID_PARAMS, f"LoRA {path} is for {info['arch']}, the checkpoint is {arch}; "
                             f"pick an {arch} LoRA.")
        name = adapter_name(path)
        if name not in loaded:
            check_finite_lora(path)
            pipe.load_lora_weights(path, adapter_name=name)
            loaded[name] = os.path.abspath(path)
        want[name] = want.get(name, 0.0) + float(weight)
    if want:
        pipe.enable_lora()
        pipe.set_adapters(list(want), adapter_weights=list(want.values()))
    elif loaded:
        pipe.disable_lora()
    return [{"path": loaded[n], "adapter": n, "weight": w} for n, w in want.items()]


def non_finite(tensors: dict) -> list:
    """Names of the floating-point tensors holding NaN or infinity."""
    import torch
    return [k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_finite_lora(path: str) -> None:
    """A LoRA whose weights are not finite (a training that diverged) turns every frame black: refuse it."""
    from safetensors.torch import load_file
    bad = non_finite(load_file(path))
    if bad:
        raise StageError(INVALID_PARAMS, f"the LoRA {path} holds weights that are not numbers (NaN or infinite, in "
                         f"{len(bad)} tensors, e.g. {bad[0]}): its training diverged. Train it again with a lower "
                         "learning rate, or drop it from lora=.")


def resolve_ip_adapter(path: str) -> tuple:
    """(weights file, image encoder folder) of an IP-Adapter given as a file or an h94-style folder."""
    info = classify(path)
    if info["kind"] != "ip_adapter":
        raise wrong_kind(path, info, "IP-Adapter weights", "pick an IP-Adapter file or folder as ip_adapter=")
    weights = info.get("weights", path)
    encoder = info.get("image_encoder") or find_image_encoder(weights)
    if not encoder:
        raise StageError(MODEL_MISSING, f"the image encoder for IP-Adapter {weights} is missing: put its "
                         "CLIPVisionModelWithProjection folder (config.json + model.safetensors) at "
                         f"{os.path.join(os.path.dirname(os.path.abspath(weights)), 'image_encoder')}.")
    _check_encoder_fits(weights, encoder)
    return weights, encoder, info


def _check_encoder_fits(weights: str, encoder: str) -> None:
    """The adapter's image projection must take what this image encoder gives (ViT-H vs ViT-bigG mix-ups)."""
    import json

    from .st_header import shapes as read_shapes
    with open(os.path.join(encoder, "config.json"), encoding="utf-8") as fh:
        cfg = json.load(fh)
    cfg = cfg.get("vision_config", cfg)
    sh = read_shapes(weights)
    if "image_proj.proj.weight" in sh:
        need, have = sh["image_proj.proj.weight"][1], cfg.get("projection_dim")
    elif "image_proj.proj_in.weight" in sh:
        need, have = sh["image_proj.proj_in.weight"][1], cfg.get("hidden_size")
    elif "image_proj.perceiver_resampler.proj_in.weight" in sh:  # FaceID Plus
        need, have = sh["image_proj.perceiver_resampler.proj_in.weight"][1], cfg.get("hidden_size")
    else:
        return
    if have is not None and need != have:
        raise StageError(MODEL_MISSING, f"IP-Adapter {weights} needs an image encoder with {need} channels but "
                         f"{encoder} gives {have}; put the matching encoder (h94/IP-Adapter: models/image_encoder "
                         "is ViT-H, sdxl_models/image_encoder is ViT-bigG) next to the weights.")


def _attach_encoder(pipe, state: dict) -> None:
    if getattr(pipe, "image_encoder", None) is not state["ip_encoder"]:
        pipe.register_modules(image_encoder=state["ip_encoder"])
    if getattr(pipe, "feature_extractor", None) is None:
        pipe.register_modules(feature_extractor=state["ip_processor"])


def _check_faceid(faceid: str, arch: str) -> str:
    """IP-Adapter FaceID weights: return the variant, ``faceid`` (the face pack's embedding only) or
    ``faceid_plus`` (also CLIP features of the aligned face: needs the image encoder beside the file)."""
    info = classify(faceid)
    if info["kind"] != "ip_adapter" or not info.get("variant", "").startswith("faceid"):
        note = f" ({info.get('note') or info.get('error')})" if info.get("note") or info.get("error") else ""
        what = "an image IP-Adapter (use it as ip_adapter=)" if info["kind"] == "ip_adapter" else \
            f"a {info['kind']} file"
        raise StageError(INVALID_PARAMS, f"faceid={faceid} is {what}, not IP-Adapter FaceID weights{note}: give "
                         "ip-adapter-faceid_sd15.safetensors, ip-adapter-faceid-plusv2_sd15.safetensors or an SDXL one.")
    if info["arch"] != arch:
        raise StageError(INVALID_PARAMS, f"IP-Adapter FaceID {faceid} is for {info['arch']}, the checkpoint is "
                         f"{arch}; pick the {arch} FaceID file.")
    return info["variant"]


def _load_encoder(state: dict, ip_adapter: str, arch: str, device: str, torch_dtype) -> str:
    """Load the plain IP-Adapter's CLIP image encoder into ``state``; return its weights file."""
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection
    weights, encoder_dir, info = resolve_ip_adapter(ip_adapter)
    if info["arch"] != arch:
        raise StageError(INVALID_PARAMS, f"IP-Adapter {weights} is for {info['arch']}, the checkpoint is {arch}.")
    if state.get("ip_files") != (weights, encoder_dir):
        enc = CLIPVisionModelWithProjection.from_pretrained(encoder_dir, dtype=torch_dtype).to(device)
        size = enc.config.image_size
        state.update(ip_encoder=enc, ip_processor=CLIPImageProcessor(size=size, crop_size=size),
                     ip_files=(weights, encoder_dir))
    return weights


def _unload(pipe, state: dict, pipes) -> None:
    pipe.unload_ip_adapter()
    for p in pipes:
        if getattr(p, "image_encoder", None) is not None:
            p.register_modules(image_encoder=None)
    state.pop("ip", None)
    state.pop("ip_slots", None)


def sync_ip_adapter(pipe, state: dict, ip_adapter: str | None, arch: str, device: str, torch_dtype, pipes,
                    faceid: str | None = None) -> dict | None:
    """Make ``pipe`` carry exactly the IP-Adapter ``ip_adapter`` and/or the FaceID adapter ``faceid``
    (both: one diffusers multi-adapter, the reference image first and the face second); ``pipes``
    share its UNet. Returns the files and ``slots``, the adapters' order ("reference", "face")."""
    faceid = os.path.abspath(faceid) if faceid else None
    want = (ip_adapter or None, faceid)
    if state.get("ip") and state["ip"] != want:
        _unload(pipe, state, pipes)
    if not any(want):
        return None
    variant = _check_faceid(faceid, arch) if faceid else None
    loads = []
    if ip_adapter:
        loads.append(_load_encoder(state, ip_adapter, arch, device, torch_dtype))
    if variant == "faceid_plus":
        if ip_adapter:  # one image encoder per pipeline: the IP-Adapter's must also fit FaceID Plus
            _check_encoder_fits(faceid, state["ip_files"][1])
        else:
            _load_encoder(state, faceid, arch, device, torch_dtype)
    if ip_adapter or variant == "faceid_plus":
        _attach_encoder(pipe, state)
    if faceid:
        loads.append(faceid)
    if state.get("ip") != want:
        had_extractor = getattr(pipe, "feature_extractor", None) is not None
        pipe.load_ip_adapter([os.path.dirname(os.path.abspath(w)) for w in loads], subfolder=[""] * len(loads),
                             weight_name=[os.path.basename(w) for w in loads], image_encoder_folder=None,
                             local_files_only=True)
        if not had_extractor:  # diffusers adds a 224 px CLIP processor plain FaceID never uses;
            pipe.register_modules(feature_extractor=None)  # a later IP-Adapter must get its own encoder's size
        pipe.set_ip_adapter_scale([1.0] * len(loads))
        state["ip"] = want
    slots = (("reference",) if ip_adapter else ()) + (("face",) if faceid else ())
    out = {"slots": slots, "faceid_variant": variant}
    if ip_adapter or variant == "faceid_plus":  # (its encoder was attached above)
        out.update(weights=state["ip_files"][0], image_encoder=state["ip_files"][1])
    if faceid:
        out["faceid"] = faceid
    if variant == "faceid_plus":  # Plus v2 adds the face embedding's tokens back (its "shortcut")
        layer = pipe.unet.encoder_hid_proj.image_projection_layers[slots.index("face")]
        layer.shortcut = "v2" in os.path.basename(faceid).lower()
        out["faceid_plus_v2"] = layer.shortcut
    return out
