"""PuLID for Kino's SDXL diffusion stage: ``classify_pulid`` and ``PulidAdapter``.

Files (users supply them; Kino never downloads models):

* PuLID weights: ``pulid_v1.1.safetensors`` (IDFormer) or v1 (IDEncoder; the original ``pulid_v1.bin``
  is a pickle: convert it with ``scripts/kino models convert``). Tensors ``id_adapter.*`` (the ID
  encoder) and ``id_adapter_attn_layers.<N>.id_to_k.weight / id_to_v.weight``, where N is the
  position of a cross-attention processor in ``unet.attn_processors`` (diffusers' order).
* EVA02-CLIP-L-14-336 (``EVA02_CLIP_L_336_psz14_s6B.pt``, converted to ``.safetensors``): only the
  ``visual.*`` tensors are used; keys without the ``visual.`` prefix work too.
* A face pack (``identity.faces``): the reference uses insightface's antelopev2 (glintr100).

Use::

    ad = PulidAdapter(weights, encoder)
    uncond, cond = ad.embed(face_model, [photo_rgb])     # once per actor
    ad.attach(pipe.unet)
    ad.set_embedding(uncond, cond, scale=0.8, mode="fidelity", do_cfg=guidance_scale > 1)
    pipe(...)
    ad.detach(pipe.unet)

``classify_pulid`` needs no torch; everything else imports torch lazily.
"""
from __future__ import annotations

import os
import re
from typing import Optional

import numpy as np

from ...stages.base import StageError
from kino_addon.protocol.errors import INVALID_PARAMS, MODEL_MISSING

ATTN_KEY = re.compile(r"^id_adapter_attn_layers\.(\d+)\.(id_to_k|id_to_v)\.weight$")
CROSS_DIM_ARCH = {768: "sd15", 1024: "sd2", 2048: "sdxl"}
DEFAULT_NUM_ZERO = {"v1.1": {"fidelity": 20, "style": 20, "plain": 20}, "v1": {"fidelity": 8, "style": 16, "plain": 0}}
WEIGHTS_HINT = ("Put pulid_v1.1.safetensors (guozinan/PuLID) into the models folder (e.g. <models folder>/pulid/) "
                "or give its path; Kino never downloads models.")
ENCODER_HINT = ("Put EVA02_CLIP_L_336_psz14_s6B converted to .safetensors (scripts/kino models convert FILE) "
                "into the models folder (e.g. <models folder>/pulid/) or give its path; Kino never downloads models.")


def _pulid_arch(shapes: dict) -> str:
    cross = next((s[1] for k, s in shapes.items() if ATTN_KEY.match(k) and len(s) == 2), None)
    return CROSS_DIM_ARCH.get(cross, "sdxl")  # other widths: Kino's tiny SDXL test model


def classify_pulid(shapes: dict) -> Optional[dict]:
    """Classify a safetensors header's {name: shape}: PuLID weights, an EVA-CLIP visual tower, or None."""
    keys = list(shapes)
    if any(k.startswith(("pulid_encoder.", "pulid_ca.")) for k in keys):
        return {"kind": "pulid", "arch": "flux", "version": None}
    if any(k.startswith("id_adapter.") for k in keys) and any(ATTN_KEY.match(k) for k in keys):
        version = "v1.1" if "id_adapter.latents" in shapes else "v1"
        return {"kind": "pulid", "arch": _pulid_arch(shapes), "version": version}
    from .eva_shapes import config_from_shapes, is_eva_visual, visual_state
    if is_eva_visual(shapes):
        try:
            cfg = config_from_shapes(visual_state(shapes))
        except (KeyError, ValueError, IndexError):
            return None
        return {"kind": "eva_clip", "arch": None, "image_size": cfg.image_size, "width": cfg.width}
    return None


def _invalid(message: str) -> StageError:
    return StageError(INVALID_PARAMS, message)


