"""``python -m kino_backend bench keyframes --clip CLIP [--clip CLIP ...] [--json]``: painted-keyframe
propagation against a known answer.

Every frame of an excerpt is "painted" with a fixed deterministic filter (``--filter``: OpenCV's
``stylization``, or one of Kino's classic looks); Kino gets only every ``--every``-th painted frame
(1, 1+K, ...) and makes the frames in between. Those are compared with the painted truth (PSNR, dB,
mean over the in-between frames) next to two baselines measured in the same run: (a) holding the
nearest keyframe, (b) carrying the previous keyframe forward along the composed source flow (one
resampling, no second keyframe). Flicker is the warping error (flow from the source) of the whole
output sequence. Targets: Kino >= (a) + 4 dB, >= (b) + 0.5 dB, and less flicker than (b).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Dict, List

import cv2
import numpy as np

from ..flow import DISFlow, FlowCache
from ..metrics.warp_error import warping_error
from ..propagation import Item, Propagator
from ..propagation.carry import Chain, step_between
from ..stages.temporal.warp import warp
from ._clips import excerpt, mean, psnr
from .footage import add_footage_argument, resolve_clip

FILTERS = ("stylization", "toon", "watercolor", "pencil")


def painter(name: str):
    """The fixed filter that paints the truth (uint8 RGB -> uint8 RGB)."""
    if name == "stylization":
        return lambda img: cv2.stylization(img, sigma_s=60, sigma_r=0.45)
    from ..stages import get_stage

    return get_stage(name).apply


def forward_carry(frames, truth, keys, flows) -> Dict[int, np.ndarray]:
    """Baseline (b): each in-between frame is the previous keyframe moved along the composed flow."""
    out, chain, key = {}, None, None
    for i in range(len(frames)):
        if i in keys:
            key, chain = i, Chain(frames[i].shape)
            continue
        if key is None:
            continue
        flow = chain.add(step_between(flows, frames[i - 1], frames[i]).pull)
        out[i] = np.clip(warp(truth[key], flow, cubic=True) + 0.5, 0, 255).astype(np.uint8)
    return out


def hold_nearest(truth, keys) -> Dict[int, np.ndarray]:
    """Baseline (a): the nearest keyframe as it is (the earlier one on a tie)."""
    ks = sorted(keys)
    return {i: truth[min(ks, key=lambda k: (abs(k - i), k))] for i in range(len(truth)) if i not in keys}


def kino(frames, truth, keys, flows, refine=True):
    prop = Propagator(flows, lambda it: it.number - 1 in keys, lambda it: truth[it.number - 1], refine=refine)
    results = list(prop.run(Item(i + 1, f) for i, f in enumerate(frames)))
    exact = all(np.array_equal(r.image, truth[r.item.number - 1]) for r in results if r.kind == "key")
    return {r.item.number - 1: r.image for r in results}, [r.fill for r in results if r.kind != "key"], exact, prop.cuts


def bench_clip(frames: List[np.ndarray], paint, every: int, refine: bool = True) -> dict:
    t0 = time.perf_counter()
    truth = [paint(f) for f in frames]
    keys = set(range(0, len(frames), every))
    mids = [i for i in range(len(frames)) if i not in keys]
    flows = FlowCache(DISFlow())
    t1 = time.perf_counter()
    ours, fills, exact, cuts = kino(frames, truth, keys, flows, refine)
    t_kino = time.perf_counter() - t1
    held, carried = hold_nearest(truth, keys), forward_carry(frames, truth, keys, flows)
    whole = lambda made: [truth[i] if i in keys else made[i] for i in range(len(frames))]  # noqa: E731
    r = {"frames": len(frames), "keyframes": [k + 1 for k in sorted(keys)], "keyframes_exact": exact,
         "psnr_kino": mean(psnr(ours[i], truth[i]) for i in mids),
         "psnr_hold": mean(psnr(held[i], truth[i]) for i in mids),
         "psnr_forward": mean(psnr(carried[i], truth[i]) for i in mids if i in carried),
         "flicker_kino": warping_error(whole(ours), frames, flow_cache=flows)[0],
         "flicker_forward": warping_error([truth[i] if i in keys else carried.get(i, truth[i])
                                           for i in range(len(frames))], frames, flow_cache=flows)[0],
         "flicker_truth": warping_error(truth, frames, flow_cache=flows)[0],
         "fill_mean": mean(fills), "fill_max": round(max(fills or [0.0]), 4), "cuts": cuts,
         "kino_seconds_per_frame": round(t_kino / max(1, len(mids)), 3),
         "seconds": round(time.perf_counter() - t0, 1)}
    r["gain_over_hold_db"] = round(r["psnr_kino"] - r["psnr_hold"], 2)
    r["gain_over_forward_db"] = round(r["psnr_kino"] - r["psnr_forward"], 2)
    r["meets_targets"] = bool(exact and r["gain_over_hold_db"] >= 4.0 and r["gain_over_forward_db"] >= 0.5
                              and r["flicker_kino"] < r["flicker_forward"])
    return r


def _args(argv):
    p = argparse.ArgumentParser(prog="kino bench keyframes", description=__doc__.splitlines()[0])
    p.add_argument("--clip", action="append", required=True,
                   help="a video file or image folder, or a name in --footage (repeatable)")
    add_footage_argument(p)
    p.add_argument("--frames", type=int, default=49, help="frames per excerpt (default 49: 7 keyframes at K=8)")
    p.add_argument("--start", type=int, default=0, help="first frame (0-based) of the excerpt")
    p.add_argument("--width", type=int, default=0, help="scale to this width first (default 0: as it is)")
    p.add_argument("--every", type=int, default=8, help="keyframe spacing K (default 8)")
    p.add_argument("--filter", choices=FILTERS, default="stylization", help="the fixed 'painting' filter")
    p.add_argument("--no-refine", action="store_true", help="skip the direct refinement against the keyframe")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    return p.parse_args(argv)


def main(argv: List[str]) -> int:
    args = _args(argv)
    if args.every < 2 or args.frames < args.every + 1:
        print("bench keyframes: need --every >= 2 and --frames > --every", file=sys.stderr)
        return 2
    paint, results = painter(args.filter), {}
    for clip in args.clip:
        try:
            path = resolve_clip(clip, args.footage)
        except FileNotFoundError as exc:
            print(f"bench keyframes: {exc}", file=sys.stderr)
            return 2
        frames = excerpt(path, args.start, args.frames, args.width)
        results[clip] = r = bench_clip(frames, paint, args.every, refine=not args.no_refine)
        if not args.json:
            print(f"{os.path.basename(clip)}: kino {r['psnr_kino']:.2f} dB, hold {r['psnr_hold']:.2f} "
                  f"(+{r['gain_over_hold_db']:.2f}), forward {r['psnr_forward']:.2f} (+{r['gain_over_forward_db']:.2f}); "
                  f"flicker kino {r['flicker_kino']:.5f} forward {r['flicker_forward']:.5f} truth "
                  f"{r['flicker_truth']:.5f}; fill {r['fill_mean']:.3f}; {r['kino_seconds_per_frame']} s/frame")
    summary = {"bench": "keyframes", "filter": args.filter, "every": args.every, "clips": results,
               "settings": {"frames": args.frames, "start": args.start, "width": args.width,
                            "refine": not args.no_refine, "flow": "dis"},
               "all_meet_targets": all(r["meets_targets"] for r in results.values())}
    print(json.dumps(summary) if args.json else f"all meet targets: {summary['all_meet_targets']}")
    return 0
