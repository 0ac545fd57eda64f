import pytest
"""Configs derived from tensors equal the RELEASED SD 1.5 / SDXL configs for full-size checkpoints.

The full-size models are built on the meta device (shapes only, no memory, no weights), converted to
the LDM single-file names Civitai checkpoints use, and the derivation must give back the released
architecture: so a user's real checkpoint gets the right config folder.
"""

from kino_backend.models import configs
from kino_backend.models.ldm_convert import (openclip_text_to_ldm, text_encoder_to_ldm, unet_to_ldm, vae_to_ldm)

SD15_UNET = dict(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, cross_attention_dim=768,
                 attention_head_dim=8, down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, sample_size=64)
SDXL_UNET = dict(block_out_channels=(320, 640, 1280), layers_per_block=2, cross_attention_dim=2048,
                 attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10), use_linear_projection=True,
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                 addition_embed_type="text_time", addition_time_embed_dim=256,
                 projection_class_embeddings_input_dim=2816, sample_size=128)
SD_VAE = dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
              down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
              num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu")
CLIP_G = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
              num_attention_heads=20, max_position_embeddings=77, hidden_act="gelu", projection_dim=1280)


def _shapes(state):
    return {k: tuple(v.shape) for k, v in state.items()}


def _meta(cls, *args, **kw):
    from accelerate import init_empty_weights
    with init_empty_weights():
        return cls(*args, **kw)


def _same(derived, released):
    for k, v in released.items():
        got = derived[k]
        norm = (lambda x: list(x) if isinstance(x, (list, tuple)) else x)
        assert norm(got) == norm(v), f"{k}: derived {got}, released {v}"


@pytest.mark.slow
def test_sd15_full_size():
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    unet = _meta(UNet2DConditionModel, **SD15_UNET)
    shapes = _shapes(unet_to_ldm(unet.state_dict(), dict(unet.config)))
    vae = _meta(AutoencoderKL, **SD_VAE)
    shapes.update(_shapes(vae_to_ldm(vae.state_dict(), 4)))
    te = _meta(CLIPTextModel, CLIPTextConfig(**CLIP_L))
    shapes.update(_shapes(text_encoder_to_ldm(te.state_dict())))
    _same(configs.unet_config(shapes, "sd15"), SD15_UNET)
    _same(configs.vae_config(shapes, "sd15"), dict(SD_VAE, scaling_factor=0.18215))
    _same(configs.clip_hf_config(shapes, configs.TE_SD15), CLIP_L)


def test_sdxl_full_size():
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
    unet = _meta(UNet2DConditionModel, **SDXL_UNET)
    shapes = _shapes(unet_to_ldm(unet.state_dict(), dict(unet.config)))
    te1 = _meta(CLIPTextModel, CLIPTextConfig(**CLIP_L))
    shapes.update(_shapes(text_encoder_to_ldm(te1.state_dict(), configs.TE1_XL)))
    te2 = _meta(CLIPTextModelWithProjection, CLIPTextConfig(**CLIP_G))
    shapes.update(_shapes(openclip_text_to_ldm(te2.state_dict())))
    _same(configs.clip_hf_config(shapes, configs.TE1_XL), CLIP_L)
    _same(configs.clip_openclip_config(shapes), CLIP_G)
    _same(configs.unet_config(shapes, "sdxl", te2_projection=1280), SDXL_UNET)
