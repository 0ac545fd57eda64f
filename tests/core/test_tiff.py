"""core.tiff: the uncompressed TIFF frames Blender renders for the add-on, read back exactly; anything
else refused with a message saying what the file is."""
import os
import struct

import cv2
import numpy as np
import pytest

from kino_addon.core.tiff import TIFFError, decode_tiff, read_tiff


def make_tiff(img: np.ndarray, *, order: str = "<", rows_per_strip: int = 2, gap: int = 0, extra: dict = None) -> bytes:
    """A baseline TIFF of ``img`` (h, w, c uint8) written by hand: strips of ``rows_per_strip`` rows,
    ``gap`` bytes between strips (non-contiguous), ``extra`` tags {tag: (type, [values])} added/overriding."""
    h, w, c = img.shape
    strips = [img[y:y + rows_per_strip].tobytes() for y in range(0, h, rows_per_strip)]
    data_at = 8
    offsets, blob = [], b""
    for s in strips:
        offsets.append(data_at + len(blob))
        blob += s + b"\0" * gap
    tags = {256: (4, [w]), 257: (4, [h]), 258: (3, [8] * c), 259: (3, [1]), 262: (3, [2]), 273: (4, offsets),
            274: (3, [1]), 277: (3, [c]), 278: (4, [rows_per_strip]), 279: (4, [len(s) for s in strips]),
            284: (3, [1]), 282: (5, [72, 1])}  # a RATIONAL tag the reader skips
    tags.update(extra or {})
    ifd_at = data_at + len(blob)
    ifd_at += ifd_at % 2
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, ifd_at)
    body = blob + b"\0" * (ifd_at - data_at - len(blob))
    entries, spill = b"", b""
    spill_at = ifd_at + 2 + 12 * len(tags) + 4
    for tag in sorted(tags):
        kind, values = tags[tag]
        code, size = {3: ("H", 2), 4: ("I", 4), 5: ("I", 4)}[kind]
        n = len(values) // 2 if kind == 5 else len(values)
        packed = struct.pack(f"{order}{len(values)}{code}", *values)
        if len(packed) <= 4:
            field = packed + b"\0" * (4 - len(packed))
        else:
            field = struct.pack(order + "I", spill_at + len(spill))
            spill += packed
        entries += struct.pack(order + "HHI", tag, kind, n) + field
    ifd = struct.pack(order + "H", len(tags)) + entries + struct.pack(order + "I", 0)
    return head + body + ifd + spill


@pytest.fixture
def img():
    return np.random.default_rng(3).integers(0, 256, (7, 5, 3), dtype=np.uint8)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("gap", [0, 3])  # contiguous strips are one view; others are joined
def test_reads_hand_written_tiffs_exactly(img, order, gap):
    out = decode_tiff(bytearray(make_tiff(img, order=order, gap=gap)))
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.array_equal(out, img)
    assert np.array_equal(decode_tiff(make_tiff(img, order=order, gap=gap)), img)  # bytes too (copied)


def test_rgba_drops_alpha_or_keeps_it_when_asked(img):
    rgba = np.dstack([img, np.full(img.shape[:2], 200, np.uint8)])
    out = decode_tiff(make_tiff(rgba, extra={338: (3, [2])}))
    assert np.array_equal(out, img) and out.flags.c_contiguous
    kept = decode_tiff(make_tiff(rgba, extra={338: (3, [2])}), keep_alpha=True)
    assert kept.shape == rgba.shape and np.array_equal(kept, rgba)  # as stored, alpha last


def test_reads_what_opencv_writes_uncompressed(tmp_path, img):
    path = os.path.join(tmp_path, "a.tif")
    big = np.random.default_rng(4).integers(0, 256, (67, 45, 3), dtype=np.uint8)
    assert cv2.imwrite(path, big[:, :, ::-1], [cv2.IMWRITE_TIFF_COMPRESSION, 1])
    got = read_tiff(path)
    assert np.array_equal(got, big) and got.flags.writeable


@pytest.mark.parametrize("extra, words", [
    ({259: (3, [5])}, "compression 5"),
    ({258: (3, [16, 16, 16])}, "bits per sample"),
    ({262: (3, [1])}, "not RGB"),
    ({284: (3, [2])}, "separate colour planes"),
    ({274: (3, [4])}, "orientation 4"),
])
def test_refuses_what_it_cannot_read_and_says_what(img, extra, words):
    with pytest.raises(TIFFError, match=words):
        decode_tiff(make_tiff(img, extra=extra))


def test_refuses_other_files_and_truncated_ones(tmp_path, img):
    with pytest.raises(TIFFError, match="not a TIFF"):
        decode_tiff(b"BM" + b"\0" * 100)
    whole = make_tiff(img, gap=0)
    with pytest.raises(TIFFError, match="truncated|strips hold"):
        decode_tiff(whole[:20])
    cut = bytearray(whole)
    struct.pack_into("<I", cut, 4, len(cut) + 10)  # the directory points past the end
    with pytest.raises(TIFFError, match="truncated"):
        decode_tiff(bytes(cut))
    short = make_tiff(img, extra={279: (4, [1] * 4)})  # strips too small for the image
    with pytest.raises(TIFFError, match="strips hold"):
        decode_tiff(short)
