"""How a cluster job is cut into tasks and how a task's results travel: sizes from the clip length and
the worker count (never the result), and a worker's items sent in lists without delaying slow frames."""
from __future__ import annotations

from kino_backend.cluster.plan_base import CHUNK, CUT_CHUNK, MAX_CHUNK, chunk_for
from kino_backend.cluster.worker import batched


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _items(clock, gaps, kind="frame"):
    for i, gap in enumerate(gaps):
        clock.now += gap
        yield (kind, i)


def test_fast_frames_travel_together_and_nothing_is_lost_or_reordered():
    clock = FakeClock()
    out = list(batched(_items(clock, [0.02] * 30), flush_s=0.25, clock=clock))
    flat = [item for batch in out for item in batch]
    assert flat == [("frame", i) for i in range(30)]
    assert len(out) < 6  # 30 results would be 30 objects without batching
    assert max(len(b) for b in out) <= 13  # no list waits longer than flush_s (0.25 s of 0.02 s frames)


def test_a_slow_look_streams_every_frame_as_it_is_made():
    clock = FakeClock()
    sent_at = []
    for batch in batched(_items(clock, [0.1, 2.0, 2.0, 2.0]), flush_s=0.25, clock=clock):
        sent_at.append((clock.now, [i for _, i in batch]))
    # the first frame came quickly (0.1 s) and waits; each slow one goes out when made, with any waiting
    assert sent_at == [(2.1, [0, 1]), (4.1, [2]), (6.1, [3])]


def test_results_and_errors_flush_at_once():
    clock = FakeClock()

    def items():
        clock.now += 0.01
        yield ("frame", 1)
        clock.now += 0.01
        yield ("record", {})
        clock.now += 0.01
        yield ("frame", 2)
        clock.now += 0.01
        yield ("error", {"message": "boom"})

    out = list(batched(items(), flush_s=0.25, clock=clock))
    assert out == [[("frame", 1), ("record", {})], [("frame", 2), ("error", {"message": "boom"})]]


def test_an_empty_task_sends_nothing():
    assert list(batched(iter(()))) == []


def test_task_sizes_follow_the_clip_and_the_workers():
    assert chunk_for(48, 1, CHUNK) == 12  # four tasks for one worker
    assert chunk_for(48, 2, CHUNK) == 6
    assert chunk_for(48, 8, CHUNK) == CHUNK  # never below the least
    assert chunk_for(47, 1, CUT_CHUNK) == 12
    assert chunk_for(100_000, 1, CHUNK) == MAX_CHUNK  # a long clip: bounded tasks (a retry redoes little)
    assert chunk_for(1, 1, CHUNK) == CHUNK and chunk_for(0, 0, CHUNK) == CHUNK


def _tasks(n):
    from kino_backend.cluster.plan_base import Task
    return [Task("pipeline", [i], [], (1, i)) for i in range(1, n + 1)]


def test_a_worker_holds_a_second_task_only_when_no_other_worker_is_idle():
    from kino_backend.cluster.driver import SLOTS, TaskPool
    assert SLOTS == 2
    down = {}
    pool = TaskPool(["a", "b"], down)
    pool.add(_tasks(5))
    first = pool.get("a", timeout=0)
    assert first.frames == [1]
    assert pool.get("a", timeout=0) is None  # b has nothing yet: the next task is b's
    assert pool.get("b", timeout=0).frames == [2]
    assert pool.get("a", timeout=0).frames == [3]  # now a queues one behind its running task
    assert pool.get("a", timeout=0) is None  # at most SLOTS
    pool.release("a")
    assert pool.get("a", timeout=0).frames == [4]
    down["b"] = 0.0  # b stopped answering: it no longer holds a back, and gets nothing
    pool.release("b")
    assert pool.get("b", timeout=0) is None
    pool.release("a")
    assert pool.get("a", timeout=0).frames == [5]


def test_one_worker_runs_its_tasks_back_to_back():
    from kino_backend.cluster.driver import TaskPool
    pool = TaskPool(["a"])
    pool.add(_tasks(3))
    assert [pool.get("a", timeout=0).frames for _ in range(2)] == [[1], [2]]
    assert pool.get("a", timeout=0) is None
