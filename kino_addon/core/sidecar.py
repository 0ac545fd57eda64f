"""``kino.json``: everything needed to know where frames came from and to make them again."""
from __future__ import annotations

import datetime
import json
import os
import socket

from ..protocol.atomic import atomic_write_json
from .frame_files import PARTIAL_DIR
from .job_workflow import has_stage
from .kino_command import command_line

SIDECAR = "kino.json"
SIDECAR_VERSION = 1


def _param_text(value) -> str:
    """A parameter value as ``--param`` reads it back: JSON, except text that is not JSON as it is (text
    that reads as JSON, like a prompt "1984" or "true", is quoted so that it stays text)."""
    if not isinstance(value, str):
        return json.dumps(value)
    try:
        json.loads(value)
    except ValueError:
        return value
    return json.dumps(value)


def reproduce_command(input_path: str, workflow: dict, frames: tuple | None, out_dir: str,
                      track_region: str = "") -> str:
    """A ``scripts/kino stylize`` line that recreates this output: every parameter of the workflow as
    ``--param`` (added stages such as ``key`` included), ``--temporal``, ``--frames``, ``--stabilize``
    (when the workflow runs the stabilize stage) with its ``--track-region``."""
    look = workflow["look"]
    parts = ["stylize", input_path, "--look", look]
    for st in workflow["stages"]:
        if st["name"] == "temporal":
            parts += ["--temporal", "on" if st["enabled"] else "off"]
    look_first = next((st for st in workflow["stages"] if st["name"] == look), None)
    for st in workflow["stages"]:
        for key, value in sorted(st["params"].items()):
            name = key if st is look_first else f"{st['name']}.{key}"
            values = value if isinstance(value, list) else [value]
            for v in values:
                parts += ["--param", f"{name}={_param_text(v)}"]
    if frames:
        parts += ["--frames", f"{frames[0]}:{frames[1]}"]
    if has_stage(workflow, "stabilize"):
        parts.append("--stabilize")
        if track_region:
            parts += ["--track-region", track_region]
    parts += ["--out", out_dir]
    return command_line(parts)


def build_sidecar(*, status: str, source: dict, workflow: dict, options: dict, frames: dict,
                  provenance: dict | None, versions: dict, command: str, reused: int,
                  error: str | None = None, settings_hash: str = "", frames_independent: bool | None = None,
                  timings: dict | None = None) -> dict:
    """``frames_independent``: the backend said each frame is computed on its own (no temporal state), so
    a re-run may fill missing frames alone; otherwise it continues from a checkpoint or the start."""
    return {
        "process": {"pid": os.getpid(), "host": socket.gethostname()},  # who writes it (a stale "running")
        "frames_independent": frames_independent,
        "kino_sidecar": SIDECAR_VERSION,
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "status": status,
        "error": error,
        "source": source,
        "workflow": workflow,
        "options": options,
        "frames": frames,
        "frames_reused": reused,
        "provenance": provenance or {},
        "versions": versions,
        "command": command,
        "settings_hash": settings_hash,
        "timings": timings or {},
    }


def write_sidecar(folder: str, data: dict) -> str:
    path = os.path.join(folder, SIDECAR)
    atomic_write_json(path, data, indent=2, sort_keys=True, temp_dir=os.path.join(folder, PARTIAL_DIR))
    return path


def read_sidecar(folder: str) -> dict | None:
    try:
        with open(os.path.join(folder, SIDECAR), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def effective_status(data: dict | None) -> str | None:
    """The status a ``kino.json`` really stands for: "running" whose process is gone (killed) is
    "interrupted"."""
    if not isinstance(data, dict):
        return None
    status = data.get("status")
    proc = data.get("process") if isinstance(data.get("process"), dict) else {}
    if status == "running" and proc.get("host") == socket.gethostname() and isinstance(proc.get("pid"), int):
        from .tempdirs import pid_alive
        if proc["pid"] != os.getpid() and not pid_alive(proc["pid"]):
            return "interrupted"
    return status
