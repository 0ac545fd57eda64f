"""``Scene.kino``: the look, its stage switches and parameters (stored generically), the panel's
switches (Stabilize, Green Screen, Face Similarity), and ``choices_from_scene``, which turns them into
the job's ``JobChoices``.

Stages and parameters come from what the backend advertises in ``session.hello`` (ParamSpecs), so a
new stage or parameter needs no add-on change. Each parameter is one ``KinoParam`` item holding a
value slot per kind; ``sync_from_hello`` rebuilds the items for the current look and keeps values the
user already set.
"""
from __future__ import annotations

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, FloatVectorProperty,
                       IntProperty, IntVectorProperty, PointerProperty, StringProperty)

from ...core.job_workflow import JobChoices, look_stage, offered_looks, preset_workflow, stage_params
from ..connection import BACKEND
from ..compat import BLEND_RELATIVE

_ENUM_CACHE: dict = {}  # Blender needs the item tuples of dynamic enums kept alive


def _cached(key, items):
    _ENUM_CACHE[key] = items
    return items


def _look_items(self, context):
    looks = BACKEND.catalogue().get("looks") or []
    items = [(lk["name"], lk.get("label") or lk["name"], lk.get("help") or "", i) for i, lk in enumerate(looks)]
    if self.look_name and self.look_name not in [i[0] for i in items]:
        items.append((self.look_name, self.look_name, "start the backend to see every look", len(items)))
    return _cached("looks", items or [("toon", "toon", "start the backend to see every look", 0)])


def _get_look(self):
    names = [i[0] for i in _look_items(self, None)]
    return names.index(self.look_name) if self.look_name in names else 0


def _set_look(self, index):
    items = _look_items(self, None)
    self.look_name = items[index][0] if 0 <= index < len(items) else ""


def _on_look(self, context):
    sync_from_hello(self, BACKEND.catalogue())


def _enum_value_items(self, context):
    for spec in stage_params(BACKEND.catalogue(), self.stage):
        if spec["name"] == self.name and spec.get("choices"):
            items = [(str(c), str(c), "", i) for i, c in enumerate(spec["choices"])]
            return _cached((self.stage, self.name), items)
    current = self.str_value or "-"
    return _cached((self.stage, self.name), [(current, current, "", 0)])


def _get_enum(self):
    names = [i[0] for i in _enum_value_items(self, None)]
    return names.index(self.str_value) if self.str_value in names else 0


def _set_enum(self, index):
    items = _enum_value_items(self, None)
    self.str_value = items[index][0] if 0 <= index < len(items) else ""


def _touch(self, context):
    self.changed = True


class KinoParam(bpy.types.PropertyGroup):
    """One advertised parameter. Only values the user changed (``changed``) override the look's preset,
    so a parameter whose default is "unset" (e.g. a seed) stays unset until the user sets it."""
    stage: StringProperty()
    name: StringProperty()
    kind: StringProperty()
    help: StringProperty()
    changed: BoolProperty(default=False)
    int_value: IntProperty(name="Value", update=_touch)
    float_value: FloatProperty(name="Value", precision=3, update=_touch)
    bool_value: BoolProperty(name="Value", update=_touch)
    str_value: StringProperty(name="Value", update=_touch)
    path_value: StringProperty(name="Value", subtype='FILE_PATH', update=_touch, options=BLEND_RELATIVE)
    enum_value: EnumProperty(name="Value", items=_enum_value_items, get=_get_enum, set=_set_enum, update=_touch)

    def value_prop(self) -> str:
        return {"int": "int_value", "float": "float_value", "bool": "bool_value", "enum": "enum_value",
                "path": "path_value", "image": "path_value"}.get(self.kind, "str_value")

    def value(self):
        if self.kind == "int":
            return self.int_value
        if self.kind == "float":
            return self.float_value
        if self.kind == "bool":
            return self.bool_value
        if self.kind in ("path", "image"):
            return bpy.path.abspath(self.path_value) if self.path_value else None
        if self.kind == "list":
            items = [v.strip() for v in self.str_value.split(";") if v.strip()]
            return items or None
        return self.str_value or None

    def set_value(self, value) -> None:
        if value is None:
            return
        if self.kind == "int":
            self.int_value = int(value)
        elif self.kind == "float":
            self.float_value = float(value)
        elif self.kind == "bool":
            self.bool_value = bool(value)
        elif self.kind in ("path", "image"):
            self.path_value = str(value)
        elif self.kind == "list":
            self.str_value = "; ".join(map(str, value if isinstance(value, list) else [value]))
        else:
            self.str_value = str(value)


class KinoStageToggle(bpy.types.PropertyGroup):
    """The on/off switch of one of the look's own stages (e.g. temporal)."""
    name: StringProperty()
    enabled: BoolProperty(name="Enabled", default=True)


