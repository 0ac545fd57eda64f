"""ControlNet condition images: sizes, content, and clear errors for the optional ones."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from kino_backend.annotators import annotate, make_annotator
from kino_backend.annotators.canny import auto_thresholds
from kino_backend.annotators.pose import COLORS
from kino_backend.stages.base import StageError

from diffusion_support import FOOTAGE, textured


def test_canny_same_size_edges_on_boundaries_only():
    img = np.full((72, 96, 3), 40, np.uint8)
    img[20:50, 30:70] = 220
    out = annotate("canny", img)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 255}
    assert np.array_equal(out[..., 0], out[..., 2])
    edge = out[..., 0] > 0
    assert edge[18:53, 28:73].sum() > 100  # the rectangle's outline
    assert edge[25:45, 35:65].sum() == 0 and edge[:10].sum() == 0  # nothing inside or far away


def test_canny_thresholds_follow_the_median():
    dark, bright = np.full((8, 8), 40, np.uint8), np.full((8, 8), 200, np.uint8)
    assert auto_thresholds(dark) == (26, 53)
    lo, hi = auto_thresholds(bright)
    assert lo == 134 and hi == 255


def test_tile_identity_and_downscale_keep_size():
    img = textured(3, 60, 90)
    same = annotate("tile", img)
    assert np.array_equal(same, img) and same is not img
    from kino_backend.annotators.tile import TileAnnotator
    soft = TileAnnotator(downscale=4.0)(img)
    assert soft.shape == img.shape and soft.dtype == np.uint8
    assert 0 < np.abs(soft.astype(int) - img).mean() < 40  # detail gone, layout kept


def _talking_head_frame():
    import cv2
    path = os.path.join(FOOTAGE, "talking_head.mp4")
    if not os.path.exists(path):
        pytest.skip(f"footage not found: {path} (the shared footage folder is absent)")
    cap = cv2.VideoCapture(path)
    ok, bgr = cap.read()
    cap.release()
    assert ok
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_pose_draws_a_coloured_skeleton_on_a_real_person():
    rgb = _talking_head_frame()
    out = annotate("pose", rgb)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    lit = out.max(axis=2) > 0
    assert 0.002 < lit.mean() < 0.2  # a thin skeleton, not a filled image
    # joints are drawn in the OpenPose palette: the nose (red) is present
    assert np.any(np.all(out == np.array(COLORS[0], np.uint8), axis=2))
    ys, xs = np.nonzero(lit)
    assert 150 < xs.mean() < 360  # centred on the face, as the person is


def test_pose_no_person_is_black():
    assert annotate("pose", np.zeros((80, 64, 3), np.uint8)).max() == 0
    assert annotate("pose", np.full((64, 64, 3), 127, np.uint8)).max() == 0


@pytest.mark.parametrize("kind", ["depth", "lineart", "softedge"])
def test_optional_annotators_say_what_is_missing(kind, tmp_path):
    if importlib.util.find_spec("torchvision") and importlib.util.find_spec("controlnet_aux"):
        pytest.skip("torchvision and controlnet_aux present: the optional annotators are available here")
    with pytest.raises(StageError) as err:
        make_annotator(kind, models_dir=str(tmp_path))
    assert err.value.code == "MODEL_MISSING"
    msg = str(err.value)
    assert "torchvision" in msg and "controlnet_aux" in msg and str(tmp_path / "annotators") in msg


def test_unknown_annotator_and_bad_input():
    with pytest.raises(ValueError, match="valid"):
        make_annotator("normal")
    with pytest.raises(ValueError, match="uint8 RGB"):
        annotate("canny", np.zeros((8, 8), np.uint8))
