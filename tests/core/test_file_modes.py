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


def test_writers_sharing_a_temp_folder_never_lose_it_under_each_other(tmp_path):
    """The frame writer and the kino.json writer share ``.partial``, which each removes when empty: one
    could remove it between the other's ``makedirs`` and ``mkstemp`` (a stylize run failed with "could not
    write frame 4 ... No such file or directory" once kino.json was rewritten while frames landed)."""
    import threading

    from kino_addon.protocol.atomic import atomic_write_bytes
    temp = str(tmp_path / ".partial")
    errors = []

    def write(name):
        try:
            for i in range(400):
                atomic_write_bytes(str(tmp_path / f"{name}.bin"), b"x" * 64, temp_dir=temp)
        except OSError as exc:
            errors.append(exc)
    threads = [threading.Thread(target=write, args=(n,)) for n in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.bin", "c.bin", "d.bin"]
