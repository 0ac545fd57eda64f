"""Files Kino writes get the mode any new file gets under the process umask (not mkstemp's 0600):
frames, mattes, kino.json and resume checkpoints (add-on side), JSON such as presets (shared with the
backend); only the connection file with the key stays 0600."""
import os
import stat

import numpy as np
import pytest

from kino_addon.core.frame_files import atomic_write_png
from kino_addon.core.writer import write_frame
from kino_addon.protocol.atomic import atomic_write_json, file_mode


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_frames_mattes_and_json_follow_the_umask(tmp_path, umask):
    want = 0o666 & ~umask
    assert file_mode() == want
    image = np.zeros((4, 6, 3), np.uint8)
    write_frame(str(tmp_path), 1, image, np.full((4, 6), 200, np.uint8))
    atomic_write_png(str(tmp_path / "plain.png"), image)
    atomic_write_json(str(tmp_path / "kino.json"), {"a": 1})
    atomic_write_json(str(tmp_path / "preset.json"), {"b": 2}, temp_dir=str(tmp_path / ".partial"))
    for name in ("frame_0001.png", "matte/frame_0001.png", "plain.png", "kino.json", "preset.json"):
        assert mode(tmp_path / name) == want, (name, oct(mode(tmp_path / name)), oct(want))


def test_the_connection_file_stays_private(tmp_path, umask):
    atomic_write_json(str(tmp_path / "backend.json"), {"port": 1}, owner_only=True)
    assert mode(tmp_path / "backend.json") == 0o600
