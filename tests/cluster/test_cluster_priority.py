"""A Kino worker runs at its node's priority (the raylet's), not at the niceness 15 Ray gives its workers."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no process priorities on this system")

PROBE = """
import os
os.setpriority(os.PRIO_PROCESS, 0, 15)  # as Ray starts a worker
from kino_backend.cluster.worker import run_at_normal_priority
print(run_at_normal_priority())
"""


def test_a_niced_worker_returns_to_normal_priority_where_allowed():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    got = int(out.stdout.strip())
    if os.geteuid() == 0:
        assert got == os.getpriority(os.PRIO_PROCESS, 0)  # its parent's (this test's) niceness
    else:  # an ordinary user may not lower its niceness: it stays, and ``cluster status`` says so
        assert got == 15

