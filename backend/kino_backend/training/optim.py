"""One optimizer step with optional mixed-precision loss scaling: shared by LoRA training and its
benchmark, so the benchmark times the same update the trainer runs. Needs only torch (lazily passed in)."""
from __future__ import annotations


def optimizer_step(loss, opt, scaler=None) -> None:
    """Back-propagate ``loss`` and step ``opt`` (through ``scaler`` when fp16 autocast is on)."""
    opt.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()
