"""``python -m kino_backend cluster start|stop|status`` (``scripts/kino cluster ...``, docs/cluster.md).

- ``start --workers N [--address-file FILE] [--port P] [--object-store-mb M] [--cpus-per-worker C]``:
  a local Ray head (127.0.0.1) with N Kino workers; the address is written to FILE (default
  ``~/.kino/cluster.json``) and printed. Give it to ``scripts/kino stylize ... --cluster ADDRESS`` or
  the add-on's "Cluster address" preference.
- ``stop [--address-file FILE]``: stops that cluster; no process of it is left.
- ``status [--address ADDRESS | --address-file FILE] [--json]``: the Kino workers with their
  device, tasks, frames and throughput (frames per second of work, and over the last 30 s).
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List

from ..cluster import RAY_MISSING, ray_available
from ..stages.base import StageError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/kino cluster", description="A Ray cluster of Kino workers.")
    sub = p.add_subparsers(dest="action", required=True)
    start = sub.add_parser("start", help="start a local head with N Kino workers")
    start.add_argument("--workers", type=int, required=True, help="Kino workers (one CPU or GPU each)")
    start.add_argument("--address-file", default=None, help="where the address is written (~/.kino/cluster.json)")
    start.add_argument("--port", type=int, default=0, help="the head's port (default: a free one)")
    start.add_argument("--object-store-mb", type=int, default=None, help="Ray object store size (default: Ray's)")
    start.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs the head offers per worker")
    stop = sub.add_parser("stop", help="stop a cluster started with 'cluster start'")
    stop.add_argument("--address-file", default=None)
    status = sub.add_parser("status", help="the Kino workers and their throughput")
    status.add_argument("--address", default=None, help="HOST:PORT (default: from the address file)")
    status.add_argument("--address-file", default=None)
    status.add_argument("--json", action="store_true")
    return p


def _address_file(args) -> str:
    from ..cluster.local import DEFAULT_ADDRESS_FILE
    return args.address_file or DEFAULT_ADDRESS_FILE


def start(args) -> int:
    from ..cluster.local import start_local
    info = start_local(args.workers, _address_file(args), port=args.port, object_store_mb=args.object_store_mb,
                       cpus_per_worker=args.cpus_per_worker)
    print(f"kino cluster: {info['workers']} workers at {info['address']} (address in {_address_file(args)}; "
          f"log {info['log']})", file=sys.stderr)
    print(info["address"])
    return 0


def stop(args) -> int:
    from ..cluster.local import stop_local
    result = stop_local(_address_file(args))
    if not result["was_running"]:
        print(f"kino cluster: no process of the cluster at {result['address']} was running (it had stopped, or the "
              f"machine restarted); removed its stale address file {_address_file(args)}", file=sys.stderr)
        return 0
    print(f"kino cluster: stopped {result['address']}" + ("" if result["stopped"] else
          f"; {result['processes_left']} processes could not be stopped"), file=sys.stderr)
    return 0 if result["stopped"] else 1


def status(args) -> int:
    from ..cluster.connect import connect, disconnect, find_workers
    from ..cluster.executors import worker_stats
    from ..cluster.local import read_address_file
    address = args.address or (read_address_file(_address_file(args)) or {}).get("address")
    if not address:
        print(f"kino cluster status: no --address and no address file at {_address_file(args)}", file=sys.stderr)
        return 2
    ray = connect(address)
    try:
        stats = worker_stats(find_workers())
        resources = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU", "memory", "object_store_memory")}
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    finally:
        disconnect()
    report = {"address": address, "nodes": nodes, "resources": resources, "workers": stats}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"cluster {address}: {nodes} node(s), {len(stats)} Kino worker(s)")
    for w in stats:
        print(worker_line(w))
    return 0


def worker_line(w: dict) -> str:
    """One worker of ``cluster status``: where it runs, its throughput, and what slows it down."""
    if "pid" not in w:
        return f"  {w['name']}: {w.get('state')}"
    fps = w["frames_per_s"] if w["frames_per_s"] is not None else 0.0
    recent = w["recent_frames_per_s"] or 0.0
    return (f"  {w['name']} on {w['host']} pid {w['pid']} ({w['device']}): {w['tasks']} tasks, {w['frames']} frames, "
            f"{fps:.2f} frames/s of work, {recent:.2f} frames/s over the last 30 s"
            + (f", working on {w['working_on']}" if w.get("working_on") else ", idle")
            + (f"; runs at niceness {w['nice']} (start the cluster with RAY_worker_niceness=0: docs/cluster.md)"
               if w.get("nice") else "")
            + ("; hands each frame's memory back to the kernel (started without Kino's malloc settings in its "
               "environment: restart Ray on its node, or scripts/kino cluster stop and start for a local cluster)"
               if w.get("malloc_tuned") is False else ""))


def main(argv: List[str]) -> int:
    args = build_parser().parse_args(argv)
    if not ray_available():
        print(f"kino cluster: {RAY_MISSING}", file=sys.stderr)
        return 1
    try:
        return {"start": start, "stop": stop, "status": status}[args.action](args)
    except StageError as exc:
        print(f"kino cluster {args.action}: {exc.message}", file=sys.stderr)
        return 1
