"""Classify a model file or folder from tensor names/shapes (safetensors header) and configs; no weights.

``classify(path)`` -> dict with ``kind`` (checkpoint, vae, lora, controlnet, ip_adapter, image_encoder,
taesd, face_pack, pulid, eva_clip, motion_adapter, unknown), ``arch`` (sd15, sdxl, sd2, or None when it fits any), ``format``
(single_file, diffusers, kohya, ...), plus kind-specific fields (``control_type``, ``image_encoder``,
``variant``).
"""
from __future__ import annotations

import glob
import json
import os
import re

from ..stages.base import StageError
from .st_header import shapes as read_shapes
from kino_addon.protocol.errors import MODEL_MISSING

CONTROL_TYPES = (("openpose", "pose"), ("pose", "pose"), ("canny", "canny"), ("tile", "tile"),
                 ("depth", "depth"), ("lineart", "lineart"), ("softedge", "softedge"), ("hed", "softedge"),
                 ("pidi", "softedge"), ("scribble", "softedge"))
CROSS_DIM_ARCH = {768: "sd15", 1024: "sd2", 2048: "sdxl"}


def control_type_from_name(name: str) -> str | None:
    low = os.path.basename(os.path.normpath(name)).lower()
    return next((t for key, t in CONTROL_TYPES if key in low), None)


def _name_arch(path: str) -> str | None:
    low = os.path.basename(os.path.normpath(path)).lower()
    return "sdxl" if re.search(r"xl", low) else None


def _cross_dim(shapes: dict) -> int | None:
    for k, s in shapes.items():
        if re.search(r"attn2[._]to_k(\.weight|\.lora_down\.weight|_ip\.weight|\.lora_A\.weight)?$", k) and len(s) == 2:
            return s[1]
    return None


def _ip_variant(keys) -> str:
    """plain, plus (image patch features), faceid (face embedding) or faceid_plus (both)."""
    if any(k.startswith("image_proj.perceiver_resampler.") for k in keys):
        return "faceid_plus"
    if "image_proj.proj.0.weight" in keys:
        return "faceid"
    return "plus" if any(k.startswith("image_proj.latents") for k in keys) else "plain"


UNET_INPUT_KINDS = {9: "inpainting", 8: "instruct-pix2pix", 5: "depth-to-image"}


def unet_inputs(channels) -> dict:
    """``{}`` for a text-to-image UNet (4 latent channels in); else what the checkpoint is made for and a
    note: inpainting (9: latent, mask, masked picture), instruct-pix2pix (8), depth (5)."""
    try:
        channels = int(channels)
    except (TypeError, ValueError):
        return {}
    if channels == 4:
        return {}
    made_for = UNET_INPUT_KINDS.get(channels, f"{channels}-channel")
    return {"unet_in_channels": channels, "made_for": made_for,
            "note": f"an {made_for} checkpoint (its UNet takes {channels} input channels, not 4): Kino's looks "
                    "need a regular text-to-image checkpoint"}


def checkpoint_arch(shapes: dict) -> str | None:
    if any(k.startswith("conditioner.embedders.1.") for k in shapes):
        return "sdxl"
    if "model.diffusion_model.label_emb.0.0.weight" in shapes:  # SDXL's UNet; the refiner has one text encoder
        return "sdxl_refiner" if any(k.startswith("conditioner.embedders.0.model.") for k in shapes) else "sdxl"
    if any(k.startswith("cond_stage_model.model.") for k in shapes):
        return "sd2"
    if any(k.startswith("cond_stage_model.transformer.") for k in shapes):
        return "sd15"
    return None


def _lora_info(shapes: dict, path: str) -> dict:
    keys = list(shapes)
    fmt = "kohya" if any(k.startswith(("lora_unet_", "lora_te")) for k in keys) else "diffusers"
    if any(k.startswith(("lora_te2_", "text_encoder_2.")) for k in keys) or any("add_embedding" in k for k in keys):
        arch = "sdxl"
    else:
        dim = next((s[1] for k, s in shapes.items() if re.search(r"attn2.to_k.*(lora_down|lora_A|lora\.down)", k)), None)
        arch = CROSS_DIM_ARCH.get(dim) or _name_arch(path) or "sd15"
    return {"kind": "lora", "arch": arch, "format": fmt}


