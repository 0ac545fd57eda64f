"""Start a backend process and wait for its connection file ``{host, port, pid, protocol}``.

Runs ``<python> -m kino_backend serve --connection-file <run_dir>/backend.json`` with a fresh key in
``KINO_AUTHKEY`` (never on the command line) and ``KINO_PARENT_PID`` set to this process, so the
backend exits when its parent (Blender) dies.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from typing import Optional

from . import PROTOCOL_VERSION
from .errors import BACKEND_START, BackendError

CONNECTION_FILE = "backend.json"
STDERR_FILE = "backend-stderr.log"


class BackendProcess:
    """A running backend: where to connect (``host``, ``port``, ``authkey``) and how to stop it."""

    def __init__(self, proc: subprocess.Popen, host: str, port: int, authkey: bytes, connection_file: str):
        self.proc = proc
        self.pid = proc.pid
        self.host = host
        self.port = port
        self.authkey = authkey
        self.connection_file = connection_file
        self.log_path = os.path.splitext(connection_file)[0] + ".log"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def connect(self, client_name: str = "kino/0.1", timeout: float = 10.0):
        from .client import BackendClient
        return BackendClient.connect(self.host, self.port, self.authkey, client_name, timeout)

    def stop(self, timeout: float = 5.0) -> Optional[int]:
        """Terminate the process and its group (then kill them if they linger); returns its exit code."""
        if self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc, signal.SIGKILL)
                self.proc.wait(timeout)
        _signal_group(self.proc, signal.SIGKILL)  # a child left by a wrapper script that did not exec
        return self.proc.returncode


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    """``sig`` to the backend's process group (its own session on POSIX: the Python it runs, even behind
    a wrapper script, and nothing else), else to the process."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, sig)
        elif proc.poll() is None:
            proc.send_signal(sig)
    except (ProcessLookupError, PermissionError):
        pass


def _old_python(python: str) -> str:
    """``"X.Y"`` when ``python`` is older than the backend's code can even be read by (3.10), else "" (its
    traceback, a SyntaxError, said nothing an artist could act on)."""
    try:
        out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL).stdout.strip()
        major, minor = (int(v) for v in out.split("."))
    except (OSError, ValueError, subprocess.SubprocessError):
        return ""
    return out if (major, minor) < (3, 10) else ""


def _tail(path: str, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            return fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _read_connection_file(path: str, pid: int) -> Optional[dict]:
    """The connection file the backend started as ``pid`` wrote: its own pid, or (a Backend Python that
    is a wrapper script running Python as a child) a process of its process group."""
    try:
        with open(path, encoding="utf-8") as fh:
            info = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        return None
    return info if info["pid"] == pid or _group_of(info["pid"]) == pid else None


def _group_of(pid: int) -> Optional[int]:
    try:
        return os.getpgid(pid) if os.name == "posix" else None
    except (ProcessLookupError, PermissionError):
        return None


def backend_env(code_root: str, authkey: Optional[bytes] = None, extra_env: Optional[dict] = None) -> dict:
    """The environment of a backend process: the backend code under ``code_root`` on ``PYTHONPATH``,
    Blender's ``PYTHONHOME`` removed; for a server (``authkey`` given) also ``KINO_AUTHKEY`` and
    ``KINO_PARENT_PID`` (it exits when this process dies)."""
    env = dict(os.environ)
    env.pop("PYTHONHOME", None)  # Blender's own Python home must not leak into the backend's Python
    paths = [os.path.join(code_root, "backend"), code_root]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    if authkey is not None:
        env["KINO_AUTHKEY"] = authkey.hex()
        env["KINO_PARENT_PID"] = str(os.getpid())
    env.update(extra_env or {})
    return env


def start_backend(python: str, *, run_dir: str, code_root: str, extra_env: Optional[dict] = None,
                  timeout: float = 60) -> BackendProcess:
    """Start the backend with ``python`` and return once it listens; raises ``BackendError(BACKEND_START)``."""
    if not os.path.isdir(os.path.join(code_root, "backend", "kino_backend")):
        raise BackendError(BACKEND_START, f"{code_root} does not hold Kino's code (backend/kino_backend); "
                                          "point code_root at the add-on folder")
    os.makedirs(run_dir, exist_ok=True)
    conn_file = os.path.join(run_dir, CONNECTION_FILE)
    if os.path.exists(conn_file):
        os.remove(conn_file)
    authkey = secrets.token_bytes(32)
    stderr_path = os.path.join(run_dir, STDERR_FILE)
    cmd = [python, "-m", "kino_backend", "serve", "--connection-file", conn_file]
    try:
        with open(stderr_path, "wb") as err:
            # its own session: Ctrl-C in the terminal reaches only the add-on, which cancels the job
            # cleanly and then stops the backend (KINO_PARENT_PID still ends it if the add-on dies)
            proc = subprocess.Popen(cmd, env=backend_env(code_root, authkey, extra_env), cwd=code_root,
                                    stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
                                    start_new_session=os.name == "posix")
    except OSError as exc:
        raise BackendError(BACKEND_START, f"cannot run the backend Python {python!r} ({exc}); "
                                          "set the backend Python path in the add-on preferences") from None
    deadline = time.monotonic() + timeout
    while True:
        info = _read_connection_file(conn_file, proc.pid)
        if info is not None:
            break
        if proc.poll() is not None:
            too_old = _old_python(python)
            if too_old:
                raise BackendError(BACKEND_START, f"the backend Python {python} is Python {too_old}; Kino's backend "
                                                  "needs Python 3.11: press Install Backend, or set the backend "
                                                  "Python to the environment it made")
            raise BackendError(BACKEND_START, f"the backend exited with code {proc.returncode} before listening: "
                                              f"{_tail(stderr_path) or 'no output'} (full output: {stderr_path})")
        if time.monotonic() > deadline:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
            raise BackendError(BACKEND_START, f"the backend did not listen within {timeout:g} s; "
                                              f"see {stderr_path}")
        time.sleep(0.01)  # a few file reads: the backend is up in ~0.3 s, and the artist waits on it
    major = (info.get("protocol") or [None])[0]
    if major != PROTOCOL_VERSION[0]:
        _signal_group(proc, signal.SIGKILL)
        raise BackendError(BACKEND_START, f"the backend speaks protocol {info.get('protocol')}, this add-on "
                                          f"{list(PROTOCOL_VERSION)}: update the add-on or the backend")
    return BackendProcess(proc, str(info["host"]), int(info["port"]), authkey, conn_file)
