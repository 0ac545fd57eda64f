"""``scripts/kino backend install|check|remove``: the add-on's Install Backend code from a terminal
(farms, tests, studios that script their set-up). Runs with any Python; the environment is built from
a Python 3.11 (``--python``, else this Python, else ``python3.11`` on the PATH).

    scripts/kino backend install [--device AUTO|CUDA|ROCM|MPS|CPU] [--env DIR] [--python PY]
                                 [--torch-index URL|pip] [--repair] [--dry-run] [--json]
    scripts/kino backend check [--env DIR] [--json]
    scripts/kino backend remove [--env DIR]

Exit codes: 0 done, 1 failed (the reason on stderr, in plain words), 2 bad usage, 130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from typing import List, Optional

from . import backend_install_plan as plan
from .backend_install import CheckJob, InstallError, InstallJob, InstallRequest, RemoveJob, prepare


def default_env_dir() -> str:
    """``$KINO_BACKEND_ENV``, else the user's data folder: ``~/.local/share/kino/backend-env`` (Linux),
    ``~/Library/Application Support/kino/backend-env`` (macOS), ``%LOCALAPPDATA%\\kino\\backend-env``."""
    if os.environ.get("KINO_BACKEND_ENV"):
        return os.path.abspath(os.path.expanduser(os.environ["KINO_BACKEND_ENV"]))
    if platform.system() == "Darwin":
        base = os.path.expanduser("~/Library/Application Support")
    elif os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~")
    else:
        base = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(base, "kino", "backend-env")


def _printer(stream):
    last = {"text": ""}

    def show(progress) -> None:
        text = f"[{progress.fraction * 100:3.0f}%] step {progress.step}/{progress.steps} {progress.label}"
        if text != last["text"]:
            print(text + (f" - {progress.package}" if progress.package else ""), file=stream, flush=True)
            last["text"] = text
    return show


def _install(args) -> int:
    req = InstallRequest(env_dir=args.env, device=args.device, base_python=args.python or "",
                         torch_index=args.torch_index or "", repair=args.repair)
    if args.dry_run:
        prepared = prepare(req)
        for note in prepared.notes:
            print(f"# {note}")
        for step in prepared.steps:
            print(plan.shell_line(step))
        return 0
    job = InstallJob(req).start(threaded=False)
    try:
        progress = job.wait(tick=0.5, on_progress=_printer(sys.stderr))
    except KeyboardInterrupt:
        job.cancel()
        job.wait()
        print("kino backend: interrupted; run the same command again to finish the install", file=sys.stderr)
        return 130
    for warning in progress.warnings:
        print(f"kino backend: warning: {warning}", file=sys.stderr)
    if progress.state != "done":
        print(f"kino backend: {progress.message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"python": req.python, "env": req.env_dir, "report": job.report}))
    else:
        print(f"Backend installed. Backend Python: {req.python}")
    return 0


def _check(args) -> int:
    job = CheckJob(args.env).start(threaded=False)
    progress = job.wait(tick=0.5)
    summary = job.summary or {"lines": [], "problems": [progress.message], "action": "INSTALL", "ok": False}
    if args.json:
        print(json.dumps({"env": args.env, "summary": summary, "report": job.report}))
    else:
        for line in summary["lines"]:
            print(line)
        for problem in summary["problems"]:
            print(f"problem: {problem}")
    return 0 if summary["ok"] else 1


def _remove(args) -> int:
    job = RemoveJob(args.env).start(threaded=False)
    progress = job.wait()
    if progress.state != "done":
        print(f"kino backend: {progress.message}", file=sys.stderr)
        return 1
    print(f"Removed {args.env} ({job.freed / 1e9:.2f} GB freed)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/kino backend", description="Install, check or remove Kino's backend.")
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("install", help="create or complete the backend environment")
    i.add_argument("--device", default="AUTO", type=str.upper, choices=plan.DEVICES)
    i.add_argument("--python", help="the Python 3.11 to build the environment from")
    i.add_argument("--torch-index", help="a mirror of the torch index for the device, or 'pip'")
    i.add_argument("--repair", action="store_true", help="also reinstall what the last check found broken")
    i.add_argument("--dry-run", action="store_true", help="print the commands, install nothing")
    i.add_argument("--json", action="store_true")
    c = sub.add_parser("check", help="what is installed and what is wrong")
    c.add_argument("--json", action="store_true")
    sub.add_parser("remove", help="delete the environment")
    for sp in (i, c, sub.choices["remove"]):
        sp.add_argument("--env", default=default_env_dir(), help="the environment folder (default: %(default)s)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    args.env = os.path.abspath(os.path.expanduser(args.env))
    try:
        return {"install": _install, "check": _check, "remove": _remove}[args.cmd](args)
    except InstallError as exc:
        print(f"kino backend: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
