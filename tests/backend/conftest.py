"""Fixtures for the backend tests (helpers live in backend_harness.py)."""
import pytest

from backend_harness import Backend


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    b = Backend(tmp_path_factory.mktemp("backend"))
    yield b
    b.stop()


@pytest.fixture
def client(backend):
    c = backend.connect()
    yield c
    c.close()

