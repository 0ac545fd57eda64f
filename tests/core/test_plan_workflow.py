import numpy as np
import pytest

from kino_addon.core.frame_files import atomic_write_png
from kino_addon.core.plan import (FramePlan, PlanError, frame_path, missing_frames, output_folder,
                                  parse_frame_range, settings_hash)
from kino_addon.core.kino_command import LAUNCHER
from kino_addon.core.sidecar import reproduce_command
from kino_addon.core.job_workflow import (JobChoices, WorkflowChoiceError, build_workflow, is_keyed,
                                          parse_param_args, parse_value)


def compose_workflow(hello, look, params=None, temporal=None, **kw):
    return build_workflow(hello, JobChoices(look=look, params=params or {}, temporal=temporal, **kw))

HELLO = {
    "looks": [{"name": "toon", "stages": [{"name": "toon", "enabled": True, "params": {}}, "temporal"]},
              {"name": "none", "stages": ["none"]},
              {"name": "diffusion", "stages": ["diffusion", "temporal"]}],
    "stages": [{"name": "toon", "role": "look", "params": [{"name": "edges", "kind": "float"},
                                                           {"name": "levels", "kind": "int"}]},
               {"name": "none", "role": "look", "params": []},
               {"name": "diffusion", "role": "look", "params": [{"name": "lora", "kind": "list"},
                                                                {"name": "prompt", "kind": "str"}]},
               {"name": "temporal", "role": "schedule", "params": [{"name": "strength", "kind": "float"}]},
               {"name": "stabilize", "role": "prepare", "params": [{"name": "border", "kind": "str"}]},
               {"name": "key", "role": "prepare", "params": [{"name": "key_color", "kind": "str"}]},
               {"name": "face_score", "role": "finish", "params": [{"name": "pack", "kind": "str"}]}],
}


def test_frame_plan_whole_strip_and_range():
    plan = FramePlan.for_strip(15, 55)
    assert (plan.first, plan.count) == (15, 40)
    assert plan.timeline_frame(1) == 15 and plan.timeline_frame(40) == 54
    part = FramePlan.for_strip(15, 55, (3, 5))
    assert part.timeline_frames == [17, 18, 19]
    assert FramePlan.for_strip(15, 55, (39, 99)).timeline_frames == [53, 54]
    with pytest.raises(PlanError, match="empty"):
        FramePlan.for_strip(10, 10)
    with pytest.raises(PlanError, match="after the strip"):
        FramePlan.for_strip(15, 55, (41, 45))
    assert parse_frame_range("1:4") == (1, 4)
    # past Blender's 32-bit frame numbers (a traceback from the operator): the clip's end applies
    assert parse_frame_range("1:3000000000") == (1, 2 ** 31 - 1)
    assert parse_frame_range("3000000000:3000000001") == (2 ** 31 - 1, 2 ** 31 - 1)
    for bad in ("4:1", "0:3", "x", "1-4"):
        with pytest.raises(PlanError):
            parse_frame_range(bad)


def test_missing_frames_skips_only_valid_files(tmp_path):
    img = np.full((6, 8, 3), 7, np.uint8)
    for n in (1, 2, 4):
        atomic_write_png(frame_path(str(tmp_path), n), img)
    (tmp_path / "frame_0002.png").write_bytes(b"\x89PNG half")  # a torn file is not trusted
    atomic_write_png(frame_path(str(tmp_path), 5), np.zeros((3, 3, 3), np.uint8))  # wrong size
    assert missing_frames(str(tmp_path), 5, 8, 6) == [2, 3, 5]
    assert not (tmp_path / ".partial").exists()


def test_settings_hash_and_folder():
    wf = {"look": "toon", "stages": []}
    h = settings_hash({"file": "/a.mp4"}, wf, {}, (1, 10))
    assert h == settings_hash({"file": "/a.mp4"}, wf, {}, (1, 10)) and len(h) == 8
    assert h != settings_hash({"file": "/a.mp4"}, wf, {"seed": 1}, (1, 10))
    assert h != settings_hash({"file": "/a.mp4"}, wf, {}, (1, 11))
    assert output_folder("/b/kino", "my clip.mp4", "toon", h) == f"/b/kino/my_clip.mp4_toon_{h}"


