"""Settings shared by every suite.

* ``release_smoke``: the Blender tests ``make test`` also runs on the releases other than the default
  (install the zip, stylize into a strip, build and render the key and stabilization trees, draw the panel).
* Blender 5.1+ announces API it will remove in 6.0 with a DeprecationWarning ("... is expected to be
  removed in Blender 6.0"); such a warning is an error here, so Kino (and its tests) keep to the API
  that 6.0 keeps (``kino_addon/blender/compat.py`` holds the older spellings).
"""


def pytest_configure(config):
    config.addinivalue_line("markers", "release_smoke: fast check of every supported Blender release")
    config.addinivalue_line("filterwarnings", "error:.*expected to be removed in Blender:DeprecationWarning")
