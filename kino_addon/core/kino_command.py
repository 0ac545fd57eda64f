"""The command line each output's ``kino.json`` records to make it again: Kino's own launcher by its
absolute path (``<checkout>/scripts/kino``), so the line runs from any folder. An add-on installed as
an extension has no launcher beside it; its lines then start with ``scripts/kino``, to be run from a
Kino checkout (docs/cli.md)."""
from __future__ import annotations

import os
import shlex
from typing import Iterable

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # through dev links
LAUNCHER = os.path.join(REPO_ROOT, "scripts", "kino")


def launcher() -> str:
    return LAUNCHER if os.path.isfile(LAUNCHER) else "scripts/kino"


def command_line(parts: Iterable[str]) -> str:
    """``launcher() PARTS...``, each part shell-quoted."""
    return shlex.join([launcher(), *[str(p) for p in parts]])
