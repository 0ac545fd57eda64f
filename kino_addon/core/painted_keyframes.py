"""Painted keyframes on the add-on side (no bpy): which frames to export for painting, the painted
frames a folder holds, and a stamp of their content for the job's settings hash (repainting a frame
changes the stamp, so the next Stylize makes a new result instead of reusing the old one).

Frames are numbered by the clip: 1 = the strip's first visible frame (the numbering of ``--frames``
and of a whole-strip Stylize's output)."""
from __future__ import annotations

import hashlib
import os
import re

FRAME_RE = re.compile(r"^frame_(\d{4,})\.png$", re.IGNORECASE)


class KeyframeChoiceError(ValueError):
    """A frame choice that cannot be read; the message shows the accepted forms."""


def painted_numbers(folder: str) -> list:
    """Clip frame numbers of the ``frame_NNNN.png`` files in ``folder`` (sorted; [] when missing)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(int(m.group(1)) for m in map(FRAME_RE.match, names) if m)


def folder_stamp(folder: str) -> str:
    """A short hash of the painted frames' names, sizes and modification times."""
    h = hashlib.sha1()
    try:
        names = sorted(n for n in os.listdir(folder) if FRAME_RE.match(n))
    except OSError:
        names = []
    for name in names:
        try:
            st = os.stat(os.path.join(folder, name))
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns};".encode())
        except OSError:
            h.update(f"{name}:missing;".encode())
    return h.hexdigest()[:12]


def parse_frame_choice(text: str, count: int, current: int = 0) -> list:
    """Frame numbers (1..count) from ``"every 8"``, ``"1, 9, 20-24"``, ``"current"`` (``current`` is
    the clip frame under the playhead) or a mix separated by commas. Out-of-range numbers are an error."""
    out = set()
    parts = [p.strip().lower() for p in (text or "").split(",") if p.strip()]
    if not parts:
        raise KeyframeChoiceError("say which frames to export: e.g. 'every 8', '1, 9, 17', '20-24' or 'current'")
    for part in parts:
        m_every = re.fullmatch(r"every\s+(\d+)", part)
        m_range = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        if m_every:
            step = int(m_every.group(1))
            if step < 1:
                raise KeyframeChoiceError("'every N' needs N >= 1")
            out.update(range(1, count + 1, step))
            if count > 1 and (count - 1) % step:
                out.add(count)  # the shot's last frame too: every in-between gets two sides
        elif m_range:
            a, b = int(m_range.group(1)), int(m_range.group(2))
            if b < a:
                raise KeyframeChoiceError(f"frames {part}: the end comes before the start")
            out.update(range(a, b + 1))
        elif part == "current":
            out.add(current)
        elif part.isdigit():
            out.add(int(part))
        else:
            raise KeyframeChoiceError(f"cannot read {part!r}: use 'every 8', '1, 9, 17', '20-24' or 'current'")
    bad = sorted(n for n in out if not 1 <= n <= count)
    if bad:
        raise KeyframeChoiceError(f"frame(s) {', '.join(map(str, bad[:5]))} lie outside the strip's frames 1-{count}")
    return sorted(out)


def fill_note(provenance: dict) -> str | None:
    """After a keyframes job, from its provenance: how much of the frames no painted keyframe reached
    and which frames to paint next (the panel shows the same), or None for another look."""
    kf = ((provenance or {}).get("stages") or {}).get("keyframes") or {}
    if not kf.get("frames"):
        return None
    text = (f"{kf.get('fill_mean', 0) * 100:.1f}% of the frames filled on average (no painted keyframe saw it), "
            f"most {kf.get('fill_max', 0) * 100:.1f}% at frame {kf.get('fill_max_frame')}")
    suggest = kf.get("suggest") or []
    if suggest:
        return text + f"; paint frame{'s' if len(suggest) > 1 else ''} {', '.join(map(str, suggest))} next"
    return text + "; every frame is covered by your keyframes"
