"""Kino's EVA02 tower and PuLID ID encoders (real code) on test weights: the tiny random files from
``identity.pulid.tiny`` and, for the full-size configs, shape-only builds on torch's meta device."""
import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from kino_backend.identity.pulid.adapter import classify_pulid
from kino_backend.identity.pulid.eva_vit import EvaConfig, EvaVisionTower, build_tower, rope_tables
from kino_backend.identity.pulid.idformer import IDEncoderV1, IDFormer, build_id_encoder
from kino_backend.identity.pulid.tiny import idformer_shapes, tiny_pulid_state, v1_encoder_shapes
from kino_backend.models.st_header import shapes


def test_tiny_tower_loads_with_and_without_prefix(pulid_files, tmp_path):
    state = load_file(pulid_files["eva-clip-tiny.safetensors"])
    assert all(k.startswith("visual.") for k in state)
    tower = build_tower(state)
    assert tower.cfg == EvaConfig(image_size=32, patch_size=8, width=32, depth=24, heads=2, mlp_hidden=85, embed_dim=24)
    # a prefix-less copy with text-tower keys beside it loads the same tower
    bare = {k[len("visual."):]: v for k, v in state.items()}
    bare.update({"text.positional_embedding": torch.zeros(4, 4), "logit_scale": torch.zeros(())})
    save_file(bare, str(tmp_path / "bare.safetensors"))
    tower2 = build_tower(load_file(str(tmp_path / "bare.safetensors")))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        emb, hidden = tower(x)
        emb2, hidden2 = tower2(x)
    assert tuple(emb.shape) == (2, 24) and torch.equal(emb, emb2)
    assert len(hidden) == 5 and all(tuple(h.shape) == (2, 1 + 16, 32) for h in hidden)
    assert all(torch.equal(a, b) for a, b in zip(hidden, hidden2))
    info = classify_pulid(shapes(str(tmp_path / "bare.safetensors")))
    assert info == {"kind": "eva_clip", "arch": None, "image_size": 32, "width": 32}
    # the adapter reads only the visual tensors of such a file
    from kino_backend.identity.pulid.adapter import PulidAdapter
    ad = PulidAdapter(pulid_files["pulid-tiny.safetensors"], str(tmp_path / "bare.safetensors"))
    with torch.no_grad():
        assert torch.equal(ad.tower(x)[0], emb)


def test_hidden_states_are_the_inputs_of_blocks_4_8_12_16_20(pulid_files):
    tower = build_tower(load_file(pulid_files["eva-clip-tiny.safetensors"]))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        emb, hidden = tower(x)
        h = tower.patch_embed(x)
        h = torch.cat([tower.cls_token, h], dim=1) + tower.pos_embed
        seen = {}
        for i, block in enumerate(tower.blocks):
            seen[i] = h
            h = block(h, tower.rope_cos, tower.rope_sin)
        final = tower.head(tower.norm(h)[:, 0])
    for got, idx in zip(hidden, (4, 8, 12, 16, 20)):
        assert torch.equal(got, seen[idx])
    assert torch.allclose(final, emb, atol=1e-6)


def test_rope_tables_follow_eva02_for_l336():
    cos, sin = rope_tables(24, 64)  # 336 / 14 = 24 patches per side, 16 heads of 64
    assert tuple(cos.shape) == (576, 64)
    row, col = 3, 5
    inv = [1.0 / 10000 ** (2 * j / 32) for j in range(16)]
    for j in (0, 7, 15):  # first half: patch row, second half: patch column, pairs share a frequency
        assert cos[row * 24 + col, 2 * j].item() == pytest.approx(math.cos(row / 24 * 16 * inv[j]), abs=1e-5)
        assert cos[row * 24 + col, 2 * j + 1].item() == pytest.approx(math.cos(row / 24 * 16 * inv[j]), abs=1e-5)
        assert sin[row * 24 + col, 32 + 2 * j].item() == pytest.approx(math.sin(col / 24 * 16 * inv[j]), abs=1e-5)


