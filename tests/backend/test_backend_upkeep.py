"""Issue 12 item 18: the parent watchdog sees a zombie as gone; models.list of a huge folder is bounded
and does not hold up the connection's other requests; the log stays bounded."""
import logging
import subprocess
import sys
import threading
import time

import pytest

from kino_addon.protocol.envelope import Message
from kino_backend.watchdog import pid_alive, watch_parent

from backend_harness import Backend

pytestmark = pytest.mark.timeout(120)


def zombie():
    """A child that has exited and is not reaped yet: ``os.kill(pid, 0)`` still succeeds for it."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with open(f"/proc/{proc.pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                return proc
        time.sleep(0.02)
    raise AssertionError("the child did not exit")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to make a zombie")
def test_a_zombie_parent_counts_as_gone():
    proc = zombie()
    try:
        assert not pid_alive(proc.pid)
        died = threading.Event()
        watch_parent(proc.pid, died.set, interval=0.05)
        assert died.wait(10), "the watchdog kept waiting for a zombie"
    finally:
        proc.wait()
    assert pid_alive(subprocess.os.getpid())


def test_models_list_of_the_root_folder_is_bounded_and_does_not_block_the_connection(client):
    got = []
    done = threading.Event()
    scan = Message(kind="request", type="models.list", body={"models_dir": "/", "hf_cache": False})

    def wait_scan():
        try:
            got.append(client.request("models.list", scan.body, timeout=90)[0])
        finally:
            done.set()

    threading.Thread(target=wait_scan, daemon=True).start()
    time.sleep(0.05)
    status = client.status()  # answered while the scan runs, not after it
    assert "jobs" in status
    assert not done.is_set(), "the scan of / ended before the status request: this test proves nothing"
    assert done.wait(90) and got, "models.list of / did not answer"
    assert "truncated" in got[0] and "Models folder" in got[0]["truncated"]


def test_models_list_of_a_small_folder_is_complete(client, tmp_path):
    body, _ = client.request("models.list", {"models_dir": str(tmp_path), "hf_cache": False})
    assert body["models"] == [] and "truncated" not in body


def test_the_log_cuts_long_lines_and_repeated_ones(tmp_path):
    from kino_backend.serving.logs import file_handler
    path = tmp_path / "b.log"
    logger = logging.getLogger("kino.test.upkeep")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = file_handler(str(path), max_bytes=200_000, backups=1)
    logger.addHandler(handler)
    try:
        logger.warning("bad message: %s", "x" * 2_000_000)
        for i in range(500):
            logger.warning("refused a connection from %s: %s", "127.0.0.1", f"attempt {i}")
        text = path.read_text()
        assert len(text) < 10_000 and "(2000013 characters)" in text
        assert text.count("refused a connection") == 20  # the rest of the minute's repeats are held back
        for i in range(3000):
            logger.info("job %d %s", i, "y" * 200)  # info lines are all kept, within the rotation
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.log", "b.log.1"]
    assert all(p.stat().st_size <= 200_000 for p in tmp_path.iterdir())
    assert "job 2999 " in path.read_text()


def test_repeated_lines_are_rate_limited_with_a_count():
    from kino_backend.serving.logs import BoundedLines
    f = BoundedLines(burst=3, period=0.3)
    records = [logging.LogRecord("kino.x", logging.WARNING, __file__, 1, "refused %s", (i,), None) for i in range(10)]
    assert [f.filter(r) for r in records] == [True] * 3 + [False] * 7
    time.sleep(0.35)
    later = logging.LogRecord("kino.x", logging.WARNING, __file__, 1, "refused %s", (99,), None)
    assert f.filter(later) and "7 more like this" in later.getMessage()


def test_many_refused_handshakes_leave_a_short_log(tmp_path):
    b = Backend(tmp_path, args=["--handshake-timeout", "0.2"])
    try:
        import socket
        for _ in range(120):
            s = socket.create_connection((b.host, b.port))
            s.sendall(b"\0\0\0\x05hello")  # garbage instead of the challenge answer
            s.close()
        with b.connect() as client:
            assert "jobs" in client.status()
        refused = [ln for ln in b.log_path.read_text().splitlines() if "refused a connection" in ln]
        assert 5 <= len(refused) <= 25, len(refused)
    finally:
        b.stop()
