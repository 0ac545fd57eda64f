"""The Stabilize switch in the Kino tab: stabilize before the look, and what the tracker locks to."""
from __future__ import annotations


def draw_switch(layout, kino) -> None:
    box = layout.box()
    box.prop(kino, "stabilize")
    if kino.stabilize:
        box.prop(kino, "track_mode")
        if kino.track_mode == 'REGION':
            box.prop(kino, "track_region")
