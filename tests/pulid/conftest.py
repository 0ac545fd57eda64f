"""Session fixtures for the PuLID tests: tiny SDXL pipeline, tiny PuLID + EVA files, tiny face pack.
All are test models (random weights / toy detector); see ``pulid_fixtures``."""
import pytest


@pytest.fixture(scope="session")
def pulid_pipe():
    import torch
    from kino_backend.models.tiny import sdxl_pipeline
    torch.set_num_threads(1)
    pipe = sdxl_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def pulid_files(pulid_pipe, tmp_path_factory):
    from kino_backend.identity.pulid.tiny import make_tiny_pulid
    return make_tiny_pulid(str(tmp_path_factory.mktemp("pulid-tiny")), pulid_pipe.unet)


@pytest.fixture(scope="session")
def pulid_face_model(tmp_path_factory):
    from kino_backend.identity.faces import load_face_model
    from kino_backend.identity.tiny_face import make_face_pack
    pack = make_face_pack(str(tmp_path_factory.mktemp("pulid-face") / "face-tiny"))
    return load_face_model(pack, det_size=256)


@pytest.fixture(scope="session")
def pulid_adapter(pulid_files):
    from kino_backend.identity.pulid.adapter import PulidAdapter
    return PulidAdapter(pulid_files["pulid-tiny.safetensors"], pulid_files["eva-clip-tiny.safetensors"])
