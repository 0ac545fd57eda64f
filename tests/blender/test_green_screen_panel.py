"""The panel's Green Screen switch: the real backend keys the actor (``key`` stage), the result strip
carries the matte as alpha and blends Alpha Over, so the sequencer itself lays the (here unstylized,
``none`` look) actor over the background strip below. Media: a soft-edged disk on an unevenly lit
green screen, and a two-colour background, drawn with numpy."""
import os

import blender_ext
import bpy
import numpy as np

from kino_media import add_image_strip, select_only

W, H = 64, 48
SCREEN, ACTOR = np.array([40, 180, 60]), np.array([214, 160, 130])


def actor_frame(i: int) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    alpha = np.clip(11.5 - np.hypot(x - (26 + 2 * i), y - 24), 0, 1)[..., None]
    light = (0.9 + 0.1 * x / W)[..., None]
    return np.clip(np.rint(alpha * ACTOR + (1 - alpha) * SCREEN * light), 0, 255).astype(np.uint8)


def background() -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    img[:, : W // 2], img[:, W // 2:] = (220, 30, 30), (30, 40, 220)
    return img


def _write(folder, frames):
    png = blender_ext.addon_submodule("kino_addon.core.png")
    os.makedirs(folder, exist_ok=True)
    for i, img in enumerate(frames, 1):
        with open(os.path.join(folder, f"frame_{i:04d}.png"), "wb") as fh:
            fh.write(png.encode_png(img))


def _render(scene, frame: int, path: str) -> np.ndarray:
    png = blender_ext.addon_submodule("kino_addon.core.png")
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = W, H, 100
    r.use_sequencer, r.use_compositing = True, False
    r.image_settings.file_format, r.image_settings.color_mode = 'PNG', 'RGB'
    scene.view_settings.view_transform, scene.view_settings.look = 'Standard', 'None'
    scene.frame_set(frame)
    r.filepath = path
    bpy.ops.render.render(write_still=True, scene=scene.name)
    return png.read_png(path)


def test_green_screen_switch_keys_the_actor_over_the_strip_below(scene, kino, backend, tmp_path, none_look):
    _write(tmp_path / "actor", [actor_frame(i) for i in range(3)])
    _write(tmp_path / "bg", [background()] * 3)
    add_image_strip(scene, tmp_path / "bg", name="bg", start=1, channel=1)
    actor = add_image_strip(scene, tmp_path / "actor", name="actor", start=1, channel=2)
    select_only(scene, actor)
    scene.kino.look = none_look
    scene.kino.key_screen = True
    assert bpy.ops.kino.stylize() == {'FINISHED'}
    job = kino.strip_job.QUEUE.finished[-1]
    assert job.session.state == "completed", job.session.error
    assert [s["name"] for s in job.session.spec.workflow["stages"]] == ["key", none_look]
    assert job.session.spec.workflow["stages"][0]["params"] == {"key_color": "auto", "garbage_matte": ""}
    result = scene.sequence_editor.strips[job.result_strip]
    assert result.blend_type == 'ALPHA_OVER' and result.alpha_mode == 'STRAIGHT' and result.channel == 3
    actor.mute = True  # what shows: the keyed result over the background strip
    for n in (1, 3):
        rgba = kino.png.read_png(f"{job.folder}/frame_{n:04d}.png")
        matte = kino.png.read_png(f"{job.folder}/matte/frame_{n:04d}.png")
        assert rgba.shape == (H, W, 4) and np.array_equal(rgba[..., 3], matte.reshape(H, W))
        cx = 26 + 2 * (n - 1)
        assert rgba[24, cx, 3] == 255 and rgba[2, 2, 3] == 0 and rgba[45, 60, 3] == 0  # actor solid, screen gone
        shown = _render(scene, n, str(tmp_path / f"shown_{n}.png")).astype(int)
        a = rgba[..., 3:].astype(float) / 255.0
        expect = a * rgba[..., :3] + (1 - a) * background()
        assert np.abs(shown - expect).max() <= 3  # the sequencer's Alpha Over on sRGB values
        assert np.abs(shown[24, cx] - ACTOR).max() <= 6 and np.abs(shown[2, 2] - (220, 30, 30)).max() <= 2
    assert "--param key.key_color=auto" in job.session.spec.command