def classify_tensors(shapes: dict, path: str) -> dict:
    """Classify one safetensors file by its tensor names and shapes."""
    keys = list(shapes)
    if any(k.startswith("model.diffusion_model.") for k in keys):
        info = {"kind": "checkpoint", "arch": checkpoint_arch(shapes), "format": "single_file"}
        conv_in = shapes.get("model.diffusion_model.input_blocks.0.0.weight")
        return dict(info, **unet_inputs(conv_in[1])) if conv_in is not None and len(conv_in) == 4 else info
    from ..animatediff.adapter import classify_motion, is_motion_state
    if is_motion_state(keys):  # AnimateDiff motion modules (diffusers or original layout)
        return classify_motion(shapes, path)
    if any(".lora_down." in k or ".lora_A." in k or k.startswith(("lora_unet_", "lora_te")) for k in keys):
        return _lora_info(shapes, path)
    if any(k.startswith(("id_adapter.", "pulid_encoder.", "visual.", "blocks.0.attn.")) for k in keys):
        from ..identity.pulid.adapter import classify_pulid  # PuLID weights, EVA-CLIP vision towers
        info = classify_pulid(shapes)
        if info is not None:
            return dict(info, format="single_file")
    if any(k.startswith(("image_proj.", "ip_adapter.")) for k in keys):
        arch = CROSS_DIM_ARCH.get(_cross_dim(shapes)) or _name_arch(path) or "sd15"
        return {"kind": "ip_adapter", "arch": arch, "format": "single_file", "variant": _ip_variant(keys)}
    if any(k.startswith(("controlnet_cond_embedding.", "input_hint_block.", "control_model.input_hint_block."))
           for k in keys):
        arch = "sdxl" if any("add_embedding" in k or "label_emb" in k for k in keys) else (
            CROSS_DIM_ARCH.get(_cross_dim(shapes)) or "sd15")
        return {"kind": "controlnet", "arch": arch, "format": "single_file",
                "control_type": control_type_from_name(path)}
    if any(k.startswith(("encoder.layers.", "decoder.layers.")) for k in keys) and \
            not any("self_attn." in k or k.startswith(("embeddings.", "text_model.")) for k in keys):
        return {"kind": "taesd", "arch": None, "format": "single_file"}
    if any("self_attn." in k for k in keys) and any("embeddings" in k for k in keys):
        return {"kind": "unknown", "arch": None, "format": "single_file",
                "note": "a text or image encoder (one part of a diffusers folder): give the whole folder"}
    if any(k.startswith(("encoder.down.", "encoder.down_blocks.")) for k in keys) and \
            any(k.startswith("decoder.") for k in keys):
        return {"kind": "vae", "arch": _name_arch(path), "format": "single_file"}
    return {"kind": "unknown", "arch": None, "format": "single_file"}


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def find_image_encoder(weights_path: str) -> str | None:
    """The IP-Adapter image encoder folder next to the weights (h94/IP-Adapter layout), or None."""
    here = os.path.dirname(os.path.abspath(weights_path))
    cands = [os.path.join(here, "image_encoder"), os.path.join(os.path.dirname(here), "models", "image_encoder"),
             os.path.join(os.path.dirname(here), "image_encoder")]
    if "vit-h" in os.path.basename(weights_path).lower():  # h94 sdxl_models/*vit-h*: the ViT-H encoder in models/
        cands.insert(0, cands.pop(1))
    for cand in cands:
        if os.path.isfile(os.path.join(cand, "config.json")):
            return cand
    return None


def classify_folder(path: str) -> dict:
    index = _read_json(os.path.join(path, "model_index.json"))
    if index:
        return _pipeline_folder(path, index)
    cfg = _read_json(os.path.join(path, "config.json"))
    cls = cfg.get("_class_name") or (cfg.get("architectures") or [""])[0]
    if cls == "ControlNetModel":
        arch = "sdxl" if cfg.get("addition_embed_type") == "text_time" else CROSS_DIM_ARCH.get(cfg.get("cross_attention_dim"), "sd15")
        return {"kind": "controlnet", "arch": arch, "format": "diffusers", "control_type": control_type_from_name(path)}
    if cls == "MotionAdapter":
        from ..animatediff.adapter import classify_motion_folder
        return classify_motion_folder(path, cfg)
    if cls == "AutoencoderTiny":
        return {"kind": "taesd", "arch": None, "format": "diffusers"}
    if cls == "AutoencoderKL":
        return {"kind": "vae", "arch": _name_arch(path), "format": "diffusers"}
    if cls == "CLIPVisionModelWithProjection":
        return {"kind": "image_encoder", "arch": None, "format": "diffusers"}
    weights = [f for f in sorted(os.listdir(path)) if f.endswith(".safetensors") and "ip-adapter" in f.lower()]
    if os.path.isdir(os.path.join(path, "models")):
        weights += [os.path.join("models", f) for f in sorted(os.listdir(os.path.join(path, "models")))
                    if f.endswith(".safetensors")]
    infos = [(w, classify_tensors(read_shapes(os.path.join(path, w)), w)) for w in weights]
    infos = [(w, i) for w, i in infos if i["kind"] == "ip_adapter"]
    infos.sort(key=lambda wi: wi[1]["variant"].startswith("faceid"))  # a folder means its image IP-Adapter
    if infos:
        w, info = infos[0]
        return dict(info, weights=os.path.join(path, w), image_encoder=find_image_encoder(os.path.join(path, w)),
                    format="folder")
    packs = [path] + sorted(glob.glob(os.path.join(path, "models", "*")))  # a pack, or a FaceAnalysis root
    if any(os.path.isdir(p) and any(f.endswith(".onnx") for f in os.listdir(p)) for p in packs):
        return {"kind": "face_pack", "arch": None, "format": "insightface"}
    return {"kind": "unknown", "arch": None, "format": "folder"}


