"""``make-tiny``: tiny random models in the REAL formats (offline, deterministic, seconds).

Writes into DIR: ``sd15-tiny/`` (diffusers folder), ``sd15-tiny.safetensors`` (LDM single file, Civitai
layout), ``sdxl-tiny/`` and ``sdxl-tiny.safetensors``, ``controlnet-tiny/``, ``ip-adapter-tiny/`` (weights + image encoder),
``lora-tiny.safetensors`` (kohya keys), ``taesd-tiny/``, ``ip-adapter-faceid-tiny.safetensors`` (SD 1.5),
``ip-adapter-tiny/models/ip-adapter-faceid-plusv2-tiny.safetensors`` (FaceID Plus v2, beside its image encoder),
``pulid-tiny.safetensors`` + ``eva-clip-tiny.safetensors`` (PuLID v1.1 layout for the tiny SDXL),
``motion-adapter-tiny/`` (an AnimateDiff MotionAdapter folder for the tiny SD 1.5 UNet) and ``face-tiny/`` (both built with the identity module's helpers).
"""
from __future__ import annotations

import os
import tempfile

from kino_addon.protocol.atomic import usual_file_modes

from . import tiny_specs as S
from .tiny_adapters import add_ip_attention_weights, tiny_faceid_plus_state, tiny_faceid_state
from .tokenizer import generated_vocab, write_tokenizer


def _seed(n: int):
    import torch
    torch.manual_seed(n)


def _tokenizer(pad: str = "<|endoftext|>"):
    from transformers import CLIPTokenizer
    vocab, merges = generated_vocab(S.VOCAB)
    with tempfile.TemporaryDirectory() as d:
        write_tokenizer(d, vocab, merges, pad_token=pad)
        return CLIPTokenizer.from_pretrained(d, model_max_length=77)


def sd15_pipeline():
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    _seed(1)
    unet = UNet2DConditionModel(**S.SD15_UNET)
    _seed(2)
    vae = AutoencoderKL(**S.vae(0.18215))
    _seed(3)
    te = CLIPTextModel(CLIPTextConfig(**S.clip_text()))
    return StableDiffusionImg2ImgPipeline(vae=vae, text_encoder=te, tokenizer=_tokenizer(), unet=unet,
                                          scheduler=DDIMScheduler(**S.DDIM), safety_checker=None,
                                          feature_extractor=None, image_encoder=None, requires_safety_checker=False)


def sdxl_pipeline():
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionXLImg2ImgPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection
    _seed(11)
    unet = UNet2DConditionModel(**S.SDXL_UNET)
    _seed(12)
    vae = AutoencoderKL(**S.vae(0.13025))
    _seed(13)
    te1 = CLIPTextModel(CLIPTextConfig(**S.clip_text()))
    _seed(14)
    te2 = CLIPTextModelWithProjection(CLIPTextConfig(**S.clip_text("gelu", projection_dim=S.TE2_HIDDEN, hidden=S.TE2_HIDDEN)))
    return StableDiffusionXLImg2ImgPipeline(vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=_tokenizer(),
                                            tokenizer_2=_tokenizer(pad="!"), unet=unet,
                                            scheduler=DDIMScheduler(**S.DDIM), requires_aesthetics_score=False,
                                            force_zeros_for_empty_prompt=True)


def controlnet(unet):
    import torch
    from diffusers import ControlNetModel
    cn = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=S.CONTROLNET_EMBED)
    _seed(21)
    with torch.no_grad():
        for name, p in cn.named_parameters():
            if name.endswith("bias"):
                continue
            if name.startswith(("controlnet_down_blocks", "controlnet_mid_block")):  # zero-init in a fresh one
                p.copy_(torch.randn_like(p) * 0.3)
            elif name.startswith("controlnet_cond_embedding"):  # He init so the control image reaches the UNet
                gain = 2.0 if "conv_out" in name else 1.0
                p.copy_(torch.randn_like(p) * gain * (2.0 / p[0].numel()) ** 0.5)
    return cn


def ip_adapter_state(unet, projection_dim: int) -> dict:
    """IP-Adapter weights in the original flat layout (``image_proj.*``, ``ip_adapter.{k}.to_k_ip/to_v_ip``)."""
    import torch
    g = torch.Generator().manual_seed(31)
    cross = unet.config.cross_attention_dim
    state = {"image_proj.proj.weight": torch.randn(cross * 4, projection_dim, generator=g) * 0.5,
             "image_proj.proj.bias": torch.randn(cross * 4, generator=g) * 0.1,
             "image_proj.norm.weight": torch.ones(cross), "image_proj.norm.bias": torch.zeros(cross)}
    return add_ip_attention_weights(state, unet, g)


