"""Image sizes from file headers (no decoding) and the note for an image folder of mixed frame sizes."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from kino_addon.core.image_size import image_size, mismatched_sizes, mixed_size_note


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tif"])
def test_size_from_the_header_of_each_format(tmp_path, ext):
    for w, h in ((321, 179), (64, 300)):
        path = str(tmp_path / f"f_{w}{ext}")
        assert cv2.imwrite(path, np.full((h, w, 3), 90, np.uint8))
        assert image_size(path) == (w, h)


def test_sixteen_bit_and_grey_pngs(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((20, 30), np.uint16))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((21, 31, 4), np.uint8))
    assert image_size(str(tmp_path / "a.png")) == (30, 20) and image_size(str(tmp_path / "b.png")) == (31, 21)


def test_unreadable_headers_give_none(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n")
    (tmp_path / "y.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00")
    (tmp_path / "z.exr").write_bytes(b"v/1\x01" + b"\0" * 40)
    assert [image_size(str(tmp_path / n)) for n in ("x.png", "y.jpg", "z.exr", "missing.png")] == [None] * 4


def test_a_folder_of_mixed_sizes_is_noted(tmp_path):
    paths = []
    for i, (w, h) in enumerate([(240, 180)] * 4 + [(320, 240)] * 3 + [(240, 180)]):
        paths.append(str(tmp_path / f"frame_{i + 1:04d}.png"))
        cv2.imwrite(paths[-1], np.zeros((h, w, 3), np.uint8))
    assert mismatched_sizes(paths) == [(5, (320, 240)), (6, (320, 240)), (7, (320, 240))]
    note = mixed_size_note(str(tmp_path), paths)
    assert "3 frames" in note and "frame 1's size 240x180" in note and "5 (320x240)" in note
    assert "scale the frames to one size" in note
    assert mixed_size_note(str(tmp_path), paths[:4]) is None


def test_numbering_gaps_are_noted():
    from kino_addon.core.media import numbering_gaps, numbering_note
    assert numbering_gaps(["frame_0001.png", "frame_0002.png", "frame_0005.png", "frame_0010.png"]) == [(2, 5), (5, 10)]
    assert numbering_gaps(["a_10.png", "a_11.png", "a_9.png"]) == [(11, 9)]  # name order is not number order
    assert numbering_gaps(["sky.png", "sea.png"]) == []  # not numbered: nothing to say
    assert numbering_gaps(["shot7_0001_v2.png", "shot7_0003_v2.png"]) == [(1, 3)]  # the number that changes
    assert numbering_gaps(["shot7_0001_v2.png", "shot7_0002_v2.png"]) == []
    note = numbering_note("/f", ["frame_0001.png", "frame_0002.png", "frame_0005.png"])
    assert "skip (2 -> 5)" in note and "consecutive frames 1-3" in note
    assert numbering_note("/f", ["frame_0001.png", "frame_0002.png"]) is None


def _files(folder, names):
    folder.mkdir(exist_ok=True)
    for n in names:
        cv2.imwrite(str(folder / n), np.zeros((4, 6, 3), np.uint8))
    return str(folder)


def test_the_numbered_sequence_is_the_footage_and_strays_are_left_out(tmp_path):
    """A slate or thumbnail beside the frames became frame 1 (capitals sort first) and shifted every
    frame; unpadded numbers were taken in name order (1, 10, 11, 12, 2 ...)."""
    from kino_addon.core.media import image_files, left_out_note, sequence_files
    frames = [f"frame_{i:04d}.png" for i in range(1, 11)]
    folder = _files(tmp_path / "a", frames + ["Slate.png", "Thumbs_preview.jpg"])
    assert sequence_files(folder) == (frames, ["Slate.png", "Thumbs_preview.jpg"])
    note = left_out_note(folder, *sequence_files(folder))
    assert "2 image(s)" in note and "frame_0001.png ... frame_0010.png (10 frames)" in note and "Slate.png" in note
    unpadded = [f"frame_{i}.png" for i in range(1, 13)]
    assert image_files(_files(tmp_path / "b", unpadded)) == unpadded  # 1, 2 ... 12
    assert left_out_note(str(tmp_path / "b"), *sequence_files(str(tmp_path / "b"))) is None
    # VFX names: the frame number is the last number that changes; two versions are two sequences
    shot = [f"shot_v002.{1000 + i}.png" for i in range(1, 6)] + [f"shot_v001.{1000 + i}.png" for i in range(1, 4)]
    assert image_files(_files(tmp_path / "c", shot)) == shot[:5]
    kept = ["shot7_0001_v2.png", "shot7_0002_v2.png", "shot7_0003_v2.png"]
    assert image_files(_files(tmp_path / "d", kept + ["notes.png"])) == kept
    loose = ["sky.png", "sea.png", "cliff.jpg"]  # no sequence at all: every image, in name order
    assert sequence_files(_files(tmp_path / "e", loose)) == (sorted(loose), [])
