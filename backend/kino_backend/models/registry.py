"""The local model registry: what is in the Kino models folder and the Hugging Face cache (read offline).

``scan(models_dir)`` returns plain dicts ``{name, path, kind, arch, size, format, source, ...}`` the add-on
shows as choices; classification reads safetensors headers and config files only (no weights).
``resolve(name_or_path, models_dir, kind=...)`` turns a choice into a path, or raises
``StageError(MODEL_MISSING)`` naming the file and where to put it.
"""
from __future__ import annotations

import glob
import os
import time

from ..stages.base import StageError
from . import files
from .classify import classify, classify_file, classify_folder, control_type_from_name
from .load_parts import LOADABLE_ARCHS
from .tokenizer import hf_cache_dir
from kino_addon.protocol.errors import INVALID_PARAMS, MODEL_MISSING

KINDS = ("checkpoint", "vae", "lora", "controlnet", "ip_adapter", "image_encoder", "taesd", "face_pack", "pulid",
         "eva_clip", "motion_adapter")
FOLDER_MARKERS = ("model_index.json", "config.json")
UNSUPPORTED_ARCH = {"sd2": "an SD 2.x checkpoint", "sdxl_refiner": "an SDXL refiner"}
SYSTEM_DIRS = ("/proc", "/sys", "/dev", "/run")  # never hold models; /proc alone never ends


class ScanBudget:
    """Bounds one scan: folder entries looked at and seconds spent. ``spend`` says whether to go on;
    once it says no, ``reason`` tells the user what was cut short."""

    def __init__(self, max_entries: int = 50_000, seconds: float = 20.0):
        self.max_entries = max_entries
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds
        self.entries = 0
        self.reason = ""

    def spend(self, entries: int) -> bool:
        self.entries += entries
        if not self.reason and self.entries > self.max_entries:
            self.reason = f"stopped after {self.max_entries} files and folders"
        elif not self.reason and time.monotonic() > self.deadline:
            self.reason = f"stopped after {self.seconds:g} s"
        return not self.reason


def _entry(path: str, info: dict, root: str, source: str) -> dict:
    rel = os.path.relpath(path, root) if source == "models_dir" else path
    name = rel
    try:
        size = sum(os.path.getsize(f) for f in files.weight_files(path)) if os.path.isdir(path) else os.path.getsize(path)
    except OSError:  # a broken link, or a file removed meanwhile
        size = 0
    out = {"name": name, "path": os.path.abspath(path), "size": size, "source": source}
    out.update(info)
    if out["kind"] == "checkpoint" and out.get("arch") not in LOADABLE_ARCHS and not out.get("note"):
        out["note"] = UNSUPPORTED_ARCH.get(out.get("arch"), "an architecture Kino does not load") + \
            ": Kino's looks load SD 1.5 and SDXL base checkpoints"
    return out


def _classify_file(path: str) -> dict:
    """One file's entry; a file that cannot be read is listed ``invalid`` with the reason (never fails the
    listing)."""
    if not os.path.exists(path):
        target = os.readlink(path) if os.path.islink(path) else path
        return {"kind": "invalid", "arch": None, "format": "single_file",
                "error": f"a link to {target}, which does not exist (moved, or on a drive that is not mounted)"}
    try:
        return classify_file(path)
    except StageError as exc:
        return {"kind": "invalid", "arch": None, "format": "single_file", "error": exc.message}
    except (OSError, ValueError) as exc:  # unreadable meanwhile, or a header no rule expected
        return {"kind": "invalid", "arch": None, "format": "single_file",
                "error": f"could not be read ({exc}); download or copy it again"}


def _classify_folder(path: str) -> dict:
    """A model folder's entry (``invalid`` with the reason when a file in it cannot be read)."""
    try:
        return classify_folder(path)
    except StageError as exc:
        return {"kind": "invalid", "arch": None, "format": "folder", "error": exc.message}
    except (OSError, ValueError) as exc:
        return {"kind": "invalid", "arch": None, "format": "folder",
                "error": f"could not be read ({exc}); download or copy it again"}


def _is_model_folder(path: str, names: list) -> bool:
    return any(m in names for m in FOLDER_MARKERS) or any(n.endswith(".onnx") for n in names)


