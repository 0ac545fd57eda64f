"""A job's workflow, assembled in one place from what the user chose and what the backend offers.

The backend advertises its looks and stages in ``session.hello``: ``hello["looks"]`` lists
``{name, stages, params, label?, help?, workflow?}`` where ``stages`` holds the preset's stage entries
(names or ``{name, enabled, params}``) and ``params`` the ParamSpecs of the look's stylize stage;
``hello["stages"]`` lists every registered stage with its ``role`` and ``params``.

What the user chose is a :class:`JobChoices`, filled by the panel (``stylize.props.choices_from_scene``)
or by ``scripts/kino stylize`` flags (``stylize.command``); :func:`build_workflow` turns it into the
``workflow`` of ``job.submit``. Panel switches and command-line flags are stage entries made here and
nowhere else: the Green Screen and Face Similarity switches are ``params`` of the ``key`` and
``face_score`` stages (which adds them, as ``--param key.key_color=auto`` does), the Stabilize switch
and ``--stabilize`` are ``stabilize=True``.
"""
from __future__ import annotations

import copy
import difflib
import json
from dataclasses import asdict, dataclass, field
from typing import Optional

#: The look whose frames pass through untouched (its only stage has the same name). It takes no
#: parameters and no temporal stage; the backend's workflow runner knows it under the same name.
PASSTHROUGH_LOOK = "none"
LIST_KINDS = ("list",)
#: Stages that ``--param STAGE.KEY=...`` may not add: stabilize needs the tracking (``--stabilize``).
NOT_ADDABLE = ("stabilize",)


class WorkflowChoiceError(ValueError):
    """An unknown look, stage or parameter in the user's choices; the message lists the valid ones."""


@dataclass
class JobChoices:
    """What the user chose for one job: the input of :func:`build_workflow` and of the reproduce
    command in ``kino.json``.

    ``params`` ({stage: {key: value}}) sets parameters of the look's stages and adds the prepare/finish
    stages it names that the look does not have (``key``, ``face_score``), first, in the order given.
    ``enabled`` ({stage: bool}) switches the look's own stages; ``temporal`` (``--temporal on|off``)
    switches the temporal stage and adds it when the look lacks it. ``stabilize`` puts the stabilize
    stage right before the look's stages; ``track_region`` ("" for a camera lock, "X,Y,W,H" in source
    pixels, or "face") says what the tracker locks to. The pass-through look ignores ``enabled``,
    ``temporal`` and the parameters of its own stage.
    """

    look: str
    params: dict = field(default_factory=dict)
    enabled: dict = field(default_factory=dict)
    temporal: Optional[bool] = None
    stabilize: bool = False
    track_region: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "JobChoices":
        """Raises ``WorkflowChoiceError`` when ``text`` is not a JSON object of these fields."""
        try:
            data = json.loads(text)
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise WorkflowChoiceError(f"the job choices are not valid ({exc})") from None


def offered_looks(hello: dict) -> list:
    """Names of the looks the backend offers."""
    return [entry["name"] for entry in hello.get("looks", [])]


def find_look(hello: dict, look: str) -> dict:
    for entry in hello.get("looks", []):
        if entry.get("name") == look:
            return entry
    raise WorkflowChoiceError(f"unknown look {look!r}; the backend offers: "
                              f"{', '.join(offered_looks(hello)) or 'none'}")


def stage_info(hello: dict, name: str) -> dict:
    for entry in hello.get("stages", []):
        if entry.get("name") == name:
            return entry
    return {}


def stage_params(hello: dict, name: str) -> list:
    """ParamSpecs (dicts) of a stage, as advertised."""
    return list(stage_info(hello, name).get("params") or [])


def with_defaults(hello: dict, workflow: dict) -> dict:
    """The workflow with every stage's parameters completed from the backend's defaults: what the settings
    hash takes, so a Kino whose default changed does not reuse frames made with the old one."""
    out = copy.deepcopy(workflow)
    for stage in out.get("stages") or []:
        defaults = {p["name"]: p.get("default") for p in stage_params(hello, stage.get("name"))
                    if isinstance(p, dict) and "name" in p}
        stage["params"] = dict(defaults, **(stage.get("params") or {}))
    return out


def preset_workflow(hello: dict, look: str) -> dict:
    """The look's own workflow (its preset), every stage as ``{name, enabled, params}``."""
    entry = find_look(hello, look)
    stages = (entry.get("workflow") or {}).get("stages") or entry.get("stages") or [look]
    out = []
    for item in stages:
        item = {"name": item} if isinstance(item, str) else item
        out.append({"name": item["name"], "enabled": bool(item.get("enabled", True)),
                    "params": copy.deepcopy(item.get("params") or {})})
    return {"version": 1, "look": look, "stages": out}


def look_stage(hello: dict, workflow: dict) -> str:
    """Name of the workflow's stylize stage: the one with role "look" (else the look's name)."""
    for st in workflow["stages"]:
        if stage_info(hello, st["name"]).get("role") == "look":
            return st["name"]
    names = [st["name"] for st in workflow["stages"]]
    return workflow["look"] if workflow["look"] in names else names[0]


def has_stage(workflow: dict, name: str) -> bool:
    """True when the workflow runs stage ``name`` (present and enabled)."""
    return any(st["name"] == name and st.get("enabled", True) for st in workflow.get("stages", []))


def is_keyed(workflow: dict) -> bool:
    """A keyed job: its frames come back with a matte (written as alpha, ``matte/`` beside them)."""
    return has_stage(workflow, "key")


