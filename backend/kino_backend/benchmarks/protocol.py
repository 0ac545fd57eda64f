"""``bench protocol [--json]``: throughput of Kino's wire against plain ``multiprocessing.connection``.

1920x1080 RGB frames are echoed client -> real backend subprocess -> client through the real
protocol (the hidden ``debug.echo`` request: envelope + buffer each way, full validation), and the
same payload is echoed over a plain ``Listener``/``Client`` pair to a subprocess in the same run
with the same care as Kino's own links (TCP_NODELAY, memoryview sends: ``send_bytes(bytes)`` copies
the rest of the buffer after every partial socket write, which makes a naive echo ~2x slower), so the
ratio measures what the protocol itself costs.
MB/s counts payload bytes of frames echoed per second. The first and second half of the Kino run
are timed separately: equal rates show the per-frame cost does not grow with the run's length.
With the ``none`` look installed, a real job (job.input -> pipeline -> job.frame) is timed too.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Client, Listener
from typing import List, Optional

import numpy as np

from kino_addon.protocol.client import BackendClient
from kino_addon.protocol.envelope import buffer_spec
from kino_addon.protocol.launcher import start_backend
from kino_addon.protocol import messages as msg_types

CODE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _nodelay(conn) -> None:
    """TCP_NODELAY on a plain Connection, as Kino's links have, so the baseline is not slowed by
    Nagle's algorithm: the comparison measures framing, not socket options."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, fileno=os.dup(conn.fileno()))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.close()


def _raw_echo_server(authkey_hex: str) -> None:
    """Child process: a plain multiprocessing.connection echo server (the baseline)."""
    with Listener(("127.0.0.1", 0), authkey=bytes.fromhex(authkey_hex)) as listener:
        print(listener.address[1], flush=True)
        with listener.accept() as conn:
            _nodelay(conn)
            while True:
                try:
                    data = conn.recv_bytes()
                except EOFError:
                    return
                conn.send_bytes(memoryview(data))  # a bytes object would be re-sliced (copied) per partial write


def _time_raw(payload: np.ndarray, frames: int, warmup: int) -> float:
    key = secrets.token_hex(16)
    code = f"from kino_backend.benchmarks.protocol import _raw_echo_server; _raw_echo_server({key!r})"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(CODE_ROOT, "backend"), CODE_ROOT]))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        port = int(proc.stdout.readline())
        flat = payload.reshape(-1)  # send_bytes needs a flat buffer (len() is its size)
        with Client(("127.0.0.1", port), authkey=bytes.fromhex(key)) as conn:
            _nodelay(conn)
            for i in range(warmup + frames):
                if i == warmup:
                    start = time.perf_counter()
                conn.send_bytes(flat)
                echoed = conn.recv_bytes()
                if len(echoed) != payload.nbytes or (i == 0 and echoed != payload.tobytes()):
                    raise RuntimeError("raw echo returned different bytes")
            return time.perf_counter() - start
    finally:
        proc.wait(10)


def _time_kino(client: BackendClient, payload: np.ndarray, frames: int, warmup: int) -> List[float]:
    """Seconds per echoed frame (after warm-up)."""
    spec = buffer_spec("image", payload.nbytes, payload.shape)
    times = []
    for i in range(warmup + frames):
        t0 = time.perf_counter()
        _, buffers = client.request(msg_types.DEBUG_ECHO, {}, [(spec, payload)])
        if len(buffers) != 1 or len(buffers[0][1]) != payload.nbytes:
            raise RuntimeError("debug.echo returned a wrong buffer")
        if i == 0 and buffers[0][1] != payload.tobytes():  # once, during the warm-up
            raise RuntimeError("debug.echo returned different bytes")
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def _time_job(client: BackendClient, payload: np.ndarray, frames: int) -> Optional[List[float]]:
    """Seconds between consecutive job.frame events of a ``none`` job (None if that look is absent)."""
    if "none" not in [look["name"] for look in client.hello.get("looks", [])]:
        return None
    h, w, _ = payload.shape
    job = client.submit_job({"version": 1, "look": "none", "stages": [{"name": "none", "enabled": True, "params": {}}]},
                            frames, w, h, {})
    sender = threading.Thread(target=lambda: [client.send_frame(job, i, payload) for i in range(1, frames + 1)],
                              daemon=True)
    stamps = [time.perf_counter()]
    sender.start()
    while True:
        event = client.next_event(timeout=120)
        if event is None:
            raise RuntimeError("the none job stalled")
        if event.type == msg_types.JOB_FRAME:
            stamps.append(time.perf_counter())
        elif event.type == msg_types.JOB_DONE:
            if event.body["status"] != "completed":
                raise RuntimeError(f"the none job ended {event.body['status']}: {event.body.get('error')}")
            break
    sender.join()
    return [b - a for a, b in zip(stamps, stamps[1:])]


def _mbps(nbytes: int, seconds: List[float]) -> float:
    return round(nbytes * len(seconds) / sum(seconds) / 1e6, 1)


def run(frames: int, width: int, height: int, rounds: int, warmup: int = 3) -> dict:
    payload = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory(prefix="kino-bench-") as run_dir:
        backend = start_backend(sys.executable, run_dir=run_dir, code_root=CODE_ROOT)
        try:
            client = backend.connect("kino-bench/1")
            raw_s, kino = [], []
            for _ in range(rounds):  # interleaved, so both see the same machine load
                raw_s.append(_time_raw(payload, frames, warmup))
                kino.append(_time_kino(client, payload, frames, warmup))
            job = _time_job(client, payload, frames)
            client.shutdown()
        finally:
            backend.stop()
    best = min(kino, key=sum)
    half = len(best) // 2
    raw_mbps = round(payload.nbytes * frames / min(raw_s) / 1e6, 1)
    kino_mbps = _mbps(payload.nbytes, best)
    out = {"kino_MBps": kino_mbps, "raw_MBps": raw_mbps, "ratio": round(kino_mbps / raw_mbps, 3), "frames": frames,
           "width": width, "height": height, "rounds": rounds,
           "kino_first_half_MBps": _mbps(payload.nbytes, best[:half]),
           "kino_second_half_MBps": _mbps(payload.nbytes, best[half:])}
    if job:
        half = len(job) // 2
        out.update(job_MBps=_mbps(payload.nbytes, job), job_first_half_MBps=_mbps(payload.nbytes, job[:half]),
                   job_second_half_MBps=_mbps(payload.nbytes, job[half:]))
    return out


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="kino bench protocol", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per timed run (default 60)")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is kept")
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line of stdout")
    args = parser.parse_args(argv)
    if args.frames < 2 or args.rounds < 1:
        parser.error("--frames must be at least 2 and --rounds at least 1")
    result = run(args.frames, args.width, args.height, args.rounds)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.frames} frames {args.width}x{args.height} RGB, echoed through the backend:")
        for key, value in result.items():
            print(f"  {key:24s} {value}")
    return 0
