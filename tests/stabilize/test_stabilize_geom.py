"""Pure geometry of kino_addon.core.stabilize_geom: conventions, fits, inverse, borders."""
import numpy as np
import pytest

from kino_addon.core import stabilize_geom as geo


def test_blender_coordinates_round_trip_and_orientation():
    w, h = 320, 240
    # bottom-left corner of Blender's normalized space is the bottom-left of the image (y down in Kino)
    px = geo.blender_to_pixels([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]], w, h)
    np.testing.assert_allclose(px, [[-0.5, h - 0.5], [w - 0.5, -0.5], [(w - 1) / 2, (h - 1) / 2]])
    pts = np.random.default_rng(0).uniform(0, 300, (10, 2))
    np.testing.assert_allclose(geo.pixels_to_blender(geo.blender_to_pixels(pts, w, h), w, h), pts)
    # a marker moving up in Blender (co.y grows) moves up the image: pixel y shrinks by dv*H
    d = geo.blender_to_pixels([0.5, 0.6], w, h) - geo.blender_to_pixels([0.5, 0.5], w, h)
    np.testing.assert_allclose(d, [0.0, -0.1 * h])


def test_compose_invert_apply_params():
    m = geo.similarity(1.1, 0.2, 5.0, -3.0)
    n = geo.similarity(0.9, -0.05, -1.0, 2.0)
    pts = np.array([[0.0, 0.0], [10.0, 3.0], [-4.0, 7.0]])
    np.testing.assert_allclose(geo.apply(geo.compose(m, n), pts), geo.apply(m, geo.apply(n, pts)))
    np.testing.assert_allclose(geo.apply(geo.invert(m), geo.apply(m, pts)), pts, atol=1e-12)
    np.testing.assert_allclose(geo.params(m), [np.log(1.1), 0.2, 5.0, -3.0])
    np.testing.assert_allclose(geo.from_params(geo.params(n)), n)
    c = geo.about_center(geo.similarity(1.0, 0.3), 50.0, 40.0)
    np.testing.assert_allclose(geo.apply(c, [[50.0, 40.0]]), [[50.0, 40.0]], atol=1e-12)


@pytest.mark.parametrize("model", ["translation", "rigid", "similarity"])
def test_fit_recovers_known_transform(model):
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 200, (30, 2))
    truth = {"translation": geo.similarity(1.0, 0.0, 3.5, -2.25),
             "rigid": geo.similarity(1.0, 0.05, 3.5, -2.25),
             "similarity": geo.similarity(1.03, -0.04, 3.5, -2.25)}[model]
    dst = geo.apply(truth, src)
    np.testing.assert_allclose(geo.fit(src, dst, model=model), truth, atol=1e-9)


def test_fit_batched_ignores_missing_points():
    rng = np.random.default_rng(2)
    src = rng.uniform(0, 100, (3, 12, 2))
    truth = geo.similarity([1.0, 1.02, 0.98], [0.0, 0.01, -0.02], [1, 2, 3], [0, -1, 4])
    dst = geo.apply(truth, src)
    src[1, :4] = np.nan
    dst[2, 5:] = 1e6          # garbage, given zero weight below
    w = np.ones((3, 12))
    w[2, 5:] = 0
    np.testing.assert_allclose(geo.fit(src, dst, w), truth, atol=1e-9)


def test_ransac_rejects_outliers():
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 300, (60, 2))
    truth = geo.similarity(1.01, 0.02, -4.0, 6.0)
    dst = geo.apply(truth, src) + rng.normal(0, 0.1, src.shape)
    dst[:20] += rng.uniform(10, 40, (20, 2))     # a third of the points are on a moving object
    m, inl = geo.ransac(src, dst, threshold=1.0)
    assert not inl[:20].any() and inl[20:].mean() > 0.95
    np.testing.assert_allclose(geo.apply(m, src[20:]), geo.apply(truth, src[20:]), atol=0.2)


def test_border_free_zoom_hides_borders():
    w, h = 200, 100
    m = np.stack([geo.similarity(1.0, 0.0, 6.0, 0.0), geo.similarity(1.0, 0.0, -4.0, 3.0),
                  geo.about_center(geo.similarity(1.0, np.radians(2.0)), 99.5, 49.5)])
    assert geo.border_free_zoom(geo.identity(3), w, h) == 1.0
    z = geo.border_free_zoom(m, w, h)
    assert 1.0 < z < 1.3
    zm = geo.zoom_matrices(m, w, h, z)
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
    src = geo.apply(geo.invert(zm), corners[None])
    assert (src[..., 0] >= -0.5 - 1e-6).all() and (src[..., 0] <= w - 0.5 + 1e-6).all()
    assert (src[..., 1] >= -0.5 - 1e-6).all() and (src[..., 1] <= h - 0.5 + 1e-6).all()
    # and it is the smallest such zoom: a little less shows a border
    src2 = geo.apply(geo.invert(geo.zoom_matrices(m, w, h, z - 0.01)), corners[None])
    assert (src2[..., 0] < -0.5).any() or (src2[..., 0] > w - 0.5).any() or (src2[..., 1] < -0.5).any() \
        or (src2[..., 1] > h - 0.5).any()
