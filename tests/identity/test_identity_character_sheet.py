"""Character sheets on Kino's tiny random models (test models: SD 1.5-layout checkpoint, OpenPose-slot
ControlNet, IP-Adapter with its image encoder, the tiny face pack). Real: diffusers' ControlNet img2img
pipeline and IP-Adapter code, insightface's code path, the skeleton drawing, grid layout and files."""
import json

import cv2
import numpy as np
import pytest

from kino_backend.identity.character_sheet import SheetSettings, face_crop, make_character_sheet
from kino_backend.identity.poses import DEFAULT_VIEWS, view_keypoints, view_skeleton

from kino_identity_support import square_image


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import torch
    from kino_backend.models.tiny import make_tiny
    torch.set_num_threads(1)
    return make_tiny(str(tmp_path_factory.mktemp("tiny-models")))


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("actor") / "actor.png"
    cv2.imwrite(str(path), square_image(boxes=((50, 40, 64),), texture_seed=5)[..., ::-1])
    return str(path)


def test_view_skeletons_differ_and_hide_the_far_face_side():
    sk = {v: view_skeleton(v, 96, 96) for v in DEFAULT_VIEWS}
    for a in DEFAULT_VIEWS:
        assert sk[a].shape == (96, 96, 3) and sk[a].any()
        for b in DEFAULT_VIEWS:
            if a != b:
                assert not np.array_equal(sk[a], sk[b])
    front, profile = view_keypoints("front", 96, 96), view_keypoints("profile", 96, 96)
    assert front[14] is not None and front[15] is not None  # both eyes seen from the front
    assert profile[15] is None and profile[17] is None  # far eye and ear hidden in profile
    full = view_keypoints("full_body", 96, 96)
    assert full[10] is not None and full[13] is not None  # ankles in the full-body view
    assert front[10] is None  # a portrait stops above the legs
    # three-quarter: the shoulders look narrower than from the front
    tq = view_keypoints("three_quarter", 96, 96)
    assert abs(tq[5][0] - tq[2][0]) < abs(front[5][0] - front[2][0])


def test_face_crop_is_square_and_clamped():
    img = np.zeros((100, 200, 3), np.uint8)
    crop = face_crop(img, (150, 10, 190, 50))
    assert crop.shape[0] == crop.shape[1] == 72


def sheet(tiny, photo, out, **kw):
    base = dict(photos=[photo], model=tiny["sd15-tiny.safetensors"], controlnet=tiny["controlnet-tiny"],
                ip_adapter=tiny["ip-adapter-tiny"], out=str(out), cell=64, steps=3, device="cpu")
    base.update(kw)
    return make_character_sheet(SheetSettings(**base))


def cells_of(path, n, cell=64):
    im = cv2.imread(str(path))[..., ::-1]
    return im, [im[:, i * cell:(i + 1) * cell] for i in range(n)]


def test_grid_layout_and_cells_differ_by_pose(tiny, photo, tmp_path):
    rec = sheet(tiny, photo, tmp_path / "posed.png", view_prompts=False)
    im, cells = cells_of(tmp_path / "posed.png", 4)
    assert im.shape == (64, 256, 3) and rec["rows"] == 1 and rec["columns"] == 4
    assert [c["view"] for c in rec["cells"]] == list(DEFAULT_VIEWS)
    assert [(c["x"], c["y"]) for c in rec["cells"]] == [(0, 0), (64, 0), (128, 0), (192, 0)]
    saved = json.loads((tmp_path / "posed.json").read_text())
    assert saved["cells"] == rec["cells"] and saved["versions"]["kino"]
    # same prompt and seed in every cell: with the pose ControlNet off the cells are identical ...
    sheet(tiny, photo, tmp_path / "flat.png", view_prompts=False, controlnet_scale=0.0)
    _, flat = cells_of(tmp_path / "flat.png", 4)
    assert all(np.array_equal(flat[0], c) for c in flat[1:])
    # ... and with it on, every pair of cells differs: the difference is the pose
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(cells[i].astype(int) - cells[j].astype(int)).mean() > 0.5