def test_full_size_configs_from_shapes_on_meta():
    """The real L-336 tower and the real IDFormer / IDEncoder sizes (meta device: shapes only)."""
    with torch.device("meta"):
        real = EvaVisionTower(EvaConfig(336, 14, 1024, 24, 16, 2730, 768))
        state_shapes = {k: tuple(v.shape) for k, v in real.state_dict().items()}
        state_shapes["rope.freqs_cos"] = (576, 64)
        assert classify_pulid({"visual." + k: s for k, s in state_shapes.items()}) == \
            {"kind": "eva_clip", "arch": None, "image_size": 336, "width": 1024}
        emb, hidden = real(torch.empty(1, 3, 336, 336))
        assert tuple(emb.shape) == (1, 768) and [tuple(h.shape) for h in hidden] == [(1, 577, 1024)] * 5
        big = dict(dim=1024, inner=1024, ff_inner=4096, depth=10, queries=32, id_tokens=5, hidden=1024)
        idf = IDFormer(idformer_shapes(2048, 1024, 768, big))
        assert idf.per_scale == 2 and idf.layers[0][0].heads == 16 and idf.num_id_token == 5
        out = idf(torch.empty(1, 2, 1280), [torch.empty(1, 2 * 577, 1024)] * 5)
        assert tuple(out.shape) == (1, 32, 2048)
        v1 = IDEncoderV1(v1_encoder_shapes(2048, 1024, 768, dict(tokens=5, hidden=1024)))
        assert tuple(v1(torch.empty(1, 1280), [torch.empty(1, 577, 1024)] * 5).shape) == (1, 10, 2048)


def test_id_encoders_from_the_tiny_files(pulid_pipe, pulid_files):
    state = load_file(pulid_files["pulid-tiny.safetensors"])
    enc, version = build_id_encoder({k[11:]: v for k, v in state.items() if k.startswith("id_adapter.")})
    assert version == "v1.1"
    g = torch.Generator().manual_seed(5)
    hidden = [torch.randn(1, 17, 32, generator=g) for _ in range(5)]
    with torch.no_grad():
        one = enc(torch.randn(1, 536, generator=g), hidden)
        two = enc(torch.randn(1, 2, 536, generator=g), [torch.cat([h, h], dim=1) for h in hidden])
    assert tuple(one.shape) == (1, 32, 96) == tuple(two.shape)  # 96 = the tiny SDXL UNet's cross-attention width
    v1_state = tiny_pulid_state(pulid_pipe.unet, version="v1")
    v1, version = build_id_encoder({k[11:]: v for k, v in v1_state.items() if k.startswith("id_adapter.")})
    assert version == "v1"
    with torch.no_grad():
        assert tuple(v1(torch.randn(1, 536, generator=g), hidden).shape) == (1, 10, 96)
    with pytest.raises(ValueError, match="do not fit"):
        build_id_encoder({k[11:]: v for k, v in state.items() if k.startswith("id_adapter.") and "mapping_3" not in k})


def test_classify_pulid_headers(pulid_files):
    assert classify_pulid(shapes(pulid_files["pulid-tiny.safetensors"])) == {"kind": "pulid", "arch": "sdxl",
                                                                               "version": "v1.1"}
    sd15 = {"id_adapter.body.0.weight": (1024, 1280), "id_adapter_attn_layers.1.id_to_k.weight": (320, 768)}
    assert classify_pulid(sd15) == {"kind": "pulid", "arch": "sd15", "version": "v1"}
    real = {"id_adapter.latents": (1, 32, 1024), "id_adapter_attn_layers.1.id_to_k.weight": (640, 2048)}
    assert classify_pulid(real) == {"kind": "pulid", "arch": "sdxl", "version": "v1.1"}
    flux = {"pulid_encoder.latents": (1, 32, 1024), "pulid_ca.0.to_q.weight": (3072, 3072)}
    assert classify_pulid(flux)["arch"] == "flux"
    assert classify_pulid({"image_proj.proj.weight": (3072, 512)}) is None


def test_tiny_files_are_deterministic(pulid_pipe, pulid_files, tmp_path):
    from kino_backend.identity.pulid.tiny import make_tiny_pulid
    again = make_tiny_pulid(str(tmp_path), pulid_pipe.unet)
    assert sorted(again) == ["eva-clip-tiny.safetensors", "pulid-tiny.safetensors"]
    for name, path in again.items():
        with open(path, "rb") as a, open(pulid_files[name], "rb") as b:
            assert a.read() == b.read()


def test_classify_needs_no_torch():
    import subprocess
    import sys
    code = ("import sys; from kino_backend.identity.pulid.adapter import classify_pulid; "
            "info = classify_pulid({'visual.cls_token': (1, 1, 1024), 'visual.pos_embed': (1, 577, 1024), "
            "'visual.patch_embed.proj.weight': (1024, 3, 14, 14), 'visual.head.weight': (768, 1024), "
            "'visual.blocks.0.attn.q_proj.weight': (1024, 1024), 'visual.blocks.0.mlp.w1.weight': (2730, 1024)}); "
            "assert info == {'kind': 'eva_clip', 'arch': None, 'image_size': 336, 'width': 1024}, info; "
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
