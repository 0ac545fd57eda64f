"""``cluster status`` says, worker by worker, what slows one down: Ray's niceness, malloc left untuned."""
from __future__ import annotations

from kino_backend.commands.cluster import worker_line

WORKER = {"name": "kino-worker-0", "host": "node1", "pid": 42, "device": "cpu", "tasks": 3, "frames": 30,
          "frames_per_s": 12.5, "recent_frames_per_s": 4.0, "working_on": None, "nice": 0, "malloc_tuned": True}


def test_a_healthy_worker_has_its_throughput_and_no_warning():
    line = worker_line(WORKER)
    assert "kino-worker-0 on node1 pid 42 (cpu): 3 tasks, 30 frames, 12.50 frames/s" in line
    assert line.endswith(", idle")


def test_a_niced_or_untuned_worker_is_flagged_with_the_fix():
    line = worker_line(dict(WORKER, nice=15, malloc_tuned=False, working_on="job:frames"))
    assert "working on job:frames" in line
    assert "niceness 15" in line and "RAY_worker_niceness=0" in line
    assert "memory back to the kernel" in line and "restart Ray" in line


def test_a_worker_that_does_not_answer_shows_its_state():
    assert worker_line({"name": "kino-worker-1", "state": "not answering"}) == "  kino-worker-1: not answering"


def test_a_worker_of_a_kino_that_did_not_report_it_is_not_flagged():
    line = worker_line({k: v for k, v in WORKER.items() if k != "malloc_tuned"})
    assert "kernel" not in line
