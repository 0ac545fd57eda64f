"""Transforms from synthetic tracks with known camera motion (kino_addon.core.stabilize_solve)."""
import numpy as np
import pytest

from kino_addon.core import stabilize_geom as geo
from kino_addon.core import stabilize_solve as ss

W, H, T = 320, 240, 30


def shaken_scene(k=80, seed=0, shift=4.0, deg=1.0, dscale=0.01, noise=0.15):
    """World points seen by a camera that shakes: returns (points (T,K,2), world->frame matrices)."""
    rng = np.random.default_rng(seed)
    world = np.c_[rng.uniform(5, W - 5, k), rng.uniform(5, H - 5, k)]
    cam = geo.about_center(geo.similarity(np.exp(rng.normal(0, dscale, T)), np.radians(rng.normal(0, deg, T)),
                                          rng.normal(0, shift, T), rng.normal(0, shift, T)), (W - 1) / 2, (H - 1) / 2)
    pts = geo.apply(cam, np.broadcast_to(world, (T, k, 2))) + rng.normal(0, noise, (T, k, 2))
    return pts, cam


def held_still(st, pts, tracks):
    """Max over tracks of the std (px) of their stabilized positions: 0 means perfectly locked."""
    q = geo.apply(st.matrices, np.where(np.isfinite(pts), pts, 0.0))
    q[~np.isfinite(pts).all(-1)] = np.nan
    return float(np.nanmax(np.nanstd(q[:, tracks], axis=0)))


@pytest.mark.parametrize("deg,dscale", [(0.0, 0.0), (1.0, 0.0), (1.0, 0.02)])
def test_lock_recovers_translation_rotation_scale(deg, dscale):
    pts, cam = shaken_scene(deg=deg, dscale=dscale)
    st = ss.stabilize(pts, W, H, smoothing="lock")
    assert st.smoothing == "lock"
    assert held_still(st, pts, slice(None)) < 0.3
    # the stabilized frame differs from the true (world) frame by one constant similarity
    rel = geo.params(geo.compose(st.matrices, cam))       # world -> stabilized, per frame
    assert rel.std(0)[0] < 2e-3 and rel.std(0)[1] < np.radians(0.03)
    assert rel.std(0)[2:].max() < 0.15


def test_outliers_lost_drifting_and_moving_person_tracks_are_rejected():
    rng = np.random.default_rng(5)
    pts, cam = shaken_scene(k=90, seed=1)
    person = np.arange(0, 30)        # a third of the tracks sit on a person walking across
    walk = np.linspace(0, 80, T)[:, None] + np.cumsum(rng.normal(0, 2, (T, 1)), 0)
    pts[:, person, 0] += walk
    pts[:, person, 1] += 0.3 * walk
    pts[15:, 30:36] = np.nan          # lost (muted) half way
    pts[8:, 40] += np.arange(T - 8)[:, None] * 0.8    # drifts off its feature
    pts[rng.integers(0, T, 20), rng.integers(45, 90, 20)] += 25.0   # single-frame glitches
    st = ss.stabilize(pts, W, H, smoothing="lock")
    ok = st.alignment.track_ok
    assert not ok[person].any(), "tracks on the moving person must be rejected"
    assert not ok[40], "the drifting track must be rejected"
    assert ok[30:36].all() and ok[45:].mean() > 0.9
    background = np.r_[30:40, 41:90]
    assert held_still(st, np.where(st.alignment.weights[..., None] > 0, pts, np.nan), background) < 0.2
    rel = geo.params(geo.compose(st.matrices, cam))
    assert rel.std(0)[2:].max() < 0.15 and rel.std(0)[1] < np.radians(0.03)


def test_no_drift_with_short_overlapping_tracks():
    """Tracks that each live only a few frames (re-detected features): the joint solve must not
    accumulate frame-to-frame error over a long clip."""
    rng = np.random.default_rng(7)
    t_long, k = 120, 400
    world = np.c_[rng.uniform(0, W, k), rng.uniform(0, H, k)]
    drift = np.c_[np.linspace(0, 10, t_long), np.zeros(t_long)] + rng.normal(0, 2, (t_long, 2))
    cam = geo.similarity(1.0, 0.0, drift[:, 0], drift[:, 1])
    pts = geo.apply(cam, np.broadcast_to(world, (t_long, k, 2))) + rng.normal(0, 0.3, (t_long, k, 2))
    start = rng.integers(-5, t_long, k)
    t = np.arange(t_long)[:, None]
    pts[(t < start) | (t >= start + 25)] = np.nan
    st = ss.stabilize(pts, W, H, smoothing="lock")
    rel = geo.compose(st.matrices, cam)          # world -> stabilized: should be one constant transform
    corners = np.array([[0.0, 0.0], [W, 0.0], [0.0, H], [W, H]])
    assert np.ptp(geo.apply(rel, corners[None]), axis=0).max() < 1.0
    chained = ss._initial(pts, np.isfinite(pts).all(-1), "similarity", 1.5, np.random.default_rng(0))
    chained_rel = geo.compose(geo.invert(chained), geo.invert(cam))   # frame-to-frame chaining drifts more
    assert np.ptp(geo.apply(geo.compose(st.matrices, cam), corners[None]), axis=0).max() < \
        np.ptp(geo.apply(geo.compose(chained, cam), corners[None]), axis=0).max()


