"""``python -m kino_backend metrics ...`` (docs/cli.md, docs/metrics.md).

- ``metrics warp-error FRAMES [--flow-from SOURCE] [--frames START:END] [--json]`` ->
  ``{"warp_error": float, "per_frame": [...], "frames": T}``
- ``metrics report DIR [DIR ...] --source SRC --plot OUT.png [--frames START:END] [--json]``

FRAMES, SOURCE and DIR are a folder of images (sorted by name) or a video file. SOURCE is read at
the size of FRAMES.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional, Tuple


def _frame_range(text: Optional[str]) -> Tuple[int, Optional[int]]:
    """``START:END`` (1-based, inclusive) -> (0-based start, count)."""
    if not text:
        return 0, None
    try:
        a, b = text.split(":")
        start, end = int(a), int(b)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--frames wants START:END (1-based, inclusive), got {text!r}") from None
    if start < 1 or end < start:
        raise argparse.ArgumentTypeError(f"--frames {text}: need 1 <= START <= END")
    return start - 1, end - start + 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kino metrics", description="Temporal-consistency metrics (warping error, docs/metrics.md).")
    sub = p.add_subparsers(dest="cmd", required=True)
    we = sub.add_parser("warp-error", help="warping error of a clip")
    we.add_argument("frames", help="stylized frames: a folder of images or a video file")
    we.add_argument("--flow-from", dest="flow_from", help="compute the flow on these source frames (default: FRAMES)")
    we.add_argument("--frames", dest="range", help="START:END, 1-based inclusive, applied to both clips")
    we.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    rp = sub.add_parser("report", help="per-frame warping error of folders and their source, plotted")
    rp.add_argument("dirs", nargs="+", help="folders (or videos) of stylized frames")
    rp.add_argument("--source", required=True, help="the source clip (folder or video)")
    rp.add_argument("--plot", required=True, help="where to write the PNG figure")
    rp.add_argument("--frames", dest="range", help="START:END, 1-based inclusive")
    rp.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    return p


def _warp_error(args) -> int:
    from ..metrics.frames import load_clip
    from ..metrics.warp_error import warping_error

    start, count = _frame_range(args.range)
    out = load_clip(args.frames, start=start, count=count)
    if not out:
        raise ValueError(f"{args.frames}: no frames in the selected range")
    src = None
    if args.flow_from:
        h, w = out[0].shape[:2]
        src = load_clip(args.flow_from, start=start, count=count, size=(w, h))
    err, per_frame = warping_error(out, src)
    result = {"warp_error": err, "per_frame": per_frame, "frames": len(out),
              "flow_from": args.flow_from or args.frames}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"warping error {err:.6f} over {len(out)} frames (flow from {result['flow_from']})")
    return 0


def _report(args) -> int:
    from ..metrics.report import clip_report, plot_report

    start, count = _frame_range(args.range)
    report = clip_report(args.dirs, args.source, start=start, count=count)
    report["plot"] = plot_report(report, args.plot)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"source: {report['source']['warp_error']:.6f}")
        for e in report["outputs"]:
            print(f"{e['path']}: {e['warp_error']:.6f} ({e.get('ratio_to_source', float('nan')):.2f}x source)")
        print(f"plot: {report['plot']}")
    return 0


def main(argv: List[str]) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage error
        return int(exc.code or 0)
    try:
        return _warp_error(args) if args.cmd == "warp-error" else _report(args)
    except (ValueError, FileNotFoundError, OSError, argparse.ArgumentTypeError) as exc:
        print(f"kino metrics: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
