"""``--track-region face`` from Blender: the add-on reads the clip's frames itself and asks the connected
backend (``face.find``) over the socket, attached or started; no local backend subprocess (bpy 5.0.1)."""
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from stab_support import kino, scene  # noqa: E402,F401  (loads Kino before bpy; fixtures)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

face = kino("kino_addon.blender.stabilize.face")
transforms = kino("kino_addon.blender.stabilize.transforms")
connection = kino("kino_addon.blender.connection")
png = kino("kino_addon.core.png")
REPO = pathlib.Path(__file__).resolve().parents[2]
FOOTAGE = pathlib.Path(os.environ.get("KINO_FOOTAGE") or REPO.parent / "shared" / "footage")
BACKEND_PYTHON = REPO / ".venv-backend" / "bin" / "python"


class FakeClient:
    """Records the request; answers with a fixed box (in pixels of the frames it was sent)."""

    def __init__(self, region):
        self.region, self.requests, self.hello = region, [], {"backend": "kino/test"}

    def request(self, type, body=None, buffers=(), timeout=-1):
        self.requests.append((type, dict(body or {}), [(s, np.array(d)) for s, d in buffers]))
        return {"region": self.region, "score": 0.9, "found_in": len(buffers), "count": len(buffers)}, []


def write_frames(folder: pathlib.Path, count: int, w: int, h: int, plain: bool = False) -> list:
    """``count`` PNG frames: random pixels, or (``plain``) smooth ramps no detector takes for a face."""
    folder.mkdir()
    rng = np.random.default_rng(5)
    ramp = np.broadcast_to(np.linspace(40, 200, w, dtype=np.uint8)[None, :, None], (h, w, 3))
    frames = [np.ascontiguousarray(ramp) if plain else rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
              for _ in range(count)]
    for i, f in enumerate(frames, start=1):
        (folder / f"f_{i:04d}.png").write_bytes(png.encode_png(f))
    return frames


def test_frames_go_as_buffers_and_the_box_comes_back_in_source_pixels(scene, tmp_path):
    frames = write_frames(tmp_path / "clip", 4, 250, 170)
    whole = FakeClient([10, 20, 30, 40])
    assert face.find_face(str(tmp_path / "clip"), 2, 4, whole, send_side=1000) == (10, 20, 30, 40)
    kind, body, sent = whole.requests[0]
    assert kind == "face.find" and body == {} and len(sent) == 3
    for (spec, data), want in zip(sent, frames[1:]):  # clip frames 2..4, the source pixels exactly
        assert spec["shape"] == [170, 250, 3] and spec["encoding"] == "raw"
        assert np.array_equal(data.reshape(170, 250, 3), want)
    # k = 3: each sent pixel is the mean of a 3x3 block; the box times 3 is the box in source pixels,
    # cut at the frame's edge
    small = FakeClient([80, 50, 10, 10])
    assert face.find_face(str(tmp_path / "clip"), 1, 2, small, send_side=100) == (240, 150, 10, 20)
    spec, data = small.requests[0][2][0]
    assert spec["shape"] == [56, 83, 3]
    block = frames[0][:168, :249].reshape(56, 3, 83, 3, 3).astype(float).mean(axis=(1, 3))
    assert np.abs(data.reshape(56, 83, 3) - block).max() <= 0.5


def test_no_face_and_an_old_backend_are_clear_errors(scene, tmp_path):
    errors = kino("kino_addon.protocol.errors")  # the extension's own classes
    NO_FACE, UNKNOWN_TYPE, BackendError = errors.NO_FACE, errors.UNKNOWN_TYPE, errors.BackendError
    write_frames(tmp_path / "clip", 2, 64, 48)

    class Refusing(FakeClient):
        def __init__(self, code):
            super().__init__(None)
            self.code = code

        def request(self, type, body=None, buffers=(), timeout=-1):
            raise BackendError(self.code, "no face found in 2 frames")

    with pytest.raises(transforms.StabilizeError, match=r"no face found in frames 1:2 of clip: .*X,Y,W,H"):
        transforms.find_face(str(tmp_path / "clip"), 1, 2, Refusing(NO_FACE))
    with pytest.raises(transforms.StabilizeError, match=r"kino/test.*cannot find faces.*update it"):
        transforms.find_face(str(tmp_path / "clip"), 1, 2, Refusing(UNKNOWN_TYPE))


