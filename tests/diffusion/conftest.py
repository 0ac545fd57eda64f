"""Fixtures for the diffusion look: Kino's tiny random models written once per session in the real
formats (``kino_backend.models.tiny.make_tiny``, what ``models make-tiny`` writes), a warm model
cache shared by the tests, and small textured frames."""
from __future__ import annotations

import types

import pytest

from diffusion_support import textured


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    from kino_backend.models.tiny import make_tiny
    return make_tiny(str(tmp_path_factory.mktemp("tiny-models")))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One torch thread in these tests: fixed reductions (batch vs loop), and no oversubscribed
    OpenMP threads on the shared 2-core machine. Restored afterwards for other test folders."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def resources():
    return types.SimpleNamespace(cache={})


@pytest.fixture
def make_ctx(resources):
    from kino_backend.stages.base import JobContext

    def make(**kw):
        kw.setdefault("job_id", "test")
        kw.setdefault("frames_total", 3)
        kw.setdefault("width", 64)
        kw.setdefault("height", 64)
        kw.setdefault("seed", 7)
        return JobContext(resources=resources, **kw)
    return make


@pytest.fixture
def frames():
    from kino_backend.stages.base import Frame
    return [Frame(index=i + 1, source=textured(i), image=textured(i)) for i in range(3)]


@pytest.fixture
def open_stage(make_ctx):
    """Open the diffusion stage with validated params; closes it after the test."""
    from kino_backend.stages import get_stage
    runs = []

    def open_(params, ctx=None):
        stage = get_stage("diffusion")
        base = {"prompt": "a painting", "steps": 4, "strength": 0.6}
        run = stage.open(stage.validate({**base, **params}), ctx or make_ctx())
        runs.append(run)
        return run
    yield open_
    for run in runs:
        run.close()
