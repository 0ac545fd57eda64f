"""``python -m kino_backend looks [--json]``: the looks, their stages and parameters."""
from __future__ import annotations

import argparse
import json
import sys
from typing import List

from kino_addon.protocol.atomic import atomic_write_json
from kino_addon.protocol.catalogue import SNAPSHOT, catalogue_of

from ..presets import catalogue


def write_snapshot(cat: dict, path: str) -> int:
    """The add-on shows these looks before a backend has started (``kino_addon.protocol.catalogue``)."""
    if cat["problems"]:
        print(f"kino looks: not writing {path}: fix these first: {'; '.join(cat['problems'])}", file=sys.stderr)
        return 1
    atomic_write_json(path, catalogue_of(cat), indent=1, sort_keys=True)
    print(f"wrote {path}")
    return 0


def _range(param: dict) -> str:
    if "choices" in param:
        return "|".join(map(str, param["choices"]))
    lo, hi = param.get("min"), param.get("max")
    return f"{lo if lo is not None else ''}..{hi if hi is not None else ''}" if lo is not None or hi is not None else ""


def _table(rows: List[List[str]], indent: str = "    ") -> List[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _print_params(params: List[dict]) -> None:
    if not params:
        print("    (no parameters)")
        return
    rows = [["PARAM", "KIND", "DEFAULT", "RANGE", "HELP"]]
    rows += [[p["name"], p["kind"], json.dumps(p["default"]), _range(p), (p.get("help") or "")[:70]] for p in params]
    print("\n".join(_table(rows)))


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="kino looks", description="List the looks and stages.")
    parser.add_argument("--json", action="store_true", help="one JSON object on the last line of stdout")
    parser.add_argument("--write-snapshot", metavar="PATH", nargs="?", const=SNAPSHOT,
                        help="write the add-on's offline copy of the looks (default: %(const)s)")
    args = parser.parse_args(argv)
    cat = catalogue()
    if args.write_snapshot:
        return write_snapshot(cat, args.write_snapshot)
    if args.json:
        print(json.dumps(cat, separators=(",", ":")))
        return 0
    for look in cat["looks"]:
        print(f"{look['name']}  {look['label']}  [stages: {' -> '.join(look['stages'])}]")
        if look["help"]:
            print(f"    {look['help']}")
        _print_params(look["params"])
        print()
    others = [s for s in cat["stages"] if s["role"] != "look"]
    if others:
        print("Other stages (add them to a workflow, parameters as STAGE.KEY):")
        for stage in others:
            print(f"  {stage['name']} ({stage['role']}): {stage['help']}")
            _print_params(stage["params"])
    for problem in cat["problems"]:
        print(f"warning: {problem}", file=sys.stderr)
    return 0
