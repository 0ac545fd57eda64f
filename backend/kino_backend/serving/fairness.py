"""Which queued job the single worker runs next, and when a running job that waits for input must
make way.

- A job runs only once its first input frame is there: a client that submits and sends nothing (or
  is slow to start) holds no one up.
- Among ready jobs, the client whose job started least recently goes first (round robin between
  connections; submission order within one), so one client's queue cannot starve another client.
- A running job that has waited ``stall_timeout`` seconds for its next frame while another job is
  ready is stopped with a message that says so; its finished frames were already sent, so running
  it again resumes. With no one else waiting it may wait as long as its connection lives.
"""
from __future__ import annotations

from typing import Iterable, Optional


def pick(queue: Iterable, last_start) -> Optional[object]:
    """The next job to run from ``queue`` (submission order), or None when none is ready."""
    best, best_key = None, None
    for position, job in enumerate(queue):
        if not job.ready():
            continue
        key = (last_start.get(job.owner, -1), position)
        if best_key is None or key < best_key:
            best, best_key = job, key
    return best


def stall_message(job, frame: int, waited: float) -> str:
    return (f"job {job.id} waited {waited:.0f} s for input frame {frame} of {job.frames_total} while other "
            f"jobs were ready to run, so the backend stopped it to let them run; the {len(job.frames_done)} "
            "frames it finished were sent back: run it again to resume")