def kohya_lora_state(pipe, rank: int = 4, scale: float = 0.6) -> dict:
    """A kohya/A1111-style LoRA for the SD 1.5 UNet attention and text-encoder attention projections."""
    import torch
    g = torch.Generator().manual_seed(41)
    targets = [("lora_unet_", n, m) for n, m in pipe.unet.named_modules()
               if n.endswith(("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
                              "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0"))]
    targets += [("lora_te_text_model_", n, m) for n, m in pipe.text_encoder.named_modules()
                if n.endswith(("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj"))]
    state = {}
    for prefix, name, mod in targets:
        key = prefix + name.replace("text_model.", "").replace(".", "_")
        out_f, in_f = mod.weight.shape
        state[key + ".lora_down.weight"] = torch.randn(rank, in_f, generator=g) / in_f ** 0.5
        state[key + ".lora_up.weight"] = torch.randn(out_f, rank, generator=g) * scale
        state[key + ".alpha"] = torch.tensor(float(rank))
    return state


def taesd():
    from diffusers import AutoencoderTiny
    import torch
    _seed(51)
    vae = AutoencoderTiny(**S.TAESD)
    last = [m for m in vae.decoder.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():  # keep random decodes inside [0, 1] (mid grey with texture) instead of clipping
        last.weight.mul_(2.0)
        last.bias.fill_(0.5)
    return vae


def image_encoder():
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
    _seed(61)
    return CLIPVisionModelWithProjection(CLIPVisionConfig(**S.IMAGE_ENCODER))


def _face_pack(path: str) -> str | None:
    from ..identity.tiny_face import make_face_pack
    make_face_pack(path)
    return path


def make_tiny(out_dir: str) -> dict:
    """Write every tiny model into ``out_dir``; return ``{name: path}`` of what was written."""
    import torch
    from safetensors.torch import save_file

    from .ldm_convert import sd15_pipeline_to_ldm, sdxl_pipeline_to_ldm
    os.makedirs(out_dir, exist_ok=True)
    out = {}
    with torch.no_grad():
        sd15 = sd15_pipeline()
        out["sd15-tiny"] = os.path.join(out_dir, "sd15-tiny")
        sd15.save_pretrained(out["sd15-tiny"], safe_serialization=True)
        out["sd15-tiny.safetensors"] = os.path.join(out_dir, "sd15-tiny.safetensors")
        save_file(sd15_pipeline_to_ldm(sd15), out["sd15-tiny.safetensors"], metadata={"format": "pt"})
        out["sdxl-tiny"] = os.path.join(out_dir, "sdxl-tiny")
        sdxl = sdxl_pipeline()
        sdxl.save_pretrained(out["sdxl-tiny"], safe_serialization=True)
        out["sdxl-tiny.safetensors"] = os.path.join(out_dir, "sdxl-tiny.safetensors")
        save_file(sdxl_pipeline_to_ldm(sdxl), out["sdxl-tiny.safetensors"], metadata={"format": "pt"})
        out["controlnet-tiny"] = os.path.join(out_dir, "controlnet-tiny")
        controlnet(sd15.unet).save_pretrained(out["controlnet-tiny"], safe_serialization=True)
        ipa = os.path.join(out_dir, "ip-adapter-tiny", "models")
        enc = image_encoder()
        enc.save_pretrained(os.path.join(ipa, "image_encoder"), safe_serialization=True)
        save_file(ip_adapter_state(sd15.unet, enc.config.projection_dim),
                  os.path.join(ipa, "ip-adapter_sd15.safetensors"), metadata={"format": "pt"})
        out["ip-adapter-tiny"] = os.path.dirname(ipa)
        out["ip-adapter-faceid-plusv2-tiny"] = os.path.join(ipa, "ip-adapter-faceid-plusv2-tiny.safetensors")
        save_file(tiny_faceid_plus_state(sd15.unet, enc.config.hidden_size), out["ip-adapter-faceid-plusv2-tiny"],
                  metadata={"format": "pt"})
        out["lora-tiny.safetensors"] = os.path.join(out_dir, "lora-tiny.safetensors")
        save_file(kohya_lora_state(sd15), out["lora-tiny.safetensors"], metadata={"ss_network_module": "networks.lora"})
        out["ip-adapter-faceid-tiny.safetensors"] = os.path.join(out_dir, "ip-adapter-faceid-tiny.safetensors")
        save_file(tiny_faceid_state(sd15.unet), out["ip-adapter-faceid-tiny.safetensors"], metadata={"format": "pt"})
        from ..identity.pulid.tiny import make_tiny_pulid  # pulid-tiny + eva-clip-tiny for the tiny SDXL
        out.update(make_tiny_pulid(out_dir, sdxl.unet))
        out["taesd-tiny"] = os.path.join(out_dir, "taesd-tiny")
        taesd().save_pretrained(out["taesd-tiny"], safe_serialization=True)
        from ..animatediff.tiny import write_tiny_motion_adapter
        out["motion-adapter-tiny"] = write_tiny_motion_adapter(os.path.join(out_dir, "motion-adapter-tiny"))
    face = _face_pack(os.path.join(out_dir, "face-tiny"))
    if face:
        out["face-tiny"] = face
    usual_file_modes(*out.values())  # safetensors writes 0600: other users and render nodes read them too
    return out
