"""Run a backend install's steps one after another without blocking: each step is a subprocess
whose output a reader thread collects; ``poll()`` advances and reports progress (step, package,
percentage), ``cancel()`` stops the running step. The same runner serves Blender's UI (polled from a
timer), Blender in the background and the command line (``wait()``). Standard library only.
"""
from __future__ import annotations

import collections
import os
import queue
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from .backend_install_plan import PlanStep

TAIL_LINES = 200


@dataclass
class Progress:
    state: str = "idle"  # idle, running, done, failed, cancelled
    step: int = 0  # 1-based index of the running step
    steps: int = 0
    label: str = ""
    package: str = ""  # what pip is working on, e.g. "torch (38%)"
    fraction: float = 0.0  # the whole install, 0..1
    message: str = ""  # the failure, in the artist's words
    warnings: tuple = ()

    def text(self) -> str:
        if self.state != "running":
            return self.message or self.state
        if self.step == 0:
            return self.label
        pkg = f": {self.package}" if self.package else ""
        return f"Step {self.step}/{self.steps} {self.label}{pkg} ({self.fraction * 100:.0f}%)"


_TOP = re.compile(r"\(from -r [^()]*\(line \d+\)\)")
_PROGRESS = re.compile(r"^Progress (\d+) of (\d+)")


def _dist_name(spec: str) -> str:
    spec = spec.strip()
    if "/" in spec or "\\" in spec:  # Processing /path/name-1.0-py3-none-any.whl
        spec = os.path.basename(spec).split("-")[0]
    return re.split(r"[=<>!~\[ ;]", spec, 1)[0]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


class PipWatcher:
    """Turns pip's output into ``(package, fraction of the step)``: resolving the top-level requirements
    fills 0..60%, dependencies 60..70%, installing 70..100% (counted from the ``*.dist-info`` folders that
    appear in ``site_packages``, as pip prints nothing while it installs)."""

    def __init__(self, expected: int, site_packages: str = ""):
        self.expected = max(1, expected)
        self.site = site_packages
        self.names: List[str] = []
        self.top = 0
        self.deps = 0
        self.package = ""
        self.download = ""
        self.installing = False
        self.done = False

    def feed(self, line: str) -> None:
        text = line.strip()
        m = re.match(r"^(Collecting|Processing|Requirement already satisfied:)\s+(\S+)", text)
        if m:
            self.package, self.download = _dist_name(m.group(2)), ""
            if _TOP.search(text) and "->" not in text:
                self.top += 1
            else:
                self.deps += 1
            return
        m = _PROGRESS.match(text)
        if m and int(m.group(2)) > 0:
            self.download = f"{100 * int(m.group(1)) // int(m.group(2))}%"
            return
        if text.startswith("Installing collected packages:"):
            self.names = [n.strip() for n in text.split(":", 1)[1].split(",") if n.strip()]
            self.installing, self.package, self.download = True, f"{len(self.names)} packages", ""
        elif text.startswith("Successfully installed"):
            self.done = True

    def status(self) -> tuple:
        if self.done:
            return "", 1.0
        if self.installing:
            done = self._installed()
            return f"installing {self.package} ({done}/{len(self.names)})", 0.7 + 0.3 * done / max(1, len(self.names))
        resolved = 0.6 * min(1.0, self.top / self.expected) + 0.1 * (1 - 1 / (1 + self.deps / 10))
        package = f"{self.package} ({self.download})" if self.download else self.package
        return package, resolved

    def _installed(self) -> int:
        try:
            present = {_norm(n.split("-")[0]) for n in os.listdir(self.site) if n.endswith(".dist-info")}
        except OSError:
            return 0
        return sum(1 for n in self.names if _norm(n) in present)


