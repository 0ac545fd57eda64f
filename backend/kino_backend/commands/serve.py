"""``python -m kino_backend serve --connection-file PATH [--host 127.0.0.1] [--port 0]`` (docs/protocol.md).

The key comes from ``KINO_AUTHKEY`` (hex; required). With ``KINO_PARENT_PID`` set, the backend
exits when that process dies. The connection file is written once listening (atomic, mode 0600);
the log goes to the same path with ``.log``, never to the socket.
"""
from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
import threading
from typing import List

from kino_addon.core.malloc_tuning import keep_freed_memory

from ..connection_file import remove_connection_file, write_connection_file
from ..server import Server
from ..serving.logs import file_handler
from ..watchdog import watch_parent

_KEY_HINT = ("export KINO_AUTHKEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))') "
             "and give the same key to the add-on")


def check_packages(names=("numpy", "cv2")) -> None:
    """``ValueError`` with what to do when this Python lacks what every look needs (Blender's own Python,
    a system Python): found before listening, not as a failed hello that reads like a bug."""
    import importlib.util
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        raise ValueError(f"this Python ({sys.executable}) lacks Kino's backend packages (no {', '.join(missing)}): "
                         "use Install Backend in the add-on's preferences (or scripts/kino backend install), or "
                         "set Backend Python to the python of the environment it made")


def read_authkey(environ=os.environ) -> bytes:
    """The key from ``KINO_AUTHKEY``; ``ValueError`` with a fix when missing or malformed."""
    raw = environ.get("KINO_AUTHKEY", "").strip()
    if not raw:
        raise ValueError(f"KINO_AUTHKEY is not set; the backend never runs without a key: {_KEY_HINT}")
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        raise ValueError(f"KINO_AUTHKEY must be hexadecimal: {_KEY_HINT}") from None
    if len(key) < 16:
        raise ValueError(f"KINO_AUTHKEY is too short ({len(key)} bytes, need 16 or more): {_KEY_HINT}")
    return key


def _setup_logging(path: str) -> None:
    """The log file (bounded: see serving.logs); a thread that dies of an uncaught exception is logged."""
    root = logging.getLogger()
    root.addHandler(file_handler(path))
    root.setLevel(logging.INFO)

    def thread_died(args) -> None:
        if args.exc_type is not SystemExit:
            logging.getLogger("kino.crash").critical("thread %s died", getattr(args.thread, "name", "?"),
                                                     exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
    threading.excepthook = thread_died


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="kino serve", description="Run the Kino backend.")
    parser.add_argument("--connection-file", required=True, help="where to write {host, port, pid, protocol}")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1; "
                        "use an SSH tunnel rather than exposing the port)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: the OS picks a free one)")
    parser.add_argument("--handshake-timeout", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--input-stall-timeout", type=float, default=30.0, metavar="S",
                        help="seconds a running job may wait for its next input frame while another job is ready "
                             "(then it is stopped so that job can run; default 30)")
    args = parser.parse_args(argv)
    if not args.input_stall_timeout > 0:
        parser.error("--input-stall-timeout must be a number of seconds above 0, e.g. 30")
    try:
        key = read_authkey()
        check_packages()
    except ValueError as exc:
        print(f"kino serve: {exc}", file=sys.stderr)
        return 2
    keep_freed_memory()  # a frame's arrays reuse the last frame's memory instead of fresh pages from the kernel
    conn_file = os.path.abspath(args.connection_file)
    os.makedirs(os.path.dirname(conn_file), exist_ok=True)
    log_path = os.path.splitext(conn_file)[0] + ".log"
    _setup_logging(log_path)
    try:
        server = Server(key, args.host, args.port, handshake_timeout=args.handshake_timeout,
                        input_stall_timeout=args.input_stall_timeout)
    except OSError as exc:
        print(f"kino serve: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
              + ("another program (or another backend) uses that port: pick another --port, or 0 for a free one"
                 if exc.errno == errno.EADDRINUSE else "check --host and --port"), file=sys.stderr)
        return 1
    parent = os.environ.get("KINO_PARENT_PID", "").strip()
    if parent and not parent.isdigit():
        print(f"kino serve: KINO_PARENT_PID must be a process id, got {parent!r}; unset it to run unattended",
              file=sys.stderr)
        return 2
    if parent:
        watch_parent(int(parent), lambda: server.request_shutdown(f"parent process {parent} exited"))
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):  # Ctrl-C: a clean stop
        if sig is not None:
            signal.signal(sig, lambda num, _frame: server.request_shutdown(f"signal {num}"))
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"kino serve: warning: listening on {args.host}, not only this machine; the key is the only "
              "protection and the traffic is not encrypted: prefer 127.0.0.1 and an SSH tunnel", file=sys.stderr)
    write_connection_file(conn_file, server.host, server.port)
    print(f"kino backend listening on {server.host}:{server.port} (pid {os.getpid()}, log {log_path})",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        remove_connection_file(conn_file)
        logging.getLogger("kino.server").info("stopped: %s", server.stop_reason or "accept loop ended")
    return 0
