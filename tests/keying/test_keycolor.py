import json
import os

import numpy as np
import pytest

from kino_backend.keying import detect_key_color, parse_key_color
from kino_backend.keying.synthetic import make_case

from kino_keying_support import read_frames


def _clips(footage):
    with open(os.path.join(footage, "keycolor", "expected.json")) as fh:
        return json.load(fh)["clips"]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_key_colour_of_real_clips_within_tolerance(footage, index):
    clip = _clips(footage)[index]
    path = os.path.join(footage, "keycolor", clip["file"])
    import cv2
    count = int(cv2.VideoCapture(path).get(cv2.CAP_PROP_FRAME_COUNT))
    frames = read_frames(path, np.linspace(0, count - 1, 4).astype(int))
    got = detect_key_color(frames)
    diff = np.abs(np.array(got) - np.array(clip["key_rgb"]))
    assert (diff <= clip["tolerance"]).all(), f"{clip['what']}: detected {got}, expected {clip['key_rgb']}"


def test_key_colour_of_greenscreen_actor(footage):
    frames = read_frames(os.path.join(footage, "greenscreen_actor.mp4"), [0, 40])
    got = np.array(detect_key_color(frames))
    assert (np.abs(got - [68, 152, 103]) <= 10).all(), got  # SOURCES.md: median key colour about (68,152,103)


@pytest.mark.parametrize("key", [(45, 170, 65), (30, 70, 190), (10, 60, 20)])
def test_key_colour_of_synthetic_screens(key):
    """Green, blue and very dark green screens under uneven light: the detected colour is one the
    screen really shows (between its darkest and brightest parts) and has the screen's hue."""
    case = make_case(128, key_rgb=key)
    got = np.array(detect_key_color([case.plate]), float)
    screen = case.plate[case.alpha < 0.001].astype(float)
    lo, hi = np.percentile(screen, 2, axis=0), np.percentile(screen, 98, axis=0)
    assert ((got >= lo - 3) & (got <= hi + 3)).all(), (got, lo, hi)
    assert int(np.argmax(got)) == int(np.argmax(key))


def test_no_flat_area_is_a_clear_error():
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="key-color"):
        detect_key_color([noise])


def test_parse_key_colour():
    assert parse_key_color("0,177,17") == (0, 177, 17)
    assert parse_key_color([1, 2.4, 3]) == (1, 2, 3)
    for bad in ("0,177", "a,b,c", "0,300,0"):
        with pytest.raises(ValueError, match="R,G,B|three numbers"):
            parse_key_color(bad)


def test_a_clip_without_a_screen_is_doubted_and_real_screens_are_not(footage):
    """A composite of an actor shot without a green or blue screen keyed its largest flat colour (foliage)
    without a word; now the key stage notes that the colour does not look like a screen."""
    from kino_backend.keying.keycolor import screen_doubt
    import cv2
    for clip in _clips(footage):
        path = os.path.join(footage, "keycolor", clip["file"])
        count = int(cv2.VideoCapture(path).get(cv2.CAP_PROP_FRAME_COUNT))
        assert screen_doubt(detect_key_color(read_frames(path, np.linspace(0, count - 1, 4).astype(int)))) is None
    assert screen_doubt(detect_key_color(read_frames(os.path.join(footage, "greenscreen_actor.mp4"), [0, 40]))) is None
    park = detect_key_color(read_frames(os.path.join(footage, "handheld_park.mp4"), [0, 40, 80]))
    note = screen_doubt(park)
    assert note and "does not look like a green or blue screen" in note and "key.key_color" in note
    assert screen_doubt((0, 0, 0)) is None and screen_doubt((120, 120, 124)) is not None