def _new_folder(path: str, seen: set) -> bool:
    """False for a folder already walked (a symlink loop) or a system folder."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    key = (st.st_dev, st.st_ino)
    if key in seen or os.path.abspath(path) in SYSTEM_DIRS:
        return False
    seen.add(key)
    return True


def scan_dir(root: str, source: str = "models_dir", max_depth: int = 6, budget: ScanBudget | None = None) -> list:
    """Entries for every model file or diffusers folder under ``root`` (within ``budget``)."""
    out = []
    root = os.path.abspath(root)
    seen: set = set()
    _new_folder(root, seen)
    for here, dirs, names in os.walk(root, followlinks=True):
        if budget is not None and not budget.spend(1 + len(dirs) + len(names)):
            break
        depth = here[len(root):].count(os.sep)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and _new_folder(os.path.join(here, d), seen)) \
            if depth < max_depth else []
        if here != root and _is_model_folder(here, names):
            info = _classify_folder(here)
            if info["kind"] != "unknown":
                out.append(_entry(here, info, root, source))
                dirs[:] = []
                continue
        for n in sorted(names):
            if n.lower().endswith((".safetensors",) + files.PICKLE_EXT) and not n.startswith("."):
                out.append(_entry(os.path.join(here, n), _classify_file(os.path.join(here, n)), root, source))
    return out


def hf_snapshots() -> list:
    """(repo id, snapshot folder) of each model repo in the Hugging Face cache (the ``main`` ref first)."""
    out = []
    for repo_dir in sorted(glob.glob(os.path.join(hf_cache_dir(), "models--*"))):
        repo = repo_dir.split("models--", 1)[1].replace("--", "/")
        snap = None
        ref = os.path.join(repo_dir, "refs", "main")
        if os.path.isfile(ref):
            with open(ref, encoding="utf-8") as fh:
                snap = os.path.join(repo_dir, "snapshots", fh.read().strip())
        if not snap or not os.path.isdir(snap):
            snaps = sorted(glob.glob(os.path.join(repo_dir, "snapshots", "*")), key=os.path.getmtime)
            snap = snaps[-1] if snaps else None
        if snap:
            out.append((repo, snap))
    return out


def scan_hf_cache(budget: ScanBudget | None = None) -> list:
    out = []
    for repo, snap in hf_snapshots():
        if budget is not None and not budget.spend(1):
            break
        names = os.listdir(snap)
        if _is_model_folder(snap, names):
            info = _classify_folder(snap)
            if info["kind"] != "unknown":
                if info["kind"] == "controlnet" and not info.get("control_type"):
                    info["control_type"] = control_type_from_name(repo)
                out.append(dict(_entry(snap, info, snap, "hf_cache"), name=f"hf:{repo}"))
                continue
        for e in scan_dir(snap, source="hf_cache", budget=budget):
            if e["kind"] not in KINDS:  # the cache holds much else (pickles, CLIP repos): offer only usable files
                continue
            e["name"] = f"hf:{repo}/" + os.path.relpath(e["path"], snap)
            out.append(e)
    return out


def scan(models_dir: str | None = None, *, hf_cache: bool = True, budget: ScanBudget | None = None) -> list:
    """Everything Kino can use, as plain dicts; unknown/invalid files are listed with a note. With a
    ``budget`` the scan stops early once it is spent (``budget.reason`` says so)."""
    out = []
    if models_dir:
        if os.path.exists(models_dir) and not os.path.isdir(models_dir):
            raise StageError(MODEL_MISSING, f"the models folder {models_dir} is a file, not a folder: pick the "
                             "folder that holds your checkpoints, LoRAs and ControlNets (add-on preferences, or "
                             "KINO_MODELS_DIR)")
        if not os.path.isdir(models_dir):
            raise StageError(MODEL_MISSING, f"models folder not found: {models_dir}. Create it (or pick another one "
                             "in the add-on preferences) and put checkpoints, LoRAs, ControlNets there.")
        out += scan_dir(models_dir, budget=budget)
    if hf_cache and os.path.isdir(hf_cache_dir()):
        out += scan_hf_cache(budget)
    return out


def choices(entries: list, kind: str, arch: str | None = None) -> list:
    """The entries of one kind (and, when given, compatible with ``arch``), for a panel's drop-down."""
    return [e for e in entries if e["kind"] == kind and (arch is None or e.get("arch") in (None, arch))]


def resolve(name_or_path: str, models_dir: str | None = None, kind: str | None = None) -> str:
    """A model path from an absolute/relative path or a registry name; MODEL_MISSING says where to put it."""
    tried = []
    cands = [name_or_path]
    if models_dir and not os.path.isabs(name_or_path):
        cands += [os.path.join(models_dir, name_or_path), os.path.join(models_dir, name_or_path + ".safetensors")]
    for cand in cands:
        tried.append(os.path.abspath(cand))
        if os.path.exists(cand):
            if kind:
                info = classify(cand)
                if info["kind"] != kind:
                    raise StageError(INVALID_PARAMS, f"{cand} is a {info['kind']}, not a {kind}.")
            return os.path.abspath(cand)
    if name_or_path.startswith("hf:"):
        for e in scan_hf_cache():
            if e["name"] == name_or_path:
                return e["path"]
    where = f" or into the models folder {os.path.abspath(models_dir)}" if models_dir else ""
    raise StageError(MODEL_MISSING, f"{kind or 'model'} not found: {name_or_path} (looked at {', '.join(tried)}). "
                     f"Put the file there{where}; Kino never downloads models at run time.")
