"""TCP transport: listening socket, per-connection HMAC handshake under a timeout, and ``Channel``.

``multiprocessing.connection.Listener.accept()`` runs the HMAC challenge inside ``accept()``, so
one silent client would block every other. Here the server accepts raw sockets and runs the
challenge (``deliver_challenge``/``answer_challenge``, the same bytes ``Listener``/``Client`` use)
in the connection's own thread; a timer shuts the socket down if the peer stays silent.
"""
from __future__ import annotations

import socket
import threading
from multiprocessing.connection import AuthenticationError, Connection, answer_challenge, deliver_challenge

from .envelope import Message
from .framing import recv_message, send_message

__all__ = ["AuthenticationError", "Channel", "listen", "handshake", "connect"]


def listen(host: str = "127.0.0.1", port: int = 0, backlog: int = socket.SOMAXCONN) -> socket.socket:
    """A listening TCP socket (port 0: the OS picks one; read it with ``getsockname()``)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    if hasattr(socket, "SO_REUSEADDR") and not hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    return sock


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class Channel:
    """One authenticated connection: framed send (serialized by a lock) and receive.

    ``close()`` may be called from any thread: it shuts the socket down, which wakes a reader
    blocked in ``recv`` or a sender blocked in ``send``. The descriptors are closed only once no
    thread is inside ``recv``/``send`` any more: a descriptor number closed under a reader could be
    reused by the next connection, and the old reader would steal its bytes.
    """

    def __init__(self, conn: Connection, sock: socket.socket, peer: str = ""):
        self.conn = conn
        self.sock = sock
        self.peer = peer
        self._send_lock = threading.Lock()
        self._state = threading.Lock()
        self._busy = 0  # threads inside recv or send
        self._released = False
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _enter(self) -> None:
        with self._state:
            if self._closed.is_set():
                raise OSError("connection closed")
            self._busy += 1

    def _leave(self) -> None:
        with self._state:
            self._busy -= 1
            release = self._closed.is_set() and self._busy == 0
        if release:
            self._release()

    def send(self, msg: Message) -> None:
        with self._send_lock:
            self._enter()
            try:
                send_message(self.conn, msg)
            finally:
                self._leave()

    def recv(self, admit=None) -> Message:
        """One message; ``admit`` decides from its envelope whether its buffers are read (see framing)."""
        self._enter()
        try:
            return recv_message(self.conn, admit)
        finally:
            self._leave()

    def close(self) -> None:
        with self._state:
            if self._closed.is_set():
                return
            self._closed.set()
            busy = self._busy > 0
        _shutdown(self.sock)
        if not busy:
            self._release()

    def _release(self) -> None:
        with self._state:
            if self._released:
                return
            self._released = True
        for closer in (self.conn.close, self.sock.close):
            try:
                closer()
            except OSError:
                pass


def handshake(sock: socket.socket, authkey: bytes, timeout: float, *, server: bool) -> Channel:
    """Run the mutual HMAC challenge on a connected socket; return a ``Channel``.

    Raises ``AuthenticationError`` (wrong key), ``TimeoutError`` (peer silent for ``timeout``
    seconds), or ``EOFError``/``OSError`` (peer went away). The socket is closed on failure.
    """
    sock.setblocking(True)
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = Connection(sock.dup().detach())
    state = {"done": False, "expired": False}
    lock = threading.Lock()

    def expire():
        with lock:
            if not state["done"]:
                state["expired"] = True
                _shutdown(sock)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        try:
            if server:
                deliver_challenge(conn, authkey)
                answer_challenge(conn, authkey)
            else:
                answer_challenge(conn, authkey)
                deliver_challenge(conn, authkey)
        finally:
            timer.cancel()
            with lock:
                state["done"] = True
        if state["expired"]:
            raise TimeoutError(f"authentication handshake not finished within {timeout:g} s")
    except BaseException as exc:
        conn.close()
        sock.close()
        if state["expired"] and not isinstance(exc, TimeoutError):
            raise TimeoutError(f"authentication handshake not finished within {timeout:g} s") from None
        raise
    peer = "%s:%s" % sock.getpeername()[:2] if sock.family != getattr(socket, "AF_UNIX", None) else "local"
    return Channel(conn, sock, peer)


def connect(host: str, port: int, authkey: bytes, timeout: float = 10.0) -> Channel:
    """Connect and authenticate as a client (same handshake as ``multiprocessing.connection.Client``)."""
    sock = socket.create_connection((host, port), timeout=timeout)
    return handshake(sock, authkey, timeout, server=False)

