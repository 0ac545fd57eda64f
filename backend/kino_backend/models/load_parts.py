"""Load the pieces of a pipeline from local files: base checkpoint (single file or diffusers folder),
custom VAE/TAESD, ControlNets. Nothing is fetched from a hub (``local_files_only=True``)."""
from __future__ import annotations

import contextlib
import os

from ..stages.base import StageError
from . import configs
from .classify import classify
from .st_header import header_sha256, shapes as read_shapes
from kino_addon.protocol.errors import INVALID_PARAMS, MODEL_MISSING

LOADABLE_ARCHS = ("sd15", "sdxl")  # what the looks load; sd2 and sdxl_refiner are recognised, then refused
PIPELINES = {("sd15", False): "StableDiffusionImg2ImgPipeline", ("sd15", True): "StableDiffusionControlNetImg2ImgPipeline",
             ("sdxl", False): "StableDiffusionXLImg2ImgPipeline", ("sdxl", True): "StableDiffusionXLControlNetImg2ImgPipeline"}


def cache_root() -> str:
    return os.environ.get("KINO_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "kino")


def pipeline_class(arch: str, controlnet: bool):
    import diffusers
    return getattr(diffusers, PIPELINES[(arch, controlnet)])


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


PARAM_OF_KIND = {"checkpoint": "model", "lora": "lora", "vae": "vae", "controlnet": "controlnet",
                 "ip_adapter": "ip_adapter", "motion_adapter": "motion_adapter", "taesd": "taesd"}


def unusable(path: str, info: dict) -> StageError:
    """The refusal of a file the registry lists ``invalid``: why, and what to do (its ``error``)."""
    return StageError(MODEL_MISSING, f"{path} cannot be used: {info.get('error')}.")


def wrong_kind(path: str, info: dict, not_what: str, pick: str) -> StageError:
    """The refusal of a file of another kind than a parameter takes: what it is, where it belongs, what
    to pick (``invalid`` files: why they cannot be used)."""
    kind = info["kind"]
    if kind == "invalid":
        return unusable(path, info)
    return StageError(INVALID_PARAMS, f"{path} is {_article(kind)} {kind}, not {not_what}; {_give_it(kind)}{pick}.")


def _give_it(kind: str) -> str:
    """"give it as model= and " for a kind another parameter takes, else ""."""
    param = PARAM_OF_KIND.get(kind)
    return f"give it as {param}= and " if param else ""


def check_checkpoint(model_path: str, arch: str | None) -> dict:
    info = classify(model_path)
    if info["kind"] == "invalid":
        raise unusable(model_path, info)
    if info["kind"] == "unknown":
        raise StageError(INVALID_PARAMS, f"{model_path} is not a model Kino recognises as a Stable Diffusion "
                         "checkpoint" + (f": {info['note']}" if info.get("note") else
                                         "; pick an SD 1.5 or SDXL checkpoint (a .safetensors file or a diffusers "
                                         "folder) as model (scripts/kino models list DIR shows what a folder holds)"))
    if info["kind"] != "checkpoint":
        raise StageError(INVALID_PARAMS, f"{model_path} is {_article(info['kind'])} {info['kind']} file, not a Stable "
                         "Diffusion checkpoint; give it with the matching parameter (lora=, vae=, controlnet=, "
                         "ip_adapter=, motion_adapter=) and pick a checkpoint as model.")
    if info.get("unet_in_channels"):
        raise StageError(INVALID_PARAMS, f"{model_path} is {info['note']}; pick the regular (non-{info['made_for']}) "
                         "version of the model as model=.")
    if info["arch"] == "sdxl_refiner":
        raise StageError(INVALID_PARAMS, f"{model_path} is an SDXL refiner (it only finishes an SDXL base model's "
                         "pictures); pick an SD 1.5 or SDXL base checkpoint as model.")
    if info["arch"] not in LOADABLE_ARCHS:
        raise StageError(INVALID_PARAMS, f"{model_path}: architecture {info['arch'] or 'unknown'} is not supported; "
                         "Kino loads SD 1.5 and SDXL checkpoints.")
    if arch and arch != info["arch"]:
        raise StageError(INVALID_PARAMS, f"{model_path} is an {info['arch']} checkpoint, but arch={arch} was asked for.")
    return info


def config_folder(model_path: str, arch: str) -> str:
    """The configs-only diffusers folder for a single file, derived from its tensors (cached by header hash)."""
    out = os.path.join(cache_root(), "configs", f"{arch}-{header_sha256(model_path)[:20]}")
    if not os.path.isfile(os.path.join(out, "model_index.json")):
        tmp = out + f".tmp{os.getpid()}"
        try:
            configs.write_config_folder(read_shapes(model_path), arch, tmp)
        except (ValueError, KeyError, IndexError, TypeError) as exc:  # names of the arch, shapes of none
            raise StageError(INVALID_PARAMS, f"{model_path} has the tensor names of an {arch} checkpoint but not "
                             f"their shapes ({exc}); the file is damaged or not a Stable Diffusion checkpoint; "
                             "pick another model=") from None
        os.makedirs(os.path.dirname(out), exist_ok=True)
        try:
            os.replace(tmp, out)
        except OSError:  # another process won the race: use its folder
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _variant(folder: str) -> str | None:
    """``"fp16"`` when a diffusers folder only has ``*.fp16.safetensors`` UNet weights (some HF repos), else None."""
    unet = os.path.join(folder, "unet")
    names = os.listdir(unet) if os.path.isdir(unet) else []
    plain = [n for n in names if n.startswith("diffusion_pytorch_model") and n.count(".") == 1]
    return "fp16" if not plain and any(".fp16." in n for n in names) else None


def load_base(model_path: str, info: dict, torch_dtype):
    cls = pipeline_class(info["arch"], False)
    extra = {"safety_checker": None, "requires_safety_checker": False} if info["arch"] == "sd15" else {}
    with unreadable_weights(model_path, "checkpoint"):
        if info["format"] == "diffusers":
            return cls.from_pretrained(model_path, local_files_only=True, dtype=torch_dtype,
                                       variant=_variant(model_path), **extra)
        cfg = config_folder(model_path, info["arch"])
        return cls.from_single_file(model_path, config=cfg, local_files_only=True, dtype=torch_dtype, **extra)


@contextlib.contextmanager
def unreadable_weights(path: str, what: str):
    """diffusers' loaders report a missing or damaged weights file as OSError (and refuse a pickled
    object other than tensors as UnpicklingError): say which model and what to do."""
    import pickle
    try:
        yield
    except (OSError, pickle.UnpicklingError) as exc:
        if isinstance(exc, pickle.UnpicklingError) or isinstance(exc.__cause__ or exc.__context__,
                                                                  pickle.UnpicklingError):
            raise StageError(INVALID_PARAMS, f"the {what} {path} has a .bin weights file that holds Python objects "
                             "other than tensors, which Kino will not load (unpickling them can run code): get a "
                             ".safetensors version of it from its publisher.") from None
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:300].rstrip(". ")
        raise StageError(MODEL_MISSING, f"the {what} {path} could not be loaded ({first}): a file of it is missing "
                         "or damaged; download or copy the whole model again.") from None


