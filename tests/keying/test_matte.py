import numpy as np
import pytest

from kino_backend.keying import (KeyParams, alpha_over, detect_bars, detect_key_color, garbage_mask, parse_rect,
                                 pull_key, srgb_to_linear)
from kino_backend.keying.despill import despill
from kino_backend.keying.metrics import psnr, score
from kino_backend.keying.synthetic import make_case


def _key(case, **params):
    res = pull_key(case.plate, detect_key_color([case.plate]), KeyParams(**params))
    return res, score(case, res.matte, alpha_over(res.foreground, case.background, res.matte))


def test_synthetic_fine_detail_meets_targets(synthetic):
    res, s = _key(synthetic)
    assert res.matte.dtype == np.float32 and res.matte.shape == synthetic.alpha.shape
    assert s["matte_mae"] <= 0.015, s
    assert s["matte_mae_edge"] <= 0.04, s  # the soft edges themselves, not only the easy flat areas
    assert s["psnr_db"] >= 36.0, s
    assert abs(s["fringe_green_excess"]) <= 4.0, s  # no green fringe (8-bit levels of G - max(R, B))


def test_thin_strands_keep_fractional_alpha(synthetic):
    res, _ = _key(synthetic)
    soft = (synthetic.alpha > 0.2) & (synthetic.alpha < 0.8)
    assert soft.sum() > 200
    got = res.matte[soft]
    assert 0.2 < got.mean() < 0.8  # neither cut away nor made solid
    assert np.corrcoef(got, synthetic.alpha[soft])[0, 1] > 0.8


def test_blue_screen():
    case = make_case(160, key_rgb=(30, 70, 190), seed=3)
    _, s = _key(case)
    assert s["matte_mae"] <= 0.02 and s["psnr_db"] >= 33.0, s


def test_very_dark_green_screen():
    """A screen near black (sRGB 10,60,20 at full light) still keys as a colour screen."""
    case = make_case(160, key_rgb=(10, 60, 20), seed=5)
    _, s = _key(case)
    assert s["matte_mae"] <= 0.03 and s["psnr_db"] >= 27.0, s


def test_worse_without_the_clean_plate_means_uneven_light_matters(synthetic):
    """A flat key colour everywhere (what a plain difference keyer assumes) scores worse than ours."""
    res, s = _key(synthetic)
    lin = srgb_to_linear(synthetic.plate)
    key = srgb_to_linear(np.array(detect_key_color([synthetic.plate]), np.float32) / 255)
    d = lin[..., 1] - lin[..., [0, 2]].max(-1)
    flat = np.clip(1 - d / (key[1] - max(key[0], key[2])), 0, 1)
    assert np.abs(flat - synthetic.alpha).mean() > 2 * s["matte_mae"]


def test_uniform_screen_and_full_foreground():
    screen = np.zeros((48, 64, 3), np.uint8)
    screen[:] = (40, 180, 60)
    res = pull_key(screen, (40, 180, 60))
    assert res.matte.max() == 0.0
    actor = np.zeros((48, 64, 3), np.uint8)
    actor[:] = (200, 150, 120)
    res = pull_key(actor, (40, 180, 60))
    assert res.matte.min() == 1.0
    assert np.abs(res.foreground.astype(int) - actor).max() <= 1  # skin untouched


def test_despill_removes_cast_but_keeps_skin_and_yellow():
    key = srgb_to_linear(np.array([40, 180, 60], np.float32) / 255)
    colours = np.array([[[224, 172, 140], [222, 188, 52], [120, 200, 110]]], np.uint8)  # skin, yellow, spilled
    lin = srgb_to_linear(colours)
    out = despill(lin, key, 1.0)
    assert np.allclose(out[0, :2], lin[0, :2])
    assert out[0, 2, 1] <= max(out[0, 2, 0], out[0, 2, 2]) + 1e-6
    edge = despill(lin, key, 1.0, matte=np.zeros((1, 3), np.float32))
    assert np.allclose(edge[0, 0], lin[0, 0])  # skin survives even the edge-strength despill


def test_garbage_matte_and_bars():
    case = make_case(128)
    rect = parse_rect("10,0,100,128", 128, 128)
    res = pull_key(case.plate, case.key_rgb, garbage=garbage_mask(case.plate.shape, rect))
    assert res.matte[:, :10].max() == 0 and res.matte[:, 110:].max() == 0
    assert res.matte[:, 10:110].max() == 1.0
    framed = case.plate.copy()
    framed[-9:] = 3
    assert detect_bars(framed) == (0, 0, 128, 119)
    assert detect_bars(case.plate) is None
    with pytest.raises(ValueError, match="X,Y,W,H"):
        parse_rect("1,2,3")
    with pytest.raises(ValueError, match="outside"):
        parse_rect("200,0,10,10", 128, 128)


def test_alpha_over_is_straight_over_on_srgb_values():
    fg = np.full((2, 2, 3), 200, np.uint8)
    bg = np.full((2, 2, 3), 100, np.uint8)
    matte = np.array([[0.0, 1.0], [0.25, 0.5]], np.float32)
    out = alpha_over(fg, bg, matte)
    assert out[0, 0, 0] == 100 and out[0, 1, 0] == 200 and out[1, 0, 0] == 125 and out[1, 1, 0] == 150
    assert (alpha_over(fg, bg, (matte * 255).astype(np.uint8)[..., None]) == out).all()
    assert psnr(out, out) == float("inf")
