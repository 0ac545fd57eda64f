"""BackendClient against a small scripted server built from the same transport."""
import pathlib
import socket
import sys
import threading
import time

import pytest

from kino_addon.protocol.client import BackendClient
from kino_addon.protocol.envelope import Message
from kino_addon.protocol.errors import AUTH_FAILED, BACKEND_START, DISCONNECTED, TIMEOUT, BackendError
from kino_addon.protocol.launcher import start_backend
from kino_addon.protocol.transport import handshake, listen

pytestmark = pytest.mark.timeout(60)
KEY = b"k" * 32
REPO = str(pathlib.Path(__file__).resolve().parents[2])


class FakeBackend:
    """Answers hello; then runs ``script(link, msg)`` for every request."""

    def __init__(self, script, key=KEY):
        self.sock = listen()
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.key = key
        self.links = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        try:
            link = handshake(conn, self.key, 5, server=True)
        except Exception:
            return
        self.links.append(link)
        try:
            while True:
                msg = link.recv()
                if msg.type == "session.hello":
                    link.send(Message(kind="response", type=msg.type, re=msg.id, body={"protocol": [1, 0], "looks": []}))
                else:
                    self.script(link, msg)
        except (EOFError, OSError):
            link.close()

    def close(self):
        self.sock.close()
        for link in self.links:
            link.close()


def test_events_are_queued_and_responses_routed():
    def script(link, msg):
        for i in range(3):
            link.send(Message(kind="event", type="job.progress", re=msg.id, body={"frame": i}))
        link.send(Message(kind="response", type=msg.type, re=msg.id, body={"job_id": "job-9", "queue_position": 0}))

    fake = FakeBackend(script)
    with BackendClient.connect("127.0.0.1", fake.port, KEY) as client:
        assert client.hello["protocol"] == [1, 0]
        assert client.submit_job({"version": 1}, 1, 4, 2, {}) == "job-9"
        assert [client.next_event(5).body["frame"] for _ in range(3)] == [0, 1, 2]
        assert client.next_event(0.05) is None
    fake.close()


def test_error_response_raises_backend_error_with_details():
    def script(link, msg):
        link.send(Message(kind="response", type=msg.type, re=msg.id, error={
            "code": "INVALID_PARAMS", "message": "bad", "frame": None, "stage": "toon",
            "details": {"fields": {"toon.lines": "too big"}}}))

    fake = FakeBackend(script)
    with BackendClient.connect("127.0.0.1", fake.port, KEY) as client:
        with pytest.raises(BackendError) as info:
            client.request("job.submit", {})
        assert info.value.code == "INVALID_PARAMS" and info.value.stage == "toon"
        assert info.value.details["fields"] == {"toon.lines": "too big"}
    fake.close()


def test_wrong_key_is_refused():
    fake = FakeBackend(lambda link, msg: None)
    with pytest.raises(BackendError) as info:
        BackendClient.connect("127.0.0.1", fake.port, b"wrong" * 8)
    assert info.value.code == AUTH_FAILED and "KINO_AUTHKEY" in info.value.message
    fake.close()


def test_disconnect_raises_from_every_call_after_queued_events():
    def script(link, msg):
        link.send(Message(kind="event", type="job.done", re=msg.id, body={"job_id": "j"}))
        link.close()

    fake = FakeBackend(script)
    client = BackendClient.connect("127.0.0.1", fake.port, KEY)
    with pytest.raises(BackendError) as info:
        client.request("backend.status", {})
    assert info.value.code == DISCONNECTED
    assert client.next_event(5).type == "job.done"  # what arrived before the drop is still delivered
    for call in (lambda: client.next_event(1), client.status, lambda: client.cancel("j")):
        with pytest.raises(BackendError) as info:
            call()
        assert info.value.code == DISCONNECTED
    fake.close()


def test_request_timeout():
    fake = FakeBackend(lambda link, msg: None)  # never answers
    with BackendClient.connect("127.0.0.1", fake.port, KEY) as client:
        with pytest.raises(BackendError) as info:
            client.request("backend.status", {}, timeout=0.2)
        assert info.value.code == TIMEOUT
    fake.close()


def test_silent_server_times_out_the_handshake():
    sock = listen()
    port = sock.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(BackendError) as info:
        BackendClient.connect("127.0.0.1", port, KEY, timeout=0.5)
    assert info.value.code == DISCONNECTED and time.monotonic() - t0 < 30
    sock.close()


def test_connect_to_closed_port_says_what_to_check():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(BackendError) as info:
        BackendClient.connect("127.0.0.1", port, KEY, timeout=2)
    assert info.value.code == DISCONNECTED and "is it running" in info.value.message


def test_launcher_reports_a_backend_that_dies_at_start(tmp_path):
    package = tmp_path / "code" / "backend" / "kino_backend"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text("raise SystemExit('boom: torch is broken')\n")
    with pytest.raises(BackendError) as info:
        start_backend(sys.executable, run_dir=str(tmp_path / "run"), code_root=str(tmp_path / "code"), timeout=30)
    assert info.value.code == BACKEND_START and "boom: torch is broken" in info.value.message


def test_launcher_checks_the_code_root(tmp_path):
    with pytest.raises(BackendError) as info:
        start_backend(sys.executable, run_dir=str(tmp_path), code_root=str(tmp_path / "nowhere"))
    assert info.value.code == BACKEND_START and "nowhere" in info.value.message


def test_launcher_reports_a_missing_python(tmp_path):
    with pytest.raises(BackendError) as info:
        start_backend(str(tmp_path / "no-python"), run_dir=str(tmp_path), code_root=REPO)
    assert info.value.code == BACKEND_START and "preferences" in info.value.message