class KinoSceneProps(bpy.types.PropertyGroup):
    """The Kino tab's settings of a scene: the look, its stages' switches and parameters, the panel's
    switches. ``synced_look`` is the look the items were last built for (from the backend's hello)."""
    look_name: StringProperty(name="Look", default="toon")
    look: EnumProperty(name="Look", description="The style to apply", items=_look_items, get=_get_look,
                       set=_set_look, update=_on_look)
    synced_look: StringProperty()
    stages: CollectionProperty(type=KinoStageToggle)
    params: CollectionProperty(type=KinoParam)
    stabilize: BoolProperty(name="Stabilize", description="Stabilize the shot before the look (Blender's "
                            "tracker) and put the camera motion back after it")
    track_mode: EnumProperty(name="Lock to", default='CAMERA', items=[
        ('CAMERA', "Background", "Lock the camera to the static background (moving people are ignored)"),
        ('FACE', "Face", "Lock to the actor's face, found automatically"),
        ('REGION', "Region", "Lock to a region of the source frame")])
    track_region: IntVectorProperty(name="Region", size=4, min=0, default=(0, 0, 64, 64),
                                    description="X, Y, width, height in source pixels (origin top-left)")

    key_screen: BoolProperty(name="Green Screen", description="Key the actor off a green or blue screen before "
                             "the look: the result strip carries the matte as alpha and lays the stylized actor "
                             "over the strips below it (Alpha Over). Stylize the background strip on its own")
    key_auto: BoolProperty(name="Find Screen Colour", default=True,
                           description="Detect the screen colour from the first frames")
    key_color: FloatVectorProperty(name="Screen Colour", subtype='COLOR_GAMMA', size=3, min=0.0, max=1.0,
                                   default=(40 / 255, 180 / 255, 60 / 255), description="The screen's colour")
    garbage_matte: StringProperty(name="Garbage Matte", description="X,Y,W,H in source pixels (origin top-left): "
                                  "everything outside is background (empty: the whole frame)")

    face_score: BoolProperty(name="Face Similarity", description="Score how well the stylized frames keep "
                             "the actor's face (insightface pack from the models folder); shown after the job "
                             "and written to kino.json")
    face_pack: StringProperty(name="Face Pack", default="buffalo_l", description="insightface pack: a folder "
                              "name under <models folder>/insightface/models/, or a folder path")

    def key_params(self) -> dict:
        """The ``key`` stage's parameters from the Green Screen settings."""
        color = "auto" if self.key_auto else ",".join(str(round(c * 255)) for c in self.key_color)
        return {"key_color": color, "garbage_matte": self.garbage_matte.strip()}

    def track_region_arg(self) -> str:
        """The --track-region form of the tracking choice ("" for a camera lock)."""
        if self.track_mode == 'FACE':
            return "face"
        if self.track_mode == 'REGION':
            return ",".join(str(v) for v in self.track_region)
        return ""


def sync_from_hello(kino, hello: dict) -> None:
    """Rebuild stage switches and parameter items for ``kino.look_name`` (keeps values already set)."""
    names = offered_looks(hello)
    if not names:
        return
    if kino.look_name not in names:
        kino.look_name = "toon" if "toon" in names else names[0]
    workflow = preset_workflow(hello, kino.look_name)
    old = {(p.stage, p.name): p.value() for p in kino.params if p.changed}
    old_enabled = {s.name: s.enabled for s in kino.stages}
    kino.params.clear()
    kino.stages.clear()
    main = look_stage(hello, workflow)
    for st in workflow["stages"]:
        if st["name"] != main:
            toggle = kino.stages.add()
            toggle.name = st["name"]
            toggle.enabled = old_enabled.get(st["name"], st["enabled"])
        for spec in stage_params(hello, st["name"]):
            item = kino.params.add()
            item.stage, item.name, item.kind = st["name"], spec["name"], spec.get("kind", "str")
            item.help = spec.get("help") or ""
            item.set_value(st["params"].get(spec["name"], spec.get("default")))
            item.changed = False
            if (st["name"], spec["name"]) in old:
                item.set_value(old[(st["name"], spec["name"])])
                item.changed = True
    kino.synced_look = kino.look_name


def choices_from_scene(kino, hello: dict) -> JobChoices:
    """What the panel says for the next job: the look, the parameters the user changed, the look's
    stage switches, and the panel's switches as stage entries (Face Similarity and Green Screen add
    their stages through ``params``; Stabilize with its track region)."""
    if kino.synced_look != kino.look_name:
        sync_from_hello(kino, hello)
    params: dict = {}
    if kino.face_score:  # first, so its finish sees the final frames
        params["face_score"] = {"pack": kino.face_pack}
    if kino.key_screen:
        params["key"] = kino.key_params()
    for p in kino.params:
        value = p.value() if p.changed else None
        if value is not None:
            params.setdefault(p.stage, {})[p.name] = value
    return JobChoices(look=kino.look_name, params=params, enabled={s.name: s.enabled for s in kino.stages},
                      stabilize=kino.stabilize, track_region=kino.track_region_arg() if kino.stabilize else "")


def on_register():
    bpy.types.Scene.kino = PointerProperty(type=KinoSceneProps)
    BACKEND.catalogue()  # read the looks menu's offline copy now: draw() does no file I/O


def on_unregister():
    del bpy.types.Scene.kino


CLASSES = (KinoParam, KinoStageToggle, KinoSceneProps)
