"""Built-in presets, the hello catalogue and user presets."""
import json

import pytest

from kino_backend import presets
from kino_backend.stages import all_stages
from kino_backend.stages.base import ParamSpec, Stage


class _Look(Stage):
    name = "fancy"
    role = "look"
    params = (ParamSpec("amount", "float", 0.5, "how much", min=0.0, max=1.0),)


REGISTRY = {"fancy": _Look()}


def write(folder, name, data):
    (folder / f"{name}.json").write_text(json.dumps(data) if not isinstance(data, str) else data)


def test_catalogue_from_a_presets_folder(tmp_path, monkeypatch):
    write(tmp_path, "fancy", {"version": 1, "look": "fancy", "label": "Fancy", "help": "h", "stages": ["fancy"]})
    write(tmp_path, "ghost", {"version": 1, "look": "ghost", "stages": ["ghost"]})
    write(tmp_path, "broken", "{oops")
    write(tmp_path, "future", {"version": 99, "look": "fancy", "stages": ["fancy"]})
    monkeypatch.setattr(presets, "PRESETS_DIR", str(tmp_path))
    found, problems = presets.builtin_presets(REGISTRY, str(tmp_path))
    assert list(found) == ["fancy"] and len(problems) == 3
    assert any("ghost" in p for p in problems) and any("newer Kino" in p for p in problems)
    cat = presets.catalogue(REGISTRY)
    look = cat["looks"][0]
    assert (look["name"], look["label"], look["stages"]) == ("fancy", "Fancy", ["fancy"])
    assert look["params"] == [{"name": "amount", "kind": "float", "default": 0.5, "help": "how much",
                               "min": 0.0, "max": 1.0}]
    assert cat["stages"][0]["name"] == "fancy" and cat["stages"][0]["role"] == "look"
    assert presets.workflow_for_look("fancy", REGISTRY)["stages"] == [{"name": "fancy", "enabled": True, "params": {}}]
    with pytest.raises(KeyError, match="valid looks: fancy"):
        presets.workflow_for_look("nope", REGISTRY)


def test_user_presets_round_trip(tmp_path):
    wf = {"version": 1, "look": "fancy", "stages": [{"name": "fancy", "enabled": True, "params": {"amount": 0.2}}]}
    path = tmp_path / "mine.json"
    presets.save_user_preset(str(path), wf, "Mine")
    loaded = presets.load_user_preset(str(path))
    assert loaded["label"] == "Mine" and presets.workflow_from_preset(loaded) == wf


def test_shipped_presets_are_valid_workflows():
    from kino_backend.workflow import validate_workflow
    registry = all_stages()
    found, problems = presets.builtin_presets(registry)
    assert problems == [], problems
    for name, preset in found.items():
        workflow = presets.workflow_from_preset(preset)
        validated = validate_workflow(workflow, known_looks=list(found), registry=registry)
        assert validated.look_step.stage.role == "look"
