"""What, besides its files and timing, decides the picture a strip shows in the sequencer: its colour
settings, its modifiers and the effect strips that take it as input (a Speed effect, a transform). The
frames Kino stylizes are rendered with all of them, so they belong to the job's settings hash: change
one and the next Stylize makes a new result instead of reusing frames made before the change.

Only settings that differ from a plain strip are recorded, so a plain strip's hash stays what it was.
"""
from __future__ import annotations

SIMPLE = {"BOOLEAN", "INT", "FLOAT", "STRING", "ENUM"}
SKIP = {"rna_type", "name", "select", "select_left_handle", "select_right_handle", "lock", "show_expanded",
        "is_active", "color_tag", "channel"}
PLAIN_COLOUR = {"color_saturation": 1.0, "color_multiply": 1.0}


def _value(struct, prop):
    value = getattr(struct, prop.identifier, None)
    if getattr(prop, "is_array", False) or (prop.type == "ENUM" and getattr(prop, "is_enum_flag", False)):
        value = list(value) if not isinstance(value, (set, frozenset)) else sorted(value)
    if isinstance(value, float):
        value = round(value, 6)
    elif isinstance(value, list):
        value = [round(v, 6) if isinstance(v, float) else v for v in value]
    return value


TIMING = ("frame_", "animation_offset", "content_", "left_handle", "right_handle", "duration")


def rna_values(struct) -> dict:
    """The simple properties (numbers, flags, enums, text) of a Blender struct, by name; an effect strip's
    timing is left out (it follows its input, which the identity has already)."""
    out = {}
    for prop in struct.bl_rna.properties:
        if prop.identifier in SKIP or prop.type not in SIMPLE or prop.identifier.startswith(TIMING):
            continue
        out[prop.identifier] = _value(struct, prop)
    return out


def feeds(strip, target: str) -> bool:
    """True for effect strips (e.g. Speed) whose inputs lead to the strip named ``target``."""
    for name in ("input_1", "input_2"):
        inp = getattr(strip, name, None)
        if inp is not None and (inp.name == target or feeds(inp, target)):
            return True
    return False


def _feeding_effects(strip) -> list:
    """Effect strips whose input chain leads to ``strip`` (what the extraction renders with it)."""
    sed = getattr(strip.id_data, "sequence_editor", None)
    if sed is None:
        return []
    return sorted((s for s in sed.strips_all if feeds(s, strip.name)), key=lambda s: s.name)


def look_settings(strip) -> dict:
    """The strip's settings beyond files and timing that change its picture, when they are not plain."""
    out = {}
    colour = {k: round(getattr(strip, k), 6) for k, plain in PLAIN_COLOUR.items()
              if hasattr(strip, k) and abs(getattr(strip, k) - plain) > 1e-6}
    if colour:
        out["colour"] = colour
    modifiers = [dict(rna_values(m), type=m.type) for m in getattr(strip, "modifiers", [])]
    if modifiers:
        out["modifiers"] = modifiers
    effects = [dict(rna_values(e), type=e.type) for e in _feeding_effects(strip)]
    if effects:
        out["effects"] = effects
    return out
