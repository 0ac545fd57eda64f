"""Configs of Kino's tiny random test models (real architectures, tiny sizes).

They follow the conventions ``configs.py`` assumes for single files (SD 1.5: 8 attention heads;
text encoders: ``heads_for(hidden)``), so a tiny single file and its diffusers folder are the same model.
"""
from .configs import SCHEDULER, heads_for

VOCAB = 1000
TE_HIDDEN = 32


def clip_text(hidden_act: str = "quick_gelu", projection_dim: int = 0, hidden: int = TE_HIDDEN) -> dict:
    cfg = dict(vocab_size=VOCAB, hidden_size=hidden, intermediate_size=37, num_hidden_layers=2,
               num_attention_heads=heads_for(hidden), max_position_embeddings=77, hidden_act=hidden_act,
               layer_norm_eps=1e-5, bos_token_id=VOCAB - 2, eos_token_id=VOCAB - 1, pad_token_id=VOCAB - 1)
    if projection_dim:
        cfg["projection_dim"] = projection_dim
    return cfg


SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=2,
                 down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                 up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=TE_HIDDEN,
                 attention_head_dim=8, norm_num_groups=32)

TE2_HIDDEN = 64  # differs from TE_HIDDEN like CLIP-L (768) vs CLIP-G (1280): single-file loaders tell them apart by size

# SDXL convention for heads: channels // 64 (at least 1), as configs.unet_config derives for single files
SDXL_UNET = dict(sample_size=128, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), transformer_layers_per_block=(1, 2),
                 cross_attention_dim=TE_HIDDEN + TE2_HIDDEN, attention_head_dim=(1, 1), use_linear_projection=True,
                 addition_embed_type="text_time", addition_time_embed_dim=8,
                 projection_class_embeddings_input_dim=TE2_HIDDEN + 6 * 8, norm_num_groups=32)


def vae(scaling_factor: float) -> dict:
    return dict(in_channels=3, out_channels=3, block_out_channels=(32, 32, 64, 64), layers_per_block=1,
                latent_channels=4, down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32, sample_size=128,
                scaling_factor=scaling_factor, force_upcast=False)


TAESD = dict(encoder_block_out_channels=(16, 16, 16, 16), decoder_block_out_channels=(16, 16, 16, 16),
             num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1), latent_channels=4)

IMAGE_ENCODER = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                     image_size=32, patch_size=8, projection_dim=32)

CONTROLNET_EMBED = (16, 16, 32, 32)  # 4 entries => x8, matching the VAE

DDIM = {k: v for k, v in SCHEDULER.items() if not k.startswith("_")}
