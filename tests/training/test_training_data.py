"""Training image loading (real OpenCV reads of real PNG files written here)."""
import cv2
import numpy as np
import pytest

from kino_backend.training.data import caption_for, load_folder, square_rgb


def test_square_crop_is_centred_and_rgb(tmp_path):
    img = np.zeros((60, 100, 3), np.uint8)
    img[:, :20] = (255, 0, 0)   # blue in BGR on the left edge: cropped away
    img[:, 20:80] = (0, 0, 255)  # red in the centre (BGR)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    out = square_rgb(str(tmp_path / "a.png"), 32)
    assert out.shape == (32, 32, 3)
    assert (out[..., 0] > 250).all() and (out[..., 2] < 5).all()  # all red, in RGB order


def test_captions_from_txt_files(tmp_path):
    for name in ("a", "b"):
        cv2.imwrite(str(tmp_path / f"{name}.png"), np.zeros((16, 16, 3), np.uint8))
    (tmp_path / "b.txt").write_text("kino_subject in a red coat\n")
    images, captions = load_folder(str(tmp_path), 16, "default prompt")
    assert images.shape == (2, 16, 16, 3)
    assert captions == ["default prompt", "kino_subject in a red coat"]
    assert caption_for(str(tmp_path / "a.png"), "x") == "x"


def test_unreadable_image_names_the_file(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png"):
        load_folder(str(tmp_path), 16, "p")
