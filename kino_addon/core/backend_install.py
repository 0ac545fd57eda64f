"""Install, check and remove Kino's backend environment: one code path for Blender's Install Backend
button (``kino.install_backend``), Blender in the background and ``scripts/kino backend``.

A job (``InstallJob``, ``CheckJob``, ``RemoveJob``) never blocks when polled: preparing (GPU, Python,
disk and network probes) runs in a thread, the steps run as subprocesses (``backend_install_run``).
``wait()`` runs it to the end (background Blender, command line). Results are written beside the
environment: ``kino-install.json`` (what was installed, the pins' stamp) once the final check passed,
``kino-check.json`` (the last check's report). An interrupted install has no record: running the
install again completes it (pip keeps what is already there).
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional

from . import backend_install_plan as plan
from . import backend_install_probe as probe
from ..protocol.atomic import atomic_write_json
from .backend_install_run import Progress, StepRunner, clean_env
from .folder_checks import nearest_existing

PREPARING = "Preparing: looking for the GPU, Python 3.11, free disk space and the download server"
RECORD = "kino-install.json"
CHECK = "kino-check.json"


class InstallError(RuntimeError):
    """The install cannot start or finish; the message is for the artist and says what to do."""


@dataclass
class InstallRequest:
    env_dir: str
    device: str = "AUTO"
    base_python: str = ""  # a Python 3.11 to build the environment from ("" = find one)
    torch_index: str = ""  # a mirror of the torch index, or "pip" ("" = the official index)
    code_root: str = field(default_factory=plan.default_code_root)
    repair: bool = False  # also force-reinstall what the last check found broken
    dev: bool = False  # with the test tools (developer venv)
    online: bool = True  # Blender's "Allow Online Access"

    @property
    def python(self) -> str:
        return plan.env_python(self.env_dir)

    @property
    def log_path(self) -> str:
        return os.path.join(os.path.dirname(os.path.abspath(self.env_dir)), "backend-install.log")


@dataclass
class Probes:
    """The machine probes, replaceable in tests (fake GPUs, a full disk, no network)."""
    system: Callable = probe.probe_system
    find_python: Callable = probe.find_base_python
    python_version: Callable = probe.python_version
    free_gb: Callable = probe.free_gb
    reachable: Callable = probe.index_reachable
    pip_settings: Callable = probe.pip_settings


@dataclass
class Prepared:
    steps: List[plan.PlanStep]
    device: str
    source: plan.TorchSource
    index_url: Optional[str]
    notes: List[str]
    stamp: str


OFFLINE = ("Blender's 'Allow Online Access' is off (Preferences > System > Network), so Kino installs "
           "nothing. The backend needs about 2 GB of Python packages (torch, diffusers, OpenCV...) downloaded "
           "with pip. Turn online access on and press Install Backend again (or install it from a terminal: see "
           "'Installing the backend' in Kino's README).")


def read_json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def write_json(path: str, data: dict) -> None:
    atomic_write_json(path, data, indent=2)


def _python_note(notes: List[str]) -> str:
    seen = "; ".join(notes) or "none found"
    return ("Kino's backend needs Python 3.11, and none was found (" + seen + "). Install Python 3.11 "
            "(python.org) and choose its python under 'Python for the backend' in Kino's preferences, "
            "then press Install Backend again.")


def _refuse_foreign_folder(env_dir: str) -> None:
    """A folder to (re)create the environment in must be empty or an environment already: never clear
    someone's files."""
    if os.path.isdir(env_dir) and os.listdir(env_dir) and not os.path.isfile(os.path.join(env_dir, "pyvenv.cfg")):
        raise InstallError(f"{env_dir} already holds other files and is not a Python environment: Kino leaves it "
                           "alone. Choose an empty or new folder for the backend.")