def _read_classified(path: str, what: str, hint: str) -> Optional[dict]:
    """``classify_pulid`` of a safetensors file's header, or a StageError that says how to fix the path."""
    from ...models.files import PICKLE_EXT
    from ...models.st_header import shapes as read_shapes
    if not path or not os.path.isfile(path):
        raise StageError(MODEL_MISSING, f"{what} not found: {path}. {hint}")
    if path.lower().endswith(PICKLE_EXT):
        raise _invalid(f"{path} is a pickle file; Kino loads .safetensors only. Convert it with "
                       f"`scripts/kino models convert {path}` and use the .safetensors file it writes.")
    return classify_pulid(read_shapes(path))


def _load_visual(path: str) -> dict:
    """Only the visual tower's tensors of an EVA-CLIP file (a full CLIP file also holds the text tower)."""
    from safetensors import safe_open

    from .eva_shapes import visual_state
    with safe_open(path, framework="pt") as fh:
        names = visual_state({k: k for k in fh.keys()})
        return {short: fh.get_tensor(full) for short, full in names.items()}


class PulidAdapter:
    """PuLID (SDXL, v1 / v1.1) identity: ID tokens from face photos, added to the UNet's cross-attention."""

    def __init__(self, weights: str, encoder: str, *, device="cpu", dtype=None):
        import torch
        self.device, self.dtype = torch.device(device), dtype or torch.float32
        from safetensors.torch import load_file
        info = _read_classified(weights, "PuLID weights", WEIGHTS_HINT)
        self._check_weights(weights, info)
        self.version = info["version"]
        eva_info = _read_classified(encoder, "EVA-CLIP vision tower", ENCODER_HINT)
        if not eva_info or eva_info["kind"] != "eva_clip":
            raise _invalid(f"{encoder} is not an EVA-CLIP vision tower (found "
                           f"{(eva_info or {}).get('kind', 'something else')}). {ENCODER_HINT}")
        self._build(weights, load_file(weights), encoder, _load_visual(encoder))
        self._attached = {}  # id(unet) -> (unet, saved processors, our processors)
        self._tokens = None
        self._none = None  # the "no identity" tokens, once computed

    @staticmethod
    def _check_weights(path: str, info: Optional[dict]) -> None:
        if not info or info["kind"] != "pulid":
            found = (info or {}).get("kind", "no id_adapter / id_adapter_attn_layers tensors")
            raise _invalid(f"{path} is not a PuLID weights file ({found}). {WEIGHTS_HINT}")
        if info["arch"] == "flux":
            raise _invalid(f"{path} is PuLID for FLUX; Kino's diffusion look supports PuLID for SDXL only "
                           "(pulid_v1.1.safetensors).")
        if info["arch"] != "sdxl":
            raise _invalid(f"{path} is for {info['arch'].upper()} cross-attention; PuLID is SDXL only: use "
                           "pulid_v1.1.safetensors with an SDXL checkpoint.")

    def _build(self, weights: str, state: dict, encoder: str, eva_state: dict) -> None:
        from .eva_vit import HIDDEN_BLOCKS, build_tower
        from .idformer import build_id_encoder
        id_state = {k[len("id_adapter."):]: v for k, v in state.items() if k.startswith("id_adapter.")}
        self.attn_state = {k: v for k, v in state.items() if ATTN_KEY.match(k)}
        try:
            self.id_encoder, _ = build_id_encoder(id_state)
            self.tower = build_tower(eva_state)
        except ValueError as exc:
            raise _invalid(f"{weights} / {encoder}: {exc}") from None
        vit_width = self.id_encoder.mapping_0[0].in_features
        if vit_width != self.tower.cfg.width or self.tower.cfg.depth <= max(HIDDEN_BLOCKS):
            raise _invalid(f"the EVA tower in {encoder} (width {self.tower.cfg.width}, {self.tower.cfg.depth} "
                           f"blocks) does not fit the PuLID weights {weights} (ViT width {vit_width}, needs "
                           f"> {max(HIDDEN_BLOCKS)} blocks): use EVA02-CLIP-L-14-336.")
        self.id_encoder.to(self.device, self.dtype)
        self.tower.to(self.device, self.dtype)
        first = self.id_encoder.id_embedding_mapping if self.version == "v1.1" else self.id_encoder.body
        self.id_cond_dim = first[0].in_features
        self.cross_dim = next(v.shape[1] for v in self.attn_state.values())

    # ---- UNet ---------------------------------------------------------------------------------
    def _processor_for(self, unet, index: int, name: str, base):
        from .attention import PulidAttnProcessor
        attn = unet.get_submodule(name[: -len(".processor")])
        hidden, cross = attn.to_k.weight.shape
        pair = [self.attn_state.get(f"id_adapter_attn_layers.{index}.{p}.weight") for p in ("id_to_k", "id_to_v")]
        if any(t is None for t in pair):
            raise _invalid(f"the PuLID weights have no id_to_k/id_to_v for UNet layer {index} ({name}): "
                           "they were made for another UNet; PuLID needs an SDXL checkpoint.")
        if any(tuple(t.shape) != (hidden, cross) for t in pair):
            raise _invalid(f"PuLID weights for UNet layer {index} ({name}) have shape {tuple(pair[0].shape)}, the "
                           f"UNet needs {(hidden, cross)}: the weights do not fit this checkpoint (SDXL only).")
        if hasattr(base, "to_k_ip"):
            raise _invalid("PuLID cannot be combined with an IP-Adapter on the same look; turn one of them off.")
        proc = PulidAttnProcessor(hidden, cross, base)
        proc.id_to_k.weight.data.copy_(pair[0])
        proc.id_to_v.weight.data.copy_(pair[1])
        return proc.to(device=unet.device, dtype=unet.dtype)

    def attach(self, unet) -> None:
        """Install PuLID's processors on every cross-attention layer of ``unet`` (strict weight check)."""
        if id(unet) in self._attached:
            return
        saved = dict(unet.attn_processors)
        new, ours = {}, []
        for index, (name, proc) in enumerate(saved.items()):
            if name.endswith("attn1.processor"):
                new[name] = proc
                continue
            new[name] = self._processor_for(unet, index, name, proc)
            ours.append(new[name])
        if len(ours) != len({m.group(1) for k in self.attn_state for m in [ATTN_KEY.match(k)]}):
            raise _invalid(f"the PuLID weights hold {len(self.attn_state) // 2} cross-attention layers, the UNet "
                           f"has {len(ours)}: they were made for another UNet (PuLID needs SDXL).")
        unet.set_attn_processor(new)
        self._attached[id(unet)] = (unet, saved, ours)
        if self._tokens is not None:
            self._apply(ours)

    def detach(self, unet) -> None:
        """Give ``unet`` back the processors it had before ``attach``."""
        entry = self._attached.pop(id(unet), None)
        if entry is not None:
            unet.set_attn_processor(dict(entry[1]))

    # ---- ID tokens ----------------------------------------------------------------------------
    def _face_features(self, face_model, image):
        import torch
        from .face_prep import prepare_face, tower_input
        face = face_model.largest_face(image)
        if face is None or getattr(face, "embedding", None) is None:
            return None
        pixels = tower_input(prepare_face(image, face), self.tower.image_size, self.tower.image_mean,
                             self.tower.image_std, device=self.device, dtype=self.dtype)
        emb, hidden = self.tower(pixels)
        emb = emb / emb.norm(p=2, dim=1, keepdim=True)
        ante = torch.as_tensor(np.asarray(face.embedding, np.float32).reshape(1, -1), device=self.device,
                               dtype=self.dtype)
        return torch.cat([ante, emb], dim=-1), hidden

    def embed(self, face_model, images: list) -> tuple:
        """(uncond, cond) ID tokens [1, T, cross_dim] from the largest face of each RGB uint8 image."""
        tokens = self.embed_faces(face_model, images)
        if tokens is None:
            raise _invalid("no face found in the reference image(s); use a photo where the actor's face is "
                           "clearly visible, frontal and not too small.")
        return tokens

    def embed_faces(self, face_model, images: list) -> Optional[tuple]:
        """``embed``, or None when no image shows a face (one detection per image: a per-frame path)."""
        import torch
        with torch.no_grad():
            found = [f for f in (self._face_features(face_model, img) for img in images) if f is not None]
            if not found:
                return None
            if found[0][0].shape[-1] != self.id_cond_dim:
                raise _invalid(f"the face pack's recognizer gives {found[0][0].shape[-1] - self.tower.cfg.embed_dim} "
                               f"numbers per face, these PuLID weights need "
                               f"{self.id_cond_dim - self.tower.cfg.embed_dim}: use the antelopev2 pack (glintr100).")
            uncond = self.embed_none()
            if self.version == "v1.1":
                cond = self.id_encoder(torch.stack([c for c, _ in found], dim=1),
                                       [torch.cat([h[i] for _, h in found], dim=1) for i in range(len(found[0][1]))])
                return uncond, cond
            per_face = [self.id_encoder(c, h) for c, h in found]  # v1: extra faces add their 5 ID tokens
            cond = torch.cat([per_face[0]] + [p[:, :5] for p in per_face[1:]], dim=1)
            return torch.cat([uncond] + [uncond[:, :5]] * (len(found) - 1), dim=1), cond

    def embed_none(self):
        """The "no identity" tokens [1, T, cross_dim] (what ``embed`` returns as uncond for one photo):
        the ID encoder on an all-zero face embedding and all-zero hidden states. Needs no face; computed
        once."""
        import torch
        if self._none is None:
            cfg = self.tower.cfg
            with torch.no_grad():
                zero_cond = torch.zeros(1, self.id_cond_dim, device=self.device, dtype=self.dtype)
                zero_hidden = [torch.zeros(1, 1 + cfg.grid ** 2, cfg.width, device=self.device, dtype=self.dtype)
                               for _ in range(5)]
                self._none = self.id_encoder(zero_cond, zero_hidden)
        return self._none

    def set_embedding(self, uncond, cond, scale: float, mode: str = "fidelity", do_cfg: bool = True,
                      num_zero: Optional[int] = None) -> None:
        """Use these ID tokens from now on (scale 0: the UNet's own output). ``num_zero`` defaults to the
        reference's (v1.1: 20; v1: 8 for fidelity, 16 for style)."""
        if mode not in DEFAULT_NUM_ZERO["v1"]:
            raise _invalid(f"PuLID mode must be 'fidelity', 'style' or 'plain', not {mode!r}")
        if cond is None or cond.ndim != 3 or cond.shape[-1] != self.cross_dim or \
                (do_cfg and (uncond is None or tuple(uncond.shape[1:]) != tuple(cond.shape[1:]))):
            raise _invalid(f"PuLID ID tokens must be [frames, tokens, {self.cross_dim}] (uncond and cond alike); "
                           "make them with PulidAdapter.embed.")
        if num_zero is None:
            num_zero = DEFAULT_NUM_ZERO[self.version][mode]
        self._tokens = (uncond, cond, float(scale), mode, int(num_zero), bool(do_cfg))
        for _, _, procs in self._attached.values():
            self._apply(procs)

    def _apply(self, procs) -> None:
        uncond, cond, scale, mode, num_zero, do_cfg = self._tokens
        for proc in procs:
            dev, dt = proc.id_to_k.weight.device, proc.id_to_k.weight.dtype
            proc.set_tokens(None if uncond is None else uncond.to(dev, dt), cond.to(dev, dt), scale, mode,
                            num_zero, do_cfg)

    def clear(self) -> None:
        """Forget the ID tokens: attached UNets behave as without PuLID until the next ``set_embedding``."""
        self._tokens = None
        for _, _, procs in self._attached.values():
            for proc in procs:
                proc.clear()
