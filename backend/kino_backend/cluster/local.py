"""A local cluster for one machine (``kino cluster start|stop|status``): a Ray head with N Kino workers.

``start_local`` starts the supervisor (``supervisor.py``: the parent of every process of the cluster),
waits for the head, makes the workers and writes the address file ``{address, pid, cluster_id,
workers, temp_dir, log}`` (mode 0600). ``stop_local`` stops the supervisor, which stops the cluster;
anything still carrying the cluster's marker is then stopped too, so nothing is left behind. The head
listens on 127.0.0.1 only; for several machines start Ray there yourself (docs/cluster.md).
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Optional

from kino_addon.core.folder_checks import unwritable_reason
from kino_addon.protocol.atomic import atomic_write_json

from . import procs
from .connect import (ClusterError, check_reachable, connect, disconnect, require_ray, start_workers,
                      token_available)

DEFAULT_ADDRESS_FILE = os.path.join(os.path.expanduser("~"), ".kino", "cluster.json")
HEAD_TIMEOUT = 180.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def read_address_file(path: str) -> Optional[dict]:
    """The address file's record; None when there is none. A file that is not the JSON object ``cluster
    start`` writes is a ``ClusterError`` saying so (it was reported as missing)."""
    try:
        with open(path, encoding="utf-8") as fh:
            info = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ClusterError(f"the cluster address file {path} cannot be read ({exc}); remove it (a cluster it "
                           f"described still runs if `ps e` shows processes with {procs.MARKER} in their "
                           "environment)") from None
    if not isinstance(info, dict):
        raise ClusterError(f"the cluster address file {path} is not what scripts/kino cluster start writes; remove it")
    return info


def ensure_token(env: dict) -> None:
    """The local head runs with Ray's token auth: the configured token, else one made at Ray's default
    place (``~/.ray/auth_token``, mode 0600, as ``ray get-auth-token --generate`` does); clients on this
    machine find it there."""
    if env.get("RAY_AUTH_MODE", "token").lower() != "token":
        return  # the user turned auth off explicitly
    env["RAY_AUTH_MODE"] = "token"
    if not token_available(env):
        path = os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))


WORKER_NICENESS_ENV = "RAY_worker_niceness"  # read by the raylet when it starts worker processes


def ray_start_args(port: int, workers: int, temp_dir: str, object_store_mb: Optional[int],
                   cpus_per_worker: float) -> list:
    args = ["--port", str(port), "--node-ip-address", "127.0.0.1", "--num-cpus", str(int(workers * cpus_per_worker)),
            "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", temp_dir]
    if object_store_mb:
        args += ["--object-store-memory", str(int(object_store_mb) * 2**20)]
    return args


def start_local(workers: int, address_file: str = DEFAULT_ADDRESS_FILE, port: int = 0,
                object_store_mb: Optional[int] = None, cpus_per_worker: float = 1.0,
                timeout: float = HEAD_TIMEOUT) -> dict:
    """Start a local head and ``workers`` Kino workers; returns what the address file holds."""
    if workers < 1:
        raise ClusterError("--workers must be at least 1")
    if cpus_per_worker < 1:
        raise ClusterError(f"--cpus-per-worker {cpus_per_worker:g} is less than one CPU; each Kino worker takes at "
                           "least one (give 1 or more)")
    check_address_file_path(address_file)
    ensure_token(os.environ)  # before Ray is imported here: this process joins with the same token
    require_ray()
    old = read_address_file(address_file)
    if old and procs.belongs_to(int(old.get("pid") or 0), str(old.get("cluster_id") or "")):
        raise ClusterError(f"a Kino cluster is already running at {old.get('address')} (address file "
                           f"{address_file}); stop it first: scripts/kino cluster stop --address-file {address_file}")
    port = port or free_port()
    cluster_id = uuid.uuid4().hex
    temp_dir = tempfile.mkdtemp(prefix="kino-ray-", dir="/tmp" if os.path.isdir("/tmp") else None)
    log_path = os.path.join(temp_dir, "kino-cluster.log")
    env = dict(os.environ, **{procs.MARKER: cluster_id})
    # Ray runs its workers at niceness 15, so anything else on the node (the driver, Ray's own daemons,
    # Blender) comes first: +20 % on a 2-core machine in keyframe mode. A Kino worker is the work.
    env.setdefault(WORKER_NICENESS_ENV, "0")
    cmd = [sys.executable, "-m", "kino_backend.cluster.supervisor", "--",
           *ray_start_args(port, workers, temp_dir, object_store_mb, cpus_per_worker)]
    with open(log_path, "ab") as log:
        sup = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)
    address = f"127.0.0.1:{port}"
    info = {"address": address, "pid": sup.pid, "cluster_id": cluster_id, "workers": workers,
            "temp_dir": temp_dir, "log": log_path, "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        with _terminate_as_interrupt():
            _wait_for_head(sup, address, log_path, timeout)
            connect(address)
            start_workers(workers, timeout=timeout)
            atomic_write_json(address_file, info, indent=2, owner_only=True)
    except BaseException:
        _stop_supervisor(info)
        raise
    finally:
        disconnect()
    return info


def check_address_file_path(address_file: str) -> None:
    """The address file's folder can be made before anything is started (it failed after the cluster
    had started, with a bare FileExistsError)."""
    folder = os.path.dirname(os.path.abspath(address_file))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ClusterError(f"cannot make the folder of the address file {address_file} "
                           f"({unwritable_reason(folder, exc)}); give another --address-file") from None
    if os.path.isdir(address_file):
        raise ClusterError(f"--address-file {address_file} is a folder; give a file name (e.g. cluster.json)")


@contextlib.contextmanager
def _terminate_as_interrupt():
    """While the cluster starts, SIGTERM (a farm's or CI's time limit, ``kill``) stops it like Ctrl-C:
    the half-started cluster is stopped instead of left running with no address file to find it by."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait_for_head(sup: subprocess.Popen, address: str, log_path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if sup.poll() is not None:
            raise ClusterError(f"the Ray head did not start (exit {sup.returncode}); see {log_path}:\n"
                               + _tail(log_path))
        try:
            check_reachable(address, timeout=1.0)
            return
        except ClusterError:
            if time.monotonic() > deadline:
                raise ClusterError(f"the Ray head did not answer within {timeout:.0f} s; see {log_path}") from None
            time.sleep(0.5)


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return ""


