"""Blender's tracker headless, stabilization_for_input/path, and the compositor trees (bpy 5.0.1)."""
import json
import os
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from stab_support import HERE, H, T, W, kino, scene, shaken  # noqa: E402,F401  (loads Kino before bpy; fixtures)

import bpy  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from kino_addon.core.kino_command import LAUNCHER as KINO  # noqa: E402

geo = kino("kino_addon.core.stabilize_geom")
solve = kino("kino_addon.core.stabilize_solve")
tracking = kino("kino_addon.blender.stabilize.tracking")
job = kino("kino_addon.blender.stabilize.transforms")
trees = kino("kino_addon.blender.stabilize.trees")
png = kino("kino_addon.core.png")
compat = kino("kino_addon.blender.compat")
CENTRE = ((W - 1) / 2, (H - 1) / 2)


def locked_error(matrices, cam):
    """How far (px, std over frames) world -> stabilized is from one constant transform."""
    p = geo.params(geo.about_center(geo.compose(np.asarray(matrices), cam), -CENTRE[0], -CENTRE[1]))
    return float(p[:, 2:].std(0).max()), float(np.degrees(p[:, 1].std()))


def image_strip(scene, folder, frame_start: int):
    """The shaken clip's frames as an image strip named "shaky" starting at ``frame_start``."""
    files = sorted(os.listdir(folder))
    strip = scene.sequence_editor.strips.new_image(name="shaky", filepath=os.path.join(folder, files[0]), channel=1,
                                                   frame_start=frame_start)
    for f in files[1:]:
        strip.elements.append(f)
    return strip


def test_tracker_markers_follow_the_known_motion(shaken, scene):
    folder, cam, _ = shaken
    clip = tracking.load_clip(tracking.clip_path_for_input(folder))
    assert clip.source == 'SEQUENCE' and clip.frame_duration == T and tuple(clip.size) == (W, H)
    names = tracking.detect_and_track(clip, 1, T)
    assert len(names) >= 15 and all(n.startswith("kino_") for n in names)
    tracks = tracking.read_tracks(clip, names)
    pts = solve.tracks_to_points(tracks, 1, T, W, H)
    # a background feature seen on frame 1 must be where the true camera motion puts it
    world = geo.apply(geo.invert(cam[0]), pts[0])
    predicted = geo.apply(cam, np.broadcast_to(world, pts.shape))
    err = np.linalg.norm(pts - predicted, axis=-1)[:, np.isfinite(pts[0]).all(-1)]  # tracks seen on frame 1
    per_track = np.nanmedian(err, axis=0)
    good = per_track[np.isfinite(per_track)] < 0.5
    assert good.mean() > 0.6, f"median marker errors: {np.round(per_track, 2)}"
    # re-tracking replaces Kino's tracks but keeps an artist's track
    art = clip.tracking.tracks.new(name="artist", frame=1)
    art.markers[0].co = (0.5, 0.5)
    again = tracking.detect_and_track(clip, 1, 4)
    left = [t.name for t in clip.tracking.tracks]
    assert "artist" in left and sorted(n for n in left if n != "artist") == sorted(again)


def test_camera_lock_from_a_file_rejects_the_walking_person(shaken, scene):
    folder, cam, people = shaken
    res = job.stabilization_for_path(folder)
    assert res["mode"] == "camera" and res["width"] == W and res["height"] == H
    assert len(res["matrices"]) == T and np.asarray(res["matrices"]).shape == (T, 2, 3)
    shift, deg = locked_error(res["matrices"], cam)
    assert shift < 0.15 and deg < 0.05, (shift, deg)
    # the person walks 100 px: the tracks on it are not used
    clip = bpy.data.movieclips[res["clip"]]
    pts = solve.tracks_to_points(tracking.read_tracks(clip), 1, T, W, H)
    on_person = []
    for p in pts.transpose(1, 0, 2):         # where each track starts, relative to the person then
        seen = np.flatnonzero(np.isfinite(p).all(-1))
        d = (p[seen[0]] - people[seen[0]].mean(0)) / (30.0, 60.0)
        # a track of 3 frames at the range's end may start at the person's edge and keep 2 good frames
        on_person.append(np.hypot(*d) < 0.9 and len(seen) >= 4)
    on_person = np.array(on_person)
    names = [t.name for t in clip.tracking.tracks]
    assert on_person.sum() >= 2 and not set(np.array(names)[on_person]) & set(res["used_tracks"])
    assert res["tracks_used"] < res["tracks_total"]
    json.dumps(res)   # goes over the wire as a job option


