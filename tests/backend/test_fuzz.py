"""Issue 12: a seeded fuzz run (a few thousand hostile and well-formed messages) against a real backend
subprocess on 127.0.0.1: no crash, no hang, and the log stays small. The fuzzer is fuzz_messages.py
(``python tests/backend/fuzz_messages.py --messages 10000 --seed 1`` prints the figures)."""
import pytest

from backend_harness import Backend
from fuzz_messages import Fuzzer

pytestmark = pytest.mark.timeout(400)


@pytest.mark.parametrize("seed", [12])
def test_fuzzed_messages_cause_no_crash_and_no_hang(tmp_path, seed):
    backend = Backend(tmp_path, stderr_to_file=True)
    try:
        figures = Fuzzer(backend, seed, reply_timeout=20.0).run(3000)
        assert backend.proc.poll() is None, "the backend exited"
    finally:
        backend.stop()
    print(figures)
    assert figures["messages"] == 3000
    assert figures["crashes"] == 0 and figures["hangs"] == 0, figures
    codes = figures["error_codes"]
    assert codes.get("INVALID_PARAMS", 0) > 100 and codes.get("BAD_MESSAGE", 0) > 100, codes  # it did probe
    assert figures["ok_replies"] > 500 and figures["jobs_ended"].get("completed:-", 0) > 10, figures
    log = backend.log_path.read_text()
    assert len(log) < 3_000_000 and max(map(len, log.splitlines())) < 5000
    assert "Traceback" not in backend.stderr_path.read_text()