def classify_failure(step: PlanStep, tail: str, log_path: str) -> str:
    """A failed step's output in the artist's words, with what to do."""
    low = tail.lower()
    if "no space left on device" in low or "errno 28" in low:
        return ("The disk is full: the backend could not be written. Free some disk space (the backend "
                "needs a few GB) and press Install Backend again - what is already installed is kept.")
    if "certificate_verify_failed" in low or "sslerror" in low:
        return ("The download was refused because of a certificate problem (a studio proxy?). Set pip's "
                "'cert' to your studio's certificate bundle (pip config set global.cert FILE) and try again.")
    net = ("newconnectionerror", "name or service not known", "temporary failure in name resolution",
           "could not fetch url", "max retries exceeded", "proxyerror", "read timed out", "connection refused",
           "network is unreachable", "nodename nor servname")
    if any(n in low for n in net):
        return ("No network: Kino could not download the backend's packages. Check the internet connection "
                "(and pip's proxy settings, if your studio uses one), then press Install Backend again - what "
                "is already downloaded is kept.")
    m = re.search(r"no matching distribution found for (\S+)", low)
    if m:
        return (f"The package {m.group(1)} that Kino needs was not found on your package index. If your "
                "studio uses a mirror, ask for it to be added there; otherwise check the network and try again.")
    if "permission denied" in low or "errno 13" in low:
        return (f"Kino may not write where the backend goes (permission denied). Choose a folder you own, "
                f"or fix the folder's permissions. Full log: {log_path}")
    last = next((ln for ln in reversed(tail.splitlines()) if ln.strip().lower().startswith("error")),
                (tail.strip().splitlines() or ["no output"])[-1])
    return f"{step.label} failed: {last.strip()[:300]}. Full log: {log_path}"


