"""Is this Python a working Kino backend? Python and package versions against the pins, the imports,
the torch build and the device, and one frame through a classic look. Runs in the environment under
test (``python -m kino_backend selfcheck --json``); every check is independent, so a broken package is
named instead of stopping the check. Problems are phrased for the artist and say what to do.
"""
from __future__ import annotations

import importlib
import os
import platform
import re
import sys
import time
from typing import Dict, List, Optional

#: module to import -> its distribution (the pinned name)
IMPORTS = (("numpy", "numpy"), ("cv2", "opencv-contrib-python-headless"), ("torch", "torch"),
           ("diffusers", "diffusers"), ("transformers", "transformers"), ("accelerate", "accelerate"),
           ("safetensors", "safetensors"), ("peft", "peft"), ("huggingface_hub", "huggingface-hub"),
           ("onnxruntime", "onnxruntime"), ("PIL", "pillow"), ("scipy", "scipy"), ("skimage", "scikit-image"),
           ("mediapipe", "mediapipe"), ("insightface", "insightface"))
PIN_FILES = ("torch.txt", "backend.txt", "backend-nodeps.txt")
REPAIR = "press Reinstall Backend in Kino's preferences"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(req_dir: str) -> Dict[str, str]:
    """``{distribution: version}`` of the ``name==version`` lines of the backend's requirement files."""
    pins: Dict[str, str] = {}
    for name in PIN_FILES:
        path = os.path.join(req_dir, name)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                spec = line.split("#", 1)[0].strip()
                if "==" in spec:
                    dist, version = spec.split("==", 1)
                    pins[_norm(dist)] = version.strip()
    return pins


def check_pins(pins: Dict[str, str]) -> Dict[str, dict]:
    from importlib import metadata
    out = {}
    for dist, want in pins.items():
        try:
            have: Optional[str] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            have = None
        ok = have is not None and have.split("+", 1)[0] == want
        out[dist] = {"want": want, "have": have, "ok": ok}
    return out