def _stop_supervisor(info: dict, timeout: float = 60.0) -> int:
    """Stop the supervisor (which stops its cluster), then anything still marked; returns leftovers killed.
    A pid that is not the cluster's (reused since) is never signalled."""
    pid = int(info.get("pid") or 0)
    if procs.belongs_to(pid, str(info.get("cluster_id") or "")):
        procs.stop([pid], timeout)
    left = procs.stop(procs.marked(info.get("cluster_id", "")), 5.0)
    temp_dir = info.get("temp_dir") or ""
    if os.path.basename(temp_dir).startswith("kino-ray-"):
        shutil.rmtree(temp_dir, ignore_errors=True)
    return len(left)


def stop_local(address_file: str = DEFAULT_ADDRESS_FILE) -> dict:
    info = read_address_file(address_file)
    if not info:
        raise ClusterError(f"no Kino cluster address file at {address_file} (nothing to stop)")
    running = procs.belongs_to(int(info.get("pid") or 0), str(info.get("cluster_id") or "")) or \
        bool(procs.marked(str(info.get("cluster_id") or "")))
    killed = _stop_supervisor(info)
    left = procs.marked(info.get("cluster_id", ""))
    try:
        os.remove(address_file)
    except OSError:
        pass
    return {"address": info.get("address"), "stopped": not left, "was_running": running, "processes_left": len(left),
            "killed_hard": killed}
