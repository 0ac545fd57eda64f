"""The looks catalogue the panel's menus read before the backend starts: the last hello's cache, else
the shipped snapshot; a cache of the wrong shape is passed over (the panel raised on every redraw)."""
import json

import pytest

from kino_addon.protocol import catalogue


@pytest.mark.parametrize("bad", [{"looks": ["toon"]}, {"looks": [{"label": "x"}]}, {"looks": [{"name": "toon"}],
                                 "stages": "oops"}, {"looks": [{"name": "toon", "params": [3]}]}, {"looks": []}, []])
def test_a_cache_of_the_wrong_shape_falls_back_to_the_snapshot(tmp_path, bad):
    (tmp_path / catalogue.CACHE_FILE).write_text(json.dumps(bad))
    got = catalogue.offline(str(tmp_path))
    assert got == catalogue.snapshot() and got["looks"]


def test_a_good_cache_is_used(tmp_path):
    hello = {"looks": [{"name": "toon", "params": [{"name": "levels"}]}], "stages": [{"name": "temporal"}],
             "backend": "kino/9"}
    catalogue.save_cache(str(tmp_path), hello)
    assert catalogue.offline(str(tmp_path))["looks"] == hello["looks"]