def prepare(req: InstallRequest, probes: Optional[Probes] = None) -> Prepared:
    """Decide the steps; ``InstallError`` when it cannot work (offline, no Python 3.11, disk, device)."""
    probes = probes or Probes()
    if not req.online:
        raise InstallError(OFFLINE)
    info = probes.system()
    try:
        device, why = plan.choose_device(req.device, info)
        source = plan.torch_source(device, info, req.torch_index or None)
    except plan.PlanError as exc:
        raise InstallError(str(exc)) from None
    notes = [f"Device: {device} ({why})"] + ([source.note] if source.note else [])
    steps: List[plan.PlanStep] = []
    have = probes.python_version(req.python) if os.path.exists(req.python) else None
    pip_python = req.python
    if have is None or have[:2] != probe.REQUIRED_PYTHON:
        _refuse_foreign_folder(req.env_dir)
        base, tried = probes.find_python(probe.base_python_candidates(req.base_python))
        if base is None:
            raise InstallError(_python_note(tried))
        steps.append(plan.venv_step(base, req.env_dir, clear=os.path.exists(req.env_dir)))
        pip_python = base
        notes.append(f"Python: {base}")
    _check_writable(req.env_dir)
    complete = read_json(os.path.join(req.env_dir, RECORD)) is not None
    need = 1.0 if complete else plan.DISK_NEED_GB[device]
    free = probes.free_gb(req.env_dir)
    if free < need:
        raise InstallError(f"Not enough disk space: the backend needs about {need:.1f} GB free in "
                           f"{os.path.dirname(os.path.abspath(req.env_dir))}, and {free:.1f} GB are free. Free "
                           "some space and press Install Backend again.")
    index = source.index_url
    if index:
        ok, why_not = probes.reachable(index, probes.pip_settings(pip_python))
        if not ok and source.fallback_to_pip:
            notes.append(f"{why_not}: torch comes from pip's own configuration instead")
            index = None
        elif not ok:
            raise InstallError(f"Kino cannot reach the {source.build} build of torch: {why_not}. Check the "
                               "network (and pip's proxy settings), or set 'Torch index' in Kino's preferences "
                               "to your studio's mirror of it.")
    steps += plan.pip_steps(req.python, source, code_root=req.code_root, dev=req.dev, index_url=index)
    if req.repair:
        steps[-1:-1] = _repair_steps(req, index)
    steps.append(plan.check_step(req.python, device, req.code_root, req.env_dir))
    return Prepared(steps, device, source, index, notes, plan.stamp(plan.requirements_dir(req.code_root)))


def broken_pins(report: dict) -> List[str]:
    """``name==version`` of the pinned distributions a check found installed but not importable."""
    pins = report.get("pins") or {}
    missing = [d.replace("-", "_") for d, p in pins.items() if not p.get("have")]
    broken = sorted({r["dist"] for r in (report.get("imports") or {}).values() if not r.get("ok")
                     and not any(m in str(r.get("error", "")).lower().replace("-", "_") for m in missing)})
    return [f"{d}=={pins[d]['want']}" for d in broken if d in pins and pins[d].get("have")]


def repair_step(req: InstallRequest, specs: List[str], index: Optional[str]) -> plan.PlanStep:
    """Force-reinstall (without dependencies) what is installed but broken, e.g. after an interruption."""
    names = [s.split("==")[0] for s in specs]
    args = ["--force-reinstall", "--no-deps", *specs] + (["--index-url", index] if index and "torch" in names else [])
    return plan.PlanStep("repair", f"Reinstalling {', '.join(names)}", plan.pip_install(req.python, *args),
                         plan.WEIGHTS["nodeps"], pip=True, expected=len(specs))


def _repair_steps(req: InstallRequest, index: Optional[str]) -> List[plan.PlanStep]:
    """Repair what the last check found broken (missing ones the pip steps add anyway)."""
    specs = broken_pins(read_json(os.path.join(req.env_dir, CHECK)) or {})
    return [repair_step(req, specs, index)] if specs else []


def _check_writable(env_dir: str) -> None:
    """The folder the backend goes to can be written (before the disk-space check, which read a
    read-only or pseudo file system as "0 GB free"): a probe folder is made and removed in the nearest
    folder that exists."""
    import tempfile
    here = nearest_existing(env_dir)
    if not os.path.isdir(here):
        raise InstallError(f"Cannot install into {env_dir}: {here} is a file, not a folder. Choose another "
                           "folder (Backend folder in the preferences, or --env).")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".kino-write-test-", dir=here))
    except OSError as exc:
        raise InstallError(_unwritable(exc, here)) from None


def _unwritable(exc: OSError, where: str = "") -> str:
    where = where or exc.filename or "the backend's folder"
    return (f"Cannot write to {where} ({exc.strerror or exc}). Choose a folder you can write to (Backend "
            "folder in the preferences, or --env), or fix its permissions, and install again.")