def test_strip_range_maps_to_clip_frames(shaken, scene):
    folder, cam, _ = shaken
    sed = scene.sequence_editor
    strip = image_strip(scene, folder, 10)
    res = job.stabilization_for_input(scene, strip, (3, 12), None)
    assert res["frames"] == [3, 12] and len(res["matrices"]) == 10
    shift, deg = locked_error(res["matrices"], cam[2:12])
    assert shift < 0.15 and deg < 0.05


def test_a_late_range_is_tracked_on_its_own_frames(shaken, scene):
    """Features are found on the range's frames and tracked through the range only. Headless, the clip
    editor's frame stayed at 1: features were found on frame 1 and tracked through every frame before
    the range (a strip 200 frames into a clip took 31 s instead of 3, with 32 tracks of 195 left)."""
    folder, cam, _ = shaken
    clip = tracking.load_clip(tracking.clip_path_for_input(folder))
    names = tracking.detect_and_track(clip, 11, 15)
    frames = [m.frame for n in names for m in clip.tracking.tracks[n].markers if not m.mute]
    assert names and min(frames) >= 11 and max(frames) <= 15, (min(frames), max(frames))
    res = job.stabilization_for_path(folder, 11, 15)
    assert res["tracks_used"] >= 10
    shift, deg = locked_error(res["matrices"], cam[10:15])
    assert shift < 0.15 and deg < 0.05


def test_a_strip_whose_time_is_changed_is_refused(shaken, scene):
    """The tracker reads the clip frame after frame: a Speed effect fed by the strip, or reversed
    playback, would give matrices for other frames than the job sends (3.8 px off at x2 speed)."""
    folder, _, _ = shaken
    sed = scene.sequence_editor
    strip = image_strip(scene, folder, 1)
    assert job.time_changes(strip) == []
    compat.new_effect(sed.strips, "fast", 'SPEED', channel=2, frame_start=1, input1=strip)
    with pytest.raises(job.StabilizeError, match="retimed by the Speed effect 'fast'.*retime the result strip"):
        job.stabilization_for_input(scene, strip, (1, 8), None)
    sed.strips.remove(sed.strips["fast"])
    strip.use_reverse_frames = True
    with pytest.raises(job.StabilizeError, match="played in reverse"):
        job.stabilization_for_input(scene, strip, (1, 8), None)


def test_region_lock_holds_the_person(shaken, scene):
    folder, cam, people = shaken
    p0 = people[0]
    region = (p0[:, 0].min(), p0[:, 1].min(), np.ptp(p0[:, 0]), np.ptp(p0[:, 1]))
    res = job.stabilization_for_path(folder, track_region="%g,%g,%g,%g" % region)
    assert res["mode"] == "region" and res["region"] == pytest.approx(list(region), abs=1e-3)
    held = geo.apply(np.asarray(res["matrices"]), people)          # person blobs in stabilized frames
    assert np.abs(held - held.mean(0)).max() < 1.0
    bg_shift, _ = locked_error(res["matrices"], cam)
    assert bg_shift > 5          # the background moves instead


def test_bad_region_and_no_face_are_clear_errors(shaken, scene):
    folder, _, _ = shaken
    with pytest.raises(job.StabilizeError, match="X,Y,W,H"):
        job.parse_region("1,2,3")
    with pytest.raises(job.StabilizeError, match="no face found"):
        job.stabilization_for_path(folder, 1, 6, track_region="face")


