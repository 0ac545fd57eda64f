"""The Train LoRA sub-panel: a real backend job from two strips' frames, the LoRA file written, "Use in
look" puts it in the diffusion look's lora list. Real: Blender's strip rendering (the Stylize extraction
code), the protocol, the backend's train_lora stage and trainer. Test model: Kino's tiny random SD 1.5
checkpoint, written by the backend venv's ``models make-tiny``."""
import os
import subprocess

import bpy
import numpy as np
import pytest

import blender_ext
from kino_media import BACKEND_PYTHON, REPO, add_image_strip, select_only

from kino_addon.core.job_workflow import build_workflow


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-train")
    subprocess.run([str(BACKEND_PYTHON), "-m", "kino_backend", "models", "make-tiny", str(out)], check=True,
                   timeout=600, cwd=str(REPO), capture_output=True)
    assert (out / "sd15-tiny.safetensors").is_file()
    return out


def _strip(scene, png, folder, name, channel, start, shade):
    folder.mkdir()
    for i in range(3):
        img = np.full((48, 64, 3), (shade, 60 + 40 * i, 90), np.uint8)
        img[10:30, 20 + 5 * i:40 + 5 * i] = 230
        (folder / f"f_{i + 1:04d}.png").write_bytes(png.encode_png(img))
    return add_image_strip(scene, folder, name=name, channel=channel, start=start)


class Recorder:
    """Records what ``draw_train`` draws (labels, operators, progress)."""

    def __init__(self, log):
        self.log, self.enabled = log, True

    def _child(self, *a, **k):
        return Recorder(self.log)

    row = column = box = _child

    def prop(self, data, name, **kw):
        assert name in data.bl_rna.properties, name
        self.log.append(("prop", name))

    def operator(self, idname, **kw):
        self.log.append(("operator", idname))

    def operator_menu_enum(self, idname, prop, **kw):
        self.log.append(("menu", idname))

    def label(self, text="", **kw):
        self.log.append(("label", text))

    def progress(self, factor=0.0, text="", **kw):
        self.log.append(("progress", text))


def test_train_from_two_strips_then_use_in_look(scene, kino, backend, tiny_models, tmp_path):
    lt = blender_ext.addon_submodule("kino_addon.blender.train.train_job")
    panel = blender_ext.addon_submodule("kino_addon.blender.train.panel")
    a = _strip(scene, kino.png, tmp_path / "a", "actor_a", 1, 1, 200)
    b = _strip(scene, kino.png, tmp_path / "b", "actor_b", 2, 10, 120)
    select_only(scene, a, b)
    strips_before = sorted(s.name for s in scene.sequence_editor.strips_all)
    props = scene.kino_train
    props.model = str(tiny_models / "sd15-tiny.safetensors")
    props.every, props.steps, props.rank, props.resolution, props.lr = 2, 4, 4, 64, 0.01
    props.name = "actor"
    assert bpy.ops.kino.train_lora() == {'FINISHED'}
    out = tmp_path / "kino" / "lora" / "actor.safetensors"  # //kino/lora/<name>.safetensors
    assert out.is_file() and out.stat().st_size > 0
    assert props.trained == str(out)
    job = lt.QUEUE.finished[-1]
    result = job.session.result
    assert result["images"] == 4 and result["steps"] == 4  # frames 1 and 3 of each 3-frame strip
    assert job.session.steps_total == 4 and job.session.step_n == 4 and isinstance(job.session.loss, float)
    assert not os.path.exists(job.scratch)  # the pass-through frames are not kept
    assert sorted(s.name for s in scene.sequence_editor.strips_all) == strips_before  # no result strip
    log = []
    panel.draw_train(Recorder(log), props)
    assert any(e[0] == "label" and e[1].startswith("Trained: actor.safetensors (loss") for e in log), log
    assert ("operator", "kino.train_use_in_look") in log

    assert bpy.ops.kino.train_use_in_look() == {'FINISHED'}
    assert bpy.ops.kino.train_use_in_look() == {'FINISHED'}  # added once
    kino_props = scene.kino
    assert kino_props.look_name == "diffusion"
    lora = next(p for p in kino_props.params if p.stage == "diffusion" and p.name == "lora")
    assert lora.value() == [str(out)]
    props_mod = blender_ext.addon_submodule("kino_addon.blender.stylize.props")
    flow = build_workflow(backend.hello, props_mod.choices_from_scene(kino_props, backend.hello))
    look = next(s for s in flow["stages"] if s["name"] == "diffusion")
    assert look["params"]["lora"] == [str(out)]


