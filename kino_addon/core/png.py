"""A small PNG encoder/decoder (numpy + zlib), because Blender's Python has neither cv2 nor PIL.

``encode_png`` writes 8-bit RGB/RGBA/gray images with the "Up" filter on every row (vectorized,
compresses well). ``decode_png`` reads any non-interlaced 8-bit PNG (all five filter types), which
covers what Blender, OpenCV and this module write. ``check_png`` validates a file cheaply (chunk CRCs,
IEND, inflated size) without unfiltering: that is what resume uses to trust a frame on disk.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {1: 0, 3: 2, 4: 6, 2: 4}  # channels -> PNG colour type
_CHANNELS = {0: 1, 2: 3, 6: 4, 4: 2}  # PNG colour type -> channels


class PNGError(ValueError):
    """A file that is not a valid 8-bit PNG this module can read."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(image: np.ndarray, level: int = 1) -> bytes:
    """PNG bytes of a uint8 image shaped (h, w), (h, w, 1), (h, w, 3) or (h, w, 4)."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise PNGError(f"expected a uint8 image, got {img.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in _COLOR_TYPES or img.shape[0] < 1 or img.shape[1] < 1:
        raise PNGError(f"expected an image shaped (h, w, 1|2|3|4), got {img.shape}")
    h, w, c = img.shape
    rows = img.reshape(h, w * c)
    raw = np.empty((h, w * c + 1), np.uint8)
    raw[:, 0] = 2
    raw[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])  # uint8 arithmetic wraps mod 256, as the Up filter wants
    ihdr = struct.pack(">IIBBBBB", w, h, 8, _COLOR_TYPES[c], 0, 0, 0)
    return (SIGNATURE + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(raw, level)) + _chunk(b"IEND", b""))


def _read_chunks(data: bytes):
    if data[:8] != SIGNATURE:
        raise PNGError("not a PNG file (bad signature)")
    pos, chunks = 8, []
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        crc_bytes = data[pos + 8 + length:pos + 12 + length]
        if len(body) != length or len(crc_bytes) != 4:
            raise PNGError("truncated PNG chunk")
        if zlib.crc32(kind + body) & 0xFFFFFFFF != struct.unpack(">I", crc_bytes)[0]:
            raise PNGError(f"CRC mismatch in chunk {kind!r}")
        chunks.append((kind, body))
        pos += 12 + length
        if kind == b"IEND":
            return chunks
    raise PNGError("truncated PNG (no IEND chunk)")


def _header(chunks):
    if not chunks or chunks[0][0] != b"IHDR":
        raise PNGError("PNG does not start with IHDR")
    w, h, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or ctype not in _CHANNELS or interlace != 0:
        raise PNGError(f"unsupported PNG (bit depth {depth}, colour type {ctype}, interlace {interlace}); "
                       "only 8-bit non-interlaced gray/RGB/RGBA is read")
    return w, h, _CHANNELS[ctype]


def _inflate(chunks, w, h, c) -> bytes:
    try:
        raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    except zlib.error as exc:
        raise PNGError(f"corrupt PNG image data ({exc})") from None
    if len(raw) != h * (w * c + 1):
        raise PNGError(f"PNG image data has {len(raw)} bytes, expected {h * (w * c + 1)}")
    return raw


def png_info(data: bytes) -> tuple:
    """(width, height, channels) of a valid PNG, checking CRCs and the inflated size; raises PNGError."""
    chunks = _read_chunks(data)
    w, h, c = _header(chunks)
    _inflate(chunks, w, h, c)
    return w, h, c


def check_png(path: str, width: int | None = None, height: int | None = None) -> bool:
    """True when ``path`` is a complete, valid 8-bit PNG (of that size, when given)."""
    try:
        with open(path, "rb") as fh:
            w, h, _c = png_info(fh.read())
    except (OSError, PNGError):
        return False
    return (width is None or w == width) and (height is None or h == height)


_ANY_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # every PNG colour type (3 = palette indices)


def png_has_alpha(path: str) -> bool:
    """True when the PNG at ``path`` has an alpha channel (colour type 4 or 6; reads its header only)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(26)
    except OSError:
        return False
    return len(head) == 26 and head[:8] == SIGNATURE and head[12:16] == b"IHDR" and head[25] in (4, 6)


def png_is_whole(data: bytes) -> bool:
    """True for a complete PNG of any bit depth, colour type or interlacing (what Blender reads, e.g.
    16-bit or palette sources): signature, chunk CRCs, IEND, and image data that inflates to the size
    the header promises (non-interlaced) or at all (interlaced)."""
    try:
        chunks = _read_chunks(data)
        if chunks[0][0] != b"IHDR":
            return False
        w, h, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
        raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    except (PNGError, zlib.error, struct.error):
        return False
    if ctype not in _ANY_CHANNELS or w < 1 or h < 1:
        return False
    if interlace:
        return len(raw) > 0
    return len(raw) == h * (1 + (w * _ANY_CHANNELS[ctype] * depth + 7) // 8)


def _unfilter_row(ftype: int, row: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    if ftype == 0:
        return row
    if ftype == 2:
        return row + prev
    out = row.astype(np.int32)
    if ftype == 1:
        for i in range(bpp, len(out)):
            out[i] = (out[i] + out[i - bpp]) & 255
        return out.astype(np.uint8)
    p = prev.astype(np.int32)
    if ftype == 3:
        for i in range(len(out)):
            left = out[i - bpp] if i >= bpp else 0
            out[i] = (out[i] + ((left + p[i]) >> 1)) & 255
        return out.astype(np.uint8)
    if ftype == 4:
        for i in range(len(out)):
            a = out[i - bpp] if i >= bpp else 0
            b = p[i]
            cc = p[i - bpp] if i >= bpp else 0
            pa, pb, pc = abs(b - cc), abs(a - cc), abs(a + b - 2 * cc)
            pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else cc)
            out[i] = (out[i] + pred) & 255
        return out.astype(np.uint8)
    raise PNGError(f"unknown PNG filter type {ftype}")


def decode_png(data: bytes) -> np.ndarray:
    """uint8 array (h, w, channels) of an 8-bit non-interlaced PNG."""
    chunks = _read_chunks(data)
    w, h, c = _header(chunks)
    raw = np.frombuffer(_inflate(chunks, w, h, c), np.uint8).reshape(h, w * c + 1)
    out = np.empty((h, w * c), np.uint8)
    prev = np.zeros(w * c, np.uint8)
    for y in range(h):
        prev = out[y] = _unfilter_row(int(raw[y, 0]), raw[y, 1:], prev, c)
    return out.reshape(h, w, c)


def read_png(path: str) -> np.ndarray:
    with open(path, "rb") as fh:
        return decode_png(fh.read())
