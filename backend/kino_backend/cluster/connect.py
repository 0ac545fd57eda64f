"""The backend's connection to a Ray cluster (it is the cluster's driver) and the cluster's Kino workers.

Workers are named, detached ``KinoWorker`` actors in the ``kino`` namespace (``kino-worker-0``, ...),
so they stay warm across jobs and backends. ``kino cluster start --workers N`` makes N; on a cluster
started otherwise (``ray start`` on each machine, KubeRay) the first job makes one per GPU, or one
per CPU when the cluster has no GPU. A worker asks for ``num_gpus=1`` on a cluster with GPUs, else
``num_cpus=1``.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Dict, Optional

from kino_addon.core import malloc_tuning
from kino_addon.protocol.errors import INVALID_PARAMS

from ..stages.base import StageError
from . import NAMESPACE, RAY_MISSING, WORKER_PREFIX, ray_available

log = logging.getLogger("kino.cluster")
_lock = threading.Lock()
_address: Optional[str] = None
WORKER_START_TIMEOUT = 180.0


class ClusterError(StageError):
    """The cluster cannot be used; the message says why and what to do."""

    def __init__(self, message: str):
        super().__init__(INVALID_PARAMS, message, stage="cluster")


def require_ray():
    """Ray, imported with token auth switched on when a token is configured (Ray reads ``RAY_AUTH_MODE``
    when it is imported, so this runs first)."""
    if not ray_available():
        raise ClusterError(RAY_MISSING)
    use_token_auth()
    import ray

    return ray


def token_available(environ=os.environ) -> bool:
    """A Ray auth token is configured: ``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``."""
    path = environ.get("RAY_AUTH_TOKEN_PATH") or os.path.join(os.path.expanduser("~"), ".ray", "auth_token")
    return bool(environ.get("RAY_AUTH_TOKEN")) or os.path.isfile(path)


def use_token_auth(environ=os.environ) -> None:
    """Send the token when there is one (``RAY_AUTH_MODE`` unset): a cluster with token auth accepts
    only that; one without ignores it. ``RAY_AUTH_MODE`` set by the user is left alone."""
    if "RAY_AUTH_MODE" not in environ and token_available(environ):
        environ["RAY_AUTH_MODE"] = "token"


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """Fail fast with a clear message when nothing listens at ``host:port``."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ClusterError(f"cluster address {address!r} is not HOST:PORT (scripts/kino cluster start prints it)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ClusterError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
                           "scripts/kino cluster start, or fix the cluster address") from None


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # + empty SETTINGS


def check_is_ray(address: str, timeout: float = 3.0) -> None:
    """Something listens at ``address``: check it is Ray's GCS before ``ray.init``, which waits without
    end on anything else (the backend's own port pasted by mistake, a web server). The GCS is a gRPC
    server: to HTTP/2's connection preface it answers with a SETTINGS frame (type 4, stream 0). With
    Ray's TLS on (``RAY_USE_TLS``) the probe is left to Ray."""
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        return
    host, _, port = address.rpartition(":")
    head = b""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(H2_PREFACE)
            while len(head) < 9:
                chunk = sock.recv(9 - len(head))
                if not chunk:
                    break
                head += chunk
    except OSError:
        pass
    if len(head) < 9 or head[3] != 4 or head[5:9] != b"\0\0\0\0":
        raise ClusterError(f"{address} answers, but not as a Ray cluster (is it the backend's port, or another "
                           "service?); give the address scripts/kino cluster start printed (or the head's "
                           "ray start --port)")


def connect(address: str):
    """Connect this process to the cluster at ``address`` (once; a different address reconnects)."""
    global _address
    ray = require_ray()
    with _lock:
        if ray.is_initialized() and _address == address:
            return ray
        check_reachable(address)
        check_is_ray(address)
        if ray.is_initialized():
            ray.shutdown()
        try:
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING,
                     configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ClusterError(f"could not join the Ray cluster at {address}: {exc}") from None
        _address = address
        log.info("connected to the Ray cluster at %s", address)
        return ray


def disconnect() -> None:
    global _address
    if ray_available():
        import ray

        with _lock:
            if ray.is_initialized():
                ray.shutdown()
            _address = None


def find_workers() -> Dict[str, object]:
    """The cluster's Kino workers by name (sorted)."""
    import ray

    names = sorted(n for n in ray.util.list_named_actors(all_namespaces=False) if n.startswith(WORKER_PREFIX))
    return {n: ray.get_actor(n, namespace=NAMESPACE) for n in names}


def default_worker_count() -> int:
    import ray

    res = ray.cluster_resources()
    return int(res.get("GPU", 0)) or max(1, int(res.get("CPU", 1)))


def start_workers(count: int, timeout: float = WORKER_START_TIMEOUT) -> Dict[str, object]:
    """Make Kino workers until the cluster has ``count`` (one GPU each when it has GPUs) and wait until
    each answers. Returns every worker."""
    import ray

    from .actor import KinoWorker

    gpus = ray.cluster_resources().get("GPU", 0) > 0
    existing = find_workers()
    made = {}
    i = 0
    while len(existing) + len(made) < count:
        name = f"{WORKER_PREFIX}{i}"
        i += 1
        if name in existing:
            continue
        opts = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        made[name] = KinoWorker.options(name=name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
                                        runtime_env={"env_vars": dict(malloc_tuning.ENV)}, **opts).remote(name)
    deadline = time.monotonic() + timeout
    for name, handle in made.items():
        left = max(1.0, deadline - time.monotonic())
        try:
            ray.get(handle.ping.remote(), timeout=left)
        except (ray.exceptions.RayError, TimeoutError) as exc:
            raise ClusterError(f"Kino worker {name} did not start in {timeout:.0f} s ({type(exc).__name__}); "
                               "the cluster may lack free CPUs/GPUs for it (scripts/kino cluster status)") from None
    return {**existing, **made}


def workers(address: str) -> Dict[str, object]:
    """Connect and return the cluster's Kino workers, making them when it has none."""
    connect(address)
    found = find_workers()
    return found or start_workers(default_worker_count())


def executor(address: str):
    from .executors import RayExecutor

    return RayExecutor(workers(address))

