"""Pure parts of AnimateDiff: the memory plan from free GPU memory, and the clip spool (memory, then disk)."""
from __future__ import annotations

import os

import numpy as np

from kino_backend.animatediff.memory import MAX_VAE_CHUNK, MAX_WINDOWS, choose
from kino_backend.animatediff.spool import Spool

GiB = 2 ** 30


def test_memory_plan_grows_with_free_memory_and_shrinks_with_size():
    assert choose(None, (64, 64), 16, True) == {"windows_per_call": 1, "vae_chunk": 4}  # CPU / MPS
    small = choose(8 * GiB, (64, 64), 16, True)
    large = choose(75 * GiB, (64, 64), 16, True)
    assert small["windows_per_call"] == 1 and 1 <= small["vae_chunk"] < large["vae_chunk"]
    assert 1 < large["windows_per_call"] <= MAX_WINDOWS and large["vae_chunk"] == MAX_VAE_CHUNK
    assert choose(75 * GiB, (128, 128), 16, True)["windows_per_call"] < large["windows_per_call"]
    assert choose(75 * GiB, (64, 64), 16, False)["windows_per_call"] >= large["windows_per_call"]  # no CFG half
    assert choose(1 * GiB, (96, 96), 16, True, dtype_bytes=4) == {"windows_per_call": 1, "vae_chunk": 1}


def test_spool_keeps_arrays_and_spills_past_its_budget():
    spool = Spool(budget_bytes=3 * 64 * 64 * 3)
    frames = [np.full((64, 64, 3), i, np.uint8) for i in range(6)]
    for i, f in enumerate(frames):
        spool.put(("img", i), f)
    assert spool.on_disk == 3 and spool.held == 3 * frames[0].nbytes
    assert all(np.array_equal(spool.get(("img", i)), f) for i, f in enumerate(frames))
    folder = spool._dir
    assert folder and len(os.listdir(folder)) == 3
    view = spool.get(("img", 5))
    view[0, 0] = 99  # a private copy-on-write view: the spooled frame is unchanged
    assert spool.get(("img", 5))[0, 0, 0] == 5
    spool.close()
    assert not os.path.exists(folder)