WEIGHTED_PARTS = ("unet", "vae", "text_encoder", "text_encoder_2")


def _pipeline_folder(path: str, index: dict) -> dict:
    """A diffusers pipeline folder: its arch from the index and the UNet's config, and whether every
    part the index names is there (an interrupted download leaves some out)."""
    cls = index.get("_class_name", "")
    unet = _read_json(os.path.join(path, "unet", "config.json"))
    if "XL" in cls or "text_encoder_2" in index:
        arch = "sdxl_refiner" if not (index.get("text_encoder") or [None])[0] else "sdxl"
    else:
        arch = CROSS_DIM_ARCH.get(unet.get("cross_attention_dim"), "sd15")
    info = dict({"kind": "checkpoint", "arch": arch, "format": "diffusers", "class": cls},
                **unet_inputs(unet.get("in_channels", 4)))
    missing = [p for p in _named_parts(index) if not _part_present(os.path.join(path, p), p in WEIGHTED_PARTS)]
    if missing:
        return dict(info, kind="invalid", error=f"the diffusers folder lacks {', '.join(missing)} (an interrupted "
                    "download or copy): download or copy the whole folder again")
    return info


def _named_parts(index: dict) -> list:
    return [k for k, v in index.items() if not k.startswith("_") and isinstance(v, list) and len(v) == 2
            and v[0] and k not in ("safety_checker", "feature_extractor", "image_encoder")]


def _part_present(folder: str, weighted: bool) -> bool:
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    if not weighted:
        return bool(names)
    return "config.json" in names and any(n.endswith((".safetensors", ".bin")) for n in names)


def classify_file(path: str) -> dict:
    """Classify one file by what it holds: a ``.safetensors`` file by its tensors; any other name by its
    first bytes (a pickle is to be converted; a safetensors file under another name, an empty file or
    a web page saved in its place is ``invalid``, with what to do)."""
    from . import files
    ext = os.path.splitext(path)[1]
    if ext == ".safetensors":
        info = classify_tensors(read_shapes(path), path)
        if info["kind"] == "ip_adapter":
            info["image_encoder"] = find_image_encoder(path)
        return info
    if ext.lower() == ".safetensors":
        stem = os.path.splitext(os.path.basename(path))[0]
        return {"kind": "invalid", "arch": None, "format": "single_file",
                "error": f"rename it to {stem}.safetensors (lower case): the loaders read only that ending"}
    found = files.sniff(path)
    if found in ("torch_zip", "pickle"):
        return {"kind": "unknown", "arch": None, "format": "pickle", "note": PICKLE_NOTE}
    return {"kind": "invalid", "arch": None, "format": ext.lstrip(".") or "file",
            "error": files.not_weights_note(path, found)}


PICKLE_NOTE = ("pickle files (.ckpt, .pt, .pth, .bin) are not loaded (unpickling can run code); convert it: "
               "scripts/kino models convert FILE")


def classify(path: str) -> dict:
    """Classify a file or folder; raises ``StageError(MODEL_MISSING)`` naming a missing path."""
    if not os.path.exists(path):
        raise StageError(MODEL_MISSING, f"model not found: {path}. Put the file (or diffusers folder) there, "
                         "or into the Kino models folder (add-on preferences) and pick it again.")
    if os.path.isdir(path):
        return classify_folder(path)
    return classify_file(path)
