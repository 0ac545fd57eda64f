"""Fixtures for the training tests: Kino's tiny random SD 1.5 models (test models, written once per
session in the real formats by ``kino_backend.models.tiny.make_tiny``) and a few small images."""
import pytest

from kino_training_support import write_images


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    from kino_backend.models.tiny import make_tiny
    return make_tiny(str(tmp_path_factory.mktemp("tiny-models")))


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    return write_images(str(tmp_path_factory.mktemp("train-images")))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One torch thread: reproducible reductions and no oversubscription on the shared machine."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