def test_param_parsing_rules():
    wf = compose_workflow(HELLO, "diffusion")
    got = parse_param_args(HELLO, wf, ["prompt=a cat", "lora=a.safetensors", "lora=b:0.5",
                                       "temporal.strength=0.8"])
    assert got == {"diffusion": {"prompt": "a cat", "lora": ["a.safetensors", "b:0.5"]},
                   "temporal": {"strength": 0.8}}
    assert parse_value("[1, 2]") == [1, 2] and parse_value("true") is True and parse_value("x") == "x"
    with pytest.raises(WorkflowChoiceError) as err:
        parse_param_args(HELLO, wf, ["bogus=1"])
    assert "prompt" in str(err.value) and "temporal.strength" in str(err.value)
    with pytest.raises(WorkflowChoiceError, match="KEY=VALUE"):
        parse_param_args(HELLO, wf, ["novalue"])


def test_compose_workflow_switches_and_none():
    wf = compose_workflow(HELLO, "toon", {"toon": {"edges": 0.3}}, temporal=False)
    assert wf["stages"] == [{"name": "toon", "enabled": True, "params": {"edges": 0.3}},
                            {"name": "temporal", "enabled": False, "params": {}}]
    none = compose_workflow(HELLO, "none", {"none": {"x": 1}}, temporal=True)
    assert none["stages"] == [{"name": "none", "enabled": True, "params": {}}]
    stab = compose_workflow(HELLO, "none", stabilize=True)
    assert [s["name"] for s in stab["stages"]] == ["stabilize", "none"]
    with pytest.raises(WorkflowChoiceError, match="toon"):
        compose_workflow(HELLO, "nope")


def test_reproduce_command():
    wf = compose_workflow(HELLO, "toon", {"toon": {"edges": 0.3}, "temporal": {"strength": 0.5}}, temporal=True)
    cmd = reproduce_command("/in/clip.mp4", wf, (1, 4), "/out dir")
    assert cmd == (f"{LAUNCHER} stylize /in/clip.mp4 --look toon --temporal on --param edges=0.3 "
                   "--param temporal.strength=0.5 --frames 1:4 --out '/out dir'")


def test_params_of_an_addable_stage_add_it_and_the_reproduce_command_round_trips():
    """``key`` and ``face_score`` (prepare / finish stages) join any look through their parameters, so a
    keyed or face-scored job's kino.json command recreates it; ``stabilize`` needs --stabilize."""
    base = compose_workflow(HELLO, "toon", temporal=True)
    overrides = parse_param_args(HELLO, base, ["key.key_color=40,180,60", "face_score.pack=antelopev2", "edges=0.2"])
    wf = compose_workflow(HELLO, "toon", overrides, temporal=True)
    assert [s["name"] for s in wf["stages"]] == ["key", "face_score", "toon", "temporal"]
    assert wf["stages"][0]["params"] == {"key_color": "40,180,60"}
    cmd = reproduce_command("/in/clip.mp4", wf, None, "/out")
    items = cmd.split("--param ")[1:]
    again = compose_workflow(HELLO, "toon", parse_param_args(HELLO, base, [i.split(" --")[0].strip() for i in items]),
                             temporal=True)
    assert again == wf
    # every parameter `looks` lists is accepted: stabilize.* is kept for the stabilize stage (the command
    # turns stabilizing on); an unknown key of a stage is refused with that stage's keys
    assert parse_param_args(HELLO, base, ["stabilize.border=black"]) == {"stabilize": {"border": "black"}}
    with pytest.raises(WorkflowChoiceError) as err:
        parse_param_args(HELLO, base, ["stabilize.nope=black"])
    listed = str(err.value).split("parameters are")[1]
    assert "stabilize.border" in listed and "edges" not in listed and "face_score, key" in listed


def test_panel_switches_and_flags_are_stage_entries_of_one_workflow():
    """Face Similarity and Green Screen come as params of their stages (first, in that order), then the
    stabilize stage, then the look's own stages; the pass-through look keeps its switches' stages but
    takes no parameters, stage switches or temporal stage of its own."""
    choices = JobChoices(look="toon", params={"face_score": {"pack": "buffalo_l"}, "key": {"key_color": "auto"},
                                              "toon": {"levels": 3}},
                         enabled={"temporal": False}, stabilize=True, track_region="face")
    wf = build_workflow(HELLO, choices)
    assert [s["name"] for s in wf["stages"]] == ["face_score", "key", "stabilize", "toon", "temporal"]
    assert wf["stages"][3]["params"] == {"levels": 3} and wf["stages"][4]["enabled"] is False
    assert is_keyed(wf) and not is_keyed(compose_workflow(HELLO, "toon"))
    none = build_workflow(HELLO, JobChoices(look="none", params={"key": {"key_color": "auto"}, "none": {"x": 1}},
                                            temporal=True))
    assert none["stages"] == [{"name": "key", "enabled": True, "params": {"key_color": "auto"}},
                              {"name": "none", "enabled": True, "params": {}}]
    assert JobChoices.from_json(choices.to_json()) == choices
    with pytest.raises(WorkflowChoiceError, match="not valid"):
        JobChoices.from_json('{"look": "toon", "colour": 1}')