class _Job:
    """Preparing in a thread, then steps; poll()/cancel()/wait() as ``StepRunner``."""

    def __init__(self):
        self.progress = Progress(state="running", label=PREPARING, steps=1)
        self.runner: Optional[StepRunner] = None
        self.report: dict = {}
        self._thread: Optional[threading.Thread] = None
        self._cancel = False
        self._prepare_error = ""

    @property
    def active(self) -> bool:
        return self.poll().state == "running"

    def start(self, threaded: bool = True) -> "_Job":
        if threaded:
            self._thread = threading.Thread(target=self._prepare_safely, daemon=True)
            self._thread.start()
        else:
            self._prepare_safely()
        return self

    def _prepare_safely(self) -> None:
        try:
            self.runner = self._make_runner()
        except InstallError as exc:
            self._prepare_error = str(exc)
        except OSError as exc:  # the target folder cannot be made or written (read-only, a file in the way)
            self._prepare_error = _unwritable(exc)

    def _make_runner(self) -> StepRunner:
        raise NotImplementedError

    def poll(self) -> Progress:
        if self._thread is not None and self._thread.is_alive():
            return self.progress  # still preparing
        if self.runner is None:
            self.progress.state = "failed" if self._prepare_error else "cancelled"
            self.progress.message = self._prepare_error or "Cancelled before anything was installed."
            return self.progress
        if self.runner.progress.state == "idle":
            if self._cancel:
                self.progress.state, self.progress.message = "cancelled", "Cancelled before anything was installed."
                return self.progress
            try:
                self.runner.start()
            except OSError as exc:  # its log cannot be written
                self.runner.progress.state, self.runner.progress.message = "failed", _unwritable(exc)
        self.progress = self.runner.poll()
        return self.progress

    def cancel(self) -> None:
        self._cancel = True
        if self.runner is not None:
            self.runner.cancel()

    def wait(self, tick: float = 0.2, on_progress: Optional[Callable[[Progress], None]] = None) -> Progress:
        while self.poll().state == "running":
            if on_progress is not None:
                on_progress(self.progress)
            time.sleep(tick)
        return self.progress


def _check_output(runner: StepRunner) -> Optional[dict]:
    for line in reversed(runner.outputs.get("check") or []):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


class InstallJob(_Job):
    def __init__(self, req: InstallRequest, probes: Optional[Probes] = None):
        super().__init__()
        self.req = req
        self.probes = probes or Probes()
        self.prepared: Optional[Prepared] = None
        self.repaired = False

    def _make_runner(self) -> StepRunner:
        self.prepared = prepare(self.req, self.probes)
        os.makedirs(os.path.dirname(os.path.abspath(self.req.env_dir)), exist_ok=True)
        return StepRunner(self.prepared.steps, self.req.log_path, env=clean_env(), cwd=self.req.code_root,
                          on_finish=self._finish, site_packages=plan.site_packages(self.req.env_dir))

    def _finish(self, runner: StepRunner) -> Optional[str]:
        report = _check_output(runner)
        if report is None:
            return f"The final check printed no report; see {self.req.log_path}"
        self.report = report
        write_json(os.path.join(self.req.env_dir, CHECK), report)
        specs = broken_pins(report)
        if specs and not self.repaired:  # e.g. an earlier install was killed mid-way: repair once, check again
            self.repaired = True
            check = plan.check_step(self.req.python, self.prepared.device, self.req.code_root, self.req.env_dir)
            runner.steps += [repair_step(self.req, specs, self.prepared.index_url), check]
            return None
        if not report.get("ok"):
            return "The backend was installed but does not work yet: " + " ".join(report.get("problems") or [])
        prep = self.prepared
        write_json(os.path.join(self.req.env_dir, RECORD), {
            "stamp": prep.stamp, "device": prep.device, "torch_build": prep.source.build,
            "torch_index": prep.index_url, "python": self.req.python, "python_version": report.get("python"),
            "torch": report.get("torch", {}).get("version"), "installed": time.strftime("%Y-%m-%d %H:%M:%S"),
            "seconds": round(time.monotonic() - runner.started), "notes": prep.notes})
        return None


class CheckJob(_Job):
    """Run the self-check of an installed environment (a subprocess) and summarise it."""

    def __init__(self, env_dir: str, code_root: Optional[str] = None):
        super().__init__()
        self.env_dir = env_dir
        self.code_root = code_root or plan.default_code_root()
        self.summary: Optional[dict] = None

    def _make_runner(self) -> StepRunner:
        py = plan.env_python(self.env_dir)
        record = read_json(os.path.join(self.env_dir, RECORD)) or {}
        if not os.path.exists(py):
            self.summary = summarize(self.env_dir, None, self.code_root)
            raise InstallError(self.summary["problems"][0])
        step = plan.check_step(py, record.get("device", "CPU"), self.code_root, self.env_dir)
        log = os.path.join(os.path.dirname(os.path.abspath(self.env_dir)), "backend-check.log")
        return StepRunner([step], log, env=clean_env(), cwd=self.code_root, on_finish=self._finish)

    def _finish(self, runner: StepRunner) -> Optional[str]:
        self.report = _check_output(runner) or {}
        if self.report:
            write_json(os.path.join(self.env_dir, CHECK), self.report)
        self.summary = summarize(self.env_dir, self.report or None, self.code_root)
        return None


