"""Preset files (built-in looks and user presets share one format)."""
import json

import pytest

from kino_addon.protocol.preset_format import (PRESET_VERSION, PresetError, normalize_preset, preset_from_workflow,
                                         read_preset, workflow_from_preset, write_preset)


def test_round_trip_and_workflow(tmp_path):
    wf = {"version": 1, "look": "toon", "stages": [{"name": "toon", "enabled": True, "params": {"lines": 0.3}},
                                                  {"name": "temporal", "enabled": False, "params": {}}]}
    path = tmp_path / "sub" / "mine.json"
    write_preset(str(path), preset_from_workflow(wf, "Mine", "my toon"))
    preset = read_preset(str(path))
    assert preset["label"] == "Mine" and preset["version"] == PRESET_VERSION
    assert workflow_from_preset(preset) == wf
    assert [p.name for p in path.parent.iterdir()] == ["mine.json"]  # no temp file left


def test_stage_names_may_be_plain_strings():
    preset = normalize_preset({"version": 1, "look": "toon", "stages": ["toon", "temporal"]})
    assert preset["stages"][1] == {"name": "temporal", "enabled": True, "params": {}}


def test_newer_preset_is_refused_clearly(tmp_path):
    path = tmp_path / "future.json"
    path.write_text(json.dumps({"version": PRESET_VERSION + 1, "look": "toon", "stages": ["toon"]}))
    with pytest.raises(PresetError, match="newer Kino.*update Kino"):
        read_preset(str(path))


@pytest.mark.parametrize("data, fragment", [
    ([], "JSON object"), ({"look": "x", "stages": ["x"]}, "'version'"), ({"version": 1, "stages": ["x"]}, "'look'"),
    ({"version": 1, "look": "x", "stages": []}, "'stages'"), ({"version": 1, "look": "x", "stages": [3]}, "stages[0]"),
    ({"version": 1, "look": "x", "stages": [{"name": "x", "params": []}]}, "'params'"),
])
def test_bad_presets(data, fragment):
    with pytest.raises(PresetError) as info:
        normalize_preset(data)
    assert fragment in str(info.value)


def test_invalid_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{oops")
    with pytest.raises(PresetError, match="broken.json"):
        read_preset(str(path))


def test_a_preset_saved_by_notepad_or_nested_without_end_is_read_or_refused_clearly(tmp_path):
    """A UTF-8 byte-order mark (Windows Notepad) was "not valid JSON"; a deeply nested file raised
    RecursionError instead of PresetError."""
    path = tmp_path / "notepad.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"version": 1, "look": "toon", "stages": ["toon"]}).encode())
    assert read_preset(str(path))["look"] == "toon"
    path = tmp_path / "deep.json"
    path.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(PresetError, match="nested too deeply"):
        read_preset(str(path))
