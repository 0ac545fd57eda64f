"""What the backend install needs to know about this machine: GPUs (nvidia-smi, rocminfo), a Python
that fits, free disk, whether the torch index can be reached. Standard library only; every probe is
bounded in time and never raises for a missing tool (it just finds nothing)."""
from __future__ import annotations

import os
import platform
import re
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Callable, Iterable, List, Optional, Tuple

from .backend_install_plan import SystemInfo

REQUIRED_PYTHON = (3, 11)
Runner = Callable[[List[str]], str]  # argv -> stdout ("" when the tool is missing or fails)


def run_tool(argv: List[str], timeout: float = 20.0) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout if proc.returncode == 0 else ""


def parse_nvidia_smi(table: str, listing: str) -> Tuple[Tuple[str, ...], str, Optional[Tuple[int, int]]]:
    """``(gpu names, driver version, cuda version)`` from ``nvidia-smi`` and ``nvidia-smi -L``."""
    names = tuple(m.group(1).strip() for m in re.finditer(r"^GPU \d+: (.+?)(?: \(UUID:.*)?$", listing, re.M))
    drv = re.search(r"Driver Version:\s*([0-9.]+)", table)
    cuda = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", table)
    return names, drv.group(1) if drv else "", (int(cuda.group(1)), int(cuda.group(2))) if cuda else None


def parse_rocminfo(text: str) -> Tuple[str, ...]:
    """GPU agents (``gfx…`` names) that ``rocminfo`` lists."""
    return tuple(dict.fromkeys(re.findall(r"^\s*Name:\s+(gfx[0-9a-z]+)\s*$", text, re.M)))


def probe_system(run: Runner = run_tool) -> SystemInfo:
    system, machine = platform.system(), platform.machine()
    names, driver, cuda = (), "", None
    if system in ("Linux", "Windows"):
        listing = run(["nvidia-smi", "-L"])
        if listing.strip():
            names, driver, cuda = parse_nvidia_smi(run(["nvidia-smi"]), listing)
    rocm = parse_rocminfo(run(["rocminfo"])) if system == "Linux" else ()
    mac = None
    if system == "Darwin":
        parts = (platform.mac_ver()[0] or "0.0").split(".")
        mac = (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0)
    return SystemInfo(system=system, machine=machine, nvidia_gpus=names, driver_version=driver,
                      cuda_driver=cuda, rocm_gpus=rocm, mac_version=mac)


# -- Python ---------------------------------------------------------------------------------------

def python_version(python: str) -> Optional[Tuple[int, int, int]]:
    out = run_tool([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"], timeout=30)
    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", out.strip())
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def base_python_candidates(chosen: str = "") -> List[str]:
    """The Python to build the environment from: the one chosen in the preferences, else this
    process's own (Blender's Python), else ``python3.11`` on the PATH."""
    if chosen:
        return [os.path.expanduser(chosen)]
    own = getattr(sys, "_base_executable", "") or sys.executable
    found = [p for p in (own, sys.executable, shutil.which("python3.11"), shutil.which("python3")) if p]
    return list(dict.fromkeys(found))


def find_base_python(candidates: Iterable[str]) -> Tuple[Optional[str], List[str]]:
    """``(python, notes)``: the first candidate running Python 3.11, and what the others were."""
    notes = []
    for cand in candidates:
        version = python_version(cand)
        if version is None:
            notes.append(f"{cand}: does not run")
        elif version[:2] == REQUIRED_PYTHON:
            return cand, notes
        else:
            notes.append(f"{cand}: Python {version[0]}.{version[1]}")
    return None, notes


# -- disk -----------------------------------------------------------------------------------------

def free_gb(path: str) -> float:
    """Free space (GB) on the disk that holds ``path`` (or its nearest existing parent)."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    return shutil.disk_usage(probe).free / 1e9


def folder_size(path: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


# -- network --------------------------------------------------------------------------------------

def pip_settings(python: str) -> dict:
    """pip's configured ``proxy`` and ``cert`` (from ``pip config list`` and PIP_* variables)."""
    out = run_tool([python, "-m", "pip", "config", "list"], timeout=30)
    found = dict(re.findall(r"^[^.\s]*\.(proxy|cert)='(.*)'$", out, re.M))
    for key in ("proxy", "cert"):
        if os.environ.get(f"PIP_{key.upper()}"):
            found[key] = os.environ[f"PIP_{key.upper()}"]
    return found


def index_reachable(url: str, settings: Optional[dict] = None, timeout: float = 15.0) -> Tuple[bool, str]:
    """``(True, "")`` when ``<url>/torch/`` answers; else ``(False, why)``. Honours the proxy variables and
    pip's configured proxy and certificate bundle."""
    settings = settings or {}
    handlers: list = []
    if settings.get("proxy"):
        handlers.append(urllib.request.ProxyHandler({"http": settings["proxy"], "https": settings["proxy"]}))
    cafile = settings.get("cert") if settings.get("cert") and os.path.isfile(settings["cert"]) else None
    handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=cafile)))
    opener = urllib.request.build_opener(*handlers)
    try:
        with opener.open(url.rstrip("/") + "/torch/", timeout=timeout) as resp:
            resp.read(1)
        return True, ""
    except urllib.error.HTTPError as exc:
        return False, f"{url} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{url} cannot be reached ({reason})"
