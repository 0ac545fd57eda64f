"""Face detection and embeddings through insightface's own code path (real) with the tiny face pack
(a test model: a bright square counts as a face), on onnxruntime (real)."""
import numpy as np
import pytest

from kino_backend.identity.faces import cosine, load_face_model, resolve_pack
from kino_backend.stages.base import StageError

from kino_identity_support import square_image


@pytest.fixture(scope="module")
def model(face_pack):
    pack_dir, _root = face_pack
    return load_face_model(pack_dir, det_size=256)


def test_pack_resolves_by_name_under_models_dir(face_pack):
    pack_dir, root = face_pack
    assert resolve_pack("face-tiny", root) == pack_dir


def test_detects_the_bright_square(model):
    img = square_image(boxes=((40, 60, 64),))
    face = model.largest_face(img)
    assert face is not None
    x0, y0, x1, y1 = face.bbox
    assert abs(x0 - 40) <= 2 and abs(y0 - 60) <= 2 and abs(x1 - 104) <= 2 and abs(y1 - 124) <= 2
    assert face.kps.shape == (5, 2)
    assert face.embedding.shape == (512,)


def test_no_face_on_a_dark_image(model):
    assert model.largest_face(np.full((120, 120, 3), 30, np.uint8)) is None
    assert model.embedding(np.full((120, 120, 3), 30, np.uint8)) is None


def test_largest_face_is_picked(model):
    img = square_image(h=200, w=200, boxes=((10, 10, 40), (100, 110, 80)))
    x0, y0, x1, y1 = model.largest_face(img).bbox
    assert abs(x0 - 100) <= 2 and abs((x1 - x0) - 80) <= 3


def test_embeddings_deterministic_and_identity_scores(model):
    a = square_image(texture_seed=1)
    e1, e2 = model.embedding(a), model.embedding(a.copy())
    assert np.array_equal(e1, e2)
    assert cosine(e1, e2) == pytest.approx(1.0, abs=1e-6)
    assert np.linalg.norm(e1) == pytest.approx(1.0, abs=1e-5)
    other = model.embedding(square_image(texture_seed=2))
    assert cosine(e1, other) < 0.99
    # the same "face" moved elsewhere in the frame aligns to the same crop
    moved = square_image(boxes=((100, 20, 64),), texture_seed=1)
    assert cosine(e1, model.embedding(moved)) > cosine(e1, other)


def test_cosine_basics():
    assert cosine([1, 0], [0, 1]) == 0.0
    assert cosine([1, 2], [-1, -2]) == pytest.approx(-1.0)
    assert cosine([0, 0], [1, 1]) == 0.0


def test_missing_pack_names_files_and_terms(tmp_path):
    with pytest.raises(StageError) as err:
        resolve_pack("buffalo_l", str(tmp_path))
    e = err.value
    assert e.code == "MODEL_MISSING"
    for word in ("det_", "w600k_", "insightface/models/buffalo_l", "non-commercial", "never downloads"):
        assert word in e.message


def test_pack_without_recognizer_is_model_missing(face_pack, tmp_path):
    import shutil
    pack_dir, _ = face_pack
    only_det = tmp_path / "det-only"
    only_det.mkdir()
    shutil.copy(f"{pack_dir}/det_tiny.onnx", only_det / "det_tiny.onnx")
    with pytest.raises(StageError) as err:
        load_face_model(str(only_det), det_size=256)
    assert err.value.code == "MODEL_MISSING" and "w600k_" in err.value.message
