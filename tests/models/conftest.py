"""Shared fixtures for the models tests: the tiny models are built once per session (seconds)."""
import os

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory):
    """``scripts/kino models make-tiny`` output, built once; config folders cached in a temp dir."""
    import torch
    torch.set_num_threads(1)  # bit-stable comparisons (ml-cpu.md §3)
    cache = tmp_path_factory.mktemp("kino-cache")
    old = os.environ.get("KINO_CACHE_DIR")
    os.environ["KINO_CACHE_DIR"] = str(cache)
    from kino_backend.models.tiny import make_tiny
    out = tmp_path_factory.mktemp("tiny-models")
    make_tiny(str(out))
    yield out
    if old is None:
        os.environ.pop("KINO_CACHE_DIR", None)
    else:
        os.environ["KINO_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def init_image():
    from PIL import Image
    yy, xx = np.mgrid[0:64, 0:64]
    arr = np.stack([xx * 4, yy * 4, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)
    return Image.fromarray(arr)


@pytest.fixture(scope="session")
def ref_image():
    from PIL import Image
    return Image.fromarray((np.random.default_rng(5).random((64, 64, 3)) * 255).astype(np.uint8))

