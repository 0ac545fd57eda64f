"""The keying benchmark's real-detail part: cases with real hair and foliage and a known alpha
(``kino_backend.keying.real_cases``: the alpha comes from the structure of real footage, the plate is
that foreground over a real screen colour with spill, blur and noise). Kino keys each plate (key
colour detected, or given where the crop shows too little screen); Blender's Keying node at defaults
keys the same plate with the same key colour. Also reported: the same cases with 4:2:0 chroma, as
consumer codecs store colour (harder for every colour keyer; no target).
"""
from __future__ import annotations

import os
import time

import numpy as np

from ..keying import alpha_over, detect_key_color, pull_key
from ..keying.metrics import score
from ..keying.real_cases import CASES, available, build

TARGET_DB = 37.5


def _kino(case) -> tuple:
    key = detect_key_color([case.plate]) if case.detect_key else case.key_rgb
    t0 = time.perf_counter()
    res = pull_key(case.plate, key)
    seconds = time.perf_counter() - t0
    return key, score(case, res.matte, alpha_over(res.foreground, case.background, res.matte)), seconds


def _blender(args, work: str, case, key, write, run_blender, read_blender) -> dict:
    plate, bg = os.path.join(work, f"rd_{case.name}_plate.png"), os.path.join(work, f"rd_{case.name}_bg.png")
    out = os.path.join(work, f"rd_{case.name}_blender")
    write(plate, case.plate)
    write(bg, case.background)
    run_blender(args.blender_python, plate, bg, key, out)
    comp, matte, keyed = read_blender(out)
    tree = score(case, matte, comp)
    over = score(case, matte, alpha_over(keyed, case.background, matte))
    return {"blender_tree": tree, "blender_srgb_over": over,
            "blender_best_psnr_db": max(tree["psnr_db"], over["psnr_db"])}


def bench_real_detail(args, work: str, write=None, run_blender=None, read_blender=None) -> dict:
    """Every real-detail case: Kino (and Blender's Keying node unless --skip-blender)."""
    if not args.footage or not available(args.footage):
        return {"skipped": f"the clips the cases are cut from are not all in {args.footage} (pass --footage DIR)"}
    cases, kino_db, blender_db = {}, [], []
    for name in CASES:
        case = build(args.footage, name)
        key, kino, seconds = _kino(case)
        entry = {"source": case.source, "size": list(case.plate.shape[1::-1]), "key_rgb": list(key),
                 "kino": kino, "kino_seconds": round(seconds, 3),
                 "kino_420_psnr_db": _kino(build(args.footage, name, chroma_420=True))[1]["psnr_db"]}
        kino_db.append(kino["psnr_db"])
        if not args.skip_blender and run_blender is not None:
            entry.update(_blender(args, work, case, key, write, run_blender, read_blender))
            entry["psnr_gain_db"] = round(kino["psnr_db"] - entry["blender_best_psnr_db"], 3)
            blender_db.append(entry["blender_best_psnr_db"])
        cases[name] = entry
    out = {"how": "alpha from the structure of real footage (dark detail against a bright smooth "
                  "background: alpha = (B - L) / (B - D) in linear light), foreground colour spread from "
                  "its solid pixels, composited over a real screen colour with uneven light, spill, "
                  "lens blur 0.6 px and noise 1.2 levels; truth = that foreground over a real background "
                  "frame (docs/keying.md)",
           "cases": cases, "kino_min_psnr_db": round(min(kino_db), 3),
           "kino_mean_psnr_db": round(float(np.mean(kino_db)), 3)}
    if blender_db:
        out["blender_mean_psnr_db"] = round(float(np.mean(blender_db)), 3)
    return out


def targets(real_detail: dict) -> dict:
    if "cases" not in real_detail:
        return {}
    return {f"real_detail_{name}_psnr>={TARGET_DB}": bool(entry["kino"]["psnr_db"] >= TARGET_DB)
            for name, entry in real_detail["cases"].items()}
