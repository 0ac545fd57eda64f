"""Suite-wide test settings: the ``slow`` mark for whole suites that start Blender or run model
pipelines (``make test-fast`` runs ``-m "not slow"``). Single slow tests elsewhere carry
``@pytest.mark.slow`` themselves."""
import os

import pytest

#: Suites whose every test builds tiny model pipelines or drives a real Blender (seconds to minutes each).
SLOW_SUITES = {"diffusion", "identity", "pulid", "training", "blender", "blender_keying", "blender_stabilize"}
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config, items):
    for item in items:
        rel = os.path.relpath(str(item.fspath), TESTS_DIR)
        if rel.split(os.sep, 1)[0] in SLOW_SUITES:
            item.add_marker(pytest.mark.slow)
