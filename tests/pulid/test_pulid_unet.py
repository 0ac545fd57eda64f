"""PuLID's processors in a real diffusers SDXL UNet (Kino's tiny random SDXL UNet: a test model) with
the tiny random PuLID weights; ID tokens from the adapter's own embed (real code) on the tiny face pack."""
import pytest
import torch

from kino_backend.stages.base import StageError

from pulid_fixtures import square_face, unet_inputs, unet_out


@pytest.fixture(scope="module")
def tokens(pulid_adapter, pulid_face_model):
    a = pulid_adapter.embed(pulid_face_model, [square_face(seed=1)])
    b = pulid_adapter.embed(pulid_face_model, [square_face(seed=2)])
    return a, b


@pytest.fixture()
def attached(pulid_pipe, pulid_adapter):
    unet = pulid_pipe.unet
    pulid_adapter.attach(unet)
    yield unet
    pulid_adapter.clear()
    pulid_adapter.detach(unet)


def test_scale_zero_and_clear_are_the_plain_unet_and_detach_restores_it(pulid_pipe, pulid_adapter, tokens):
    unet = pulid_pipe.unet
    before = dict(unet.attn_processors)
    inputs = unet_inputs(unet)
    base = unet_out(unet, inputs)
    pulid_adapter.attach(unet)
    try:
        assert sum(type(p).__name__ == "PulidAttnProcessor" for p in unet.attn_processors.values()) == 8
        (uncond, cond), _ = tokens
        pulid_adapter.set_embedding(uncond, cond, scale=0.0)
        assert torch.equal(unet_out(unet, inputs), base)
        pulid_adapter.set_embedding(uncond, cond, scale=1.0)
        changed = unet_out(unet, inputs)
        assert (changed - base).abs().max().item() > 1e-3
        pulid_adapter.clear()
        assert torch.equal(unet_out(unet, inputs), base)
    finally:
        pulid_adapter.detach(unet)
    assert all(unet.attn_processors[k] is p for k, p in before.items())
    assert torch.equal(unet_out(unet, inputs), base)


def test_modes_and_faces_change_the_output(attached, pulid_adapter, tokens):
    inputs = unet_inputs(attached)
    (ua, ca), (ub, cb) = tokens
    outs = {}
    for name, (u, c, mode) in {"a_fid": (ua, ca, "fidelity"), "a_style": (ua, ca, "style"),
                               "b_fid": (ub, cb, "fidelity"), "a_plain": (ua, ca, "plain")}.items():
        pulid_adapter.set_embedding(u, c, scale=1.0, mode=mode)
        outs[name] = unet_out(attached, inputs)
    assert (outs["a_fid"] - outs["a_style"]).abs().max().item() > 1e-4
    assert (outs["a_fid"] - outs["a_plain"]).abs().max().item() > 1e-4
    assert (outs["a_fid"] - outs["b_fid"]).abs().max().item() > 1e-4
    assert torch.equal(ua, ub)  # the uncond tokens come from all-zero inputs: the same for every face
    assert (ca - cb).abs().max().item() > 1e-3
    with pytest.raises(StageError, match="mode"):
        pulid_adapter.set_embedding(ua, ca, scale=1.0, mode="extreme")


def test_cfg_batch_layout_matches_separate_calls(attached, pulid_adapter, tokens):
    """diffusers stacks [uncond x n, cond x n]: the first half must see the uncond tokens."""
    (uncond, cond), _ = tokens
    sample, t, text, added = unet_inputs(attached, batch=4, seed=3)  # 2 frames with CFG
    pulid_adapter.set_embedding(uncond, cond, scale=1.0, do_cfg=True)
    batched = unet_out(attached, (sample, t, text, added))
    singles = []
    for i in range(4):
        tok = uncond if i < 2 else cond
        pulid_adapter.set_embedding(None, tok, scale=1.0, do_cfg=False)
        singles.append(unet_out(attached, (sample[i:i + 1], t, text[i:i + 1],
                                           {k: v[i:i + 1] for k, v in added.items()})))
    assert torch.allclose(batched, torch.cat(singles), atol=1e-5)
    # and the halves really differ in what they got: cond everywhere gives another first half
    pulid_adapter.set_embedding(None, cond, scale=1.0, do_cfg=False)
    all_cond = unet_out(attached, (sample, t, text, added))
    assert (all_cond[:2] - batched[:2]).abs().max().item() > 1e-4
    assert torch.allclose(all_cond[2:], batched[2:], atol=1e-5)
    # per-frame tokens (one per frame) are used as given
    pulid_adapter.set_embedding(torch.cat([uncond, uncond]), torch.cat([cond, cond]), scale=1.0)
    assert torch.allclose(unet_out(attached, (sample, t, text, added)), batched, atol=1e-5)


def test_weights_for_another_unet_are_rejected(pulid_pipe, pulid_files, tmp_path):
    from safetensors.torch import save_file

    from kino_backend.identity.pulid.adapter import PulidAdapter
    from kino_backend.identity.pulid.tiny import tiny_pulid_state
    from kino_backend.models.tiny import sd15_pipeline
    other = tmp_path / "pulid-other.safetensors"
    save_file(tiny_pulid_state(sd15_pipeline().unet), str(other))  # cross width 32, another layer layout
    ad = PulidAdapter(str(other), pulid_files["eva-clip-tiny.safetensors"])
    before = dict(pulid_pipe.unet.attn_processors)
    with pytest.raises(StageError) as err:
        ad.attach(pulid_pipe.unet)
    assert err.value.code == "INVALID_PARAMS" and "SDXL" in err.value.message
    assert all(pulid_pipe.unet.attn_processors[k] is p for k, p in before.items())  # nothing half-installed
    uncond = torch.zeros(1, 32, 96)
    with pytest.raises(StageError, match="tokens"):
        ad.set_embedding(uncond, uncond, scale=1.0)  # tokens of the wrong width for this adapter


def test_zero_text_states_stay_finite(attached, pulid_adapter, tokens):
    """SDXL zeroes an empty negative prompt: the ortho projection must not divide 0 by 0 there."""
    (uncond, cond), _ = tokens
    sample, t, text, added = unet_inputs(attached, batch=2, seed=4)
    text = torch.cat([torch.zeros_like(text[:1]), text[1:]])
    for mode in ("fidelity", "style"):
        pulid_adapter.set_embedding(uncond, cond, scale=1.0, mode=mode)
        assert torch.isfinite(unet_out(attached, (sample, t, text, added))).all()
