"""The backend as a process: key, connection file, log, shutdown, parent watchdog, launcher."""
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from kino_addon.protocol.launcher import start_backend

from backend_harness import REPO, Backend

pytestmark = pytest.mark.timeout(120)


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return any(line.split()[1] == "Z" for line in fh if line.startswith("State:"))  # zombie: exited
    except FileNotFoundError:
        return True


def wait_gone(pid: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.1)
    return False


def test_connection_file_log_and_shutdown(tmp_path):
    b = Backend(tmp_path)
    try:
        assert stat.S_IMODE(os.stat(b.conn_file).st_mode) == 0o600
        info = json.loads(b.conn_file.read_text())
        assert info == {"host": "127.0.0.1", "port": b.port, "pid": b.proc.pid, "protocol": [1, 0]}
        with b.connect() as client:
            assert client.shutdown() == {"ok": True}
        assert b.proc.wait(30) == 0
        assert "listening on 127.0.0.1" in b.log_path.read_text()
        assert not b.conn_file.exists()  # removed on a clean exit
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left
    finally:
        b.stop()


def test_sigterm_exits_cleanly(tmp_path):
    b = Backend(tmp_path)
    try:
        b.proc.send_signal(signal.SIGTERM)
        assert b.proc.wait(30) == 0
    finally:
        b.stop()


@pytest.mark.parametrize("key, fragment", [(None, "KINO_AUTHKEY is not set"), ("zz-not-hex", "hexadecimal"),
                                           ("abcd", "too short")])
def test_refuses_to_start_without_a_usable_key(tmp_path, key, fragment):
    env = {k: v for k, v in os.environ.items() if k != "KINO_AUTHKEY"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "backend"), str(REPO)])
    if key is not None:
        env["KINO_AUTHKEY"] = key
    proc = subprocess.run([sys.executable, "-m", "kino_backend", "serve", "--connection-file",
                           str(tmp_path / "b.json")], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and fragment in proc.stderr and "secrets.token_hex" in proc.stderr
    assert not (tmp_path / "b.json").exists()


def test_exits_when_the_parent_dies(tmp_path):
    parent_code = textwrap.dedent(f"""
        import sys, time
        sys.path[:0] = [{str(REPO / 'backend')!r}, {str(REPO)!r}]
        from kino_addon.protocol.launcher import start_backend
        b = start_backend(sys.executable, run_dir={str(tmp_path)!r}, code_root={str(REPO)!r})
        print(b.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    try:
        backend_pid = int(parent.stdout.readline())
        assert not gone(backend_pid)
        parent.kill()  # SIGKILL: the parent gets no chance to stop its backend
        parent.wait(10)
        assert wait_gone(backend_pid), "the backend outlived its parent"
        assert "parent process" in (tmp_path / "backend.log").read_text()
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.stdout.close()


def test_launcher_starts_the_real_backend(tmp_path):
    b = start_backend(sys.executable, run_dir=str(tmp_path), code_root=str(REPO))
    try:
        assert b.alive() and b.log_path.endswith("backend.log")
        with b.connect("launcher-test/1") as client:
            assert client.hello["backend"].startswith("kino/")
            assert "jobs" in client.status()
    finally:
        assert b.stop() in (0, -signal.SIGTERM)
    assert not b.alive()


def test_addon_preferences_reach_jobs_through_the_environment(tmp_path):
    import numpy as np
    from backend_harness import invert_workflow, job_events
    b = Backend(tmp_path, extra_env={"KINO_MODELS_DIR": str(tmp_path / "models"), "KINO_DEVICE": "cpu"})
    try:
        with b.connect() as client:
            job = client.submit_job(invert_workflow(), 1, 4, 2, {"seed": 1}, inputs=[np.zeros((2, 4, 3), np.uint8)])
            prov = job_events(client, job)[-1].body["provenance"]
            assert prov["options"] == {"seed": 1, "models_dir": str(tmp_path / "models")} and prov["device"] == "cpu"
            job = client.submit_job(invert_workflow(), 1, 4, 2, {"models_dir": "/mine", "device": "cuda"},
                                    inputs=[np.zeros((2, 4, 3), np.uint8)])
            prov = job_events(client, job)[-1].body["provenance"]
            assert prov["options"]["models_dir"] == "/mine" and prov["device"] == "cuda"  # the job's own wins
    finally:
        b.stop()


def test_a_python_without_the_backend_packages_is_told_what_to_do(tmp_path):
    """Backend Python set to Blender's own Python (no cv2) or a system one (no numpy): the hello failed
    with "this is a bug in Kino", or the process died with a bare ModuleNotFoundError."""
    from kino_addon.protocol.errors import BackendError
    from kino_backend.commands.serve import check_packages
    with pytest.raises(ValueError, match=r"lacks Kino's backend packages \(no no_such_package_kino\).*Install Backend"):
        check_packages(("numpy", "no_such_package_kino"))
    check_packages()  # this environment has them
    bare = "/usr/bin/python3"
    if not os.path.exists(bare) or subprocess.run([bare, "-c", "import numpy"], capture_output=True).returncode == 0:
        pytest.skip("no Python without numpy here to start the backend with")
    with pytest.raises(BackendError, match="lacks Kino's backend packages") as info:
        start_backend(bare, run_dir=str(tmp_path), code_root=str(REPO))
    assert "Install Backend" in info.value.message


def test_a_port_in_use_is_named_with_what_to_do(tmp_path):
    import socket
    env = dict(os.environ, KINO_AUTHKEY="ab" * 32, PYTHONPATH=os.pathsep.join([str(REPO / "backend"), str(REPO)]))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([sys.executable, "-m", "kino_backend", "serve", "--connection-file",
                               str(tmp_path / "b.json"), "--port", str(port)], env=env, capture_output=True,
                              text=True, timeout=60)
    assert proc.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "pick another --port, or 0 for a free one" in proc.stderr and "Traceback" not in proc.stderr
