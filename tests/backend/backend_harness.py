"""Helpers for the backend tests: a real backend subprocess (with the test-only stages of
kino_test_backend.py), workflows and event collection. A uniquely named module (not conftest), so
it cannot be confused with another folder's conftest when all suites run in one pytest."""
from __future__ import annotations

import json
import os
import pathlib
import secrets
import subprocess
import sys
import time

from kino_addon.protocol.client import BackendClient
from kino_addon.protocol.launcher import backend_env
from kino_addon.protocol.transport import connect

REPO = pathlib.Path(__file__).resolve().parents[2]
HELPER = pathlib.Path(__file__).with_name("kino_test_backend.py")


class Backend:
    def __init__(self, run_dir: pathlib.Path, extra_env=None, args=(), key=None, stderr_to_file=False):
        self.key = key or secrets.token_bytes(32)
        self.conn_file = run_dir / "backend.json"
        self.log_path = run_dir / "backend.log"
        self.stderr_path = run_dir / "backend-stderr.log"
        env = backend_env(str(REPO), self.key, extra_env)
        stderr = open(self.stderr_path, "wb") if stderr_to_file else subprocess.PIPE  # a file never fills up
        self.proc = subprocess.Popen([sys.executable, str(HELPER), "serve", "--connection-file", str(self.conn_file),
                                      *args], env=env, stdin=subprocess.DEVNULL, stderr=stderr)
        if stderr_to_file:
            stderr.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                info = json.loads(self.conn_file.read_text())
                if info["pid"] == self.proc.pid:
                    break
            except (OSError, ValueError):
                pass
            if self.proc.poll() is not None:
                out = self.proc.stderr.read() if self.proc.stderr else self.stderr_path.read_bytes()
                raise RuntimeError(f"test backend exited: {out.decode()}")
            if time.monotonic() > deadline:
                raise RuntimeError("test backend did not start")
            time.sleep(0.05)
        self.info = info
        self.host, self.port = info["host"], info["port"]

    def connect(self, name="kino-test/1", timeout=10.0) -> BackendClient:
        return BackendClient.connect(self.host, self.port, self.key, name, timeout)

    def raw_link(self):
        """An authenticated link without hello, to send hand-made messages."""
        return connect(self.host, self.port, self.key, timeout=10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()


def invert_workflow(**params) -> dict:
    return {"version": 1, "look": "test_invert",
            "stages": [{"name": "test_invert", "enabled": True, "params": params}]}


def job_events(client: BackendClient, job_id: str, timeout: float = 60.0) -> list:
    """Every event of ``job_id`` up to and including its job.done (fails the test on a stall)."""
    events = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = client.next_event(timeout=1.0)
        if event is None or event.body.get("job_id") != job_id:
            continue
        events.append(event)
        if event.type == "job.done":
            return events
    raise AssertionError(f"job {job_id} did not finish; events so far: {[e.type for e in events]}")
