"""What the AnimateDiff UNet call needs per frame, gathered for the rows of one call: the prompt,
ControlNet condition images (per frame, per ControlNet, with the step's scale), and IP-Adapter / FaceID
tokens (per frame: a fixed reference repeats, ``reference=frame`` / ``face_reference=frame`` differ).

Row layout: one half is ``frames`` (window-major); under guidance the unconditional half comes first.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence


class ClipConditioning:
    def __init__(self, engine, *, size: tuple, steps_total: int, controls: Optional[Callable] = None,
                 adapters: Optional[Callable] = None):
        """``controls(frame)`` -> the frame's condition images (uint8, one per ControlNet);
        ``adapters(frame)`` -> ``(embeds by slot, face scale or None)`` for the frame."""
        self.engine, self.size, self.steps_total = engine, tuple(size), int(steps_total)
        self.controls, self.adapters = controls, adapters
        self.do_cfg = engine.do_cfg

    def text(self, rows: int):
        import torch
        p = self.engine._prompt
        pos = p["prompt_embeds"].expand(rows, *p["prompt_embeds"].shape[1:])
        if not self.do_cfg:
            return pos
        neg = p["negative_prompt_embeds"].expand(rows, *p["negative_prompt_embeds"].shape[1:])
        return torch.cat([neg, pos])

    def control(self, frames: Sequence[int], i: int):
        """Per ControlNet the condition images of the rows, and the scales at step ``i``."""
        import torch
        if self.controls is None:
            return None, None
        per_frame = [self.controls(f) for f in frames]
        settings = self.engine.controls
        images = []
        for k in range(len(settings)):
            t = self.engine.to_tensor([imgs[k] for imgs in per_frame], self.size)
            t = t.to(dtype=self.engine.pipe.controlnet.dtype)
            images.append(torch.cat([t, t]) if self.do_cfg else t)
        scales = []
        for c in settings:
            off = i / self.steps_total < c.start or (i + 1) / self.steps_total > c.end
            scales.append(c.scale * (0.0 if off else 1.0))
        if getattr(self.engine.pipe.controlnet, "nets", None) is None:
            return images[0], scales[0]
        return images, scales

    def image_tokens(self, frames: Sequence[int]):
        """Projected IP-Adapter tokens (one tensor per adapter, rows as the UNet call), or None."""
        import torch
        if self.adapters is None:
            return None
        per_frame = [self.adapters(f) for f in frames]
        slots = self.engine.ip_slots
        embeds = []
        for slot in slots:
            rows = [e[slot] for e, _s in per_frame]
            embeds.append(self._rows(rows))
        face_scales = [s for _e, s in per_frame if s is not None]
        if face_scales and "face" in slots:
            self.engine.set_adapter_scale("face", max(face_scales))
        if "face" in slots and per_frame[0][0].get("face_clip") is not None:
            layer = self.engine.pipe.unet.encoder_hid_proj.image_projection_layers[slots.index("face")]
            layer.clip_embeds = self._rows([e["face_clip"] for e, _s in per_frame])  # FaceID Plus reads them here
        with torch.inference_mode():
            return self.engine.pipe.unet.encoder_hid_proj(embeds)

    def _rows(self, per_frame: list):
        """Per-frame embeddings in the CFG layout ([uncond, cond] or [cond]) -> one batch of rows."""
        import torch
        if not self.do_cfg:
            return torch.cat([e[-1:] for e in per_frame])
        return torch.cat([e[0:1] for e in per_frame] + [e[1:2] for e in per_frame])
