"""``python -m kino_backend noise CLIP --mode warped|fixed|inverted [--frames A:B] --out DIR [--json]``

Writes the initial noise the diffusion look gives each frame as ``DIR/noise_NNNN.npy`` (float32, shape
(channels, H/8, W/8) at the look's work size, numbered from 1 like stylized frames) and ``DIR/kino.json``
(what made them). ``fixed`` and ``warped`` need no model; ``inverted`` needs ``--model`` (DDIM inversion
of each frame through the checkpoint's scheduler, with ``--prompt``, ``--steps`` and ``--strength`` as
in the look). CLIP is a video file or a folder of images.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import List

import numpy as np

from kino_addon.core.file_stamps import input_digest
from kino_addon.core.kino_command import command_line as command_line_of
from kino_addon.protocol.atomic import atomic_write_json

from .output_dir import OutputDir

NOISE_RE = re.compile(r"^noise_\d{4,}\.npy$")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kino noise", description="Write each frame's initial diffusion noise.")
    p.add_argument("clip", help="a video file or a folder of images")
    p.add_argument("--mode", required=True, choices=("fixed", "warped", "inverted"))
    p.add_argument("--frames", help="START:END, 1-based inclusive")
    p.add_argument("--out", required=True, help="folder for noise_NNNN.npy and kino.json")
    p.add_argument("--seed", type=int, default=0, help="the clip seed (the diffusion look's seed)")
    p.add_argument("--resolution", type=int, default=0, help="the look's resolution parameter (0: source size, "
                   "at most 768 on the long side)")
    p.add_argument("--model", help="checkpoint for --mode inverted")
    p.add_argument("--prompt", default="", help="--mode inverted: the look's prompt")
    p.add_argument("--steps", type=int, default=20, help="--mode inverted: the look's steps")
    p.add_argument("--strength", type=float, default=0.5, help="--mode inverted: the look's strength")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    return p


def _inverter(args, size):
    """frame -> inverted noise, with the checkpoint loaded once."""
    from ..models.loader import load_img2img_pipeline
    from ..noise.inversion import inverted_noise
    from ..stages.diffusion.engine import DiffusionEngine
    if not args.model:
        raise ValueError("--mode inverted needs --model CHECKPOINT")
    loaded = load_img2img_pipeline(os.path.abspath(args.model))
    engine = DiffusionEngine(loaded.pipe, prompt=args.prompt, steps=args.steps, strength=args.strength,
                             guidance=1.0, seed=args.seed)
    strength = engine.effective_strength(None)

    def invert(frame):
        return inverted_noise(engine, engine.to_tensor([frame], size), steps=args.steps, strength=strength,
                              seed=args.seed)[0].numpy()
    from ..models.files import describe
    return invert, {"model": os.path.abspath(args.model), "model_files": describe(args.model), "prompt": args.prompt,
                    "steps": args.steps, "strength": strength, "arch": loaded.arch}


def run(args, argv: List[str]) -> dict:
    from ..commands.metrics import _frame_range
    start, count = _frame_range(args.frames)
    if not os.path.exists(args.clip):
        raise FileNotFoundError(f"{args.clip} does not exist; give a video file or a folder of images")
    with OutputDir(args.out, NOISE_RE, "noise fields") as out:  # lands in args.out only when complete
        return _write_noise(args, argv, start, count, out.staging)


def _write_noise(args, argv: List[str], start: int, count, folder: str) -> dict:
    from ..metrics.frames import read_frames
    from ..noise.clip import ClipNoise
    from ..stages.diffusion.engine import work_size
    t0 = time.perf_counter()
    source = ClipNoise(args.mode if args.mode != "inverted" else "fixed", args.seed)
    invert = extra = size = None
    n = 0
    for frame in read_frames(args.clip, start=start, count=count):
        if size is None:
            native = 1024 if args.mode == "inverted" and _is_xl(args.model) else 768
            size = work_size(*frame.shape[:2], args.resolution, native=native)
            if args.mode == "inverted":
                invert, extra = _inverter(args, size)
        n += 1
        noise = invert(frame) if invert else source.next(frame, (size[0] // 8, size[1] // 8))
        np.save(os.path.join(folder, f"noise_{n:04d}.npy"), np.ascontiguousarray(noise, np.float32))
    if n == 0:
        raise ValueError(f"{args.clip}: no frames in the selected range")
    record = {"kino_noise": 1, "status": "completed", "command": command_line(args),
              "clip": os.path.abspath(args.clip), "clip_identity": {"files_digest": input_digest(args.clip)},
              "frames": {"first": start + 1, "count": n}, "mode": args.mode, "seed": args.seed,
              "work_size": [size[1], size[0]], "noise_shape": [4, size[0] // 8, size[1] // 8],
              "noise": source.describe() if args.mode != "inverted" else dict(extra, mode="inverted"),
              "seconds": round(time.perf_counter() - t0, 2), "versions": _versions()}
    atomic_write_json(os.path.join(folder, "kino.json"), record, indent=2)
    return record


def command_line(args) -> str:
    """The ``scripts/kino noise`` line that writes this folder again (absolute paths: it runs from anywhere)."""
    parts = ["noise", os.path.abspath(args.clip), "--mode", args.mode, "--seed", str(args.seed)]
    parts += ["--frames", args.frames] if args.frames else []
    parts += ["--resolution", str(args.resolution)] if args.resolution else []
    if args.mode == "inverted":
        parts += ["--model", os.path.abspath(args.model), "--prompt", args.prompt, "--steps", str(args.steps),
                  "--strength", repr(args.strength)]
    return command_line_of(parts + ["--out", os.path.abspath(args.out)])


def _is_xl(model) -> bool:
    from ..models.classify import classify
    return bool(model) and os.path.exists(model) and classify(model).get("arch") == "sdxl"


def _versions() -> dict:
    from ..provenance import versions
    return versions()  # Kino's, Python's and the libraries loaded (torch, diffusers ... for inverted)


def main(argv: List[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        record = run(args, argv)
    except (ValueError, FileNotFoundError, OSError, argparse.ArgumentTypeError) as exc:
        print(f"kino noise: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # StageError from the model loader: one line with the fix
        if type(exc).__name__ != "StageError":
            raise
        print(f"kino noise: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    summary = f"kino: wrote {record['frames']['count']} {args.mode} noise fields {record['noise_shape']} to {args.out}"
    print(summary)
    if args.json:
        print(json.dumps(record))
    return 0
