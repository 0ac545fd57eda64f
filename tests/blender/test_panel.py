"""The sidebar panel drawn with a recording layout: what it shows in each state."""
import os
import types
import warnings

import blender_ext
import bpy
import numpy as np
import pytest

from kino_media import add_image_strip, index_frame, select_only

from kino_addon.core.job_workflow import build_workflow


ICONS = set(bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items.keys())


def _check_icon(kw):
    assert kw.get("icon", "NONE") in ICONS, f"unknown icon {kw.get('icon')}"


class FakeLayout:
    """Records what a panel draws and checks it as Blender would: real properties, operators, icons."""

    def __init__(self, log=None):
        self.log = [] if log is None else log
        self.enabled = True
        self.scale_y = 1.0

    def _child(self, *a, **k):
        return FakeLayout(self.log)

    row = column = box = split = _child

    def prop(self, data, name, **kw):
        assert name in data.bl_rna.properties, f"{type(data).__name__} has no property {name}"
        _check_icon(kw)
        self.log.append(("prop", type(data).__name__, name, kw.get("text")))

    def operator(self, idname, **kw):
        group, op = idname.split(".")
        assert hasattr(bpy.types, f"{group.upper()}_OT_{op}"), f"no operator {idname}"
        _check_icon(kw)
        self.log.append(("operator", idname))
        return types.SimpleNamespace()

    def operator_menu_enum(self, idname, prop, **kw):
        group, op = idname.split(".")
        cls = getattr(bpy.types, f"{group.upper()}_OT_{op}", None)
        assert cls is not None, f"no operator {idname}"
        _check_icon(kw)
        self.log.append(("menu", idname, prop))
        return types.SimpleNamespace()

    def label(self, text="", **kw):
        _check_icon(kw)
        self.log.append(("label", text))

    def progress(self, factor=0.0, text="", **kw):
        self.log.append(("progress", round(factor, 3), text))


def draw(kino):
    layout = FakeLayout()
    kino.panel.KINO_PT_main.draw(types.SimpleNamespace(layout=layout), bpy.context)
    return layout.log


@pytest.mark.release_smoke
def test_panel_shows_backend_look_stages_params_and_stylize(scene, kino, backend):
    scene.kino.look_name = "toon"
    bpy.ops.kino.backend_start()  # syncs the stage switches and parameters from hello
    log = draw(kino)
    assert any(e[0] == "label" and e[1].startswith("Backend: running") for e in log)
    assert ("prop", "KinoSceneProps", "look", None) in log
    assert ("operator", "kino.stylize") in log and ("operator", "kino.backend_stop") in log
    toon = next(lk for lk in backend.hello["looks"] if lk["name"] == "toon")
    drawn = {e[3] for e in log if e[0] == "prop" and e[1] == "KinoParam"}
    assert toon["params"] and {p["name"].replace("_", " ").title() for p in toon["params"]} <= drawn
    assert ("prop", "KinoStageToggle", "enabled", "Temporal") in log
    kinds = {p.kind: p.value_prop() for p in scene.kino.params}
    assert all(e[2] in kinds.values() for e in log if e[0] == "prop" and e[1] == "KinoParam")


def test_panel_progress_cancel_and_last_error(scene, kino, backend, media, none_look):
    strip = add_image_strip(scene, media / "idx", start=1, channel=1)
    select_only(scene, strip)
    workflow = {"version": 1, "look": none_look, "stages": [{"name": none_look, "enabled": True, "params": {}}]}
    job = kino.strip_job.StripJob(scene, strip, backend.client, backend.hello, workflow, {}, alive=backend.connected,
                             max_in_flight=1)
    kino.strip_job.QUEUE.add([job])
    while job.session.frames_on_disk < 2:
        kino.strip_job.QUEUE.step()
    log = draw(kino)
    assert ("operator", "kino.cancel") in log and ("operator", "kino.stylize") not in log
    progress = [e for e in log if e[0] == "progress"][0]
    assert progress[1] == round(job.session.frames_on_disk / 12, 3)
    assert f"of 12" in progress[2] and progress[2].startswith("idx frame")
    kino.strip_job.QUEUE.cancel()
    kino.strip_job.QUEUE.run()
    kino.strip_job.QUEUE.last_error = "idx: the backend stopped (connection lost); 2 of 12 frames are kept"
    log = draw(kino)
    assert ("operator", "kino.stylize") in log
    text = " ".join(e[1] for e in log if e[0] == "label")
    assert "the backend stopped" in text and "2 of 12 frames are kept" in text


