"""Model choices in the panel: the backend's local registry (``models.list``) offered next to each
model parameter. ``Refresh Models`` asks the backend (the only I/O, in an operator); drawing and the
menu's items read the cached list only."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from ..protocol import messages
from ..protocol.errors import BackendError
from . import compat
from .connection import BACKEND, BackendUnavailable
from .prefs import models_dir

# parameter name -> registry kind whose entries it accepts (RAFT's .pth weights are not listed: a path)
PARAM_KINDS = {"model": "checkpoint", "vae": "vae", "taesd": "taesd", "ip_adapter": "ip_adapter", "faceid": "ip_adapter",
               "lora": "lora", "controlnet": "controlnet", "pulid": "pulid",
               "pulid_encoder": "eva_clip", "motion_adapter": "motion_adapter"}
LOADABLE_CHECKPOINTS = ("sd15", "sdxl")  # SD 2.x and SDXL refiners are listed with a note, never offered
# parameters that take only some variants of their kind (IP-Adapter files: image vs face adapters)
PARAM_VARIANTS = {"ip_adapter": ("plain", "plus"), "faceid": ("faceid", "faceid_plus"),
                  "motion_adapter": ("v1", "v2", "v3", "animatelcm")}
MODELS: dict = {"entries": [], "error": ""}
_ITEMS: dict = {}


def picker_kind(item) -> str:
    return PARAM_KINDS.get(item.name, "") if item.kind in ("path", "list") else ""


def usable(entry: dict) -> bool:
    """A registry entry a look can load: not invalid or unknown, not an inpainting (...) checkpoint,
    not an SD 2.x checkpoint or an SDXL refiner."""
    return entry.get("kind") not in ("invalid", "unknown") and not entry.get("made_for") and \
        (entry.get("kind") != "checkpoint" or entry.get("arch") in LOADABLE_CHECKPOINTS)


def entries_of(kind: str, param: str = "") -> list:
    variants = PARAM_VARIANTS.get(param)
    return [e for e in MODELS["entries"] if e.get("kind") == kind and usable(e)
            and (variants is None or e.get("variant", variants[0]) in variants)]


def refresh_summary(entries: list, truncated: str = "") -> str:
    """What Refresh Models reports: the models Kino can use, then the files it cannot, each with why."""
    unusable = [e for e in entries if not usable(e)]
    count = len(entries) - len(unusable)
    text = f"{count} model{'' if count == 1 else 's'} found"
    if unusable:
        named = "; ".join(f"{e.get('name')}: {e.get('error') or e.get('note') or e.get('kind')}" for e in unusable[:3])
        more = f" (and {len(unusable) - 3} more: scripts/kino models list)" if len(unusable) > 3 else ""
        text += f"; {len(unusable)} cannot be used — {named}{more}"
    return text + (f"; {truncated}" if truncated else "")


def _choice_items(self, context):
    kind = PARAM_KINDS.get(self.param, "")
    items = [(e["path"], e["name"], f"{e.get('arch') or ''} {e['path']}".strip(), i)
             for i, e in enumerate(entries_of(kind, self.param))]
    if not items:
        hint = MODELS["error"] or "no models of this kind found: set the Models folder, then Refresh Models"
        items = [("", "(none found)", hint, 0)]
    _ITEMS[kind] = items  # Blender needs the tuples kept alive
    return items


class KINO_OT_refresh_models(bpy.types.Operator):
    """Ask the backend which models it finds in the models folder and the Hugging Face cache"""
    bl_idname = "kino.refresh_models"
    bl_label = "Refresh Models"

    def execute(self, context):
        body = {"models_dir": models_dir()} if models_dir() else {}
        try:
            client = BACKEND.ensure()
            answer, _ = client.request(messages.MODELS_LIST, body)
        except (BackendError, BackendUnavailable) as exc:
            MODELS["error"] = getattr(exc, "message", str(exc))
            self.report({'ERROR'}, f"Kino: {MODELS['error']}")
            return {'CANCELLED'}
        MODELS["entries"], MODELS["error"] = answer.get("models") or [], ""
        entries = MODELS["entries"]
        warn = answer.get("truncated") or not all(usable(e) for e in entries)
        self.report({'WARNING'} if warn else {'INFO'}, f"Kino: {refresh_summary(entries, answer.get('truncated') or '')}")
        return {'FINISHED'}


class KINO_OT_pick_model(bpy.types.Operator):
    """Use a model the backend found (list parameters such as LoRAs get it appended)"""
    bl_idname = "kino.pick_model"
    bl_label = "Pick Model"
    bl_property = "choice"

    stage: StringProperty(options={'HIDDEN'})
    param: StringProperty(options={'HIDDEN'})
    choice: EnumProperty(name="Model", items=_choice_items)

    def execute(self, context):
        if not self.choice:
            self.report({'WARNING'}, "Kino: no model chosen (Refresh Models first)")
            return {'CANCELLED'}
        kino = compat.sequencer_scene(context).kino
        for item in kino.params:
            if item.stage == self.stage and item.name == self.param:
                if item.kind == "list":
                    current = [v.strip() for v in item.str_value.split(";") if v.strip()]
                    item.str_value = "; ".join(current + [self.choice])
                else:
                    item.path_value = self.choice
                item.changed = True
                return {'FINISHED'}
        self.report({'ERROR'}, f"Kino: no parameter {self.stage}.{self.param}")
        return {'CANCELLED'}


def draw_param(layout, item, label: str) -> None:
    """One parameter row; model parameters get a menu of the models the backend found."""
    kind = picker_kind(item)
    if not kind:
        layout.prop(item, item.value_prop(), text=label)
        return
    row = layout.row(align=True)
    row.prop(item, item.value_prop(), text=label)
    props = row.operator_menu_enum("kino.pick_model", "choice", text="", icon='DOWNARROW_HLT')
    props.stage, props.param = item.stage, item.name


CLASSES = (KINO_OT_refresh_models, KINO_OT_pick_model)
