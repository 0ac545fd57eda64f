"""The pixel size of an image file from its header alone (PNG, JPEG, BMP, TIFF), without decoding it, and
the frames of an image sequence whose size differs from its first frame's.

Blender's sequencer shows an image strip's frames at their own size, centred on the strip's first
frame's size: a larger frame is cropped, a smaller one gets a border. A folder with mixed sizes is
therefore stylized as the sequencer shows it, which is rarely what was meant; the command line says so.
"""
from __future__ import annotations

import os
import struct
from typing import List, Optional, Tuple

Size = Tuple[int, int]


def _png(head: bytes) -> Optional[Size]:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    return None


def _bmp(head: bytes) -> Optional[Size]:
    if head[:2] == b"BM" and len(head) >= 26:
        w, h = struct.unpack("<ii", head[18:26])
        return w, abs(h)
    return None


def _jpeg(fh) -> Optional[Size]:
    fh.seek(2)
    while True:
        marker = fh.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            return None
        kind = marker[1]
        if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:
            continue  # markers without a length
        length = fh.read(2)
        if len(length) < 2:
            return None
        size = struct.unpack(">H", length)[0]
        if 0xC0 <= kind <= 0xCF and kind not in (0xC4, 0xC8, 0xCC):  # a start-of-frame segment
            data = fh.read(5)
            return (struct.unpack(">H", data[3:5])[0], struct.unpack(">H", data[1:3])[0]) if len(data) == 5 else None
        fh.seek(size - 2, os.SEEK_CUR)


def _tiff(fh, head: bytes) -> Optional[Size]:
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or struct.unpack(order + "H", head[2:4])[0] != 42:
        return None
    fh.seek(struct.unpack(order + "I", head[4:8])[0])
    count_raw = fh.read(2)
    if len(count_raw) < 2:
        return None
    found = {}
    for _ in range(struct.unpack(order + "H", count_raw)[0]):
        entry = fh.read(12)
        if len(entry) < 12:
            return None
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
            found[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), entry[8:10] if kind == 3 else entry[8:12])[0]
    return (found[256], found[257]) if 256 in found and 257 in found else None


def image_size(path: str) -> Optional[Size]:
    """(width, height) from the file's header, or None (another format, or a header it cannot read)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
            size = _png(head) or _bmp(head)
            if size is None and head[:2] == b"\xff\xd8":
                size = _jpeg(fh)
            if size is None and head[:2] in (b"II", b"MM"):
                size = _tiff(fh, head)
    except (OSError, struct.error):
        return None
    return (int(size[0]), int(size[1])) if size else None


def mismatched_sizes(paths: List[str], first: Optional[Size] = None) -> List[Tuple[int, Size]]:
    """(1-based frame number, size) of every frame whose header size differs from the first frame's
    (``first``, read when not given; frames whose size cannot be read from the header are left out)."""
    first = first or (image_size(paths[0]) if paths else None)
    if first is None:
        return []
    sizes = ((i, image_size(path)) for i, path in enumerate(paths[1:], start=2))
    return [(i, size) for i, size in sizes if size is not None and size != first]


def mixed_size_note(folder: str, paths: List[str]) -> Optional[str]:
    """One line for the command line when an image sequence's frames are not all the first frame's size."""
    first = image_size(paths[0]) if paths else None
    odd = mismatched_sizes(paths, first) if first else []
    if not odd:
        return None
    w, h = first
    shown = ", ".join(f"{n} ({sw}x{sh})" for n, (sw, sh) in odd[:4]) + (" ..." if len(odd) > 4 else "")
    return (f"{len(odd)} frame{'s' if len(odd) > 1 else ''} of {folder} differ from frame 1's size {w}x{h}: {shown}; "
            "they are stylized as Blender's sequencer shows them, centred at their own size (cropped, or with "
            "a border); scale the frames to one size first if that is not what you want")


def folder_notes(path: str) -> list:
    """What the user should know about an image folder used as footage: images left out of its sequence,
    frame numbers that skip, frames of mixed sizes (nothing for a movie file or a folder without images)."""
    from .media import MediaError, left_out_note, numbering_note, sequence_files
    if not os.path.isdir(path):
        return []
    try:
        names, other = sequence_files(path)
    except MediaError:
        return []
    notes = [left_out_note(path, names, other), numbering_note(path, names),
             mixed_size_note(path, [os.path.join(path, n) for n in names])]
    return [n for n in notes if n]
