"""``python -m kino_backend train lora --images DIR --model CHECKPOINT [--prompt TEXT] --steps N
--out FILE.safetensors [--json]`` (docs/cli.md).

Trains a DreamBooth-style LoRA (``kino_backend.training.lora``) and saves it with kohya/A1111 keys.
Progress (step, loss) goes to stderr; with ``--json`` the last stdout line is
``{"loss_first", "loss_last", "steps", "seconds"}``: the mean loss on a fixed evaluation batch before and
after training, the number of steps, and the wall-clock seconds of the whole run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kino train lora", description="Train a LoRA on a folder of images.")
    p.add_argument("--images", required=True, help="folder of training images (character photos/frames or style images); "
                   "an optional <image>.txt beside an image is its caption")
    p.add_argument("--model", required=True, help="base SD 1.x checkpoint: .safetensors file, diffusers folder, "
                   "or a name in the models folder")
    p.add_argument("--prompt", default="a photo of kino_subject", help="instance prompt (default: %(default)s)")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--out", required=True, help="output .safetensors (kohya/A1111 keys)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (last stdout line)")
    p.add_argument("--resolution", type=int, default=512)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=None, help="LoRA alpha (default: the rank)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-text-encoder", action="store_true")
    p.add_argument("--class-prompt", default=None, help="turns prior preservation on, e.g. 'a photo of a person'")
    p.add_argument("--class-images", default=None, help="folder of class images (generated from the base model if absent)")
    p.add_argument("--num-class-images", type=int, default=None, help="class images to use or generate (50)")
    p.add_argument("--class-steps", type=int, default=None, help="denoising steps per generated class image (25)")
    p.add_argument("--prior-weight", type=float, default=1.0)
    p.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu")
    p.add_argument("--models-dir", default=os.environ.get("KINO_MODELS_DIR"), help="models folder for --model names")
    return p


def _lora(argv: List[str]) -> int:
    from ..models.registry import resolve
    from ..training.lora import LoraSettings, train_lora
    a = _parser().parse_args(argv)
    if not a.class_prompt and (a.num_class_images is not None or a.class_steps is not None):
        print("kino train lora: error: --num-class-images and --class-steps belong to prior preservation, which is "
              "on only with --class-prompt (e.g. \"a photo of a person\")", file=sys.stderr)
        return 2
    a.num_class_images = 50 if a.num_class_images is None else a.num_class_images
    a.class_steps = 25 if a.class_steps is None else a.class_steps
    if not a.out.endswith(".safetensors"):
        print("kino train lora: error: --out must end with .safetensors", file=sys.stderr)
        return 2
    settings = LoraSettings(
        images=a.images, model=resolve(a.model, a.models_dir), out=a.out, prompt=a.prompt, steps=a.steps,
        resolution=a.resolution, rank=a.rank, alpha=a.alpha, lr=a.lr, batch=a.batch, seed=a.seed,
        train_text_encoder=a.train_text_encoder, class_prompt=a.class_prompt, class_images=a.class_images,
        num_class_images=a.num_class_images, class_steps=a.class_steps, prior_weight=a.prior_weight, device=a.device)
    every = max(1, a.steps // 20)

    def progress(step, steps_total, loss):
        if step % every == 0 or step == steps_total:
            print(f"step {step}/{steps_total} loss {loss:.5f}", file=sys.stderr, flush=True)

    r = train_lora(settings, progress=progress)
    result = {"loss_first": r["loss_first"], "loss_last": r["loss_last"], "steps": r["steps"], "seconds": r["seconds"]}
    if a.json:
        print(json.dumps(result))
    else:
        print(f"saved {r['out']} ({r['layers']} LoRA layers); evaluation loss {r['loss_first']:.5f} -> "
              f"{r['loss_last']:.5f} in {r['steps']} steps, {r['seconds']:.1f} s")
    return 0


def main(argv: List[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m kino_backend train lora --images DIR --model CHECKPOINT [--prompt TEXT] "
              "--steps N --out FILE.safetensors [--json]  (train lora --help for all options)",
              file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] != "lora":
        print(f"kino train: error: unknown trainer {argv[0]!r}; available: lora", file=sys.stderr)
        return 2
    return _lora(argv[1:])
