import os

import pytest

from kino_keying_support import FOOTAGE, read_frames  # noqa: F401

@pytest.fixture(scope="session")
def footage():
    if not os.path.isdir(FOOTAGE):
        pytest.skip(f"shared footage folder {FOOTAGE} is absent (tests read ../shared/footage)")
    return FOOTAGE


@pytest.fixture(scope="session")
def synthetic():
    from kino_backend.keying.synthetic import make_case
    return make_case(192)
