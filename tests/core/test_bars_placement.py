"""Letterbox/pillarbox detection (black flat bars next to a picture; a dark shot has none) and the
actor placement's resampling (identity is exact, scale keeps the bottom centre)."""
import numpy as np

from kino_addon.core.bars import detect_bars, picture_area
from kino_addon.core.placement import place


def test_bars_next_to_a_picture_are_found_and_a_dark_frame_has_none():
    rng = np.random.default_rng(0)
    pic = rng.integers(60, 200, (120, 160, 3), np.uint8)
    boxed = pic.copy()
    boxed[:10] = 0
    boxed[-14:] = 2
    boxed[:, :8] = 1
    assert detect_bars(boxed) == (8, 10, 152, 96)
    assert detect_bars(pic) is None
    dark = np.full((120, 160, 3), 3, np.uint8)  # a black screen or a night shot: no bars to cut
    assert detect_bars(dark) is None
    other = boxed.copy()
    other[-14:-4, 8:] = pic[-14:-4, 8:]  # one frame's bottom bar is thinner: keep what all frames agree on
    assert picture_area([boxed, other]) == (8, 10, 152, 106)


def test_placement_identity_is_exact_and_scaling_keeps_the_bottom_centre():
    img = np.zeros((40, 60, 3), np.uint8)
    matte = np.zeros((40, 60), np.uint8)
    matte[20:40, 25:35] = 255
    img[20:40, 25:35] = (200, 100, 50)
    same = place(img, matte)
    assert same[0] is img and same[1] is matte
    out_img, out_matte = place(img, matte, 0.5)
    ys, xs = np.nonzero(out_matte > 128)
    assert ys.max() == 39 and abs(xs.mean() - 29.5) < 0.6 and 25 <= len(ys) <= 70
    assert np.abs(out_img[38, 29].astype(int) - (200, 100, 50)).max() <= 1  # colour un-premultiplied