def test_panel_draw_starts_nothing(scene, kino, backend):
    backend.stop()
    log = draw(kino)
    assert not backend.connected() and backend.process is None
    assert ("operator", "kino.backend_start") in log
    assert any(e[0] == "label" and e[1] == "Backend: not running" for e in log)
    bpy.ops.kino.backend_start()


def test_the_first_draw_reads_no_file(scene, kino, backend, monkeypatch):
    """The looks menu's offline copy is read when the add-on registers; the first draw read it (and
    made Kino's user folders) from the panel's draw()."""
    import builtins
    backend.stop()
    connection = blender_ext.addon_submodule("kino_addon.blender.connection")
    props = blender_ext.addon_submodule("kino_addon.blender.stylize.props")
    connection.BACKEND.hello, connection.BACKEND._offline = {}, {}
    props.on_unregister()
    props.on_register()  # as when the add-on is enabled

    def no_io(*args, **kwargs):
        raise AssertionError(f"file I/O in draw(): {args[:1]}")
    monkeypatch.setattr(builtins, "open", no_io)
    monkeypatch.setattr(os, "makedirs", no_io)
    log = draw(kino)
    looks = props._look_items(scene.kino, bpy.context)  # the look menu's items, as Blender asks for them
    monkeypatch.undo()
    assert ("operator", "kino.backend_start") in log and len(looks) > 3
    bpy.ops.kino.backend_start()


def test_panel_settings_become_the_workflow(scene, kino, backend, media, tmp_path):
    strip = add_image_strip(scene, media / "idx", start=1, channel=1)
    select_only(scene, strip)
    scene.kino.look = "toon"  # through the enum, as the dropdown does
    assert scene.kino.look_name == "toon" and scene.kino.synced_look == "toon"
    levels = next(p for p in scene.kino.params if p.stage == "toon" and p.name == "levels")
    assert not levels.changed
    levels.int_value = 3
    assert levels.changed
    next(t for t in scene.kino.stages if t.name == "temporal").enabled = False
    prefs = blender_ext.addon_preferences()
    prefs.device, prefs.models_dir = 'CPU', str(tmp_path)
    try:
        assert bpy.ops.kino.stylize(frame_first=1, frame_last=2) == {'FINISHED'}
    finally:
        prefs.device, prefs.models_dir = 'AUTO', ""
    spec = kino.strip_job.QUEUE.finished[-1].session.spec
    assert spec.options == {"device": "cpu", "models_dir": str(tmp_path)}
    workflow = spec.workflow
    assert workflow["look"] == "toon"
    assert workflow["stages"] == [{"name": "toon", "enabled": True, "params": {"levels": 3}},
                                  {"name": "temporal", "enabled": False, "params": {}}]
    scene.kino.look = "paint"  # switching looks rebuilds the parameters from hello
    assert {p.stage for p in scene.kino.params} == {"paint", "temporal"}


