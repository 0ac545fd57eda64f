"""Install Backend from the extension zip alone (helpers: ``kino_install_support.py``). The real
install (minutes: torch, diffusers, OpenCV... through pip) happens once per session in the
``installed`` fixture of test_install_backend.py; the whole suite is ``slow`` (tests/conftest.py)."""
from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from kino_install_support import build_zip, fresh_user_folder  # noqa: E402


@pytest.fixture(scope="session")
def kino_zip(tmp_path_factory):
    return build_zip(tmp_path_factory.mktemp("dist"))


@pytest.fixture
def user_folder(tmp_path_factory, kino_zip):
    return fresh_user_folder(tmp_path_factory, kino_zip)
