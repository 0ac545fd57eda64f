"""Helpers for the PuLID tests (uniquely named module: safe when every test folder runs in one pytest).

Real code under test: Kino's PuLID modules (EVA02 tower, IDFormer, attention processor, face
preparation, adapter), diffusers' SDXL img2img pipeline and UNet, insightface's ``FaceAnalysis`` code
path and onnxruntime. Test models: Kino's tiny random SDXL pipeline (``models.tiny.sdxl_pipeline``), the
tiny PuLID / EVA files from ``identity.pulid.tiny`` (random weights in the real layouts), and the tiny
face pack from ``identity.tiny_face`` (a bright square is a "face").
"""
import numpy as np


def square_face(h=160, w=192, x=50, y=40, side=64, seed=1, background=40):
    """RGB uint8: dark background with one bright, coarsely textured square (a "face"); the texture
    (values 180..255, seeded) makes faces differ."""
    img = np.full((h, w, 3), background, np.uint8)
    rng = np.random.default_rng(seed)
    coarse = rng.integers(180, 256, (4, 4, 3))
    patch = np.repeat(np.repeat(coarse, -(-side // 4), 0), -(-side // 4), 1)[:side, :side]
    img[y:y + side, x:x + side] = patch.astype(np.uint8)
    return img


def unet_inputs(unet, batch=2, seed=0, size=16):
    """Random SDXL UNet inputs (latents, timestep, text states, added conditions) for ``batch`` samples."""
    import torch
    g = torch.Generator().manual_seed(seed)
    cfg = unet.config
    sample = torch.randn(batch, cfg.in_channels, size, size, generator=g)
    text = torch.randn(batch, 7, cfg.cross_attention_dim, generator=g)
    pooled_dim = cfg.projection_class_embeddings_input_dim - 6 * cfg.addition_time_embed_dim
    added = {"text_embeds": torch.randn(batch, pooled_dim, generator=g),
             "time_ids": torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]]).repeat(batch, 1)}
    return sample, torch.tensor(500), text, added


def unet_out(unet, inputs):
    import torch
    sample, t, text, added = inputs
    with torch.no_grad():
        return unet(sample, t, encoder_hidden_states=text, added_cond_kwargs=added).sample
