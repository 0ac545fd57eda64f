"""AnimateDiff through Blender: ``scripts/kino stylize`` with the diffusion look, Kino's tiny SD 1.5 and
its tiny motion adapter (both written by the backend venv's ``models make-tiny``, loaded through the same
path as real ones), 20 frames in 8-frame context windows, warped noise, the temporal stage on; the
frames, the Blender scene and kino.json (which records the AnimateDiff parameters) come back."""
import json
import os
import subprocess

import bpy
import numpy as np
import pytest

from kino_media import BACKEND_PYTHON, REPO, write_sequence


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-video")
    subprocess.run([str(BACKEND_PYTHON), "-m", "kino_backend", "models", "make-tiny", str(out)], check=True,
                   timeout=600, cwd=str(REPO), capture_output=True)
    assert (out / "motion-adapter-tiny" / "config.json").is_file()
    return out


def test_animatediff_twenty_frames_in_eight_frame_windows(tmp_path, tiny_models, kino_mods):
    write_sequence(tmp_path / "seq", 20)
    out, blend = tmp_path / "ad", tmp_path / "scene.blend"
    params = [f"model={tiny_models / 'sd15-tiny.safetensors'}", f"motion_adapter={tiny_models / 'motion-adapter-tiny'}",
              "context_frames=8", "context_overlap=2", "steps=4", "strength=0.6", "prompt=a watercolor",
              "noise=warped"]
    run = subprocess.run([str(REPO / "scripts" / "kino"), "stylize", str(tmp_path / "seq"), "--look", "diffusion",
                          *[a for p in params for a in ("--param", p)], "--out", str(out), "--blend", str(blend)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(os.listdir(out)) == [f"frame_{n:04d}.png" for n in range(1, 21)] + ["kino.json"]
    frames = [kino_mods.png.read_png(str(out / f"frame_{n:04d}.png")) for n in range(1, 21)]
    assert all(f.shape == (48, 64, 3) for f in frames)
    assert float(np.std(np.stack(frames))) > 3  # a picture, not a flat fill
    side = json.loads((out / "kino.json").read_text())
    assert side["status"] == "completed"
    params = next(s["params"] for s in side["workflow"]["stages"] if s["name"] == "diffusion")
    assert params["motion_adapter"].endswith("motion-adapter-tiny") and params["context_frames"] == 8
    assert params["context_overlap"] == 2 and params["noise"] == "warped"
    text = json.dumps(side["provenance"])
    anim = side["provenance"]["stages"]["diffusion"]["animatediff"]
    # the index sequence's blue channel wraps at frame 16 (16 x 17 > 255): a cut for the temporal stage,
    # so AnimateDiff denoises 1-15 (three 8-frame windows) and 16-20 (one) as two shots
    assert anim["shots"] == [1] + side["provenance"]["stages"]["temporal"]["cuts"] == [1, 16]
    assert anim["windows"] == 4 and anim["frames_denoised"] == 20 and anim["variant"] == "v2"
    assert '"mode": "warped"' in text
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    strips = [s for s in bpy.context.scene.sequence_editor.strips if s.type == "IMAGE" and len(s.elements) == 20]
    assert len(strips) == 2  # the source sequence and the stylized one above it