def summarize(env_dir: str, report: Optional[dict], code_root: Optional[str] = None) -> dict:
    """What an artist reads after Check Backend: ``{"lines": [...], "problems": [...], "action": ...}``
    where ``action`` is the button to press: "" (all well), INSTALL, UPDATE or REPAIR."""
    code_root = code_root or plan.default_code_root()
    py = plan.env_python(env_dir)
    if not os.path.exists(py):
        return {"lines": [], "problems": [f"No backend is installed in {env_dir}: press Install Backend."],
                "action": "INSTALL", "ok": False}
    record = read_json(os.path.join(env_dir, RECORD))
    lines, problems = [], []
    if report is None:
        problems.append("The backend's Python does not run (was Blender or Python moved or updated?): "
                        "press Reinstall Backend.")
        return {"lines": [f"Python: {py}"], "problems": problems, "action": "REPAIR", "ok": False}
    t = report.get("torch") or {}
    lines.append(f"Python {report.get('python')}: {py}")
    lines.append(f"torch {t.get('version', 'missing')} ({t.get('build', '-')} build), device: "
                 f"{t.get('device') or 'not working'}")
    look = report.get("look") or {}
    if look.get("ok"):
        lines.append(f"Test frame (toon look): ok in {look.get('seconds', 0):.2f} s")
    if report.get("disk_bytes") is not None:
        lines.append(f"Disk used: {report['disk_bytes'] / 1e9:.2f} GB")
    problems += list(report.get("problems") or [])
    action = "REPAIR" if problems else ""
    if record is None:
        problems.append("The install did not finish (interrupted?): press Install Backend to complete it.")
        action = "INSTALL"
    else:
        lines.append(f"Installed {record.get('installed', '?')} for {record.get('device')} "
                     f"({record.get('torch_build')})")
        if record.get("stamp") != plan.stamp(plan.requirements_dir(code_root)):
            problems.append("This Kino pins other package versions than the installed backend has: "
                            "press Update Backend.")
            action = action or "UPDATE"
    return {"lines": lines, "problems": problems, "action": action, "ok": not problems}


def quick_summary(env_dir: str, code_root: Optional[str] = None) -> dict:
    """What the preferences show before any check ran: files only, no subprocess (cheap enough to
    compute while drawing). Says whether to Install, Update or nothing."""
    code_root = code_root or plan.default_code_root()
    if not os.path.exists(plan.env_python(env_dir)):
        return {"lines": ["No backend installed yet."], "problems": [], "action": "INSTALL", "ok": False}
    record = read_json(os.path.join(env_dir, RECORD))
    if record is None:
        return {"lines": [], "problems": ["The install did not finish (interrupted?): press Install Backend to "
                                          "complete it."], "action": "INSTALL", "ok": False}
    lines = [f"Installed {record.get('installed', '?')} for {record.get('device')} ({record.get('torch_build')}), "
             f"torch {record.get('torch')}"]
    if record.get("stamp") != plan.stamp(plan.requirements_dir(code_root)):
        return {"lines": lines, "problems": ["This Kino pins other package versions than the installed backend "
                                             "has: press Update Backend."], "action": "UPDATE", "ok": False}
    return {"lines": lines, "problems": [], "action": "", "ok": True}


class RemoveJob(_Job):
    """Delete the environment (only a folder that is a Python environment) to free the disk."""

    def __init__(self, env_dir: str):
        super().__init__()
        self.env_dir = env_dir
        self.freed = 0

    def _make_runner(self) -> StepRunner:
        env = os.path.abspath(self.env_dir)
        if not os.path.exists(env):
            raise InstallError(f"Nothing to remove: {env} does not exist.")
        if not (os.path.isfile(os.path.join(env, "pyvenv.cfg")) or os.path.isfile(os.path.join(env, RECORD))):
            raise InstallError(f"{env} is not a backend environment Kino made; it was left alone.")
        self.freed = probe.folder_size(env)
        shutil.rmtree(env)
        return StepRunner([], os.path.join(os.path.dirname(env), "backend-install.log"))
