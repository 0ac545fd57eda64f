"""The backend server: accept loop, per-connection handshake threads, one job worker.

Connections are accepted as raw sockets (the listen backlog is the system's maximum, so a burst of
connects is queued, not dropped); each one's HMAC handshake runs in its own thread under a timeout
(a client that connects and stays silent blocks no one), then that thread becomes the connection's
reader (``Session.run``). At most ``MAX_HANDSHAKES`` handshakes run at once (more connects wait in
the backlog until one ends, at the latest after the handshake timeout) and at most
``MAX_CONNECTIONS`` connections are open; beyond that a new connection is closed at once (the log
says so, rate-limited). Jobs from every connection run one at a time on the worker thread
(see serving.fairness for the order).
"""
from __future__ import annotations

import logging
import socket
import threading
from typing import List, Optional

from kino_addon.protocol.transport import AuthenticationError, handshake, listen

from .jobs import Worker
from .resources import Resources
from .session import Session

log = logging.getLogger("kino.server")
MAX_HANDSHAKES = 128
MAX_CONNECTIONS = 256


class Server:
    """The listening backend: accepts connections (handshake in each connection's thread), keeps the
    sessions, the one job ``Worker`` and the ``Resources``, and shuts everything down on request."""

    def __init__(self, authkey: bytes, host: str = "127.0.0.1", port: int = 0,
                 resources: Optional[Resources] = None, handshake_timeout: float = 10.0,
                 input_stall_timeout: float = 30.0):
        if not authkey:
            raise ValueError("the server needs a non-empty key")
        self.authkey = authkey
        self.handshake_timeout = handshake_timeout
        self.resources = resources or Resources()
        self.sock = listen(host, port)
        self.host, self.port = self.sock.getsockname()[:2]
        self.worker = Worker(self.resources, stall_timeout=input_stall_timeout)
        self._handshakes = threading.BoundedSemaphore(MAX_HANDSHAKES)
        self._sessions: set = set()
        self._lock = threading.Lock()
        self._catalogue_lock = threading.Lock()  # not _lock: the first load takes seconds, accepting must go on
        self._stop = threading.Event()
        self.stop_reason = ""

    # -- catalogue (cached: stage modules and preset files do not change while running) --------
    def catalogue(self) -> dict:
        with self._catalogue_lock:
            if not hasattr(self, "_catalogue"):
                from .presets import catalogue
                self._catalogue = catalogue()
            return self._catalogue

    def look_names(self) -> List[str]:
        return [look["name"] for look in self.catalogue()["looks"]]

    # -- connections ---------------------------------------------------------------------------
    def serve_forever(self, poll: float = 0.2) -> None:
        """Accept connections until ``request_shutdown``; then cancel jobs and close everything."""
        log.info("listening on %s:%d", self.host, self.port)
        self.sock.settimeout(poll)
        try:
            while not self._stop.is_set():
                try:
                    conn, addr = self.sock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    if self._stop.is_set():
                        break
                    raise
                self._start_connection(conn, addr)
        finally:
            self._close_all()

    def _start_connection(self, conn: socket.socket, addr) -> None:
        """Start the connection's thread once a handshake slot is free (meanwhile further connects
        wait in the listen backlog); refuse it when ``MAX_CONNECTIONS`` are open."""
        while not self._handshakes.acquire(timeout=0.5):
            if self._stop.is_set():
                conn.close()
                return
        if self.connection_count() >= MAX_CONNECTIONS:
            self._handshakes.release()
            log.warning("closed a connection from %s: %d connections are open already", addr[0], MAX_CONNECTIONS)
            conn.close()
            return
        try:
            threading.Thread(target=self._handle, args=(conn, addr), name=f"kino-conn-{addr[1]}", daemon=True).start()
        except RuntimeError:  # cannot start a thread (resource limits): refuse this one connection
            self._handshakes.release()
            conn.close()
            log.warning("closed a connection from %s: no thread could be started for it", addr[0])

    def _handle(self, conn: socket.socket, addr) -> None:
        try:
            link = handshake(conn, self.authkey, self.handshake_timeout, server=True)
        except (AuthenticationError, TimeoutError, EOFError, OSError) as exc:
            log.warning("refused a connection from %s: %s", addr[0], exc or type(exc).__name__)
            return
        finally:
            self._handshakes.release()
        session = Session(self, link)
        with self._lock:
            if self._stop.is_set():
                link.close()
                return
            self._sessions.add(session)
        log.info("connection from %s", link.peer)
        session.run()

    def forget(self, session: Session) -> None:
        with self._lock:
            self._sessions.discard(session)

    def connection_count(self) -> int:
        with self._lock:
            return len(self._sessions)

    def request_shutdown(self, reason: str) -> None:
        """Stop accepting; ``serve_forever`` then cancels the jobs and returns. Any thread may call this."""
        if not self._stop.is_set():
            self.stop_reason = reason
            log.info("shutting down: %s", reason)
            self._stop.set()
            try:  # wakes ``accept`` at once on Linux (else the poll in ``serve_forever`` sees the flag)
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _close_all(self) -> None:
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        self.worker.stop()
        self.worker.join(10)  # lets the running job send its job.done (cancelled)
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.link.close()
