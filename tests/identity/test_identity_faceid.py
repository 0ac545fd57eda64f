"""IP-Adapter FaceID through diffusers' own loader and pipeline (real code), with test models: Kino's
tiny SD 1.5 pipeline (random weights), random FaceID weights in the original file layout, and the
tiny face pack (a bright square is a "face") through insightface's code path."""
import numpy as np
import pytest
import torch

from kino_backend.identity.faceid import face_embedding, faceid_embeds, load_faceid
from kino_backend.models.tiny_adapters import tiny_faceid_state
from kino_backend.identity.faces import load_face_model
from kino_backend.stages.base import StageError

from kino_identity_support import square_image


@pytest.fixture(scope="module")
def setup(face_pack, tmp_path_factory):
    from safetensors.torch import save_file

    from kino_backend.models import tiny
    torch.set_num_threads(1)
    pipe = tiny.sd15_pipeline()
    pipe.set_progress_bar_config(disable=True)
    path = tmp_path_factory.mktemp("faceid") / "ip-adapter-faceid_tiny.safetensors"
    save_file(tiny_faceid_state(pipe.unet), str(path))
    return pipe, str(path), load_face_model(face_pack[0], det_size=256)


def run(pipe, embeds, seed=2):
    from PIL import Image
    init = Image.fromarray(np.full((64, 64, 3), 128, np.uint8))
    kw = {"ip_adapter_image_embeds": embeds} if embeds is not None else {}
    return pipe(prompt="a portrait", image=init, strength=0.7, num_inference_steps=4, guidance_scale=5.0,
                generator=torch.Generator("cpu").manual_seed(seed), output_type="latent", **kw).images.float()


def test_faceid_embeds_shape_and_cfg_layout(setup):
    _pipe, _path, model = setup
    a = square_image(texture_seed=1)
    emb = faceid_embeds(model, [a])
    assert len(emb) == 1 and tuple(emb[0].shape) == (2, 1, 512)
    assert torch.count_nonzero(emb[0][0]) == 0  # the unconditional half is the zero embedding
    assert torch.linalg.norm(emb[0][1]).item() == pytest.approx(1.0, abs=1e-5)
    assert tuple(faceid_embeds(model, [a], do_cfg=False)[0].shape) == (1, 1, 512)
    # several photos: the unit mean of their embeddings
    b = square_image(texture_seed=2)
    ea, eb = face_embedding(model, [a]), face_embedding(model, [b])
    mean = (ea + eb) / np.linalg.norm(ea + eb)
    assert np.allclose(face_embedding(model, [a, b]), mean, atol=1e-6)


def test_faceid_adapter_loads_and_the_face_steers_the_output(setup):
    pipe, path, model = setup
    base = run(pipe, None)
    load_faceid(pipe, path, scale=1.0)
    try:
        out_a = run(pipe, faceid_embeds(model, [square_image(texture_seed=1)]))
        out_a2 = run(pipe, faceid_embeds(model, [square_image(texture_seed=1)]))
        out_b = run(pipe, faceid_embeds(model, [square_image(texture_seed=2)]))
        assert torch.equal(out_a, out_a2)  # same face, same seed: same result
        assert (out_a - base).abs().max() > 1e-3  # the adapter changes the output
        assert (out_a - out_b).abs().max() > 1e-4  # a different face gives a different result
        pipe.set_ip_adapter_scale(0.0)
        assert torch.allclose(run(pipe, faceid_embeds(model, [square_image(texture_seed=1)])), base, atol=1e-5)
    finally:
        pipe.unload_ip_adapter()


def test_no_face_and_missing_file_are_clear(setup, tmp_path):
    pipe, _path, model = setup
    with pytest.raises(StageError, match="no face found"):
        faceid_embeds(model, [np.full((64, 64, 3), 20, np.uint8)])
    with pytest.raises(StageError) as err:
        load_faceid(pipe, str(tmp_path / "ip-adapter-faceid_sd15.bin"))
    assert err.value.code == "MODEL_MISSING"


def test_faceid_on_sdxl(setup, tmp_path):
    """The same FaceID layout loads into Kino's tiny SDXL pipeline (a test model) and steers it."""
    from safetensors.torch import save_file

    from kino_backend.models import tiny
    _pipe, _path, model = setup
    pipe = tiny.sdxl_pipeline()
    pipe.set_progress_bar_config(disable=True)
    path = tmp_path / "ip-adapter-faceid_sdxl_tiny.safetensors"
    save_file(tiny_faceid_state(pipe.unet), str(path))
    base = run(pipe, None)
    load_faceid(pipe, str(path))
    out_a = run(pipe, faceid_embeds(model, [square_image(texture_seed=1)]))
    out_b = run(pipe, faceid_embeds(model, [square_image(texture_seed=2)]))
    assert (out_a - base).abs().max() > 1e-3 and (out_a - out_b).abs().max() > 1e-4