def check_imports() -> Dict[str, dict]:
    out = {}
    for module, dist in IMPORTS:
        t0 = time.perf_counter()
        try:
            importlib.import_module(module)
            out[module] = {"dist": dist, "ok": True, "seconds": round(time.perf_counter() - t0, 2)}
        except Exception as exc:  # any import failure (missing .so, ABI, syntax) is a finding, not a crash
            out[module] = {"dist": dist, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return out


def torch_info(device: str) -> dict:
    """torch's build and whether ``device`` (cpu, cuda, rocm, mps) works, with a small computation."""
    try:
        import torch
    except Exception as exc:
        return {"ok": False, "error": f"torch does not import ({type(exc).__name__}: {exc})"[:300]}
    info = {"version": torch.__version__, "cuda": torch.version.cuda, "hip": getattr(torch.version, "hip", None),
            "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
            "cuda_available": bool(torch.cuda.is_available())}
    info["build"] = ("rocm " + info["hip"]) if info["hip"] else ("cuda " + info["cuda"]) if info["cuda"] else "cpu"
    want = {"rocm": "cuda"}.get(device, device)
    if want == "cuda" and not info["cuda_available"]:
        return dict(info, ok=False, device=None, error="no usable GPU")
    if want == "mps" and not info["mps"]:
        return dict(info, ok=False, device=None, error="the Apple GPU (MPS) is not available")
    try:
        a = torch.arange(16, dtype=torch.float32).reshape(4, 4)
        b = (a.to(want) @ a.to(want)).cpu()
        ok = bool(torch.allclose(b, a @ a))
    except Exception as exc:
        return dict(info, ok=False, device=None, error=f"computing on {want} failed: {exc}"[:300])
    name = torch.cuda.get_device_name(0) if want == "cuda" else ("Apple GPU" if want == "mps" else platform.processor()
                                                                or platform.machine())
    return dict(info, ok=ok, device=name, error="" if ok else f"{want} computed a wrong result")


def classic_frame() -> dict:
    """One synthetic frame through the ``toon`` look, the way a job runs it."""
    try:
        import numpy as np

        from .presets import workflow_for_look
        from .stages.base import Frame, JobContext
        from .workflow import Pipeline, validate_workflow
        h, w = 64, 96
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([xx * 255 // w, yy * 255 // h, ((xx // 16 + yy // 16) % 2) * 200], -1).astype(np.uint8)
        flow = validate_workflow(workflow_for_look("toon"))
        ctx = JobContext(job_id="selfcheck", frames_total=1, width=w, height=h)
        t0 = time.perf_counter()
        with Pipeline(flow, ctx) as pipe:
            out = [f.image for f in pipe.run(iter([Frame(1, img, img.copy())]))]
        seconds = time.perf_counter() - t0
        res = out[0] if out else None
        if res is None or res.shape != img.shape or res.dtype != np.uint8:
            return {"ok": False, "error": "the toon look returned no frame of the right size"}
        diff = float(np.abs(res.astype(np.int16) - img).mean())
        ok = diff > 1.0 and float(res.std()) > 1.0
        return {"ok": ok, "look": "toon", "mean_change": round(diff, 2), "seconds": round(seconds, 3),
                "error": "" if ok else "the toon look left the frame unchanged"}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}


def folder_bytes(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def problems_of(report: dict, device: str) -> List[str]:
    probs = []
    if sys.version_info[:2] != (3, 11):
        probs.append(f"The backend runs Python {platform.python_version()}; it needs Python 3.11. Install "
                     "again with a Python 3.11 (Preferences: 'Python for the backend').")
    missing = [d for d, p in report["pins"].items() if p["have"] is None]
    wrong = [f"{d} {p['have']} (Kino wants {p['want']})" for d, p in report["pins"].items()
             if p["have"] is not None and not p["ok"]]
    broken = [f"{m} ({r['error'].splitlines()[0][:120]})" for m, r in report["imports"].items()
              if not r["ok"] and r["dist"] not in missing and not _explained(r["error"], missing)]
    if missing:
        probs.append(f"Missing: {', '.join(missing)}: {REPAIR}.")
    if wrong:
        probs.append(f"Other versions than Kino's pins: {', '.join(wrong)}: press Update Backend.")
    if broken:
        probs.append(f"Installed but broken: {'; '.join(broken)}: {REPAIR}.")
    tinfo = report["torch"]
    if "version" in tinfo and not tinfo["ok"]:
        probs.append(_device_problem(tinfo, device))
    if not report["look"]["ok"] and not (missing or broken):
        probs.append(f"One test frame through the toon look failed: {report['look']['error']}. {REPAIR}.")
    return probs


def _explained(error: str, missing: List[str]) -> bool:
    """An import that fails only because another (missing) distribution is missing."""
    low = error.lower().replace("-", "_")
    return any(m.replace("-", "_") in low for m in missing)


def _device_problem(tinfo: dict, device: str) -> str:
    if device in ("cuda", "rocm") and tinfo.get("cuda") and not tinfo.get("cuda_available"):
        return (f"torch's CUDA {tinfo['cuda']} build cannot use the GPU: the NVIDIA driver is missing or too old "
                "for it. Update the driver (nvidia.com/drivers), restart, and press Check Backend - or install "
                "for CPU.")
    if device in ("cuda", "rocm") and not (tinfo.get("cuda") or tinfo.get("hip")):
        return f"This torch is a CPU build, but the device is {device.upper()}: install again for {device.upper()}."
    return f"The device {device.upper()} does not work: {tinfo.get('error')}. Install for CPU, or fix the driver."


def run(device: str = "cpu", req_dir: Optional[str] = None, env_dir: Optional[str] = None) -> dict:
    device = device.lower()
    report = {"python": platform.python_version(), "executable": sys.executable, "device_wanted": device,
              "pins": check_pins(read_pins(req_dir)) if req_dir else {}, "imports": check_imports()}
    report["torch"] = torch_info(device)
    report["look"] = classic_frame()
    if env_dir:
        report["disk_bytes"] = folder_bytes(env_dir)
    report["problems"] = problems_of(report, device)
    report["ok"] = not report["problems"]
    return report