def test_smoothing_follows_a_pan_and_removes_shake():
    rng = np.random.default_rng(3)
    k = 300
    world = np.c_[rng.uniform(-200, W + 200, k), rng.uniform(0, H, k)]
    pan = np.linspace(0, 150, T)
    shake = rng.normal(0, 3, (T, 2))
    cam = geo.similarity(1.0, 0.0, -pan + shake[:, 0], shake[:, 1])
    pts = geo.apply(cam, np.broadcast_to(world, (T, k, 2)))
    pts[(pts[..., 0] < 0) | (pts[..., 0] > W)] = np.nan      # only what the frame sees
    st = ss.stabilize(pts, W, H, smoothing="auto")
    assert st.smoothing != "lock"            # a pan is followed, not locked
    # stabilized camera path (world -> stabilized) is smooth: high-frequency part far below the shake
    path = geo.params(geo.compose(st.matrices, cam))[:, 2:]
    assert ss.residual_jitter(path) < 0.35 * ss.residual_jitter(shake)
    # and it follows the pan: the frame centre's content moves along with it
    assert abs(np.ptp(path[:, 0]) - 150) < 30


def test_region_lock_holds_the_region():
    rng = np.random.default_rng(9)
    pts, cam = shaken_scene(k=60, seed=4)
    face = np.c_[rng.uniform(140, 180, 12), rng.uniform(60, 100, 12)]
    head = np.cumsum(rng.normal(0, 2, (T, 2)), 0)      # the face moves on its own
    fpts = face[None] + head[:, None] + rng.normal(0, 0.1, (T, 12, 2))
    allp = np.concatenate([pts, fpts], axis=1)
    region = (130, 50, 60, 60)
    st = ss.stabilize_region(allp, region, W, H)
    assert held_still(st, allp, np.arange(60, 72)) < 0.2
    assert held_still(st, allp, np.arange(0, 60)) > 1.0    # the background now moves instead


def test_region_without_tracks_is_a_clear_error():
    pts, _ = shaken_scene(k=20)
    with pytest.raises(ValueError, match="no tracked features inside the region"):
        ss.stabilize_region(pts, (-500, -500, 10, 10), W, H)


def test_tracks_to_points_drops_muted_markers():
    tracks = [{"frames": [1, 2, 3], "co": [[0.5, 0.5], [0.6, 0.5], [0.7, 0.5]], "mute": [False, False, True]},
              {"frames": [2, 3], "co": [[0.0, 1.0], [0.25, 0.75]]}]
    p = ss.tracks_to_points(tracks, first_frame=2, count=3, width=100, height=80)
    assert p.shape == (3, 2, 2)
    np.testing.assert_allclose(p[0, 0], [59.5, 39.5])
    assert np.isnan(p[1, 0]).all() and np.isnan(p[2]).all()
    np.testing.assert_allclose(p[1, 1], [24.5, 19.5])


def test_transforms_document_shape():
    m = geo.identity(3)
    doc = ss.transforms_document(m, 64, 48)
    assert doc["width"] == 64 and doc["height"] == 48 and [f["frame"] for f in doc["frames"]] == [1, 2, 3]
    assert doc["frames"][0]["matrix"] == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    np.testing.assert_allclose(ss.matrices_from_document(doc), m)


def test_residual_jitter_definition():
    t = np.arange(40, dtype=float)
    assert ss.residual_jitter(np.c_[3 * t, -t]) < 1e-9        # a steady pan has no jitter
    alt = np.c_[np.where(t % 2 == 0, 1.0, -1.0), np.zeros(40)]
    assert abs(ss.residual_jitter(alt) - np.sqrt(1 - (1 / 9) ** 2 * 0) * (1 - 1 / 9) ** 0 * 1.0) < 0.12


def test_a_hard_cut_is_refused_not_bridged_by_a_guess():
    """Two shots: every track of the first ends at frame 4, the second's start at frame 5. Before, the
    solver chained an identity across the cut and moved both shots (by 16-18 px on a real cut clip) and
    the border fill mixed them; now the break is named so each shot is stabilized on its own."""
    rng = np.random.default_rng(3)
    shot_a = rng.uniform(20, 200, (1, 12, 2)).repeat(4, 0) + np.arange(4)[:, None, None] * [1.0, 0.5]
    shot_b = rng.uniform(20, 200, (1, 12, 2)).repeat(4, 0) - np.arange(4)[:, None, None] * [0.7, 0.2]
    points = np.full((8, 24, 2), np.nan)
    points[:4, :12], points[4:, 12:] = shot_a, shot_b
    assert ss.unlinked_frames(np.isfinite(points).all(-1)) == [3]
    with pytest.raises(ss.ShotBreak) as err:
        ss.stabilize(points, 240, 240)
    assert err.value.index == 3 and "hard cut" in str(err.value)
    points[3:5, :2] = [[[150.0, 150.0], [60.0, 40.0]], [[151.0, 150.5], [61.0, 40.0]]]  # 2 of 12 carry on:
    assert ss.unlinked_frames(np.isfinite(points).all(-1)) == [3]  # still a cut (what Blender's tracker does)
    points[4, :12] = points[3, :12] + 0.5  # every feature carries on: one shot
    points[5:, :12] = points[4, :12]
    assert ss.unlinked_frames(np.isfinite(points).all(-1)) == []


def test_a_two_frame_range_is_stabilized():
    """Two frames are enough for two-frame tracks (a track of three was asked for, so a 2-frame strip
    was refused while a 1-frame strip was accepted)."""
    pts, cam = shaken_scene()
    st = ss.stabilize(pts[:2], W, H, smoothing="lock")
    assert st.alignment.track_ok.sum() > 60
    rel = geo.params(geo.compose(st.matrices, cam[:2]))  # world -> stabilized: one transform for both
    assert np.abs(rel[1] - rel[0])[2:].max() < 0.15 and abs(rel[1, 1] - rel[0, 1]) < np.radians(0.03)
    with pytest.raises(ValueError, match="no usable tracks"):
        ss.stabilize(np.full((2, 5, 2), np.nan), W, H)
