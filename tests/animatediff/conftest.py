"""Fixtures for the AnimateDiff tests: Kino's tiny SD 1.5, ControlNet, LoRA, IP-Adapter and motion adapter
written once per session in their real formats (what ``models make-tiny`` writes, built by the same
functions), and one torch thread."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    from animatediff_support import write_tiny_video_models
    return write_tiny_video_models(tmp_path_factory.mktemp("tiny-video-models"))


@pytest.fixture(autouse=True)
def one_torch_thread():
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