def addable(hello: dict, stage: str) -> bool:
    """A registered prepare/finish stage that ``params`` may add to any look (``key``, ``face_score``);
    ``stabilize`` comes with ``stabilize=True`` because it needs the tracking."""
    return stage not in NOT_ADDABLE and stage_info(hello, stage).get("role") in ("prepare", "finish")


def build_workflow(hello: dict, choices: JobChoices) -> dict:
    """The ``workflow`` of ``job.submit`` for ``choices``: the look's preset with the temporal switch,
    the stage switches and the parameters applied, the stages named by ``params`` added first and the
    stabilize stage right before the look's own stages. Raises ``WorkflowChoiceError`` for an unknown
    look."""
    workflow = preset_workflow(hello, choices.look)
    passthrough = choices.look == PASSTHROUGH_LOOK
    own = workflow["stages"]
    enabled = {} if passthrough else dict(choices.enabled)
    if choices.temporal is not None and not passthrough:
        enabled["temporal"] = choices.temporal
        if choices.temporal and not any(st["name"] == "temporal" for st in own) and stage_info(hello, "temporal"):
            own.append({"name": "temporal", "enabled": True, "params": {}})
    names = {st["name"] for st in own}
    first = [{"name": name, "enabled": True, "params": {}} for name in choices.params
             if name not in names and addable(hello, name)]
    if choices.stabilize:
        first.append({"name": "stabilize", "enabled": True, "params": {}})
    for st in workflow["stages"]:
        if st["name"] in enabled:
            st["enabled"] = bool(enabled[st["name"]])
        if not passthrough:
            st["params"].update(copy.deepcopy(choices.params.get(st["name"], {})))
    for st in first:
        st["params"].update(copy.deepcopy(choices.params.get(st["name"], {})))
    workflow["stages"] = first + own
    return workflow


def parse_value(text: str):
    """VALUE of ``--param KEY=VALUE``: JSON when it parses, else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _valid_keys(hello: dict, workflow: dict, main: str, *, addable_too: bool = True) -> list:
    """Every ``--param`` key of the workflow's stages (the look's own without a prefix); with
    ``addable_too`` also those of the stages a ``--param`` may add (``key.*``, ``face_score.*``)."""
    keys = [p["name"] for p in stage_params(hello, main)]
    names = [st["name"] for st in workflow["stages"] if st["name"] != main]
    if addable_too:
        names += [e["name"] for e in hello.get("stages", []) if e.get("name") not in names and addable(hello, e["name"])]
    for name in names:
        keys += [f"{name}.{p['name']}" for p in stage_params(hello, name)]
    return keys


def unknown_param_message(hello: dict, workflow: dict, main: str, key: str) -> str:
    """The user's words first: what is unknown, the closest valid key, then the keys of this look's
    stages (not of every stage the backend has) and which stages a ``--param`` can add."""
    valid = _valid_keys(hello, workflow, main)
    own = f"{main}."  # "toon.levels" means the look's own "levels"
    candidates = valid + [own + k for k in valid if "." not in k]
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    hint = f"did you mean {close[0].removeprefix(own)!r}? " if close else ""
    in_flow = ", ".join(_valid_keys(hello, workflow, main, addable_too=False)) or "none"
    names = {st["name"] for st in workflow["stages"]}
    extra = sorted(e["name"] for e in hello.get("stages", []) if e.get("name") not in names and addable(hello, e["name"]))
    more = f"; --param can also add the stages {', '.join(extra)} (e.g. {extra[0]}.KEY=VALUE)" if extra else ""
    stage = key.partition(".")[0] if "." in key else ""
    if stage and stage != main and any(e.get("name") == stage for e in hello.get("stages", [])):
        theirs = ", ".join(f"{stage}.{p['name']}" for p in stage_params(hello, stage)) or "none"
        return f"unknown parameter {key!r} for look {workflow['look']!r}: {hint}the {stage} stage's parameters are {theirs}{more}"
    return f"unknown parameter {key!r} for look {workflow['look']!r}: {hint}this look's parameters are {in_flow}{more}"


def parse_param_args(hello: dict, workflow: dict, items: list) -> dict:
    """``["strength=0.5", "temporal.strength=0.8", "lora=a", "lora=b"]`` -> ``{stage: {key: value}}``
    (the ``params`` of :class:`JobChoices`) for the look of ``workflow`` (built without the items).

    A KEY without a dot belongs to the look's stylize stage; list-valued keys append. A key of a
    prepare/finish stage that is not in the workflow (``key.key_color=auto``) adds that stage; a key of
    ``stabilize`` is kept for it (the caller turns ``stabilize`` on: every parameter ``looks`` lists is
    accepted). The pass-through look takes no parameters of its own: they are refused, not ignored.
    """
    main = look_stage(hello, workflow)
    passthrough = workflow["look"] == PASSTHROUGH_LOOK
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise WorkflowChoiceError(f"--param {item!r}: expected KEY=VALUE")
        stage, _, name = key.rpartition(".") if "." in key else (main, "", key)
        spec = next((p for p in stage_params(hello, stage) if p["name"] == name), None)
        in_flow = (not passthrough and any(st["name"] == stage for st in workflow["stages"])) \
            or addable(hello, stage) or (stage in NOT_ADDABLE and bool(stage_info(hello, stage)))
        if spec is None or not in_flow:
            raise WorkflowChoiceError(unknown_param_message(hello, workflow, main, key))
        value = parse_value(raw)
        params = out.setdefault(stage, {})
        if spec.get("kind") in LIST_KINDS:
            params.setdefault(name, []).extend(value if isinstance(value, list) else [value])
        else:
            params[name] = value
    return out
