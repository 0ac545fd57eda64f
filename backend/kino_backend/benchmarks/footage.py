"""Where a benchmark finds its clips: always the caller's choice, never a folder outside the repository.

``--footage DIR`` (default: ``$KINO_FOOTAGE``) is the folder that relative clip names are looked up in;
a clip given as an existing path is used as it is. A benchmark that needs footage and gets none says
how to pass it.
"""
from __future__ import annotations

import argparse
import os
from typing import Optional


def add_footage_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--footage", default=os.environ.get("KINO_FOOTAGE") or None,
                        help="folder that clip names are looked up in (default: $KINO_FOOTAGE); "
                             "clips given as paths need none")


def resolve_clip(clip: str, footage: Optional[str]) -> str:
    """The path of ``clip``: itself when it exists, else ``footage/clip``; FileNotFoundError saying what to pass."""
    if os.path.exists(clip):
        return clip
    if not footage:
        raise FileNotFoundError(f"clip {clip!r} not found: pass it as a path, or pass --footage DIR "
                                "(or set KINO_FOOTAGE) naming the folder that holds it")
    path = os.path.join(footage, clip)
    if not os.path.exists(path):
        raise FileNotFoundError(f"clip {clip!r} not found in {footage} (--footage)")
    return path
