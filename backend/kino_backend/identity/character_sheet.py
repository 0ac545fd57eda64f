"""Character sheets: one PNG grid of an actor's character in several views (front, three-quarter,
profile, full body), usable as the ``reference`` image when stylizing shots.

Each cell is generated from noise by the checkpoint with the pose ControlNet (the view's OpenPose-style
skeleton, ``poses.py``), the IP-Adapter with the actor's photo(s) as the reference (embeddings averaged
over the photos; the face crop of the first photo with a face when a face pack is given), and face
identity: with a face pack, IP-Adapter FaceID weights (``faceid``, plain or Plus) steer every cell with the
actor's face embedding (mean over the photos), and each view is generated ``candidates`` times (seeds
seed, seed+1, ...) keeping the candidate whose face is most similar to the actor's (cosine of ArcFace
embeddings); the scores are written to the sheet's JSON sidecar. All cells share the seed, so they
differ by pose.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import List, Optional

import numpy as np

from .poses import DEFAULT_VIEWS, VIEWS, view_skeleton

VIEW_TEXT = {"front": "front view, facing the camera", "three_quarter": "three-quarter view",
             "profile": "side profile view", "full_body": "full body, standing",
             "back_three_quarter": "seen from behind, three-quarter back view"}


@dataclass
class SheetSettings:
    """Everything a character sheet is made from: reference photos, models, layout, seeds."""
    photos: List[str]
    model: str
    controlnet: str  # an OpenPose ControlNet
    out: str  # .png; the layout goes to <out>.json
    ip_adapter: Optional[str] = None
    face_pack: Optional[str] = None
    faceid: Optional[str] = None  # IP-Adapter FaceID weights (needs face_pack)
    faceid_scale: float = 0.8
    models_dir: Optional[str] = None
    views: List[str] = field(default_factory=lambda: list(DEFAULT_VIEWS))
    cell: int = 512
    columns: int = 0  # 0: all views in one row
    prompt: str = "character reference sheet of the same person, plain light grey background"
    negative_prompt: str = "blurry, deformed, extra limbs, text, watermark"
    steps: int = 25
    guidance: float = 7.0
    ip_scale: float = 0.7
    controlnet_scale: float = 1.0
    candidates: int = 1
    seed: int = 0
    view_prompts: bool = True  # add the view's words ("side profile view" ...) to the prompt
    device: str = "auto"


def _read_rgb(path: str) -> np.ndarray:
    import cv2
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read the photo {path!r}; give PNG or JPEG photos of the actor.")
    return np.ascontiguousarray(img[..., ::-1])


def face_crop(image: np.ndarray, bbox, margin: float = 1.8) -> np.ndarray:
    """A square crop around a face box, ``margin`` times its larger side, clamped to the image."""
    x0, y0, x1, y1 = (float(v) for v in bbox[:4])
    side = max(x1 - x0, y1 - y0) * margin
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    h, w = image.shape[:2]
    side = min(side, w, h)
    left = int(round(min(max(cx - side / 2.0, 0), w - side)))
    top = int(round(min(max(cy - side / 2.0, 0), h - side)))
    return np.ascontiguousarray(image[top:top + int(side), left:left + int(side)])


def _identity(photos, s: SheetSettings):
    """(face model or None, actor embedding or None, IP-Adapter reference images, first aligned face or None)."""
    if not s.face_pack:
        return None, None, photos, None
    from .faceid import aligned_face_crop
    from .faces import load_face_model
    model = load_face_model(s.face_pack, s.models_dir, det_size=640)
    embs, refs, aligned = [], [], None
    for img in photos:
        face = model.largest_face(img)
        if face is not None and getattr(face, "embedding", None) is not None:
            e = np.asarray(face.embedding, np.float32)
            embs.append(e / max(float(np.linalg.norm(e)), 1e-12))
            refs.append(face_crop(img, face.bbox))
            aligned = aligned if aligned is not None else aligned_face_crop(img, face)
    if not embs:
        raise ValueError("no face found in any of the photos; use photos where the actor's face is clearly visible.")
    mean = np.mean(embs, axis=0)
    return model, mean / max(float(np.linalg.norm(mean)), 1e-12), refs, aligned


def _adapter_embeds(loaded, refs, actor, aligned, s: SheetSettings) -> list:
    """``ip_adapter_image_embeds`` per loaded adapter (CFG layout): the IP-Adapter's averaged over the
    reference images, FaceID's from the actor's mean face embedding (Plus: and the aligned face's CLIP
    features, set on its projection layer)."""
    import torch
    from diffusers.models.embeddings import ImageProjection

    from ..stages.diffusion.engine import image_embeds
    from .faceid import face_input
    pipe, slots, device = loaded.pipe, loaded.ip_slots, loaded.description["device"]
    out = []
    for layer, slot in zip(pipe.unet.encoder_hid_proj.image_projection_layers, slots):
        if slot == "reference":
            hidden = not isinstance(layer, ImageProjection)
            out.append(torch.stack([image_embeds(pipe, r, device, hidden=hidden) for r in refs]).mean(0))
            continue
        out.append(face_input(actor, device=device, dtype=pipe.dtype))
        if hasattr(layer, "clip_embeds"):  # FaceID Plus
            layer.clip_embeds = image_embeds(pipe, aligned, device, hidden=True)
    pipe.set_ip_adapter_scale([s.ip_scale if slot == "reference" else s.faceid_scale for slot in slots])
    return out


def _generate(pipe, s: SheetSettings, view: str, embeds, seed: int) -> np.ndarray:
    import torch
    from PIL import Image
    control = Image.fromarray(view_skeleton(view, s.cell, s.cell))
    init = Image.fromarray(np.full((s.cell, s.cell, 3), 200, np.uint8))
    kw = {"ip_adapter_image_embeds": embeds} if embeds is not None else {}
    with torch.inference_mode():
        prompt = f"{s.prompt}, {VIEW_TEXT.get(view, view)}" if s.view_prompts else s.prompt
        out = pipe(prompt=prompt, negative_prompt=s.negative_prompt, image=init,
                   control_image=control, strength=1.0, num_inference_steps=s.steps, guidance_scale=s.guidance,
                   controlnet_conditioning_scale=s.controlnet_scale, height=s.cell, width=s.cell,
                   generator=torch.Generator("cpu").manual_seed(seed), output_type="np", **kw).images[0]
    return (np.clip(out, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def _best_candidate(pipe, s, view, embeds, face_model, actor):
    best = None
    for k in range(max(1, s.candidates)):
        img = _generate(pipe, s, view, embeds, s.seed + k)
        score = None
        if face_model is not None:
            from .faces import cosine
            emb = face_model.embedding(img)
            score = None if emb is None else round(cosine(actor, emb), 6)
        rank = -2.0 if score is None else score
        if best is None or rank > best[0]:
            best = (rank, img, score, s.seed + k)
    return best[1], best[2], best[3]


def _check(s: SheetSettings) -> None:
    if not s.photos:
        raise ValueError("give at least one photo of the actor")
    if s.faceid and not s.face_pack:
        raise ValueError("FaceID needs the actor's face embedding: give a face pack (--face-pack) as well")
    bad = [v for v in s.views if v not in VIEWS]
    if bad or not s.views:
        raise ValueError(f"unknown view(s) {bad or s.views}; use some of {', '.join(VIEWS)}")
    if s.cell < 64 or s.cell % 8:
        raise ValueError(f"cell size {s.cell} must be a multiple of 8, at least 64 (e.g. 512)")
    if not s.out.lower().endswith(".png"):
        raise ValueError(f"the sheet is saved as PNG: {s.out!r} must end with .png")
    for name, value, least in (("steps", s.steps, 1), ("candidates", s.candidates, 1), ("columns", s.columns, 0)):
        if value < least:
            raise ValueError(f"--{name} {value} must be at least {least}" + (" (0: all views in one row)"
                                                                                if name == "columns" else ""))
    if s.candidates > 1 and not s.face_pack:
        raise ValueError("several candidates per view are compared by the actor's face: give a face pack "
                         "(--face-pack), or leave --candidates at 1")


def make_character_sheet(s: SheetSettings) -> dict:
    """Generate and save the sheet; return the layout record (also written to ``<out>.json``)."""
    import cv2

    from ..models.loader import load_img2img_pipeline
    from ..provenance import versions
    _check(s)
    photos = [_read_rgb(p) for p in s.photos]
    face_model, actor, refs, aligned = _identity(photos, s)
    loaded = load_img2img_pipeline(s.model, controlnets=[(s.controlnet, "openpose")], ip_adapter=s.ip_adapter,
                                   faceid=s.faceid, device=s.device, cache={})
    pipe = loaded.pipe
    pipe.set_progress_bar_config(disable=True)
    embeds = _adapter_embeds(loaded, refs, actor, aligned, s) if loaded.ip_slots else None
    cols = s.columns or len(s.views)
    rows = -(-len(s.views) // cols)
    sheet = np.full((rows * s.cell, cols * s.cell, 3), 255, np.uint8)
    cells = []
    for i, view in enumerate(s.views):
        img, score, seed = _best_candidate(pipe, s, view, embeds, face_model, actor)
        y, x = (i // cols) * s.cell, (i % cols) * s.cell
        sheet[y:y + s.cell, x:x + s.cell] = img
        cells.append({"view": view, "x": x, "y": y, "w": s.cell, "h": s.cell, "seed": seed, "face_score": score})
    os.makedirs(os.path.dirname(os.path.abspath(s.out)), exist_ok=True)
    if not cv2.imwrite(s.out, np.ascontiguousarray(sheet[..., ::-1])):
        raise OSError(f"could not write {s.out!r}; check the folder is writable")
    record = {"sheet": os.path.abspath(s.out), "width": sheet.shape[1], "height": sheet.shape[0], "rows": rows,
              "columns": cols, "cells": cells, "models": loaded.description,
              "face_pack": getattr(face_model, "pack_dir", None),
              "settings": {k: v for k, v in asdict(s).items() if k not in ("out",)}, "versions": versions()}
    with open(os.path.splitext(s.out)[0] + ".json", "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=1, default=str)
    return record
