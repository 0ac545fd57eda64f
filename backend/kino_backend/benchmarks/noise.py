"""``python -m kino_backend bench noise --clip CLIP [--clip CLIP ...] [--json]``: how white the diffusion
look's initial noise stays and how well it follows the footage, ``fixed`` vs ``warped``, per clip.

For each clip (the first ``--frames`` frames, at the look's work size; latent = work size / 8):

- ``std``, ``corr_x``, ``corr_y``: per-frame standard deviation and correlation of horizontally /
  vertically neighbouring noise values (mean over frames; ``*_worst`` the frame farthest from white
  noise). White unit Gaussian noise: std 1, correlations 0 within about 2/sqrt(values per frame).
- ``motion_error``: the noise's warping error along the source flow (``noise.stats``) between frames
  ``--gap`` apart (flow computed directly between them, DIS), over the latent pixels visible in both
  and moving by at least one latent pixel -- where fixed noise cannot follow the picture;
  ``motion_ratio`` = warped / fixed (target <= 0.5; noise moving exactly with the picture gives about
  0.39 under bilinear interpolation, see ``noise.stats``).
- also, for reference: ``motion_ratio_all`` (every visible pixel, same gap), ``motion_ratio_gap1``
  (consecutive frames, every visible pixel: mostly sub-pixel motion, where fixed noise is nearly the
  moved noise, so this one favours fixed noise) and ``motion_ratio_chained`` (as ``motion_ratio``, but
  along the consecutive flows composed over the gap, the flow the noise was moved with: how closely
  the transport follows its flow, without the direct flow's own errors);
- ``by_flow_agreement``: ``motion_ratio`` split by how far the direct and the chained flow disagree at
  each latent pixel (0-0.25, 0.25-0.5, 0.5-1, 1-2, 2+ latent px): the share of pixels, the ratio there
  and its part of the whole (the parts add up to ``motion_ratio``).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import List

import numpy as np


def parse_args(argv: List[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="kino bench noise", description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip", action="append", required=True,
                    help="a video file or image folder, or a name under --footage (repeatable)")
    ap.add_argument("--frames", type=int, default=48, help="frames per clip (from the first)")
    ap.add_argument("--gap", type=int, default=8, help="frames between the compared frames of the motion measure")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resolution", type=int, default=0, help="the look's resolution parameter")
    ap.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    from .footage import add_footage_argument
    add_footage_argument(ap)
    return ap.parse_args(argv)


def _white(seq: list) -> dict:
    from ..noise.stats import white_stats
    stats = [white_stats(n) for n in seq]
    worst = max(stats, key=lambda s: abs(s["std"] - 1) + abs(s["corr_x"]) + abs(s["corr_y"]))
    return {"std": float(np.mean([s["std"] for s in stats])), "corr_x": float(np.mean([s["corr_x"] for s in stats])),
            "corr_y": float(np.mean([s["corr_y"] for s in stats])), "std_worst": worst["std"],
            "corr_worst": max(abs(worst["corr_x"]), abs(worst["corr_y"])),
            "white_tolerance": 2.0 / float(np.sqrt(seq[0].size))}


def chained_pair(frames, flows, a: int, b: int):
    """(flow a -> b, flow b -> a) composed along the consecutive flows (what the noise was moved with)."""
    from functools import reduce

    from ..stages.temporal.warp import compose
    fw = reduce(compose, [flows.flow(frames[i], frames[i + 1]) for i in range(a, b)])
    bw = reduce(compose, [flows.flow(frames[i], frames[i - 1]) for i in range(b, a, -1)])
    return fw, bw


def _motion(frames, seqs: dict, flows, gap: int, min_motion: float) -> dict:
    from ..noise.stats import motion_terms
    tot = {m: [0.0, 0] for m in seqs}
    for t in range(gap, len(frames)):
        fw, bw = flows.pair(frames[t - gap], frames[t])
        for m, seq in seqs.items():
            s, n = motion_terms(seq[t - gap], seq[t], fw, bw, min_motion=min_motion)
            tot[m][0] += s
            tot[m][1] += n
    return {m: (s / n if n else float("nan")) for m, (s, n) in tot.items()} | {"values": tot["fixed"][1]}


AGREEMENT_BINS = (0.0, 0.25, 0.5, 1.0, 2.0, float("inf"))  # latent px between the direct and the chained flow


def gap_measures(frames, seqs: dict, flows, gap: int, min_motion: float = 1.0) -> dict:
    """One pass over the frame pairs ``gap`` apart, over the latent pixels moving by ``min_motion`` or more:
    ``direct`` and ``chained``, each mode's warping error along the direct flow (with ``values``, how
    many values counted) and along the consecutive flows composed over the gap (``_motion``'s form),
    and ``by_flow_agreement``, the direct figure split by how far the two flows disagree at each latent
    pixel: where they agree it says how closely the transport follows the motion, where they do not it
    mostly says which flow is right. Each bin: the disagreement range, its share of the counted pixels,
    the ratio there, and its part of the whole ratio."""
    from ..noise.advect import resize_flow
    from ..noise.stats import motion_error_map, motion_terms
    n = len(AGREEMENT_BINS) - 1
    err, count = {m: np.zeros(n) for m in seqs}, np.zeros(n)
    along_chain = {m: [0.0, 0] for m in seqs}
    for t in range(gap, len(frames)):
        fw, bw = flows.pair(frames[t - gap], frames[t])
        chained, chained_back = chained_pair(frames, flows, t - gap, t)
        c, h, w = seqs["fixed"][t].shape
        apart = np.hypot(*(resize_flow(fw, h, w) - resize_flow(chained, h, w)).transpose(2, 0, 1))
        bins = np.digitize(apart, AGREEMENT_BINS[1:-1])
        for m, seq in seqs.items():
            e, counted = motion_error_map(seq[t - gap], seq[t], fw, bw, min_motion=min_motion)
            err[m] += np.bincount(bins[counted], weights=e[counted], minlength=n)
            if m == "fixed":
                count += np.bincount(bins[counted], minlength=n)
            s, k = motion_terms(seq[t - gap], seq[t], chained, chained_back, min_motion=min_motion)
            along_chain[m][0] += s
            along_chain[m][1] += k
    total = count.sum()
    direct = {m: (float(err[m].sum() / total) if total else float("nan")) for m in seqs}
    direct["values"] = int(total) * seqs["fixed"][0].shape[0]
    total_fixed = err["fixed"].sum()
    split = [{"disagreement_latent_px": [lo, hi if np.isfinite(hi) else None],
              "share": round(float(count[i] / max(total, 1)), 4),
              "motion_ratio": round(float(err["warped"][i] / err["fixed"][i]), 4) if err["fixed"][i] else None,
              "part_of_ratio": round(float(err["warped"][i] / total_fixed), 4) if total_fixed else None}
             for i, (lo, hi) in enumerate(zip(AGREEMENT_BINS[:-1], AGREEMENT_BINS[1:]))]
    chain = {m: (s / k if k else float("nan")) for m, (s, k) in along_chain.items()}
    return {"direct": direct, "chained": chain, "by_flow_agreement": split}


def by_flow_agreement(frames, seqs: dict, flows, gap: int, min_motion: float = 1.0) -> list:
    """``gap_measures``' split of ``motion_ratio`` by how far the direct and the chained flow disagree."""
    return gap_measures(frames, seqs, flows, gap, min_motion)["by_flow_agreement"]


def measure_clip(path: str, a: argparse.Namespace) -> dict:
    from ..flow import DISFlow, FlowCache
    from ..metrics.frames import read_frames
    from ..noise.clip import ClipNoise
    from ..stages.diffusion.engine import work_size
    frames = list(read_frames(path, count=a.frames))
    if len(frames) <= a.gap:
        raise ValueError(f"{path}: {len(frames)} frames, need more than --gap {a.gap}")
    size = work_size(*frames[0].shape[:2], a.resolution)
    lat = (size[0] // 8, size[1] // 8)
    flows = FlowCache(DISFlow(), max_bytes=6 * 2 ** 30)
    seqs, secs, info = {}, {}, {}
    for mode in ("fixed", "warped"):
        t0 = time.perf_counter()
        src = ClipNoise(mode, a.seed, flows=flows)
        seqs[mode] = [src.next(f, lat) for f in frames]
        secs[mode] = (time.perf_counter() - t0) / len(frames)
        info[mode] = src.describe()
    over_gap = gap_measures(frames, seqs, flows, a.gap, 1.0)
    gap_moving, gap_chained = over_gap["direct"], over_gap["chained"]
    gap_all = _motion(frames, seqs, flows, a.gap, 0.0)
    gap1 = _motion(frames, seqs, flows, 1, 0.0)
    out = {"clip": os.path.basename(os.path.normpath(path)), "frames": len(frames), "latent": list(lat),
           "source_size": [frames[0].shape[1], frames[0].shape[0]], "gap": a.gap,
           "moving_values": gap_moving["values"]}
    for mode in seqs:
        out[mode] = dict(_white(seqs[mode]), motion_error=gap_moving[mode], motion_error_all=gap_all[mode],
                         motion_error_gap1=gap1[mode], seconds_per_frame=round(secs[mode], 4))
    out["warped"]["transport"] = info["warped"].get("transport")
    out["warped"]["restarts"] = info["warped"].get("restarts")
    for key, d in (("motion_ratio", gap_moving), ("motion_ratio_all", gap_all), ("motion_ratio_gap1", gap1),
                   ("motion_ratio_chained", gap_chained)):
        out[key] = d["warped"] / d["fixed"] if d["fixed"] else float("nan")
    out["by_flow_agreement"] = over_gap["by_flow_agreement"]
    return out


def _finite(obj):
    """NaN (no pixel qualified) -> None, so the JSON is strict."""
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _span(bounds) -> str:
    lo, hi = bounds
    return f"{lo:g}+ px" if hi is None else f"{lo:g}-{hi:g} px"


def main(argv: List[str]) -> int:
    a = parse_args(argv)
    from .footage import resolve_clip
    results = [measure_clip(resolve_clip(p, a.footage), a) for p in a.clip]
    head = f"{'clip':26s} {'mode':6s} {'std':>6s} {'corr_x':>7s} {'corr_y':>7s} {'motion':>7s}"
    print(f"{head}  ratio (gap {a.gap}, moving; along the chained flow)")
    for r in results:
        for mode in ("fixed", "warped"):
            m = r[mode]
            ratio = f"{r['motion_ratio']:.3f}; {r['motion_ratio_chained']:.3f}" if mode == "warped" else ""
            print(f"{r['clip'][:26]:26s} {mode:6s} {m['std']:6.3f} {m['corr_x']:7.4f} {m['corr_y']:7.4f} "
                  f"{m['motion_error']:7.3f}  {ratio}")
        parts = ", ".join(f"{_span(b['disagreement_latent_px'])}: {b['share']:.0%} of pixels at {b['motion_ratio']:.2f}"
                          for b in r["by_flow_agreement"] if b["share"] > 0 and b["motion_ratio"] is not None)
        print(f"{'':26s} by direct/chained flow disagreement: {parts}")
    if a.json:
        print(json.dumps({"clips": _finite(results), "settings": {"frames": a.frames, "gap": a.gap, "seed": a.seed,
                                                         "resolution": a.resolution, "flow": "OpenCV DIS medium",
                                                         "min_motion_latent_px": 1.0}}))
    return 0
