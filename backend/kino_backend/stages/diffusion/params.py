"""Parameters of the diffusion look: the schema, the ``PATH[:...]`` list items, file checks.

Imports only the standard library and Kino's own light modules (the stage registry imports this module)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

from kino_addon.protocol.errors import MODEL_MISSING
from kino_addon.protocol.quoting import quote

from ...models.schedulers import SCHEDULER_NAMES
from ..base import ParamError, ParamSpec, StageError

CONTROL_TYPES = ("canny", "tile", "pose", "depth", "lineart", "softedge")
SCHEDULER_CHOICES = SCHEDULER_NAMES  # the loader's schedulers
DEVICES = ("auto", "cuda", "mps", "cpu")

PARAMS = (
    ParamSpec("model", "path", None, "Stable Diffusion 1.5 or SDXL checkpoint: a .safetensors single file "
              "(Civitai style) or a diffusers folder; relative paths are looked up in the models folder"),
    ParamSpec("vae", "path", None, "optional VAE to use instead of the checkpoint's (file or folder)"),
    ParamSpec("prompt", "str", "", "what the frames should look like"),
    ParamSpec("negative_prompt", "str", "", "what to avoid"),
    ParamSpec("strength", "float", 0.5, "how far each frame may move away from the source (img2img denoise); "
              "at least one step always runs, so a strength below 1/steps works as 1/steps",
              min=0.0, max=1.0),
    ParamSpec("steps", "int", 20, "sampling steps (only strength x steps of them run)", min=1, max=200),
    ParamSpec("guidance", "float", 7.5, "classifier-free guidance scale (1 = off, faster)", min=0.0, max=30.0),
    ParamSpec("seed", "int", None, "noise seed for the whole clip (default: the job's seed)", min=0, max=2**63 - 1),
    ParamSpec("scheduler", "enum", "ddim", "sampler; lcm is a few-step one (2-8 steps, with an LCM LoRA or "
              "LCM checkpoint, guidance 1-2)", choices=SCHEDULER_CHOICES),
    ParamSpec("lora", "list", [], "LoRA files, each PATH[:WEIGHT] (weight 1.0 by default)", item_kind="str"),
    ParamSpec("controlnet", "list", [], "ControlNets, each PATH[:TYPE[:SCALE[:START:END]]]; TYPE one of "
              + ", ".join(CONTROL_TYPES) + " (canny, scale 1.0, start 0, end 1 by default)", item_kind="str"),
    ParamSpec("ip_adapter", "path", None, "IP-Adapter folder (h94/IP-Adapter layout with models/image_encoder) "
              "or weight file"),
    ParamSpec("reference", "image", None, "reference image for the IP-Adapter: an image file, or 'frame' to use "
              "each source frame itself"),
    ParamSpec("ip_scale", "float", 0.6, "how strongly the reference image steers", min=0.0, max=2.0),
    ParamSpec("faceid", "path", None, "IP-Adapter FaceID weights file (e.g. ip-adapter-faceid_sd15.safetensors "
              "or the SDXL one): keeps the actor's face from face_reference; combines with ip_adapter + reference "
              "(e.g. a character sheet for the look, FaceID for the face)"),
    ParamSpec("face_reference", "image", None, "the actor's face for FaceID: an image file, or 'frame' to use each "
              "source frame (a frame without a face reuses the last face found; before the first, FaceID is off)"),
    ParamSpec("face_pack", "str", None, "insightface face pack for FaceID / PuLID: a folder name under "
              "<models folder>/insightface/models/, or a folder path (default: buffalo_l for FaceID, "
              "antelopev2 for PuLID)"),
    ParamSpec("faceid_scale", "float", 0.8, "how strongly the actor's face steers", min=0.0, max=2.0),
    ParamSpec("pulid", "path", None, "PuLID weights (pulid_v1.1.safetensors; SDXL checkpoints only): keeps the "
              "actor's face from face_reference; needs the EVA-CLIP encoder (pulid_encoder); instead of faceid / ip_adapter"),
    ParamSpec("pulid_encoder", "path", None, "EVA02-CLIP-L-14-336 vision tower for PuLID (.safetensors; convert "
              "the released EVA02_CLIP_L_336_psz14_s6B.pt with scripts/kino models convert); default: the one "
              "found next to the PuLID weights or in the models folder"),
    ParamSpec("pulid_scale", "float", 0.8, "how strongly PuLID keeps the actor's identity", min=0.0, max=5.0),
    ParamSpec("pulid_mode", "enum", "fidelity", "fidelity: closest likeness; style: leaves more room for the "
              "prompt's style", choices=("fidelity", "style")),
    ParamSpec("device", "enum", "auto", "where to run: auto picks CUDA, then Apple MPS, then the CPU",
              choices=DEVICES),
    ParamSpec("taesd", "path", None, "optional TAESD (tiny autoencoder) folder for fast encode/decode"),
    ParamSpec("batch", "int", 1, "frames per model call (faster on GPUs, 4-8 there; 1 on CPUs); "
              "used when the temporal stage is off", min=1, max=64),
    ParamSpec("resolution", "int", 0, "long side the model works at, rounded to a multiple of 64 "
              "(0: the source size, at most 768 for SD 1.5 and 1024 for SDXL); output is the source size",
              min=0, max=4096),
    ParamSpec("noise", "enum", "auto", "initial noise: fixed (the seed's noise on every frame), warped (that noise "
              "moves with the footage along the optical flow, still exactly white Gaussian), inverted (DDIM inversion "
              "of each frame); auto: warped when the temporal stage is on, else fixed",
              choices=("auto", "fixed", "warped", "inverted")),
    ParamSpec("motion_adapter", "path", None, "AnimateDiff motion module (SD 1.5): a diffusers MotionAdapter folder "
              "or an original motion-module file converted with scripts/kino models convert (v1/v2/v3, AnimateLCM); "
              "the clip is then denoised as a video in sliding context windows"),
    ParamSpec("context_frames", "int", 16, "AnimateDiff: frames per context window (the motion module's "
              "training length is 16)", min=1, max=64),
    ParamSpec("context_overlap", "int", 4, "AnimateDiff: frames shared by neighbouring windows, blended so the "
              "windows meet without a seam (at most context_frames - 1: a larger value works as that)", min=0, max=63),
    ParamSpec("cross_frame_attention", "bool", False, "attend to the first frame's self-attention keys and "
              "values in every frame (steadier style, slower)"),
)


@dataclass(frozen=True)
class LoraItem:
    """One ``lora=PATH[:WEIGHT]`` parameter value."""
    path: str
    weight: float = 1.0


@dataclass(frozen=True)
class ControlItem:
    """One ``controlnet=PATH[:TYPE[:SCALE[:START:END]]]`` parameter value."""
    path: str
    type: str = "canny"
    scale: float = 1.0
    start: float = 0.0
    end: float = 1.0


def _number(text: str, field: str, item: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ParamError(field, f"{quote(item)}: {quote(text)} is not a number") from None


def parse_lora(item) -> LoraItem:
    """``PATH[:WEIGHT]``; a Windows drive colon stays part of the path."""
    text = str(item).strip()
    head, sep, tail = text.rpartition(":")
    if sep and head and not tail.startswith(("\\", "/")):
        try:
            weight = float(tail)
        except ValueError:
            if os.path.exists(os.path.expanduser(head)) and not os.path.exists(os.path.expanduser(text)):
                raise ParamError("lora", f"{quote(text)}: the weight {quote(tail)} is not a number; write "
                                         "PATH:WEIGHT, e.g. style.safetensors:0.8") from None
            return LoraItem(text)
        if not -10.0 <= weight <= 10.0:
            raise ParamError("lora", f"{quote(text)}: weight {weight} is outside -10..10")
        return LoraItem(head, weight)
    return LoraItem(text)


def parse_controlnet(item) -> ControlItem:
    """``PATH[:TYPE[:SCALE[:START:END]]]``: the path ends where a known TYPE follows."""
    text = str(item).strip()
    parts = text.split(":")
    at = next((i for i in range(1, len(parts)) if parts[i] in CONTROL_TYPES), None)
    if at is None:
        head = ":".join(parts[:-1])
        if len(parts) > 1 and head and os.path.exists(os.path.expanduser(head)) and \
                not os.path.exists(os.path.expanduser(text)):
            raise ParamError("controlnet", f"{quote(text)}: {quote(parts[-1])} is not a ControlNet type; "
                                           f"the types are {', '.join(sorted(CONTROL_TYPES))}")
        return ControlItem(text)
    path, kind, rest = ":".join(parts[:at]), parts[at], parts[at + 1:]
    if len(rest) not in (0, 1, 3):
        raise ParamError("controlnet", f"{quote(text)}: expected PATH:TYPE, PATH:TYPE:SCALE or PATH:TYPE:SCALE:START:END")
    nums = [_number(r, "controlnet", text) for r in rest]
    scale = nums[0] if nums else 1.0
    start, end = (nums[1], nums[2]) if len(nums) == 3 else (0.0, 1.0)
    if not 0.0 <= scale <= 5.0:
        raise ParamError("controlnet", f"{quote(text)}: scale {scale} is outside 0..5")
    if not 0.0 <= start < end <= 1.0:
        raise ParamError("controlnet", f"{quote(text)}: start/end must satisfy 0 <= start < end <= 1")
    return ControlItem(path, kind, scale, start, end)


def resolve_path(path: Optional[str], models_dir: Optional[str], *, what: str, field: str) -> Optional[str]:
    """An existing file or folder for ``path`` (as given, else under the models folder), or
    ``StageError(MODEL_MISSING)`` naming the file and where it was looked for."""
    if not path:
        return None
    path = os.path.expanduser(path)
    if path.startswith("hf:"):  # a name ``scripts/kino models list`` shows for the Hugging Face cache
        from ...models.registry import resolve
        return resolve(path)
    candidates = [path] if os.path.isabs(path) or not models_dir else [path, os.path.join(models_dir, path)]
    candidates += [c + ".safetensors" for c in candidates if not c.endswith(".safetensors")]  # as registry.resolve
    for cand in candidates:
        if os.path.exists(cand):
            return os.path.abspath(cand)
    where = " or ".join(os.path.abspath(c) for c in candidates)
    if models_dir and os.path.isfile(models_dir):
        raise StageError(MODEL_MISSING, f"{what} not found: {field}={quote(path, 300)}; the models folder {models_dir} "
                         "is a file, not a folder: set the models folder (Kino's preferences, or KINO_MODELS_DIR) to "
                         "the folder that holds your models", stage="diffusion")
    hint = f" (relative paths are also looked up in the models folder {models_dir})" if models_dir else \
        " (relative paths are looked up in the models folder when one is set in Kino's preferences)"
    raise StageError(MODEL_MISSING, f"{what} not found: {field}={quote(path, 300)} -- looked for {where}{hint}. Put the "
                     "file there or give its full path.", stage="diffusion")


def check_reference(reference: Optional[str], ip_adapter: Optional[str]) -> None:
    if reference and not ip_adapter:
        raise ParamError("reference", "a reference image needs an IP-Adapter: set ip_adapter=PATH as well")
    if ip_adapter and not reference:
        raise ParamError("reference", "an IP-Adapter needs a reference: set reference=IMAGE (a style image or "
                         "character sheet) or reference=frame (each source frame)")


def check_faceid(faceid: Optional[str], face_reference: Optional[str]) -> None:
    if face_reference == "":
        raise ParamError("face_reference", "give the actor's image path or 'frame'")
    if face_reference and not faceid:
        raise ParamError("face_reference", "a face reference needs IP-Adapter FaceID weights (faceid=PATH, e.g. "
                         "ip-adapter-faceid_sd15.safetensors) or PuLID (pulid=PATH, SDXL) as well")
    if faceid and not face_reference:
        raise ParamError("face_reference", "FaceID needs the actor's face: set face_reference=IMAGE (a photo of "
                         "the actor) or face_reference=frame (each source frame)")


def check_pulid(params: dict) -> None:
    if not params.get("pulid"):
        if params.get("pulid_encoder"):
            raise ParamError("pulid_encoder", "the EVA-CLIP encoder is for PuLID: set pulid=PATH as well")
        return
    if params.get("faceid"):
        raise ParamError("pulid", "PuLID and FaceID both keep the face: use one of them")
    if params.get("ip_adapter"):
        raise ParamError("pulid", "PuLID cannot be combined with an IP-Adapter reference (both take over the "
                         "UNet's cross-attention): drop ip_adapter/reference, or use faceid= instead of PuLID")
    if not params.get("face_reference"):
        raise ParamError("face_reference", "PuLID needs the actor's face: set face_reference=IMAGE (a photo of "
                         "the actor) or face_reference=frame (each source frame)")


def check_animatediff(params: dict) -> None:
    if not params.get("motion_adapter"):
        return
    if params.get("cross_frame_attention"):
        raise ParamError("cross_frame_attention", "AnimateDiff's motion module already links the frames; turn "
                         "cross_frame_attention off or drop motion_adapter")
    if params.get("pulid"):
        raise ParamError("pulid", "PuLID is for SDXL and AnimateDiff here for SD 1.5: use faceid= for the face")


def parse_all(params: dict) -> tuple[list[LoraItem], list[ControlItem]]:
    loras = [parse_lora(x) for x in params.get("lora") or []]
    controls = [parse_controlnet(x) for x in params.get("controlnet") or []]
    check_reference(params.get("reference"), params.get("ip_adapter"))
    check_pulid(params)
    check_animatediff(params)
    if not params.get("pulid"):
        check_faceid(params.get("faceid"), params.get("face_reference"))
    return loras, controls