def test_training_failure_is_a_clear_error(scene, kino, backend, tmp_path):
    lt = blender_ext.addon_submodule("kino_addon.blender.train.train_job")
    panel = blender_ext.addon_submodule("kino_addon.blender.train.panel")
    a = _strip(scene, kino.png, tmp_path / "a", "actor_a", 1, 1, 200)
    select_only(scene, a)
    props = scene.kino_train
    props.model, props.trained = str(tmp_path / "missing.safetensors"), ""
    props.steps, props.resolution = 2, 64
    with pytest.raises(RuntimeError, match=r"training failed: model not found: .*missing.safetensors.*\[MODEL_MISSING\]"):
        bpy.ops.kino.train_lora()
    assert "missing.safetensors" in lt.QUEUE.last_error, lt.QUEUE.last_error
    assert not (tmp_path / "kino" / "lora").exists() or not any((tmp_path / "kino" / "lora").iterdir())
    log = []
    panel.draw_train(Recorder(log), props)
    assert any(e[0] == "label" and "missing.safetensors" in e[1] for e in log)
    lt.QUEUE.last_error = ""


def test_training_can_be_cancelled(scene, kino, backend, tiny_models, tmp_path):
    """Cancel while the backend trains: the job ends cancelled and no LoRA file is written."""
    import time
    tj = blender_ext.addon_submodule("kino_addon.blender.train.train_job")
    readers = blender_ext.addon_submodule("kino_addon.blender.train.readers")
    a = _strip(scene, kino.png, tmp_path / "a", "actor_a", 1, 1, 200)
    out = tmp_path / "cancelled.safetensors"
    params = {"model": str(tiny_models / "sd15-tiny.safetensors"), "out": str(out), "steps": 5000,
              "resolution": 64, "rank": 4, "every": 1, "use_frames": True}
    job = tj.TrainJob(scene, backend.ensure(), backend.hello, readers.StripsReader(scene, [a], 1), params, {},
                      "LoRA cancelled", alive=backend.connected)
    tj.QUEUE.add([job])
    guard = time.monotonic() + 300  # a guard against hanging, not a timing assertion
    while job.session.step_n < 3 and time.monotonic() < guard:
        assert not tj.QUEUE.step(), job.session.error
    assert job.session.progress_text().startswith("training step ")
    tj.QUEUE.cancel()
    tj.QUEUE.run()
    assert job.session.state == "cancelled" and not out.exists()
    assert scene.kino_train.trained != str(out)


def test_strips_of_other_shapes_keep_their_proportions(scene, kino, tmp_path):
    """A portrait strip among landscape ones was stretched to the first strip's size (a round face came
    back 94x23 px): each frame now goes out as its centred square, training's own crop."""
    readers = blender_ext.addon_submodule("kino_addon.blender.train.readers")
    made = []
    for name, (h, w), channel in (("wide", (96, 192), 1), ("tall", (192, 96), 2)):
        folder = tmp_path / name
        folder.mkdir()
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.full((h, w, 3), 30, np.uint8)
        img[(yy - h // 2) ** 2 + (xx - w // 2) ** 2 <= 24 ** 2] = 240  # a disc of radius 24 in the middle
        (folder / "f_0001.png").write_bytes(kino.png.encode_png(img))
        made.append(add_image_strip(scene, folder, name=name, channel=channel, start=1))
    reader = readers.StripsReader(scene, made, 1)
    try:
        assert (reader.width, reader.height) == (96, 96)
        for n in (1, 2):
            disc = reader.read(n)[..., 0] > 128
            rows, cols = np.nonzero(disc.any(axis=1))[0], np.nonzero(disc.any(axis=0))[0]
            assert disc.shape == (96, 96)
            assert abs(len(rows) - len(cols)) <= 1 and 47 <= len(rows) <= 49, (n, len(rows), len(cols))
    finally:
        reader.close()
