import os

import cv2
import numpy as np
import pytest

from kino_addon.core.png import PNGError, check_png, decode_png, encode_png, png_info


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_round_trip_exact(channels):
    rng = np.random.default_rng(channels)
    img = rng.integers(0, 256, (17, 23, channels), dtype=np.uint8)
    data = encode_png(img)
    assert png_info(data) == (23, 17, channels)
    assert np.array_equal(decode_png(data), img)


@pytest.mark.parametrize("level", [0, 1, 9])
def test_png_reads_what_opencv_writes_all_filters(tmp_path, level):
    rng = np.random.default_rng(level)
    img = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
    img[:, :10] = np.arange(10)[None, :, None] * 20  # smooth part makes libpng choose other filters
    ok, buf = cv2.imencode(".png", img[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, level])
    assert ok
    assert np.array_equal(decode_png(buf.tobytes()), img)


def test_opencv_reads_our_png(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (9, 31, 3), dtype=np.uint8)
    path = tmp_path / "a.png"
    path.write_bytes(encode_png(img))
    assert np.array_equal(cv2.imread(str(path))[:, :, ::-1], img)


def test_check_png_rejects_truncated_and_wrong_size(tmp_path):
    data = encode_png(np.zeros((8, 8, 3), np.uint8))
    good, cut = tmp_path / "good.png", tmp_path / "cut.png"
    good.write_bytes(data)
    cut.write_bytes(data[:-20])
    assert check_png(str(good), 8, 8)
    assert not check_png(str(good), 9, 8)
    assert not check_png(str(cut))
    assert not check_png(str(tmp_path / "missing.png"))
    with pytest.raises(PNGError):
        decode_png(b"not a png at all")


def test_source_pngs_of_any_depth_and_colour_type_are_whole_and_torn_ones_are_not():
    """Sources may be 16-bit, palette or gray+alpha PNGs (Blender reads them all): ``png_is_whole`` accepts
    them (made by OpenCV and Pillow, not by Kino's encoder) and rejects a torn or corrupted file."""
    import io

    import cv2
    from PIL import Image

    from kino_addon.core.png import png_is_whole
    rng = np.random.default_rng(3)
    rgb = (rng.random((17, 33, 3)) * 255).astype(np.uint8)
    files = {"16-bit": cv2.imencode(".png", rgb.astype(np.uint16) * 257)[1].tobytes(),
             "8-bit": cv2.imencode(".png", rgb)[1].tobytes()}
    for mode in ("P", "LA", "L", "1"):
        buf = io.BytesIO()
        Image.fromarray(rgb).convert(mode).save(buf, format="PNG")
        files[mode] = buf.getvalue()
    for name, data in files.items():
        assert png_is_whole(data), name
        assert not png_is_whole(data[: len(data) // 2]), name  # torn mid-file
        broken = bytearray(data)
        broken[len(data) // 2] ^= 0xFF
        assert not png_is_whole(bytes(broken)), name  # a flipped byte fails a CRC
    assert not png_is_whole(b"GIF89a not a png")