def _popen(step: PlanStep, env: dict, cwd: Optional[str]) -> subprocess.Popen:
    full = dict(env)
    full.update(dict(step.env))
    kwargs = {"start_new_session": True} if os.name != "nt" else {
        "creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
    return subprocess.Popen(list(step.argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=full, cwd=cwd, text=True, encoding="utf-8",
                            errors="replace", bufsize=1, **kwargs)


def clean_env(base: Optional[dict] = None) -> dict:
    """The parent's environment without what would leak its Python into the backend's (Blender's
    PYTHONHOME, the checkout's PYTHONPATH, the user site)."""
    env = dict(os.environ if base is None else base)
    for key in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONEXECUTABLE"):
        env.pop(key, None)
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    return env


class StepRunner:
    """Runs ``steps`` in order. ``poll()`` never blocks; ``wait()`` runs to the end."""

    def __init__(self, steps: Sequence[PlanStep], log_path: str, env: Optional[dict] = None,
                 cwd: Optional[str] = None, on_finish: Optional[Callable[["StepRunner"], Optional[str]]] = None,
                 site_packages: str = ""):
        self.steps = list(steps)
        self.site_packages = site_packages
        self.log_path = log_path
        self.env = clean_env() if env is None else env
        self.cwd = cwd
        self.on_finish = on_finish  # after the last step: a failure message, or None (it may append steps)
        self.progress = Progress(steps=len(self.steps))
        self.outputs: Dict[str, List[str]] = {}  # step key -> its output lines
        self.started = 0.0
        self.finished = 0.0
        self._index = -1
        self._proc: Optional[subprocess.Popen] = None
        self._lines: "queue.Queue" = queue.Queue()
        self._reader: Optional[threading.Thread] = None
        self._watch: Optional[PipWatcher] = None
        self._tail: collections.deque = collections.deque(maxlen=TAIL_LINES)
        self._log = None
        self._cancel = False
        self._step_started = 0.0

    # -- control ------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.progress.state == "running"

    def start(self) -> "StepRunner":
        os.makedirs(os.path.dirname(os.path.abspath(self.log_path)), exist_ok=True)
        self._log = open(self.log_path, "a", encoding="utf-8")
        self._log.write(f"\n=== Kino backend {time.strftime('%Y-%m-%d %H:%M:%S')}: "
                        f"{', '.join(s.key for s in self.steps) or 'nothing to run'} ===\n")
        self.started = time.monotonic()
        self.progress.state = "running"
        self._next()
        return self

    def cancel(self) -> None:
        self._cancel = True
        if self._proc is not None and self._proc.poll() is None:
            _stop(self._proc)

    def wait(self, tick: float = 0.2, on_progress: Optional[Callable[[Progress], None]] = None) -> Progress:
        while self.poll().state == "running":
            if on_progress is not None:
                on_progress(self.progress)
            time.sleep(tick)
        return self.progress

    # -- stepping -----------------------------------------------------------------------------
    def poll(self) -> Progress:
        if self.progress.state != "running" or self._proc is None:
            return self.progress
        self._drain()
        if self._proc.poll() is None or (self._reader is not None and self._reader.is_alive()):
            self._update_fraction()
            return self.progress
        self._drain()
        rc = self._proc.returncode
        step = self.steps[self._index]
        self._write(f"--- {step.key}: exit code {rc} ({time.monotonic() - self._step_started:.0f} s)\n")
        if self._cancel:
            return self._end("cancelled", "Cancelled. Press Install Backend again to finish the install; "
                                          "what is already installed is kept.")
        if rc not in step.accept and not step.optional:
            return self._end("failed", classify_failure(step, "\n".join(self._tail), self.log_path))
        if rc not in step.accept:
            self.progress.warnings += (f"{step.label} did not work (see {self.log_path}); Kino works without it",)
        self._next()
        return self.progress

    def _next(self) -> None:
        self._index += 1
        if self._index >= len(self.steps):
            count = len(self.steps)
            failure = self.on_finish(self) if self.on_finish is not None else None
            if len(self.steps) > count and not failure:  # on_finish added steps (e.g. a repair)
                self.progress.steps = len(self.steps)
            elif failure:
                self._end("failed", failure)
                return
            else:
                self._end("done", "")
                return
        step = self.steps[self._index]
        self.progress.step, self.progress.label, self.progress.package = self._index + 1, step.label, ""
        self._watch = PipWatcher(step.expected, self.site_packages) if step.pip else None
        self._tail.clear()
        self.outputs[step.key] = []
        self._write(f"--- {step.key}: {' '.join(step.argv)}\n")
        self._step_started = time.monotonic()
        try:
            self._proc = _popen(step, self.env, self.cwd)
        except OSError as exc:
            self._end("failed", f"{step.label} could not start: {exc.strerror or exc} ({step.argv[0]})")
            return
        self._reader = threading.Thread(target=_read_lines, args=(self._proc, self._lines), daemon=True)
        self._reader.start()
        self._update_fraction()

    def _drain(self) -> None:
        step_key = self.steps[self._index].key
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            self._write(line if line.endswith("\n") else line + "\n")
            self._tail.append(line.rstrip("\n"))
            self.outputs[step_key].append(line.rstrip("\n"))
            if self._watch is not None:
                self._watch.feed(line)

    def _update_fraction(self) -> None:
        total = sum(s.weight for s in self.steps) or 1.0
        before = sum(s.weight for s in self.steps[:self._index])
        within = 0.0
        if self._watch is not None:
            self.progress.package, within = self._watch.status()
        self.progress.fraction = min(1.0, (before + within * self.steps[self._index].weight) / total)

    def _end(self, state: str, message: str) -> Progress:
        self.progress.state, self.progress.message = state, message
        if state == "done":
            self.progress.fraction, self.progress.package = 1.0, ""
        self.finished = time.monotonic()
        if self._log is not None:
            self._write(f"=== {state}{': ' + message if message else ''} "
                        f"({self.finished - self.started:.0f} s)\n")
            self._log.close()
            self._log = None
        return self.progress

    def _write(self, text: str) -> None:
        if self._log is not None:
            self._log.write(text)
            self._log.flush()


def _read_lines(proc: subprocess.Popen, out: "queue.Queue") -> None:
    for line in proc.stdout:
        out.put(line)
    proc.stdout.close()
    proc.wait()


def _stop(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """Stop a step and whatever it started (its own process group)."""
    try:
        if os.name != "nt":
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.terminate()
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        if os.name != "nt":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
