"""``scripts/kino stylize --param``: every parameter ``scripts/kino looks`` lists is accepted (stabilize.*
too: it brings --stabilize along), and the none look refuses parameters it would ignore."""
import argparse

import pytest

from kino_addon.blender.cli import CommandError
from kino_addon.blender.stylize.command import choices_from_args
from kino_addon.core.job_workflow import build_workflow
from kino_backend.presets import catalogue

HELLO = catalogue()


def args(look, *params, temporal=None, stabilize=False):
    return argparse.Namespace(look=look, param=list(params), temporal=temporal, stabilize=stabilize,
                              track_region=None)


def compose(a, notes=None):
    return build_workflow(HELLO, choices_from_args(HELLO, a, notes))


def listed():
    """(look, KEY as the user types it, default) for every parameter `looks` prints."""
    out = []
    for look in HELLO["looks"]:
        for p in look["params"]:
            out.append((look["name"], p["name"], p["default"]))
    for stage in HELLO["stages"]:
        if stage["role"] != "look":
            for p in stage["params"]:
                out.append(("toon", f"{stage['name']}.{p['name']}", p["default"]))
    return out


def value(default):
    return "" if default is None else (str(default).lower() if isinstance(default, bool) else str(default))


@pytest.mark.parametrize("look,key,default", listed(), ids=lambda v: str(v)[:40])
def test_every_listed_parameter_is_accepted(look, key, default):
    notes = []
    workflow = compose(args(look, f"{key}={value(default)}"), notes)
    stage, _, name = key.rpartition(".")
    stage = stage or look
    entry = next(st for st in workflow["stages"] if st["name"] == stage)
    assert name in entry["params"]
    if stage == "stabilize":
        assert any("stabiliz" in n for n in notes)


def test_stabilize_canvas_reaches_the_stage():
    workflow = compose(args("paint", "stabilize.canvas=expand", stabilize=True))
    stab = next(st for st in workflow["stages"] if st["name"] == "stabilize")
    assert stab["params"] == {"canvas": "expand"}
    with pytest.raises(CommandError, match="stabilize.canvs"):
        compose(args("paint", "stabilize.canvs=expand"))


def test_none_look_refuses_look_parameters_and_notes_temporal():
    with pytest.raises(CommandError, match="unknown parameter 'bogus'"):
        compose(args("none", "bogus=1"))
    notes = []
    workflow = compose(args("none", "key.key_color=auto", temporal="on"), notes)
    assert [st["name"] for st in workflow["stages"]] == ["key", "none"]
    assert any("--temporal is ignored" in n for n in notes)


def test_temporal_parameters_with_the_temporal_stage_off_are_noted():
    """They were silently ignored: a user tuning temporal.strength with --temporal off saw no change."""
    notes = []
    compose(args("toon", "temporal.strength=0.5", "temporal.deflicker=true", temporal="off"), notes)
    assert any("--temporal off: temporal.deflicker, temporal.strength not used" in n for n in notes), notes
    notes = []
    compose(args("toon", "temporal.strength=0.5", temporal="on"), notes)
    assert notes == []
