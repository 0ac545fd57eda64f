"""``python -m kino_backend models make-tiny DIR | list DIR [--json] | fetch-tokenizer | convert FILE``."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import List


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _make_tiny(args) -> int:
    from ..models.tiny import make_tiny
    t0 = time.perf_counter()
    written = make_tiny(args.dir)
    seconds = round(time.perf_counter() - t0, 2)
    if args.json:
        print(json.dumps({"dir": args.dir, "written": written, "seconds": seconds}))
    else:
        for name, path in written.items():
            print(f"{name:24s} {path}")
        print(f"kino: wrote {len(written)} tiny models in {seconds} s")
    return 0


def _list(args) -> int:
    from ..models.registry import scan
    entries = scan(args.dir, hf_cache=not args.no_hf_cache)
    if args.json:
        print(json.dumps({"models": entries}))
        return 0
    if not entries:
        print("no models found")
    for e in entries:
        extra = e.get("control_type") or e.get("note") or e.get("error") or ""
        print(f"{e['kind']:13s} {str(e.get('arch') or '-'):5s} {_human(e['size']):>9s}  {e['name']}  {extra}".rstrip())
    return 0


def _fetch_tokenizer(args) -> int:
    from ..models.tokenizer_fetch import fetch
    return fetch(quiet=args.quiet)


def _convert(args) -> int:
    from ..models.convert import convert
    done = [convert(src, args.out if len(args.files) == 1 else None, overwrite=args.force) for src in args.files]
    if args.json:
        print(json.dumps({"converted": done}))
    else:
        for d in done:
            extra = f" (left out: {', '.join(d['skipped'])})" if d["skipped"] else ""
            print(f"kino: {d['source']} -> {d['output']}: {d['tensors']} tensors, {_human(d['bytes'])}{extra}")
    return 0


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(prog="kino models", description="Kino's local models.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make-tiny", help="write tiny random models in the real formats (offline, seconds)")
    p.add_argument("dir")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_make_tiny)
    p = sub.add_parser("list", help="list the models found in DIR and the Hugging Face cache")
    p.add_argument("dir", nargs="?", default=os.environ.get("KINO_MODELS_DIR") or None,
                   help="the models folder (default: $KINO_MODELS_DIR)")
    p.add_argument("--json", action="store_true", help="one JSON object on the last line of stdout")
    p.add_argument("--no-hf-cache", action="store_true", help="do not look into the Hugging Face cache")
    p.set_defaults(func=_list)
    p = sub.add_parser("fetch-tokenizer", help="install the CLIP tokenizer file for single-file checkpoints "
                       "(downloads the open_clip_torch wheel once; warns when offline)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_fetch_tokenizer)
    p = sub.add_parser("convert", help="convert pickle weights (.bin/.pt/.pth/.ckpt) to .safetensors with "
                       "PyTorch's restricted loader (tensors only, no code runs)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--out", help="output file (one input only; default: FILE with .safetensors)")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_convert)
    args = parser.parse_args(argv)
    if args.func is _convert and args.out and len(args.files) > 1:
        parser.error("--out needs exactly one FILE")
    try:
        return args.func(args)
    except Exception as exc:  # StageError and friends: one line with the fix
        if type(exc).__name__ != "StageError":
            raise
        print(f"kino models: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