def test_panel_stabilize_switch_sends_the_stabilize_stage(scene, kino, backend, media, monkeypatch, none_look):
    """The panel's Stabilize switch: the transforms (here identity, from a stand-in for the tracker)
    go into options and a stabilize stage runs first in the real backend; identity leaves pixels."""
    strip_job = blender_ext.addon_submodule("kino_addon.blender.stylize.strip_job")
    calls = []

    def fake(scene_, strip, frame_range, region, client):
        calls.append((strip.name, frame_range, region, client is backend.client))  # a face lock asks this backend
        return {"matrices": [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]] * 3, "width": 64, "height": 48}

    monkeypatch.setattr(strip_job, "stabilization", fake)
    strip = add_image_strip(scene, media / "idx", start=1, channel=1)
    select_only(scene, strip)
    scene.kino.look = none_look
    scene.kino.stabilize, scene.kino.track_mode, scene.kino.track_region = True, 'REGION', (4, 5, 30, 20)
    log = draw(kino)
    assert ("prop", "KinoSceneProps", "stabilize", None) in log and ("prop", "KinoSceneProps", "track_region", None) in log
    assert bpy.ops.kino.stylize(frame_first=2, frame_last=4) == {'FINISHED'}
    assert calls == [("idx", (2, 4), "4,5,30,20", True)]
    job = kino.strip_job.QUEUE.finished[-1]
    assert job.session.state == "completed", job.session.error
    assert [s["name"] for s in job.session.spec.workflow["stages"]] == ["stabilize", none_look]
    assert len(job.session.spec.options["stabilize"]["matrices"]) == 3
    assert "--stabilize --track-region 4,5,30,20 --out" in job.session.spec.command  # every flag that shaped it
    for n in range(1, 4):
        out = kino.png.read_png(f"{job.folder}/frame_{n:04d}.png")
        assert np.abs(out.astype(int) - index_frame(n + 1).astype(int)).max() <= 1


def _kohya_lora_bytes() -> bytes:
    """A minimal kohya-style LoRA safetensors file (header + zero tensors), written without torch."""
    import json
    import struct
    key = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"
    shapes = {f"{key}.lora_down.weight": [4, 768], f"{key}.lora_up.weight": [320, 4], f"{key}.alpha": []}
    header, offset = {}, 0
    for name, shape in shapes.items():
        n = 4 * int(np.prod(shape)) if shape else 4
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + bytes(offset)


