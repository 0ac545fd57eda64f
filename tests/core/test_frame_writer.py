"""FrameWriter: frames are encoded side by side but land, with their checkpoints, in submission order."""
from __future__ import annotations

import os

import numpy as np

from kino_addon.core import writer as writer_mod
from kino_addon.core.png import read_png
from kino_addon.core.writer import FrameWriter


def _frame(h: int, w: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_each_checkpoint_runs_after_its_frame_and_every_earlier_one_is_on_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(writer_mod, "ENCODERS", 4)
    folder = str(tmp_path)
    w = FrameWriter(folder)
    # the first frame is by far the slowest to encode: with 4 encoders the small ones finish first
    frames = {1: _frame(720, 1280, 1), **{n: _frame(8, 8, n) for n in range(2, 9)}}
    seen = []

    def after(n):
        def check():
            on_disk = sorted(int(f[6:10]) for f in os.listdir(folder) if f.startswith("frame_"))
            seen.append((n, on_disk))
        return check

    for n, img in frames.items():
        w.submit(n, img, after=after(n))
    done, error = w.collect(wait=True)
    w.close()
    assert error is None and done == list(range(1, 9))
    assert [n for n, _ in seen] == list(range(1, 9))  # checkpoints in submission order
    for n, on_disk in seen:
        assert on_disk[:n] == list(range(1, n + 1)), (n, on_disk)  # its frame and all before it are written
    for n, img in frames.items():
        assert np.array_equal(read_png(os.path.join(folder, f"frame_{n:04d}.png")), img)
    assert w.seconds > 0


def test_a_keyed_frame_carries_its_matte_and_a_frame_already_on_disk_only_runs_its_checkpoint(tmp_path):
    folder = str(tmp_path)
    w = FrameWriter(folder)
    img, matte = _frame(6, 10, 3), _frame(6, 10, 4)[..., 0]
    ran = []
    w.submit(1, img, matte=matte, after=lambda: ran.append(1))
    w.submit(2, None, after=lambda: ran.append(2))
    done, error = w.collect(wait=True)
    w.close()
    assert done == [1, 2] and error is None and ran == [1, 2]
    rgba = read_png(os.path.join(folder, "frame_0001.png"))
    assert rgba.shape == (6, 10, 4) and np.array_equal(rgba[..., :3], img) and np.array_equal(rgba[..., 3], matte)
    assert np.array_equal(read_png(os.path.join(folder, "matte", "frame_0001.png")).reshape(6, 10), matte)
    assert not os.path.exists(os.path.join(folder, "frame_0002.png"))


def test_a_write_that_fails_is_reported_with_its_frame_number(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    w = FrameWriter(str(blocked))
    w.submit(7, _frame(4, 4, 7))
    done, error = w.collect(wait=True)
    w.close()
    assert done == [] and error is not None and error[0] == 7 and isinstance(error[1], OSError)


def test_a_transparent_source_frame_keeps_its_alpha_times_a_keyed_matte(tmp_path):
    """The source's alpha alone becomes the frame's alpha (no matte/ file); with a matte too, their
    product (rounded), and matte/ holds the keyer's matte as it came."""
    from kino_addon.core.png import png_has_alpha
    from kino_addon.core.writer import encode_frame
    img = _frame(6, 10, 3)
    alpha = np.full((6, 10), 255, np.uint8)
    alpha[:, :5] = 100
    files = encode_frame(str(tmp_path), 1, img, alpha=alpha)
    assert [os.path.basename(p) for p, _ in files] == ["frame_0001.png"]
    matte = np.full((6, 10), 128, np.uint8)
    files = dict(encode_frame(str(tmp_path), 2, img, matte=matte, alpha=alpha))
    from kino_addon.core.png import decode_png
    rgba = decode_png(files[os.path.join(str(tmp_path), "frame_0002.png")])
    assert np.array_equal(rgba[..., :3], img)
    assert set(np.unique(rgba[:, :5, 3])) == {50} and set(np.unique(rgba[:, 5:, 3])) == {128}  # 100*128/255
    matte_file = files[os.path.join(str(tmp_path), "matte", "frame_0002.png")]
    assert np.array_equal(decode_png(matte_file).reshape(6, 10), matte)
    w = FrameWriter(str(tmp_path))
    w.submit(3, img, alpha=alpha)
    w.submit(4, img)
    w.collect(wait=True)
    assert png_has_alpha(os.path.join(str(tmp_path), "frame_0003.png"))
    assert not png_has_alpha(os.path.join(str(tmp_path), "frame_0004.png"))
    assert not png_has_alpha(os.path.join(str(tmp_path), "missing.png"))
