"""How many frames an MP4/MOV file holds and whether they are evenly spaced in time, from its sample
tables (the ``stts`` box of the video track), without decoding it.

Phones and screen recorders write variable-frame-rate files: most frames 1/25 s apart, a few closer or
further. Blender's sequencer shows a movie at one frame rate and picks, for each timeline frame, the
frame at that time, so in a stretch where frames come closer together one is never shown (and where
they are further apart, one is shown twice). Kino stylizes the frames the sequencer shows; the
command line says when that is not every frame of the file. It also says when the file ends before the
data its boxes declare (a cut-off copy or download): Blender then repeats the last frame it could read,
or decodes damaged ones, without a word.
"""
from __future__ import annotations

import os
import struct
from typing import Iterator, Optional, Tuple

CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl")
FIRST_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")  # what an MP4/MOV file starts with
MAX_MOOV = 256 * 2 ** 20  # larger than any real sample table: a damaged header is not read into memory


def _boxes(data: bytes, off: int, end: int) -> Iterator[Tuple[bytes, int, int]]:
    while off + 8 <= end:
        size, kind = struct.unpack(">I4s", data[off:off + 8])
        head = 8
        if size == 1:
            size, head = struct.unpack(">Q", data[off + 8:off + 16])[0], 16
        elif size == 0:
            size = end - off
        if size < head:
            return
        yield kind, off + head, min(off + size, end)
        off += size


def _top_boxes(fh, total: int) -> Iterator[Tuple[bytes, int, int, int]]:
    """(kind, offset, header length, declared size) of each top-level box of the open file (size 0, "to
    the end", is the rest of the file); stops at a box too small to be one."""
    off = 0
    while off + 8 <= total:
        fh.seek(off)
        head = fh.read(16)
        size, kind = struct.unpack(">I4s", head[:8])
        start = 8
        if size == 1:
            size, start = struct.unpack(">Q", head[8:16])[0], 16
        elif size == 0:
            size = total - off
        if size < start:
            return
        yield kind, off, start, size
        off += size


def _moov(path: str) -> Optional[bytes]:
    """The ``moov`` box's content (at the start or the end of the file)."""
    with open(path, "rb") as fh:
        for kind, off, start, size in _top_boxes(fh, os.fstat(fh.fileno()).st_size):
            if kind == b"moov":
                if size > MAX_MOOV:
                    return None
                fh.seek(off + start)
                return fh.read(size - start)
    return None


def _video_stts(moov: bytes) -> Optional[list]:
    """[(count, delta), ...] of the first video track."""
    for kind, start, end in _boxes(moov, 0, len(moov)):
        if kind != b"trak":
            continue
        found = {}
        _collect(moov, start, end, found)
        if found.get(b"hdlr") == b"vide" and b"stts" in found:
            return found[b"stts"]
    return None


def _collect(data: bytes, start: int, end: int, found: dict) -> None:
    for kind, s, e in _boxes(data, start, end):
        if kind in CONTAINERS:
            _collect(data, s, e, found)
        elif kind == b"hdlr":
            found[b"hdlr"] = data[s + 8:s + 12]
        elif kind == b"stts":
            n = struct.unpack(">I", data[s + 4:s + 8])[0]
            found[b"stts"] = [struct.unpack(">II", data[s + 8 + 8 * i:s + 16 + 8 * i]) for i in range(min(n, (e - s - 8) // 8))]


def video_timing(path: str) -> Optional[dict]:
    """``{"frames": N, "uniform": bool}`` for an MP4/MOV file's video track, or None (another container,
    or tables it cannot read)."""
    try:
        moov = _moov(path)
        stts = _video_stts(moov) if moov else None
    except (OSError, struct.error):
        return None
    if not stts:
        return None
    deltas = {d for count, d in stts if count}
    return {"frames": sum(count for count, _ in stts), "uniform": len(deltas) <= 1}


def variable_rate_note(path: str, shown_frames: int) -> Optional[str]:
    """One line when a variable-frame-rate movie holds another number of frames than Blender shows
    (``shown_frames``: the sequencer strip's or the movie clip's length); None for anything else."""
    timing = video_timing(path)
    if timing is None or timing["uniform"] or timing["frames"] == shown_frames:
        return None
    return (f"{os.path.basename(path)} has a variable frame rate: it holds {timing['frames']} frames, of which "
            f"Blender's sequencer shows {shown_frames} at the scene's frame rate (where frames come closer "
            "together one is skipped, where they come further apart one is shown twice), and those are the "
            "frames Kino works on; to keep every frame, write its frames to a folder and give Kino the folder "
            "(e.g. ffmpeg -i IN -fps_mode passthrough frames/frame_%05d.png)")


def truncated_note(path: str) -> Optional[str]:
    """One line when an MP4/MOV file's top-level boxes reach past its end (the file was cut off), else None."""
    try:
        with open(path, "rb") as fh:
            total = os.fstat(fh.fileno()).st_size
            for i, (kind, off, _start, size) in enumerate(_top_boxes(fh, total)):
                if i == 0 and kind not in FIRST_BOXES:
                    return None  # not an MP4/MOV file
                if off + size > total:
                    missing = 100.0 * (off + size - total) / (off + size)
                    return (f"{os.path.basename(path)} ends before its data does (about {missing:.0f}% of it is "
                            "missing: a cut-off copy or download?); Blender repeats the last frame it can read or "
                            "shows damaged ones after that point: copy or download the file again")
    except (OSError, struct.error):
        return None
    return None


def movie_notes(path: str, shown_frames: int) -> list:
    """What the user should know about a movie file before its frames are used (variable frame rate, a
    cut-off file); [] for anything else."""
    return [n for n in (variable_rate_note(path, shown_frames), truncated_note(path)) if n]
