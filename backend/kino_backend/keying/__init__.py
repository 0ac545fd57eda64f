"""Green/blue-screen keying: key-colour detection, the matte, spill suppression, garbage mattes and
the straight alpha-over used by ``scripts/kino composite``.

Everything here is plain numpy + OpenCV on 8-bit sRGB frames (H, W, 3); mattes are float32 (H, W) in
[0, 1]. The matte is pulled in linear light (where a partly covered pixel really is a mix of the
screen and the foreground); the composite is a straight alpha-over on sRGB-encoded values, as the
sequencer's Alpha Over does.
"""
from .colorspace import linear_to_srgb, srgb_to_linear
from .composite import alpha_over
from .garbage import detect_bars, garbage_mask, parse_rect
from .keycolor import detect_key_color, parse_key_color
from .matte import KeyParams, KeyResult, pull_key

__all__ = [
    "KeyParams", "KeyResult", "alpha_over", "detect_bars", "detect_key_color", "garbage_mask",
    "linear_to_srgb", "parse_key_color", "parse_rect", "pull_key", "srgb_to_linear",
]
