"""Build a job's workflow from what the backend advertises (``session.hello``) and the user's choices.

``hello["looks"]`` lists the looks: ``{name, stages, params, label?, help?, workflow?}`` where
``stages`` holds the preset's stage entries (names or ``{name, enabled, params}``) and ``params`` the
ParamSpecs of the look's stylize stage; ``hello["stages"]`` lists every registered stage with its
``role`` and ``params``. The same functions serve the panel (overrides stored in ``Scene.kino``) and
``scripts/kino stylize --param`` (contract §3).
"""
from __future__ import annotations

import copy
import json

NONE_LOOK = "none"
LIST_KINDS = ("list",)


class WorkflowError(ValueError):
    """An unknown look, stage or parameter; the message lists the valid ones."""


def look_names(hello: dict) -> list:
    return [entry["name"] for entry in hello.get("looks", [])]


def find_look(hello: dict, look: str) -> dict:
    for entry in hello.get("looks", []):
        if entry.get("name") == look:
            return entry
    raise WorkflowError(f"unknown look {look!r}; the backend offers: {', '.join(look_names(hello)) or 'none'}")


def stage_info(hello: dict, name: str) -> dict:
    for entry in hello.get("stages", []):
        if entry.get("name") == name:
            return entry
    return {}


def stage_params(hello: dict, name: str) -> list:
    """ParamSpecs (dicts) of a stage, as advertised."""
    return list(stage_info(hello, name).get("params") or [])


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


def parse_value(text: str):
    """VALUE of ``--param KEY=VALUE``: JSON when it parses, else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _valid_keys(hello: dict, workflow: dict, main: str) -> list:
    keys = [p["name"] for p in stage_params(hello, main)]
    names = [st["name"] for st in workflow["stages"] if st["name"] != main]
    names += [e["name"] for e in hello.get("stages", []) if e.get("name") not in names and addable(hello, e["name"])]
    for name in names:
        keys += [f"{name}.{p['name']}" for p in stage_params(hello, name)]
    return keys


def addable(hello: dict, stage: str) -> bool:
    """A registered prepare/finish stage a ``--param STAGE.KEY=...`` may add to any look (``key``,
    ``face_score``); ``stabilize`` comes with ``--stabilize`` because it needs the tracking."""
    return stage != "stabilize" and stage_info(hello, stage).get("role") in ("prepare", "finish")


def parse_param_args(hello: dict, workflow: dict, items: list) -> dict:
    """``["strength=0.5", "temporal.strength=0.8", "lora=a", "lora=b"]`` -> ``{stage: {key: value}}``.

    A KEY without a dot belongs to the look's stylize stage; list-valued keys append. A key of a
    prepare/finish stage that is not in the workflow (``key.key_color=auto``) adds that stage.
    """
    main = look_stage(hello, workflow)
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise WorkflowError(f"--param {item!r}: expected KEY=VALUE")
        stage, _, name = key.rpartition(".") if "." in key else (main, "", key)
        spec = next((p for p in stage_params(hello, stage) if p["name"] == name), None)
        in_flow = any(st["name"] == stage for st in workflow["stages"]) or addable(hello, stage)
        if spec is None or not in_flow:
            valid = _valid_keys(hello, workflow, main)
            raise WorkflowError(f"unknown parameter {key!r} for look {workflow['look']!r}; valid: "
                                f"{', '.join(valid) or 'none'}")
        value = parse_value(raw)
        params = out.setdefault(stage, {})
        if spec.get("kind") in LIST_KINDS:
            params.setdefault(name, []).extend(value if isinstance(value, list) else [value])
        else:
            params[name] = value
    return out


def compose_workflow(hello: dict, look: str, overrides: dict | None = None, enabled: dict | None = None,
                     temporal: bool | None = None) -> dict:
    """The look's preset with parameter ``overrides`` ({stage: {key: value}}), stage switches
    (``enabled`` {stage: bool}) and the temporal switch applied. The ``none`` look ignores them all."""
    workflow = preset_workflow(hello, look)
    if look == NONE_LOOK:  # frames pass through: only added prepare/finish stages (key, face_score) apply
        overrides = {k: v for k, v in (overrides or {}).items() if addable(hello, k)}
        enabled, temporal = None, None
    if temporal is not None:
        enabled = dict(enabled or {}, temporal=temporal)
        if temporal and not any(st["name"] == "temporal" for st in workflow["stages"]) \
                and stage_info(hello, "temporal"):
            workflow["stages"].append({"name": "temporal", "enabled": True, "params": {}})
    names = {st["name"] for st in workflow["stages"]}
    for stage in reversed(list(overrides or {})):  # added stages go first, as add_stage_first puts them
        if stage not in names and addable(hello, stage):
            workflow["stages"].insert(0, {"name": stage, "enabled": True, "params": {}})
    for st in workflow["stages"]:
        if enabled and st["name"] in enabled:
            st["enabled"] = bool(enabled[st["name"]])
        st["params"].update(copy.deepcopy((overrides or {}).get(st["name"], {})))
    return workflow


def add_stage_first(workflow: dict, name: str, params: dict | None = None) -> dict:
    """A copy of ``workflow`` with stage ``name`` enabled and first (e.g. "stabilize"); parameters the
    workflow already gave that stage are kept (``params`` override them)."""
    out = copy.deepcopy(workflow)
    old = next((st for st in out["stages"] if st["name"] == name), None)
    out["stages"] = [st for st in out["stages"] if st["name"] != name]
    merged = dict(old["params"] if old else {}, **(params or {}))
    out["stages"].insert(0, {"name": name, "enabled": True, "params": merged})
    return out


def split_stage_params(hello: dict, items: list, stage: str) -> tuple:
    """``--param`` items of ``stage`` (e.g. "stabilize.canvas=expand") -> ({key: value}, other items);
    an unknown key of that stage is refused with the valid ones."""
    mine, rest = {}, []
    for item in items:
        key, sep, raw = item.partition("=")
        name = key.strip()
        if not name.startswith(stage + ".") or not sep:
            rest.append(item)
            continue
        valid = [p["name"] for p in stage_params(hello, stage)]
        if name[len(stage) + 1:] not in valid:
            raise WorkflowError(f"unknown parameter {name!r}; {stage} has: "
                                + ", ".join(f"{stage}.{v}" for v in valid))
        mine[name[len(stage) + 1:]] = parse_value(raw)
    return mine, rest