@pytest.fixture
def attached(tmp_path, monkeypatch):
    """The add-on attached to a backend it did not start, with no local backend Python at all."""
    import blender_ext
    from kino_addon.protocol.launcher import start_backend
    connection.BACKEND.stop()
    proc = start_backend(str(BACKEND_PYTHON), run_dir=str(tmp_path / "run"), code_root=str(REPO))
    prefs = blender_ext.addon_preferences()
    saved = (prefs.backend_mode, prefs.host, prefs.port, prefs.key, prefs.python_path)
    prefs.backend_mode, prefs.host, prefs.port, prefs.key = 'ATTACH', proc.host, proc.port, proc.authkey.hex()
    prefs.python_path = "/nonexistent/python"  # a local backend tool would fail at once
    monkeypatch.setenv("KINO_BACKEND_PYTHON", "/nonexistent/python")
    try:
        yield proc
    finally:
        connection.BACKEND.stop()
        prefs.backend_mode, prefs.host, prefs.port, prefs.key, prefs.python_path = saved
        proc.stop()


def test_face_is_found_through_an_attached_backend_without_a_local_backend_python(scene, tmp_path, attached):
    prefs_module = kino("kino_addon.blender.prefs")
    with pytest.raises(prefs_module.PreferenceError):
        prefs_module.backend_python()  # nothing to run a local backend tool with
    write_frames(tmp_path / "plain", 3, 96, 64, plain=True)
    with pytest.raises(transforms.StabilizeError, match="no face found in frames 1:3 of plain"):
        transforms.find_face(str(tmp_path / "plain"), 1, 3)
    assert "attached" in connection.BACKEND.status_line()
    clip = FOOTAGE / "talking_head.mp4"
    if not clip.exists():
        pytest.skip(f"real footage not found at {clip} (../shared/footage or KINO_FOOTAGE) for the face itself")
    x, y, w, h = transforms.find_face(str(clip), 1, 3)
    assert 80 < w < 400 and 80 < h < 400 and x < 256 < x + w and y < 300 < y + h  # the face mid-frame
    half = face.find_face(str(clip), 1, 3, send_side=256)  # sent at 256x256 (k = 2), mapped back
    assert np.abs(np.array(half) - (x, y, w, h)).max() < 4


def kino_cli(*args):
    import subprocess
    return subprocess.run([str(REPO / "scripts" / "kino"), *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def test_the_command_lines_lock_to_the_face_through_the_backend(tmp_path):
    import json
    write_frames(tmp_path / "plain", 6, 96, 64, plain=True)
    run = kino_cli("stabilize", tmp_path / "plain", "--track-region", "face", "--out", tmp_path / "o1")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "no face found in frames 1:5 of plain" in run.stderr.strip().splitlines()[-1]
    clip = FOOTAGE / "talking_head.mp4"
    if not clip.exists():
        pytest.skip(f"real footage not found at {clip} (../shared/footage or KINO_FOOTAGE)")
    run = kino_cli("stabilize", clip, "--track-region", "face", "--frames", "1:8", "--json", "--out", tmp_path / "o2")
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    x, y, w, h = summary["region"]
    assert summary["mode"] == "face" and 80 < w < 400 and x < 256 < x + w and y < 300 < y + h
    run = kino_cli("stylize", clip, "--look", "none", "--stabilize", "--track-region", "face", "--frames", "1:4",
                   "--out", tmp_path / "o3")
    assert run.returncode == 0, run.stderr[-2000:]
    stabilize = json.loads((tmp_path / "o3" / "kino.json").read_text())["options"]["stabilize"]
    assert stabilize["mode"] == "face" and np.abs(np.array(stabilize["region"]) - (x, y, w, h)).max() < 4
