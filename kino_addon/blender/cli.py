"""``python -m kino_addon.blender.cli <cmd> ...``: what ``scripts/kino stylize|stabilize|composite``
runs, and what those commands share (errors, argument parsing, the output-folder check).

Each command is the ``command`` module of its feature package with ``main(argv) -> int``. Nothing here
imports bpy: a command loads the add-on as an extension first (``devload``), which starts bpy.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import re
import sys
from typing import Callable

COMMANDS = {"stylize": "stylize.command", "stabilize": "stabilize.command", "composite": "keying.command"}


class CommandError(Exception):
    """A one-line reason for a non-zero exit (``code`` 2 for bad usage, 1 otherwise)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class ArgParser(argparse.ArgumentParser):
    """argparse whose usage errors are a ``CommandError`` (exit 2, one line) instead of an exit."""

    def error(self, message):
        raise CommandError(message, code=2)


def run_command(name: str, body: Callable[[], int]) -> int:
    """Run a command's body; a ``CommandError`` becomes ``kino NAME: reason`` on stderr and its exit code."""
    try:
        return body()
    except CommandError as exc:
        print(f"kino {name}: {exc}", file=sys.stderr)
        return exc.code


def verify_out(out: str) -> None:
    """DIR holds exactly frame_NNNN.png and kino.json (anything else only in subfolders)."""
    extra = [n for n in os.listdir(out) if os.path.isfile(os.path.join(out, n))
             and n != "kino.json" and not re.fullmatch(r"frame_\d{4,}\.png", n)]
    if extra:
        raise CommandError(f"{out} holds files that are not stylized frames: {', '.join(sorted(extra)[:5])}; "
                           "use an empty output folder")


@contextlib.contextmanager
def quiet_stdout():
    """Blender prints a "Saved: ..." line per rendered frame on the C level: keep stdout readable."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def operator_error(exc: Exception) -> str:
    """The reason in a RuntimeError that ``bpy.ops`` raised for an operator's error report."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = " ".join(ln.removeprefix("Error: ") for ln in lines if not ln.startswith("Warning"))
    return text or str(exc)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(f"usage: scripts/kino {{{'|'.join(COMMANDS)}}} ...  (add --help after a command for its options)")
        return 0 if argv else 2
    cmd = argv[0]
    if cmd not in COMMANDS:
        print(f"kino: unknown command {cmd!r}; Blender-side commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"{__package__}.{COMMANDS[cmd]}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
