"""The files a result was made from, in its settings hash: every source frame, every file a parameter
names (a model retrained under the same name), so a re-run never reuses frames made from other files."""
from __future__ import annotations

import os

from kino_addon.core.file_stamps import files_digest, path_in, workflow_files
from kino_addon.core.plan import settings_hash


def _touch(path, data=b"x", ns=None):
    path.write_bytes(data)
    if ns is not None:
        os.utime(path, ns=(ns, ns))


def test_any_frame_of_a_sequence_changes_the_digest(tmp_path):
    frames = [tmp_path / f"frame_{n:04d}.png" for n in range(1, 7)]
    for f in frames:
        _touch(f, ns=10 ** 18)
    before = files_digest(frames)
    _touch(frames[2], b"y", ns=10 ** 18)  # frame 3 repainted: the same size, the same time even
    assert files_digest(frames) == before  # size and time alike: the same (content is not read) ...
    _touch(frames[2], b"yy", ns=10 ** 18)
    assert files_digest(frames) != before  # ... another size is another source
    again = files_digest(frames)
    os.utime(frames[2], ns=(10 ** 18 + 1, 10 ** 18 + 1))
    assert files_digest(frames) != again  # and so is another modification time


def test_files_named_by_parameters_are_in_the_hash(tmp_path):
    model = tmp_path / "model.safetensors"
    lora = tmp_path / "ink.safetensors"
    cn = tmp_path / "control_canny"
    cn.mkdir()
    for f in (model, lora, cn / "diffusion_pytorch_model.safetensors"):
        _touch(f, ns=10 ** 18)
    assert path_in(str(lora) + ":0.7") == str(lora) and path_in(f"{cn}:canny:0.8") == str(cn)
    assert path_in("a painting: soft light") is None and path_in(3) is None
    wf = {"version": 1, "look": "diffusion", "stages": [{"name": "diffusion", "enabled": True, "params": {
        "model": str(model), "lora": [f"{lora}:0.7"], "controlnet": [f"{cn}:canny:0.8"], "prompt": "x"}}]}
    assert set(workflow_files(wf)) == {str(model), str(lora), str(cn)}
    digest = settings_hash({}, wf, {}, (1, 4))
    _touch(model, b"weights x1.5", ns=10 ** 18)  # retrained under the same name
    assert settings_hash({}, wf, {}, (1, 4)) != digest
    digest = settings_hash({}, wf, {}, (1, 4))
    os.utime(cn / "diffusion_pytorch_model.safetensors", ns=(2 * 10 ** 18, 2 * 10 ** 18))
    assert settings_hash({}, wf, {}, (1, 4)) != digest  # a file inside a model folder
    assert settings_hash({}, wf, {}, (1, 4)) == settings_hash({}, wf, {}, (1, 4))
