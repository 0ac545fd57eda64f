"""The backend connection the add-on uses: start (subprocess) or attach, hello, stop, restart; and
``run_backend_tool`` for the one backend command the command line runs locally (``scripts/kino
stabilize`` warps its frames with ``warp_frames``). Everything the panel needs, the face finder
included (``face.find``), goes over the connection, so Attach mode needs no local backend.

One ``Backend`` object per Blender session (``BACKEND``). Nothing here runs in ``poll()``/``draw()``:
operators call ``ensure_backend``; the panel only reads ``status_line()``.
"""
from __future__ import annotations

import atexit
import subprocess
from typing import Optional

from ..protocol import PROTOCOL_VERSION, messages
from ..protocol import catalogue as looks_catalogue
from ..protocol.client import BackendClient
from ..protocol.errors import BackendError
from ..protocol.launcher import backend_env, start_backend
from . import addon
from .prefs import PreferenceError, backend_python

CLIENT_NAME = "kino-blender/0.1"


class BackendUnavailable(RuntimeError):
    """The backend cannot be used; the message says how to fix it."""


class Backend:
    """The add-on's one backend: the process it started (``process``, None when attached), the
    connected client, the backend's hello (looks, stages, caps), how it was reached (``mode``,
    ``where``) and a one-time ``notice`` after a restart."""

    def __init__(self):
        self.process = None  # launcher.BackendProcess when we started it
        self.client: Optional[BackendClient] = None
        self.hello: dict = {}
        self.mode = ""
        self.where = ""
        self.notice = ""  # e.g. "the backend had stopped and was restarted"
        self._offline: dict = {}  # catalogue() before any hello

    # -- state ---------------------------------------------------------------------------------
    def connected(self) -> bool:
        if self.client is None or not self.client.connected:
            return False
        return self.process is None or self.process.alive()

    def status_line(self) -> str:
        if self.connected() and self.client.unanswered:
            return f"not answering ({self.where}; no answer to {self.client.unanswered}): press Stop Backend"
        if self.connected():
            return f"running ({self.hello.get('backend', '?')}, {self.where})"
        if self.client is not None or self.process is not None:
            return "stopped unexpectedly"
        return "not running"

    def catalogue(self) -> dict:
        """Looks and stages for the menus: the running backend's hello, else the last hello cached,
        else the copy that ships with the add-on, so the look menu works before the backend starts."""
        if self.hello.get("looks"):
            return self.hello
        if not self._offline:
            self._offline = looks_catalogue.offline(addon.user_dir("cache"))
        return self._offline

    # -- lifecycle -----------------------------------------------------------------------------
    def ensure(self, prefs=None) -> BackendClient:
        """A connected client; starts or re-attaches as the preferences say. Raises BackendUnavailable."""
        if self.connected() and self.client.unanswered:
            if self.process is None:  # attached: not ours to restart
                raise BackendUnavailable(f"the backend at {self.where} is not answering (no answer to "
                                         f"{self.client.unanswered}); restart it there, or press Stop Backend and "
                                         "attach again")
            self.stop()  # ours: stopped (SIGKILL if it must) and started again below
            self.notice = "the backend was not answering and was started again"
        if self.connected():
            return self.client
        died = self.client is not None or self.process is not None
        code = self.process.proc.poll() if self.process is not None else None
        self.stop()
        self._start(prefs if prefs is not None else addon.preferences())
        if died:
            self.notice = (f"the backend had stopped (exit code {code}) and was started again"
                           if code is not None else "the backend connection was lost and was opened again")
        return self.client

    def _start(self, prefs) -> None:
        mode = getattr(prefs, "backend_mode", "LOCAL") if prefs is not None else "LOCAL"
        self.mode = mode
        try:
            if mode == "ATTACH":
                self._attach(prefs)
            else:
                self._launch(prefs)
        except BackendError as exc:
            self.stop()
            raise BackendUnavailable(exc.message) from None
        got = self.hello.get("protocol") or [None]
        if got[0] != PROTOCOL_VERSION[0]:
            self.stop()
            raise BackendUnavailable(f"the backend speaks protocol {got}, this add-on {list(PROTOCOL_VERSION)}: "
                                     "update the add-on or the backend")
        looks_catalogue.save_cache(addon.user_dir("cache"), self.hello)
        self._offline = {}

    def _launch(self, prefs) -> None:
        try:
            python = backend_python(prefs)
        except PreferenceError as exc:
            raise BackendUnavailable(str(exc)) from None
        self.process = start_backend(python, run_dir=addon.user_dir("backend"), code_root=addon.code_root())
        self.client = self.process.connect(CLIENT_NAME)
        self.hello = self.client.hello
        self.where = f"pid {self.process.pid}"

    def _attach(self, prefs) -> None:
        if not prefs.key.strip():
            raise BackendUnavailable("no attach key is set: copy the backend's KINO_AUTHKEY (hex) into "
                                     "Preferences > Add-ons > Kino > Key")
        if not 0 < int(prefs.port) < 65536:
            raise BackendUnavailable(f"the attach port is {prefs.port}: set the port the backend listens on "
                                     "(scripts/kino serve --port, e.g. 7878) in Preferences > Add-ons > Kino")
        try:
            key = bytes.fromhex(prefs.key.strip())
        except ValueError:
            raise BackendUnavailable("the attach key must be the backend's KINO_AUTHKEY in hex "
                                     "(Preferences > Add-ons > Kino)") from None
        self.client = BackendClient.connect(prefs.host, int(prefs.port), key, CLIENT_NAME)
        self.hello = self.client.hello
        self.where = f"attached to {prefs.host}:{prefs.port}"

    def stop(self) -> None:
        """Close the connection and stop the process we started (an attached backend keeps running)."""
        client, process = self.client, self.process
        self.client, self.process = None, None
        if client is not None:
            if process is not None and client.connected:
                try:
                    client.request(messages.SESSION_SHUTDOWN, {}, timeout=2.0)
                except BackendError:
                    pass
            client.close()
        if process is not None:
            process.stop()


BACKEND = Backend()
atexit.register(BACKEND.stop)


def ensure_backend(op, queue) -> Optional[BackendClient]:
    """For operators: a connected client, or None after reporting why (to the operator and as the
    ``queue``'s last error, which the panel shows). A restart notice becomes a warning."""
    try:
        client = BACKEND.ensure()
    except BackendUnavailable as exc:
        queue.last_error = f"Kino backend: {exc}"
        op.report({'ERROR'}, queue.last_error)
        return None
    if BACKEND.notice:
        op.report({'WARNING'}, f"Kino: {BACKEND.notice}")
        BACKEND.notice = ""
    return client


def run_backend_tool(module: str, args: list, timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    """Run ``python -m <module> ARGS`` with the local backend's Python and the add-on's copy of the
    backend code (for a command-line step that needs OpenCV, which Blender's Python lacks; today only
    ``scripts/kino stabilize``'s ``warp_frames``). Not for the panel: an attached backend may have no
    local Python. Raises ``PreferenceError`` when there is no backend Python."""
    env = backend_env(addon.code_root())
    return subprocess.run([backend_python(), "-m", module, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