def load_vae(vae_path: str, arch: str, torch_dtype):
    with unreadable_weights(vae_path, "VAE"):
        return _load_vae(vae_path, arch, torch_dtype)


def _load_vae(vae_path: str, arch: str, torch_dtype):
    """A custom VAE: AutoencoderKL (diffusers folder or LDM/diffusers single file) or TAESD (fast decode)."""
    from diffusers import AutoencoderKL, AutoencoderTiny
    info = classify(vae_path)
    if info["kind"] == "taesd":
        if info["format"] != "diffusers":
            raise StageError(INVALID_PARAMS, f"{vae_path}: give TAESD as its diffusers folder (e.g. madebyollin/taesd).")
        return AutoencoderTiny.from_pretrained(vae_path, local_files_only=True, dtype=torch_dtype)
    if info["kind"] != "vae":
        raise wrong_kind(vae_path, info, "a VAE", "pick a VAE file or folder as vae= (or leave vae empty to use "
                         "the checkpoint's own)")
    if info["format"] == "diffusers":
        return AutoencoderKL.from_pretrained(vae_path, local_files_only=True, dtype=torch_dtype)
    shapes = read_shapes(vae_path)
    if any(k.startswith("encoder.down_blocks.") for k in shapes):
        here = os.path.dirname(os.path.abspath(vae_path))
        if os.path.isfile(os.path.join(here, "config.json")):
            return AutoencoderKL.from_pretrained(here, local_files_only=True, dtype=torch_dtype)
        raise StageError(MODEL_MISSING, f"{vae_path} has diffusers VAE keys but no config.json beside it; "
                         "put the whole diffusers VAE folder there.")
    cfg_dir = os.path.join(cache_root(), "configs", f"vae-{arch}-{header_sha256(vae_path)[:20]}")
    configs._dump(os.path.join(cfg_dir, "config.json"), configs.vae_config(shapes, arch, prefix=""))
    return AutoencoderKL.from_single_file(vae_path, config=cfg_dir, local_files_only=True, dtype=torch_dtype)


def load_controlnet(path: str, arch: str, torch_dtype):
    with unreadable_weights(path, "ControlNet"):
        return _load_controlnet(path, arch, torch_dtype)


def _load_controlnet(path: str, arch: str, torch_dtype):
    from diffusers import ControlNetModel
    info = classify(path)
    if info["kind"] != "controlnet":
        raise wrong_kind(path, info, "a ControlNet model", "pick a ControlNet as controlnet=PATH:TYPE")
    if info["arch"] != arch:
        raise StageError(INVALID_PARAMS, f"ControlNet {path} is for {info['arch']}, the checkpoint is {arch}; "
                         f"pick an {arch} ControlNet.")
    if info["format"] == "diffusers":
        return ControlNetModel.from_pretrained(path, local_files_only=True, dtype=torch_dtype)
    shapes = read_shapes(path)
    if any(k.startswith("controlnet_cond_embedding.") for k in shapes):  # diffusers keys: needs its config.json
        here = os.path.dirname(os.path.abspath(path))
        if os.path.isfile(os.path.join(here, "config.json")):
            return ControlNetModel.from_pretrained(here, local_files_only=True, dtype=torch_dtype)
        raise StageError(MODEL_MISSING, f"ControlNet {path} has diffusers keys but no config.json beside it; "
                         "put the whole diffusers ControlNet folder into the models folder.")
    prefix = "control_model." if any(k.startswith("control_model.") for k in shapes) else ""
    cfg_dir = os.path.join(cache_root(), "configs", f"controlnet-{arch}-{header_sha256(path)[:20]}")
    configs._dump(os.path.join(cfg_dir, "config.json"), configs.controlnet_config(shapes, arch, prefix))
    return ControlNetModel.from_single_file(path, config=cfg_dir, local_files_only=True, dtype=torch_dtype)
