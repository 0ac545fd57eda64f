"""The local cluster's bookkeeping against a machine that moved on: an address file whose pid now
belongs to someone else, a damaged address file, a port that is not Ray, a time limit's SIGTERM while
the cluster starts, settings that can never start. No Ray cluster is started here."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading

import pytest

from kino_backend.cluster import local, procs
from kino_backend.cluster.connect import ClusterError, check_is_ray


def sleeper(env=None):
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env)


def test_a_stale_address_file_never_stops_a_process_that_is_not_the_clusters(tmp_path):
    """``~/.kino/cluster.json`` left by a crash: its pid reused by another program, which ``cluster stop``
    killed (SIGTERM, then SIGKILL) and ``cluster start`` took for a running cluster."""
    other = sleeper()
    marked = sleeper(dict(os.environ, **{procs.MARKER: "abc123"}))
    try:
        assert not procs.belongs_to(other.pid, "abc123") and procs.belongs_to(marked.pid, "abc123")
        assert not procs.belongs_to(marked.pid, "another-cluster")
        stale = tmp_path / "cluster.json"
        stale.write_text(json.dumps({"address": "127.0.0.1:6379", "pid": other.pid, "cluster_id": "gone-cluster",
                                     "temp_dir": str(tmp_path / "nothing")}))
        assert local.stop_local(str(stale))["was_running"] is False
        assert other.poll() is None, "an unrelated process was signalled"
        assert not stale.exists()
    finally:
        for p in (other, marked):
            p.kill()
            p.wait()


def test_a_damaged_address_file_is_called_damaged_not_missing(tmp_path):
    bad = tmp_path / "cluster.json"
    bad.write_text('{"address": "127.0.0.1:63')
    with pytest.raises(ClusterError, match="cannot be read .* remove it"):
        local.stop_local(str(bad))
    assert local.read_address_file(str(tmp_path / "none.json")) is None


def test_settings_that_can_never_start_are_refused_before_anything_starts(tmp_path):
    with pytest.raises(ClusterError, match="less than one CPU"):
        local.start_local(1, str(tmp_path / "a.json"), cpus_per_worker=0.5)
    (tmp_path / "file").write_text("")
    with pytest.raises(ClusterError, match="cannot make the folder of the address file .* is a file, not a folder"):
        local.start_local(1, str(tmp_path / "file" / "a.json"))
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ClusterError, match="is a folder"):
        local.start_local(1, str(tmp_path / "dir.json"))


def test_sigterm_while_the_cluster_starts_is_handled_like_ctrl_c():
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with local._terminate_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(100):  # the handler runs on the main thread at its next step
                threading.Event().wait(0.01)
    assert signal.getsignal(signal.SIGTERM) is previous


def _serve_once(reply: bytes):
    srv = socket.create_server(("127.0.0.1", 0))

    def run():
        conn, _ = srv.accept()
        with conn:
            conn.recv(64)
            conn.sendall(reply)
        srv.close()
    threading.Thread(target=run, daemon=True).start()
    return f"127.0.0.1:{srv.getsockname()[1]}"


def test_a_port_that_is_not_ray_is_refused_instead_of_waiting_forever():
    """The backend's own port or a web server pasted as the cluster address: ray.init waited without end."""
    with pytest.raises(ClusterError, match="answers, but not as a Ray cluster"):
        check_is_ray(_serve_once(b"HTTP/1.0 400 Bad Request\r\n\r\n"))
    with pytest.raises(ClusterError, match="not as a Ray cluster"):
        check_is_ray(_serve_once(b""))
    # what a gRPC server (Ray's GCS) answers HTTP/2's preface with: a SETTINGS frame on stream 0
    check_is_ray(_serve_once(b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x05\x00\x00\x40\x00"))
