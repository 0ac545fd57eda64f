"""``scripts/kino stylize --param``: every parameter ``scripts/kino looks`` lists is accepted (stabilize.*
too: it brings --stabilize along), the none look refuses parameters it would ignore, and
``add_stage_first`` keeps parameters given earlier (the operator adds stabilize after the CLI)."""
import argparse

import pytest

from kino_addon.blender.commands.stylize import CommandError, compose
from kino_addon.core.workflow import add_stage_first
from kino_backend.presets import catalogue

HELLO = catalogue()


def args(look, *params, temporal=None, stabilize=False):
    return argparse.Namespace(look=look, param=list(params), temporal=temporal, stabilize=stabilize, notes=[])


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
    a = args(look, f"{key}={value(default)}")
    workflow = compose(HELLO, a)
    stage, _, name = key.rpartition(".")
    stage = stage or look
    entry = next(st for st in workflow["stages"] if st["name"] == stage)
    assert name in entry["params"]
    if stage == "stabilize":
        assert a.stabilize and workflow["stages"][0]["name"] == "stabilize" and a.notes


def test_stabilize_canvas_reaches_the_stage_and_survives_the_operator():
    a = args("paint", "stabilize.canvas=expand", stabilize=True)
    workflow = compose(HELLO, a)
    again = add_stage_first(workflow, "stabilize")  # what the Stylize operator does with --stabilize
    assert again["stages"][0] == {"name": "stabilize", "enabled": True, "params": {"canvas": "expand"}}
    with pytest.raises(CommandError, match="stabilize.canvas"):
        compose(HELLO, args("paint", "stabilize.canvs=expand"))


def test_none_look_refuses_look_parameters_and_notes_temporal():
    with pytest.raises(CommandError, match="unknown parameter 'bogus'"):
        compose(HELLO, args("none", "bogus=1"))
    a = args("none", "key.key_color=auto", temporal="on")
    workflow = compose(HELLO, a)
    assert [st["name"] for st in workflow["stages"]] == ["key", "none"]
    assert any("--temporal is ignored" in n for n in a.notes)