def test_the_passthrough_look_takes_only_the_parameters_of_stages_it_can_add():
    """The none look has no parameters of its own: one given is refused (it would be ignored silently)."""
    base = compose_workflow(HELLO, "none")
    assert parse_param_args(HELLO, base, ["key.key_color=auto"]) == {"key": {"key_color": "auto"}}
    for item in ("bogus=1", "temporal.strength=0.5"):
        with pytest.raises(WorkflowChoiceError, match="unknown parameter"):
            parse_param_args(HELLO, base, [item])


def test_reproduce_command_carries_stabilize_and_the_track_region():
    """``--track-region`` shaped the job (what the tracker locked to), so kino.json's command has it."""
    wf = compose_workflow(HELLO, "toon", temporal=True, stabilize=True)
    cmd = reproduce_command("/in/clip.mp4", wf, (2, 5), "/out", track_region="10,20,30,40")
    assert cmd == (f"{LAUNCHER} stylize /in/clip.mp4 --look toon --temporal on --frames 2:5 --stabilize "
                   "--track-region 10,20,30,40 --out /out")
    assert "--track-region" not in reproduce_command("/in/clip.mp4", compose_workflow(HELLO, "toon"), None, "/o",
                                                     track_region="face")  # not stabilized: no region
    face = reproduce_command("/in/clip.mp4", wf, None, "/out", track_region="face")
    assert face.endswith("--stabilize --track-region face --out /out")


def test_a_param_typo_says_what_is_wrong_first_and_suggests_the_closest_key():
    """Issue 12 item 10: the closest valid key is suggested; only the look's own stages' keys are listed,
    not the keys of every stage --param could add (train_lora has a dozen)."""
    hello = dict(HELLO, stages=HELLO["stages"] + [{"name": "train_lora", "role": "finish", "params": [
        {"name": f"knob_{i}", "kind": "int"} for i in range(12)]}])
    base = compose_workflow(hello, "toon", temporal=True)
    for typo, meant in [("edgs=0.2", "edges"), ("toon.edgse=0.2", "edges"), ("temporal.strenght=1", "temporal.strength"),
                        ("key.key_colour=auto", "key.key_color")]:
        with pytest.raises(WorkflowChoiceError) as err:
            parse_param_args(hello, base, [typo])
        text = str(err.value)
        assert text.startswith(f"unknown parameter {typo.split('=')[0]!r} for look 'toon': did you mean {meant!r}?")
        assert "knob_" not in text and "train_lora" in text.split("can also add")[1]
    with pytest.raises(WorkflowChoiceError) as err:
        parse_param_args(hello, base, ["zzzzzz=1"])
    assert "did you mean" not in str(err.value)
    with pytest.raises(WorkflowChoiceError) as err:  # another stage's key: that stage's keys are listed
        parse_param_args(hello, base, ["key.bogus=1"])
    assert "the key stage's parameters are key.key_color" in str(err.value) and "toon's" not in str(err.value)


def test_a_changed_default_changes_the_settings_hash():
    """The hash took the workflow as the user gave it (params {}): a Kino whose toon 'levels' default
    went from 5 to 3 reused the old frames, 41 levels off."""
    from kino_addon.core.job_workflow import with_defaults
    wf = {"version": 1, "look": "toon", "stages": [{"name": "toon", "enabled": True, "params": {"edges": 0.4}}]}
    old = {"stages": [{"name": "toon", "params": [{"name": "levels", "default": 5}, {"name": "edges", "default": 1}]}]}
    new = {"stages": [{"name": "toon", "params": [{"name": "levels", "default": 3}, {"name": "edges", "default": 1}]}]}
    assert with_defaults(old, wf)["stages"][0]["params"] == {"levels": 5, "edges": 0.4}
    assert wf["stages"][0]["params"] == {"edges": 0.4}  # the workflow itself is untouched
    assert settings_hash({}, with_defaults(old, wf), {}, (1, 4)) != settings_hash({}, with_defaults(new, wf), {}, (1, 4))