def test_panel_offers_the_models_the_backend_finds(scene, kino, backend, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    (models / "ink.safetensors").write_bytes(_kohya_lora_bytes())
    blender_ext.addon_preferences().models_dir = str(models)
    scene.kino.look_name = "diffusion"
    bpy.ops.kino.backend_start()
    assert bpy.ops.kino.refresh_models() == {'FINISHED'}
    log = draw(kino)
    assert ("menu", "kino.pick_model", "choice") in log  # next to model, vae, lora, controlnet ...
    assert bpy.ops.kino.pick_model(stage="diffusion", param="lora", choice=str(models / "ink.safetensors")) == {'FINISHED'}
    lora = next(p for p in scene.kino.params if p.stage == "diffusion" and p.name == "lora")
    assert lora.value() == [str(models / "ink.safetensors")] and lora.changed


def test_panel_shows_the_clips_flicker_figure_after_a_job(scene, kino, backend, media):
    strip = add_image_strip(scene, media / "idx", start=1, channel=1)
    select_only(scene, strip)
    scene.kino.look = "toon"
    assert bpy.ops.kino.stylize(frame_first=1, frame_last=4) == {'FINISHED'}
    fig = kino.strip_job.QUEUE.finished[-1].session.provenance["stages"]["temporal"]["figure"]
    assert fig["pairs"] == 3 and fig["warp_error"] is not None
    labels = [e[1] for e in draw(kino) if e[0] == "label"]
    assert any(t.startswith("Flicker (warping error):") for t in labels), labels


def test_face_similarity_switch_scores_the_result_and_the_panel_shows_it(scene, kino, backend, tmp_path):
    """Real: the add-on's switch, the backend job, insightface's own code path. Test model: the tiny
    face pack (its detector takes a bright square for a face), built by the backend venv."""
    import subprocess

    from kino_media import BACKEND_PYTHON

    models = tmp_path / "models"
    pack = models / "insightface" / "models" / "face-tiny"
    subprocess.run([str(BACKEND_PYTHON), "-c", "import sys; from kino_backend.identity.tiny_face import "
                    "make_face_pack; make_face_pack(sys.argv[1])", str(pack)], check=True, timeout=300)
    png = kino.png
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(2):
        img = np.full((160, 192, 3), 40, np.uint8)
        img[40:104, 30 + 6 * i:94 + 6 * i] = 255
        (folder / f"f_{i + 1:04d}.png").write_bytes(png.encode_png(img))
    strip = add_image_strip(scene, folder, name="faces", start=1, channel=1)
    select_only(scene, strip)
    prefs = blender_ext.addon_preferences()
    prefs.models_dir = str(models)
    scene.kino.look_name = "none"
    scene.kino.face_score, scene.kino.face_pack = True, "face-tiny"
    try:
        assert bpy.ops.kino.stylize() == {'FINISHED'}
    finally:
        prefs.models_dir = ""
        scene.kino.face_score = False
    session = kino.strip_job.QUEUE.finished[-1].session
    assert session.spec.workflow["stages"][0]["name"] == "face_score"
    ident = session.provenance["stages"]["face_score"]
    assert ident["frames_scored"] == 2 and abs(ident["mean"] - 1.0) < 1e-4  # `none`: the face is kept exactly
    labels = [e[1] for e in draw(kino) if e[0] == "label"]
    assert any(t.startswith("Face similarity: 1.000") for t in labels), labels


def test_face_and_reference_images_get_a_file_browser_and_take_frame(scene, kino, backend):
    """The diffusion look's ``reference`` and ``face_reference`` are image parameters: a file field in the
    panel (relative //paths made absolute), where typing ``frame`` still means "each source frame"."""
    scene.kino.look = "diffusion"
    items = {(p.stage, p.name): p for p in scene.kino.params}
    face, ref = items[("diffusion", "face_reference")], items[("diffusion", "reference")]
    assert face.kind == ref.kind == "image" and face.value_prop() == "path_value"
    log = draw(kino)
    assert ("prop", "KinoParam", "path_value", "Face Reference") in log
    face.path_value = "frame"
    with warnings.catch_warnings(record=True) as caught:  # "//" is the file browser's relative path
        warnings.simplefilter("always")
        ref.path_value = "//actor.png"
    assert not [str(w.message) for w in caught], "a // path must be taken without a warning"
    assert face.value() == "frame" and ref.value() == bpy.path.abspath("//actor.png") and ref.value().startswith("/")
    flow = build_workflow(backend.hello, blender_ext.addon_submodule("kino_addon.blender.stylize.props")
                          .choices_from_scene(scene.kino, backend.hello))
    params = next(s for s in flow["stages"] if s["name"] == "diffusion")["params"]
    assert params["face_reference"] == "frame" and params["reference"].endswith("actor.png")


def test_the_model_menu_leaves_out_checkpoints_no_look_can_use():
    """An inpainting checkpoint is listed by the registry with its note, but not offered as model."""
    picker = blender_ext.addon_submodule("kino_addon.blender.model_picker")
    saved = dict(picker.MODELS)
    try:
        picker.MODELS["entries"] = [
            {"kind": "checkpoint", "arch": "sd15", "name": "a.safetensors", "path": "/m/a.safetensors"},
            {"kind": "checkpoint", "arch": "sd15", "name": "b-inpainting.safetensors",
             "path": "/m/b-inpainting.safetensors", "made_for": "inpainting", "unet_in_channels": 9},
            {"kind": "checkpoint", "arch": "sd2", "name": "v2.safetensors", "path": "/m/v2.safetensors",
             "note": "an SD 2.x checkpoint: Kino's looks load SD 1.5 and SDXL base checkpoints"},
            {"kind": "checkpoint", "arch": "sdxl_refiner", "name": "refiner.safetensors", "path": "/m/r.safetensors"},
            {"kind": "invalid", "arch": None, "name": "cut.safetensors", "path": "/m/cut.safetensors",
             "error": "truncated: download it again"}]
        assert [e["name"] for e in picker.entries_of("checkpoint", "model")] == ["a.safetensors"]
        # Refresh Models counted all five as "models found" and showed none of the reasons
        text = picker.refresh_summary(picker.MODELS["entries"])
        assert text.startswith("1 model found; 4 cannot be used — b-inpainting.safetensors: ")
        assert "v2.safetensors: an SD 2.x checkpoint" in text and "(and 1 more: scripts/kino models list)" in text
    finally:
        picker.MODELS.clear()
        picker.MODELS.update(saved)
