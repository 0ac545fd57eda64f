"""Fixtures for the identity tests: the tiny face pack, built once per session."""
import pytest


@pytest.fixture(scope="session")
def face_pack(tmp_path_factory):
    from kino_backend.identity.tiny_face import make_face_pack
    root = tmp_path_factory.mktemp("identity-models")
    return make_face_pack(str(root / "insightface" / "models" / "face-tiny")), str(root)
