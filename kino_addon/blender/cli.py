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

from ..core.interrupt import Interrupt, Interrupted

COMMANDS = {"stylize": "stylize.command", "stabilize": "stabilize.command", "composite": "keying.command"}
INTERRUPTED_EXIT = 130


INTERRUPT = Interrupt()  # Ctrl-C / SIGTERM / SIGHUP: the job loops check INTERRUPT.requested


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
    """Run a command's body; a ``CommandError`` becomes ``kino NAME: reason`` on stderr and its exit code.
    Ctrl-C, SIGTERM and SIGHUP set ``INTERRUPT`` (the job loop stops the job cleanly: one line, no
    traceback); a failed or interrupted run removes the output folder it made when nothing landed in it."""
    INTERRUPT.install()
    try:
        return body()
    except (CommandError, Interrupted) as exc:
        if OutputFolder.current is not None:
            OutputFolder.current.discard_if_empty()
        if isinstance(exc, Interrupted):
            exc = interrupted(0, "")
        print(f"kino {name}: {exc}", file=sys.stderr)
        return exc.code


class OutputFolder:
    """``--out DIR``: made by ``open()`` with a clear message when it cannot be; ``discard_if_empty()``
    after a failure removes what the run made when no result landed in it (the folder itself only when
    this run created it). The one being written is ``OutputFolder.current``."""

    current = None

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.created = False
        OutputFolder.current = self

    def open(self) -> str:
        from ..core.frame_files import OutputFolderError, make_output_folder
        self.created = not os.path.isdir(self.path)
        try:
            make_output_folder(self.path)
        except OutputFolderError as exc:
            raise CommandError(str(exc)) from None
        return self.path

    def discard_if_empty(self, keep=("kino.json",)) -> None:
        try:
            names = os.listdir(self.path)
        except OSError:
            return
        if any(n.endswith(".png") or n == "transforms.json" for n in names):
            return
        for name in names:
            path = os.path.join(self.path, name)
            if os.path.isdir(path) and not os.listdir(path):
                os.rmdir(path)
            elif name in keep and os.path.isfile(path):
                os.remove(path)
        if self.created:
            try:
                os.rmdir(self.path)
            except OSError:
                pass


def interrupted(frames: int, folder: str, resume: str = "run the same command again to resume") -> CommandError:
    """The one line an interrupted run ends with (exit 130)."""
    if frames:
        return CommandError(f"interrupted, {frames} frames kept in {folder}; {resume}", INTERRUPTED_EXIT)
    return CommandError("interrupted before any frame was finished; nothing was written", INTERRUPTED_EXIT)


def check_blend_path(path: str) -> None:
    """``--blend FILE.blend`` can be written: checked before the job, not after it has run (a read-only
    folder gave Blender's own message at the end, a parent that is a file "File exists")."""
    if not path.endswith(".blend"):
        raise CommandError(f"--blend must name a .blend file, got {path}", 2)
    blend = os.path.abspath(path)
    if os.path.isdir(blend):
        raise CommandError(f"--blend {path} is a folder; name the .blend file to write", 2)
    parent = os.path.dirname(blend)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise CommandError(f"--blend {path}: {parent} is a file, not a folder", 2)
    where = blend if os.path.exists(blend) else parent
    if not os.access(where, os.W_OK):
        raise CommandError(f"--blend {path}: {where} cannot be written (permissions or a read-only disk); "
                           "pick another place", 2)


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
    try:
        return int(module.main(argv[1:]) or 0)
    except KeyboardInterrupt:  # a Ctrl-C before the command installed its own handling
        print(f"kino {cmd}: interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT


if __name__ == "__main__":
    sys.exit(main())
