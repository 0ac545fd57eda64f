"""``python -m kino_backend character_sheet --photos A.png [B.png ...] --model CKPT --controlnet POSE_CN
[--ip-adapter IPA] [--face-pack PACK [--faceid FACEID]] --out SHEET.png [--json]``: a character sheet (``identity.character_sheet``).

Writes the PNG grid and ``SHEET.json`` (layout, seeds, face similarity per view); with ``--json`` the
last stdout line is that record's summary ``{"sheet", "width", "height", "rows", "columns", "cells"}``.
Use the sheet as the diffusion look's ``reference`` image.
"""
from __future__ import annotations

import argparse
import json
import os
from typing import List


def _parser() -> argparse.ArgumentParser:
    from ..identity.poses import DEFAULT_VIEWS, VIEWS
    p = argparse.ArgumentParser(prog="kino character_sheet", description="Make a character sheet from photos of the actor.")
    p.add_argument("--photos", nargs="+", required=True, help="photos of the actor (PNG/JPEG)")
    p.add_argument("--model", required=True, help="SD 1.x / SDXL checkpoint (file, folder or models-folder name)")
    p.add_argument("--controlnet", required=True, help="OpenPose ControlNet (folder or file)")
    p.add_argument("--ip-adapter", default=None, help="IP-Adapter (folder with models/ or weights file)")
    p.add_argument("--face-pack", default=None, help="insightface pack name or folder (picks the most similar face)")
    p.add_argument("--faceid", default=None, help="IP-Adapter FaceID weights (plain or Plus; needs --face-pack): "
                   "every view keeps the actor's face")
    p.add_argument("--faceid-scale", type=float, default=0.8)
    p.add_argument("--out", required=True, help="the sheet, .png")
    p.add_argument("--views", nargs="+", default=list(DEFAULT_VIEWS), choices=sorted(VIEWS))
    p.add_argument("--cell", type=int, default=512, help="cell size in pixels")
    p.add_argument("--columns", type=int, default=0, help="cells per row (0: one row)")
    p.add_argument("--prompt", default=None)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--candidates", type=int, default=1, help="tries per view (kept: most similar face)")
    p.add_argument("--ip-scale", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--models-dir", default=os.environ.get("KINO_MODELS_DIR"))
    p.add_argument("--json", action="store_true")
    return p


def main(argv: List[str]) -> int:
    from ..identity.character_sheet import SheetSettings, make_character_sheet
    from ..models.registry import resolve
    a = _parser().parse_args(argv)
    md = a.models_dir
    kw = {"prompt": a.prompt} if a.prompt else {}
    s = SheetSettings(photos=a.photos, model=resolve(a.model, md), controlnet=resolve(a.controlnet, md),
                      ip_adapter=resolve(a.ip_adapter, md) if a.ip_adapter else None, face_pack=a.face_pack,
                      faceid=resolve(a.faceid, md) if a.faceid else None, faceid_scale=a.faceid_scale,
                      models_dir=md, out=a.out, views=a.views, cell=a.cell, columns=a.columns, steps=a.steps,
                      candidates=a.candidates, ip_scale=a.ip_scale, seed=a.seed, device=a.device, **kw)
    rec = make_character_sheet(s)
    summary = {k: rec[k] for k in ("sheet", "width", "height", "rows", "columns", "cells")}
    if a.json:
        print(json.dumps(summary))
    else:
        print(f"saved {rec['sheet']} ({rec['columns']}x{rec['rows']} views: "
              f"{', '.join(c['view'] for c in rec['cells'])}); layout in {os.path.splitext(rec['sheet'])[0]}.json")
    return 0
