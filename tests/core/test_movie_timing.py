"""Frame count and evenness of an MP4/MOV's frames from its sample tables, and the variable-frame-rate note."""
from __future__ import annotations

import struct

import cv2
import numpy as np

from kino_addon.core.movie_timing import variable_rate_note, video_timing


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def movie(tmp_path, stts, moov_last=False, name="clip.mp4"):
    """A minimal ISO media file: an audio track first, then the video track with ``stts`` entries."""
    def trak(handler, entries):
        table = box(b"stts", struct.pack(">II", 0, len(entries)) + b"".join(struct.pack(">II", *e) for e in entries))
        return box(b"trak", box(b"mdia", box(b"hdlr", b"\0" * 8 + handler + b"\0" * 13) +
                                box(b"minf", box(b"stbl", table))))
    moov = box(b"moov", trak(b"soun", [(400, 1024)]) + trak(b"vide", stts))
    parts = [box(b"ftyp", b"isom\0\0\0\0"), box(b"mdat", b"\0" * 64)]
    data = b"".join(parts + [moov] if moov_last else [parts[0], moov, parts[1]])
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_variable_and_constant_rates(tmp_path):
    vfr = movie(tmp_path, [(157, 512), (1, 256), (2, 512), (1, 256), (84, 512)], moov_last=True)
    assert video_timing(vfr) == {"frames": 245, "uniform": False}
    cfr = movie(tmp_path, [(120, 1001)], name="cfr.mov")
    assert video_timing(cfr) == {"frames": 120, "uniform": True}
    note = variable_rate_note(vfr, 244)
    assert "variable frame rate" in note and "holds 245 frames" in note and "shows 244" in note
    assert "give Kino the folder" in note
    assert variable_rate_note(vfr, 245) is None and variable_rate_note(cfr, 119) is None


def test_other_files_give_no_timing(tmp_path):
    (tmp_path / "text.mp4").write_text("not a movie at all")
    (tmp_path / "cut.mp4").write_bytes(struct.pack(">I4s", 4000, b"moov") + b"\0" * 20)
    assert video_timing(str(tmp_path / "text.mp4")) is None and video_timing(str(tmp_path / "cut.mp4")) is None
    assert video_timing(str(tmp_path / "missing.mp4")) is None


def test_a_file_opencv_writes(tmp_path):
    path = str(tmp_path / "cv.mp4")
    out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
    for i in range(7):
        out.write(np.full((48, 64, 3), 30 * i, np.uint8))
    out.release()
    assert video_timing(path) == {"frames": 7, "uniform": True}


def test_a_cut_off_file_is_noted(tmp_path):
    """A file cut off after its header (a stopped copy or download): Blender repeated the last frame it
    could read, or showed damaged frames, and nothing said so."""
    from kino_addon.core.movie_timing import movie_notes, truncated_note
    whole = movie(tmp_path, [(120, 1001)], name="whole.mp4")
    data = open(whole, "rb").read()
    (tmp_path / "cut.mp4").write_bytes(data[:-40])  # the mdat box (header first) loses its end
    note = truncated_note(str(tmp_path / "cut.mp4"))
    assert note.startswith("cut.mp4 ends before its data does") and "copy or download the file again" in note
    assert truncated_note(whole) is None and movie_notes(whole, 120) == []
    assert movie_notes(str(tmp_path / "cut.mp4"), 120) == [note]
    (tmp_path / "text.mp4").write_text("not a movie at all, just words of text")
    assert truncated_note(str(tmp_path / "text.mp4")) is None and truncated_note(str(tmp_path)) is None
