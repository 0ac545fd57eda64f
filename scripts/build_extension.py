"""Validate the extension and build its zip into dist/ with the tool the bpy wheel ships
(``addons_core/bl_pkg/cli/blender_ext.py``, the same code as ``blender --command extension``).

Run with the Blender environment's Python: ``.venv-blender/bin/python scripts/build_extension.py``
(``make extension``). Prints the zip's path on the last line; exits non-zero with the tool's reason.
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blender_ext_tool() -> str:
    """Path of blender_ext.py inside the installed bpy (found without importing bpy: it is heavy)."""
    import importlib.util
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("build_extension: bpy is not installed in this Python; run it with .venv-blender/bin/python")
    pattern = os.path.join(list(spec.submodule_search_locations)[0], "*", "scripts", "addons_core", "bl_pkg",
                           "cli", "blender_ext.py")
    found = sorted(glob.glob(pattern))
    if not found:
        raise SystemExit(f"build_extension: blender_ext.py not found under {pattern}")
    return found[-1]


def run_tool(*args: str) -> str:
    proc = subprocess.run([sys.executable, blender_ext_tool(), *args], capture_output=True, text=True)
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise SystemExit(f"build_extension: blender_ext.py {args[0]} failed (rc {proc.returncode}): {out}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default=ROOT, help="extension source folder (default: the repository)")
    p.add_argument("--out", default=os.path.join(ROOT, "dist"), help="output folder (default: dist/)")
    p.add_argument("--validate-only", action="store_true")
    args = p.parse_args(argv)
    print(run_tool("validate", args.source))
    if args.validate_only:
        return 0
    os.makedirs(args.out, exist_ok=True)
    out = run_tool("build", "--source-dir", args.source, "--output-dir", args.out)
    print(out)
    zips = [line.split('"')[1] for line in out.splitlines() if "created" in line and '"' in line]
    print(os.path.abspath(zips[-1]) if zips else out.splitlines()[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