@pytest.mark.release_smoke
def test_compositor_trees_stabilize_and_restore(shaken, scene, tmp_path):
    folder, cam, _ = shaken
    res = job.stabilization_for_path(folder, 1, 8)
    clip = bpy.data.movieclips[res["clip"]]
    assert trees.set_clip_stabilization(clip, res["used_tracks"]) == len(res["used_tracks"])
    comp = trees.comp_scene(clip)
    tree = trees.build_stabilize_tree(comp, clip)
    assert compat.compositor_tree(comp) == tree
    assert {n.bl_idname for n in tree.nodes} >= {"CompositorNodeMovieClip", "CompositorNodeStabilize"}
    stab = trees.render_tree(comp, str(tmp_path / "stab"), 1, 6)
    src = [png.read_png(os.path.join(folder, f"frame_{i:04d}.png")).astype(float) for i in range(1, 7)]
    out = [png.read_png(p).astype(float) for p in stab]
    inner = (slice(25, H - 25), slice(70, W - 30))       # away from borders, right of the person's start
    moved_in = np.mean([np.abs(s[inner] - src[0][inner]).mean() for s in src[1:]])
    moved_out = np.mean([np.abs(s[inner] - out[0][inner]).mean() for s in out[1:]])
    assert moved_out < 0.5 * moved_in, (moved_in, moved_out)
    restore = trees.build_restore_tree(comp, clip, stab[0], len(stab))
    assert any(n.bl_idname == "CompositorNodeStabilize" and n.inputs["Invert"].default_value for n in restore.nodes)
    back = [png.read_png(p).astype(float) for p in trees.render_tree(comp, str(tmp_path / "back"), 1, 6)]
    for b, s in zip(back, src):
        assert np.abs(b[inner] - s[inner]).mean() < 3.0


def test_kino_stabilize_command_writes_exactly_frames_and_transforms(shaken, tmp_path):
    folder, cam, _ = shaken
    out = tmp_path / "out"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-m", "kino_addon.blender.stabilize.command", folder, "--out", str(out),
                           "--frames", "2:11", "--json"], capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["frames"] == 10
    names = sorted(os.listdir(out))
    assert names == [f"frame_{i:04d}.png" for i in range(1, 11)] + ["kino.json", "transforms.json"]
    side = json.loads((out / "kino.json").read_text())  # what reproduces the folder
    assert side["status"] == "completed" and side["frames"]["count"] == 10 and side["frames"]["source_first"] == 2
    assert side["command"].startswith(f"{KINO} stabilize ") and "--frames 2:11" in side["command"]
    assert side["provenance"]["stabilize"]["mode"] == "camera" and side["versions"]["blender"]
    doc = json.loads((out / "transforms.json").read_text())
    assert doc["width"] == W and doc["height"] == H
    assert [f["frame"] for f in doc["frames"]] == list(range(1, 11))
    m = np.array([f["matrix"] for f in doc["frames"]])
    assert m.shape == (10, 2, 3)
    shift, deg = locked_error(m, cam[1:11])
    assert shift < 0.15 and deg < 0.05
    first = png.read_png(str(out / "frame_0001.png"))
    assert first.shape == (H, W, 3)
    # the stabilized frames are still: background pixels barely change between them
    last = png.read_png(str(out / "frame_0010.png")).astype(float)
    inner = (slice(25, H - 25), slice(150, W - 20))
    assert np.abs(last[inner] - first.astype(float)[inner]).mean() < 2.0
    bad = subprocess.run([sys.executable, "-m", "kino_addon.blender.stabilize.command", folder + "_missing", "--out",
                          str(tmp_path / "o2")], capture_output=True, text=True, cwd=root)
    assert bad.returncode != 0 and "does not exist" in bad.stderr.strip().splitlines()[-1]
    exr = tmp_path / "exr"  # refused before tracking: the warp cannot read it (it failed after the tracking)
    exr.mkdir()
    for n in (1, 2, 3):
        (exr / f"shot.{1000 + n}.exr").write_bytes(b"v/1\x01" + bytes(40))
    bad = subprocess.run([sys.executable, "-m", "kino_addon.blender.stabilize.command", str(exr), "--out",
                          str(tmp_path / "o3")], capture_output=True, text=True, cwd=root)
    assert bad.returncode != 0 and "is float (HDR) EXR" in bad.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "o3").exists()


