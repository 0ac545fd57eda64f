"""Read uncompressed 24/32-bit BMP files (what Blender writes with file_format 'BMP').

The add-on renders each source frame through the sequencer to a BMP because reading it back needs no
decompression and no unfiltering: a few numpy operations, exact 8-bit values.
"""
from __future__ import annotations

import struct

import numpy as np


class BMPError(ValueError):
    """A file that is not an uncompressed 24/32-bit BMP."""


def decode_bmp(data: bytes) -> np.ndarray:
    """uint8 RGB array (h, w, 3), top row first."""
    if len(data) < 54 or data[:2] != b"BM":
        raise BMPError("not a BMP file")
    (offset,) = struct.unpack_from("<I", data, 10)
    width, height, _planes, bpp, compression = struct.unpack_from("<iiHHI", data, 18)
    if bpp not in (24, 32) or compression not in (0, 3) or width <= 0 or height == 0:
        raise BMPError(f"unsupported BMP ({bpp} bits, compression {compression}, {width}x{height})")
    h = abs(height)
    channels = bpp // 8
    stride = (width * channels + 3) & ~3
    if len(data) < offset + stride * h:
        raise BMPError("truncated BMP file")
    rows = np.frombuffer(data, np.uint8, count=stride * h, offset=offset).reshape(h, stride)
    px = rows[:, :width * channels].reshape(h, width, channels)
    if height > 0:
        px = px[::-1]  # stored bottom-up
    out = np.empty((h, width, 3), np.uint8)
    for k in range(3):  # BGR(A) -> RGB one plane at a time: a third of a strided gather's time
        out[:, :, k] = px[:, :, 2 - k]
    return out


def read_bmp(path: str) -> np.ndarray:
    with open(path, "rb") as fh:
        return decode_bmp(fh.read())
