"""Fixtures for the noise tests: Kino's tiny SD 1.5 (diffusers folder, written once per session by the
same builder ``models make-tiny`` uses) and one torch thread."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_sd15(tmp_path_factory):
    import torch

    from kino_backend.models.tiny import sd15_pipeline
    path = tmp_path_factory.mktemp("tiny") / "sd15-tiny"
    with torch.no_grad():
        sd15_pipeline().save_pretrained(str(path), safe_serialization=True)
    return str(path)


@pytest.fixture(autouse=True)
def one_torch_thread():
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
