"""``python -m kino_backend selfcheck [--device cpu|cuda|rocm|mps] [--requirements DIR] [--env DIR] [--json]``:
is this Python a working Kino backend (see ``kino_backend.selfcheck``)? Exit 0 when it is, 1 with the
problems otherwise; ``--json`` prints the whole report as one JSON object on the last line."""
from __future__ import annotations

import argparse
import json
from typing import List

from ..selfcheck import run


def main(argv: List[str]) -> int:
    p = argparse.ArgumentParser(prog="kino selfcheck", description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "rocm", "mps"))
    p.add_argument("--requirements", metavar="DIR", help="check installed versions against these pins")
    p.add_argument("--env", metavar="DIR", help="the environment folder (its disk use is reported)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    report = run(args.device, args.requirements, args.env)
    if args.json:
        print(json.dumps(report, separators=(",", ":")))
    else:
        t = report["torch"]
        print(f"Python {report['python']}, torch {t.get('version', '-')} ({t.get('build', '-')}), "
              f"device {t.get('device') or '-'}, toon frame {'ok' if report['look']['ok'] else 'failed'}")
        for problem in report["problems"]:
            print(f"problem: {problem}")
    return 0 if report["ok"] else 1
