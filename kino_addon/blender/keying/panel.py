"""The Green Screen switch in the Kino tab: key the actor before the look."""
from __future__ import annotations


def draw_switch(layout, kino) -> None:
    box = layout.box()
    box.prop(kino, "key_screen")
    if kino.key_screen:
        box.prop(kino, "key_auto")
        if not kino.key_auto:
            box.prop(kino, "key_color")
        box.prop(kino, "garbage_matte")
