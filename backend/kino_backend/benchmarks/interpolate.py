"""``python -m kino_backend bench interpolate --clip CLIP [--clip CLIP ...] [--json]``: in-betweens
against dropped frames.

Every other frame of an excerpt is dropped; ``scripts/kino interpolate``'s method (factor 2) makes
them again from the rest, and they are compared with the real frames (PSNR, dB, mean over the made
frames) next to two baselines on the same flows, in the same run: a plain blend (cross-fade) and a
simple symmetric flow warp (each frame moved by its own flow read at the target pixel, bilinear,
cross-faded). ``psnr_symmetric_cubic``, for reference only, is the same warp sampled bicubically, as
Kino samples (not a target: it says how much of the gain is the sampling kernel).
Frames that repeat their predecessor (PSNR >= 45 dB: frame-rate conversion duplicates, common in web
footage) are removed first, since their "in-between" is the duplicate itself; the count is reported.
Targets: >= blend + 2 dB and >= symmetric warp + 0.3 dB.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import List

from ..interpolation import plain_blend, symmetric_warp
from ..interpolation.sequence import Interpolator
from ._clips import excerpt, mean, psnr
from .footage import add_footage_argument, resolve_clip

DUPLICATE_DB = 45.0


def drop_duplicates(frames) -> tuple:
    keep = [frames[0]]
    for f in frames[1:]:
        if psnr(f, keep[-1]) < DUPLICATE_DB:
            keep.append(f)
    return keep, len(frames) - len(keep)


def bench_clip(frames, curved: bool = True) -> dict:
    t0 = time.perf_counter()
    frames, dropped = drop_duplicates(frames)
    if len(frames) % 2 == 0:
        frames = frames[:-1]  # end on a kept frame
    inputs, truth = frames[0::2], frames[1::2]
    interp = Interpolator(2, curved=curved)
    t1 = time.perf_counter()
    made = list(interp.run(inputs))[1::2]
    seconds = time.perf_counter() - t1
    flows = interp.flows
    blend = [plain_blend(a, b, 0.5) for a, b in zip(inputs[:-1], inputs[1:])]
    pairs = [(a, b, flows.flow(a, b), flows.flow(b, a)) for a, b in zip(inputs[:-1], inputs[1:])]
    sym = [symmetric_warp(a, b, 0.5, f, g) for a, b, f, g in pairs]
    sym_cubic = [symmetric_warp(a, b, 0.5, f, g, cubic=True) for a, b, f, g in pairs]
    r = {"frames_used": len(frames), "duplicates_dropped": dropped, "made": len(made),
         "psnr_kino": mean(psnr(m, t) for m, t in zip(made, truth)),
         "psnr_blend": mean(psnr(m, t) for m, t in zip(blend, truth)),
         "psnr_symmetric": mean(psnr(m, t) for m, t in zip(sym, truth)),
         "psnr_symmetric_cubic": mean(psnr(m, t) for m, t in zip(sym_cubic, truth)),
         "cuts": interp.report.cuts, "kino_seconds_per_frame": round(seconds / max(1, len(made)), 3),
         "seconds": round(time.perf_counter() - t0, 1)}
    r["gain_over_blend_db"] = round(r["psnr_kino"] - r["psnr_blend"], 2)
    r["gain_over_symmetric_db"] = round(r["psnr_kino"] - r["psnr_symmetric"], 2)
    r["meets_targets"] = bool(r["gain_over_blend_db"] >= 2.0 and r["gain_over_symmetric_db"] >= 0.3)
    return r


def _args(argv):
    p = argparse.ArgumentParser(prog="kino bench interpolate", description=__doc__.splitlines()[0])
    p.add_argument("--clip", action="append", required=True,
                   help="a video file or image folder, or a name in --footage (repeatable)")
    add_footage_argument(p)
    p.add_argument("--frames", type=int, default=49, help="frames per excerpt, before duplicates go (default 49)")
    p.add_argument("--start", type=int, default=0, help="first frame (0-based) of the excerpt")
    p.add_argument("--width", type=int, default=0, help="scale to this width first (default 0: as it is)")
    p.add_argument("--straight", action="store_true", help="straight paths only (no acceleration)")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    return p.parse_args(argv)


def main(argv: List[str]) -> int:
    args = _args(argv)
    if args.frames < 3:
        print("bench interpolate: need --frames >= 3", file=sys.stderr)
        return 2
    results = {}
    for clip in args.clip:
        try:
            path = resolve_clip(clip, args.footage)
        except FileNotFoundError as exc:
            print(f"bench interpolate: {exc}", file=sys.stderr)
            return 2
        r = results[clip] = bench_clip(excerpt(path, args.start, args.frames, args.width), curved=not args.straight)
        if not args.json:
            print(f"{os.path.basename(clip)}: kino {r['psnr_kino']:.2f} dB, blend {r['psnr_blend']:.2f} "
                  f"(+{r['gain_over_blend_db']:.2f}), symmetric warp {r['psnr_symmetric']:.2f} "
                  f"(+{r['gain_over_symmetric_db']:.2f}; bicubic {r['psnr_symmetric_cubic']:.2f}); "
                  f"{r['made']} frames made, {r['duplicates_dropped']} "
                  f"duplicates dropped; {r['kino_seconds_per_frame']} s/frame")
    summary = {"bench": "interpolate", "factor": 2, "clips": results,
               "settings": {"frames": args.frames, "start": args.start, "width": args.width,
                            "curved": not args.straight, "flow": "dis"},
               "all_meet_targets": all(r["meets_targets"] for r in results.values())}
    print(json.dumps(summary) if args.json else f"all meet targets: {summary['all_meet_targets']}")
    return 0
