"""Random-weight Stable Diffusion 1.5-architecture pipelines built from configs in code, offline.

For ``bench diffusion`` (speed does not depend on the weights): ``size="full"`` is the real SD 1.5
architecture (UNet 860M, VAE 84M, CLIP ViT-L text encoder, a full-size ControlNet, TAESD);
``size="tiny"`` the same layout scaled down to milliseconds per step on a CPU. Needs torch,
diffusers and transformers (imported lazily); no files, no hub.
"""
from __future__ import annotations

import json
import os
import tempfile

CONFIGS = {
    "full": {
        "unet": dict(sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                     down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                     up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                     cross_attention_dim=768, attention_head_dim=8),
        "vae": dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, sample_size=512),
        "text": dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                     num_attention_heads=12, projection_dim=768),
        "controlnet": dict(conditioning_embedding_out_channels=(16, 32, 96, 256)),
        "taesd": dict(encoder_block_out_channels=(64,) * 4, decoder_block_out_channels=(64,) * 4,
                      num_encoder_blocks=(1, 3, 3, 3), num_decoder_blocks=(3, 3, 3, 1)),
    },
    "tiny": {
        "unet": dict(sample_size=16, block_out_channels=(32, 64), layers_per_block=2,
                     down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                     up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                     attention_head_dim=8),
        "vae": dict(block_out_channels=(32, 32, 64, 64), layers_per_block=1, sample_size=128),
        "text": dict(vocab_size=1000, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                     num_attention_heads=4, projection_dim=32),
        "controlnet": dict(conditioning_embedding_out_channels=(16, 16, 32, 32)),
        "taesd": dict(encoder_block_out_channels=(16,) * 4, decoder_block_out_channels=(16,) * 4,
                      num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1)),
    },
}


def _byte_chars() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for the bytes 0..255."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    extra = 0
    chars = {}
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def make_tokenizer(vocab_size: int):
    """A byte-level CLIP tokenizer (no merges: one token per character) that fits ``vocab_size``."""
    from transformers import CLIPTokenizer
    chars = _byte_chars()
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    if len(vocab) > vocab_size:
        raise ValueError(f"vocab_size {vocab_size} is smaller than the byte vocabulary {len(vocab)}")
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as fh:
            json.dump(vocab, fh)
        with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as fh:
            fh.write("#version: 0.2\n")
        return CLIPTokenizer.from_pretrained(d, model_max_length=77)


def _randomize_zero_convs(controlnet) -> None:
    """``from_unet`` zero-initializes the output convs (a fresh ControlNet does nothing); give them
    ordinary random weights so the condition changes the result, as a trained one would."""
    import torch
    torch.manual_seed(1)
    zero_convs = list(controlnet.controlnet_down_blocks) + [controlnet.controlnet_mid_block,
                                                            controlnet.controlnet_cond_embedding.conv_out]
    for module in zero_convs:
        module.reset_parameters()
    with torch.no_grad():  # make the condition image matter as much as in a trained ControlNet
        controlnet.controlnet_cond_embedding.conv_out.weight.mul_(20.0)


def build_components(size: str = "tiny", *, seed: int = 0) -> dict:
    """UNet, VAE, text encoder, tokenizer, scheduler, ControlNet and TAESD with random weights."""
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny, ControlNetModel, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    cfg = CONFIGS[size]
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(in_channels=4, out_channels=4, **cfg["unet"])
    vae = AutoencoderKL(latent_channels=4, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, scaling_factor=0.18215, **cfg["vae"])
    v = cfg["text"]["vocab_size"]
    text = CLIPTextModel(CLIPTextConfig(max_position_embeddings=77, hidden_act="quick_gelu", bos_token_id=v - 2,
                                        eos_token_id=v - 1, pad_token_id=v - 1, **cfg["text"]))
    controlnet = ControlNetModel.from_unet(unet, **cfg["controlnet"])
    _randomize_zero_convs(controlnet)
    taesd = AutoencoderTiny(latent_channels=4, scaling_factor=1.0, **cfg["taesd"])
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    return {"unet": unet, "vae": vae, "text_encoder": text, "tokenizer": make_tokenizer(v),
            "scheduler": scheduler, "controlnet": controlnet, "taesd": taesd}


def build_pipeline(components: dict, *, controlnet: bool = True):
    """An SD 1.5 (ControlNet) img2img pipeline from ``build_components``' parts."""
    from diffusers import StableDiffusionControlNetImg2ImgPipeline, StableDiffusionImg2ImgPipeline
    parts = {k: components[k] for k in ("unet", "vae", "text_encoder", "tokenizer", "scheduler")}
    common = dict(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    if controlnet:
        return StableDiffusionControlNetImg2ImgPipeline(controlnet=components["controlnet"], **parts, **common)
    return StableDiffusionImg2ImgPipeline(**parts, **common)
