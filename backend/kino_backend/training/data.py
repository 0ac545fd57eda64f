"""Training images: read a folder, centre-crop to a square, resize, optional per-image captions."""
from __future__ import annotations

import os
from typing import List, Optional, Tuple

import numpy as np

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def list_images(folder: str, what: str = "training images") -> List[str]:
    if not os.path.isdir(folder):
        raise ValueError(f"{what}: {folder!r} is not a folder; give a folder of PNG/JPEG images "
                         "(photos or frames of the character, or style images).")
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS))
    if not files:
        raise ValueError(f"{what}: no images ({', '.join(IMAGE_EXTS)}) in {folder!r}; put the training images there.")
    return files


def square_rgb(path: str, size: int) -> np.ndarray:
    """The image at ``path`` as uint8 RGB (size, size, 3): centre crop to a square, area resize."""
    import cv2
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read image {path!r} (corrupt or unsupported); remove it from the folder.")
    return square_array(np.ascontiguousarray(img[..., ::-1]), size)


def square_array(img: np.ndarray, size: int) -> np.ndarray:
    """An RGB uint8 image centre-cropped to a square and resized to (size, size, 3)."""
    import cv2
    h, w = img.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    img = np.ascontiguousarray(img[y:y + s, x:x + s, :3])
    interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(img, (size, size), interpolation=interp))


def caption_for(path: str, default: str) -> str:
    """The text in ``<image>.txt`` beside the image when present (kohya-style captions), else ``default``."""
    txt = os.path.splitext(path)[0] + ".txt"
    if os.path.isfile(txt):
        try:
            with open(txt, encoding="utf-8-sig") as fh:  # a byte-order mark is not part of the caption
                text = fh.read().strip()
        except UnicodeDecodeError as exc:
            raise ValueError(f"the caption {txt} is not UTF-8 text (byte {exc.start}); save it as UTF-8 in your "
                             "editor and run again") from None
        if text:
            return text
    return default


def load_folder(folder: str, size: int, prompt: str, what: str = "training images",
                limit: Optional[int] = None) -> Tuple[np.ndarray, List[str]]:
    """(images uint8 [N, size, size, 3], captions) of a folder."""
    files = list_images(folder, what)[:limit]
    return np.stack([square_rgb(p, size) for p in files]), [caption_for(p, prompt) for p in files]