@pytest.mark.release_smoke
def test_kino_stabilize_through_a_blender_executable(shaken, tmp_path):
    """``scripts/kino stabilize --blender BLENDER`` with a Blender executable of this release
    (tests/support/blender_exe.py around this suite's bpy)."""
    folder, cam, _ = shaken
    root = HERE.parent.parent
    blender = subprocess.run([sys.executable, str(root / "tests" / "support" / "blender_exe.py"), "make-wrapper",
                              str(tmp_path / "blender"), sys.executable], capture_output=True, text=True,
                             check=True).stdout.strip()
    out = tmp_path / "out"
    proc = subprocess.run([str(root / "scripts" / "kino"), "stabilize", folder, "--out", str(out), "--frames", "1:8",
                           "--json", "--blender", blender], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["frames"] == 8
    doc = json.loads((out / "transforms.json").read_text())
    shift, deg = locked_error(np.array([f["matrix"] for f in doc["frames"]]), cam[:8])
    assert shift < 0.15 and deg < 0.05
    assert len([n for n in os.listdir(out) if n.startswith("frame_")]) == 8


def test_artist_tracks_are_used_as_they_are(shaken, scene):
    folder, cam, _ = shaken
    clip = tracking.load_clip(tracking.clip_path_for_input(folder))
    names = tracking.detect_and_track(clip, 1, T)
    for i, n in enumerate(names):            # the artist's own tracks: not Kino's names
        clip.tracking.tracks[n].name = f"mine_{i}"
    res = job.stabilization_for_path(folder)
    assert res["tracks_source"] == "artist" and res["tracks_total"] == len(names)
    assert all(n.startswith("mine_") for n in res["used_tracks"])
    assert not any(t.name.startswith("kino_") for t in clip.tracking.tracks)
    shift, deg = locked_error(res["matrices"], cam)
    assert shift < 0.15 and deg < 0.05


def test_operator_builds_trees_for_the_active_strip(shaken, scene, tmp_path):
    folder, _, _ = shaken
    files = sorted(os.listdir(folder))
    strip = image_strip(scene, folder, 1)
    scene.sequence_editor.active_strip = strip
    stylized = tmp_path / "sty"
    stylized.mkdir()
    for i in range(1, 4):
        (stylized / f"frame_{i:04d}.png").write_bytes(open(os.path.join(folder, files[i - 1]), "rb").read())
    assert bpy.ops.kino.stabilize_trees(stylized_dir=str(stylized)) == {'FINISHED'}
    comp = bpy.data.scenes["Kino Stabilize"]
    for name, invert in (("Kino Stabilize", False), ("Kino Restore Camera", True)):  # one tree per scene
        tree = compat.compositor_tree(bpy.data.scenes[name])
        stab = [n for n in tree.nodes if n.bl_idname == "CompositorNodeStabilize"]
        assert len(stab) == 1 and stab[0].inputs["Invert"].default_value == invert
    clip = bpy.data.movieclips[0]
    assert clip.tracking.stabilization.use_2d_stabilization and len(clip.tracking.stabilization.tracks) >= 5
    assert comp.render.resolution_x == W and comp.render.resolution_y == H


def test_trees_of_a_trimmed_strip_cover_its_frames_and_restore_each_frames_motion(shaken, scene, tmp_path):
    """A strip showing clip frames 5-12: both scenes cover those frames, and stylized frame 1 (clip
    frame 5) gets clip frame 5's motion back, not clip frame 1's."""
    folder, _, _ = shaken
    files = sorted(os.listdir(folder))
    strip = image_strip(scene, folder, 1)
    compat.set_strip_time(strip, "left_handle_offset", 4)
    compat.set_strip_time(strip, "right_handle_offset", T - 12)
    scene.sequence_editor.active_strip = strip
    assert bpy.ops.kino.stabilize_trees() == {'FINISHED'}
    comp = bpy.data.scenes["Kino Stabilize"]
    assert (comp.frame_start, comp.frame_end) == (5, 12)
    stylized = tmp_path / "sty"  # stand-in for the stylized frames: the stabilized clip frames 5-8
    stylized.mkdir()
    for i, path in enumerate(trees.render_tree(comp, str(tmp_path / "stab"), 5, 8), start=1):
        os.replace(path, stylized / f"frame_{i:04d}.png")
    assert bpy.ops.kino.stabilize_trees(stylized_dir=str(stylized)) == {'FINISHED'}
    restore = bpy.data.scenes["Kino Restore Camera"]
    assert (restore.frame_start, restore.frame_end) == (5, 8)
    back = [png.read_png(p).astype(float) for p in trees.render_tree(restore, str(tmp_path / "back"))]
    inner = (slice(25, H - 25), slice(70, W - 30))
    for n, b in zip(range(5, 9), back):
        src = png.read_png(os.path.join(folder, files[n - 1])).astype(float)
        assert np.abs(b[inner] - src[inner]).mean() < 3.0, n


def test_one_frame_needs_no_tracking_and_is_left_as_it_is(shaken, scene):
    """A one-frame range (a still, or --frames N:N) has no motion: identity, no tracks, any lock mode."""
    folder, _cam, _people = shaken
    for region in (None, "10,10,40,40"):
        res = job.stabilization_for_path(folder, 3, 3, region)
        assert res["matrices"] == [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]] and res["tracks_total"] == 0
        json.dumps(res)
