"""Blender keying test fixtures; helpers live in kino_blender_keying_support."""
import pytest

from kino_blender_keying_support import actor_frame, split_background, write_png  # noqa: F401  (loads the extension)
import blender_ext  # noqa: E402  (on sys.path via the support module)


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("keying_media")
    for i in range(3):
        write_png(root / "actor" / f"a_{i:03d}.png", actor_frame(i))
    write_png(root / "bg.png", split_background())
    for i in range(2):  # a background clip shorter than the actor: frame 3 holds frame 2
        img = split_background()
        img[:, :, 1] = 60 + 100 * i
        write_png(root / "bgseq" / f"b_{i:03d}.png", img)
    return root


@pytest.fixture
def fresh():
    return blender_ext.reset_scene()