def test_two_by_two_grid_and_face_identity_pick(tiny, photo, tmp_path):
    rec = sheet(tiny, photo, tmp_path / "grid.png", columns=2, face_pack=tiny["face-tiny"], candidates=2)
    im = cv2.imread(str(tmp_path / "grid.png"))
    assert im.shape == (128, 128, 3) and rec["rows"] == 2
    assert [(c["x"], c["y"]) for c in rec["cells"]] == [(0, 0), (64, 0), (0, 64), (64, 64)]
    assert rec["face_pack"] and all(c["seed"] in (0, 1) for c in rec["cells"])
    scored = [c["face_score"] for c in rec["cells"] if c["face_score"] is not None]
    assert all(-1.0 <= s <= 1.0 for s in scored)


def test_bad_inputs_are_clear(tiny, photo, tmp_path):
    with pytest.raises(ValueError, match="unknown view"):
        sheet(tiny, photo, tmp_path / "x.png", views=["top"])
    with pytest.raises(ValueError, match="must end with .png"):
        sheet(tiny, photo, tmp_path / "x.jpg")
    for bad, match in (({"steps": 0}, "--steps 0 must be at least 1"), ({"candidates": 0}, "--candidates 0 must"),
                       ({"columns": -1}, r"--columns -1 must be at least 0 \(0: all views in one row\)")):
        with pytest.raises(ValueError, match=match):  # were ZeroDivisionError / numpy errors
            sheet(tiny, photo, tmp_path / "x.png", **bad)
    with pytest.raises(ValueError, match="compared by the actor's face: give a face pack"):
        sheet(tiny, photo, tmp_path / "x.png", candidates=3)
    dark = tmp_path / "dark.png"
    cv2.imwrite(str(dark), np.full((64, 64, 3), 20, np.uint8))
    with pytest.raises(ValueError, match="no face found"):
        sheet(tiny, str(dark), tmp_path / "x.png", face_pack=tiny["face-tiny"])


def test_command_line(tiny, photo, tmp_path, capsys):
    from kino_backend.commands import main
    out = tmp_path / "cli.png"
    rc = main(["character_sheet", "--photos", photo, "--model", tiny["sd15-tiny.safetensors"], "--controlnet",
               tiny["controlnet-tiny"], "--ip-adapter", tiny["ip-adapter-tiny"], "--out", str(out), "--cell", "64",
               "--steps", "2", "--views", "front", "profile", "--device", "cpu", "--json"])
    assert rc == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rec["width"] == 128 and rec["height"] == 64 and [c["view"] for c in rec["cells"]] == ["front", "profile"]
    assert cv2.imread(str(out)).shape == (64, 128, 3)


@pytest.mark.parametrize("weights", ["ip-adapter-faceid-tiny.safetensors", "ip-adapter-faceid-plusv2-tiny"])
def test_faceid_steers_every_view_with_the_actors_face(tiny, photo, tmp_path, weights):
    """Pose ControlNet + IP-Adapter + FaceID (plain / Plus v2) together; FaceID at scale 0 gives exactly the
    sheet without it. Test models: tiny SD 1.5, random FaceID weights, tiny face pack."""
    kw = dict(views=["front", "profile"], face_pack=tiny["face-tiny"])
    base = sheet(tiny, photo, tmp_path / "base.png", **kw)
    with_face = sheet(tiny, photo, tmp_path / "face.png", faceid=tiny[weights], faceid_scale=1.0, **kw)
    off = sheet(tiny, photo, tmp_path / "off.png", faceid=tiny[weights], faceid_scale=0.0, **kw)
    a, b, c = (cv2.imread(str(tmp_path / n)).astype(int) for n in ("base.png", "face.png", "off.png"))
    assert np.abs(a - b).mean() > 0.5 and np.abs(a - c).mean() < 0.05
    assert with_face["models"]["faceid"]["files"] and base["models"]["faceid"] is None
    with pytest.raises(ValueError, match="face pack"):
        sheet(tiny, photo, tmp_path / "x.png", faceid=tiny[weights])
