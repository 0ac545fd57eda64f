"""A Backend Python that is a wrapper script running Python as its child (no ``exec``): the backend
listened, but the launcher waited 60 s for a connection file with the wrapper's own pid, said "did not
listen", and left the real backend running with no parent. Now a process of the wrapper's group is
accepted, and stopping it stops the whole group."""
import os
import pathlib
import stat
import subprocess
import sys
import time

import pytest

from kino_addon.protocol.launcher import start_backend

REPO = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.name != "posix", reason="process groups are POSIX")


def test_a_wrapper_script_without_exec_starts_and_stops_its_backend(tmp_path):
    wrapper = tmp_path / "python-wrapper.sh"
    wrapper.write_text(f'#!/bin/sh\n"{sys.executable}" "$@"\n')  # the child, not exec
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    t0 = time.monotonic()
    backend = start_backend(str(wrapper), run_dir=str(tmp_path / "run"), code_root=str(REPO), timeout=60)
    try:
        assert time.monotonic() - t0 < 30  # it used to wait the whole timeout
        client = backend.connect("wrapper-test")
        assert client.hello["protocol"]
        client.close()
        group = backend.proc.pid
    finally:
        backend.stop()
    deadline = time.monotonic() + 10
    while True:
        ps = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(group)], capture_output=True, text=True).stdout
        left = [line.split() for line in ps.splitlines() if line.split() and not line.split()[1].startswith("Z")]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left == [], f"processes of the backend's group left running: {left}"


def test_a_backend_python_too_old_to_read_the_code_is_named(tmp_path):
    """Python 2.7 or 3.6 as the Backend Python: the panel showed a SyntaxError traceback."""
    from kino_addon.protocol.errors import BackendError
    old = tmp_path / "python27"
    old.write_text('#!/bin/sh\n[ "$1" = -c ] && echo 2.7 && exit 0\necho "SyntaxError: invalid syntax" >&2\nexit 1\n')
    old.chmod(old.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(BackendError, match=r"is Python 2.7; Kino's backend needs Python 3.11: press Install Backend"):
        start_backend(str(old), run_dir=str(tmp_path / "run"), code_root=str(REPO), timeout=30)
