"""Suite-wide test settings.

* the ``slow`` mark for whole suites that start Blender or run model pipelines (``make test-fast`` runs
  ``-m "not slow"``). Single slow tests elsewhere carry ``@pytest.mark.slow`` themselves.
* ``release_smoke``: the Blender tests ``make test`` also runs on the releases other than the default
  (install the zip, stylize into a strip, build and render the key and stabilization trees, draw the
  panel; scripts/run_tests.sh).
* Blender 5.1+ announces API it will remove in 6.0 with a DeprecationWarning ("... is expected to be
  removed in Blender 6.0"); such a warning is an error here, so Kino (and its tests) keep to the API
  that 6.0 keeps (``kino_addon/blender/compat.py`` holds the older spellings).
"""
import os

import pytest

#: Suites whose every test builds tiny model pipelines or drives a real Blender (seconds to minutes each).
SLOW_SUITES = {"diffusion", "identity", "pulid", "training", "blender", "blender_keying", "blender_stabilize",
               "animatediff", "blender_install"}
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def pytest_configure(config):
    config.addinivalue_line("markers", "release_smoke: fast check of every supported Blender release")
    config.addinivalue_line("filterwarnings", "error:.*expected to be removed in Blender:DeprecationWarning")


def pytest_collection_modifyitems(config, items):
    for item in items:
        rel = os.path.relpath(str(item.fspath), TESTS_DIR)
        if rel.split(os.sep, 1)[0] in SLOW_SUITES:
            item.add_marker(pytest.mark.slow)
