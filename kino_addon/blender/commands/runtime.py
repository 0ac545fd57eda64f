"""What every ``scripts/kino`` command that writes a folder shares: one-line errors (``CommandError``),
the output folder (created with a clear message, removed again when a failed run made nothing in it),
and Ctrl-C / SIGTERM handling (``INTERRUPT``: the job stops cleanly, one line, no traceback)."""
from __future__ import annotations

import os

from ...core.files import OutputFolderError, make_output_folder
from ...core.interrupt import Interrupt

INTERRUPTED_EXIT = 130
INTERRUPT = Interrupt()


class CommandError(Exception):
    """A one-line reason for a non-zero exit (``code`` 2 for bad usage, 1 otherwise)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class OutputFolder:
    """``--out DIR``: made on ``open()``; ``discard_if_empty()`` after a failure removes what this run
    made when no result landed in it (the folder itself only when this run created it)."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.created = False

    def open(self) -> str:
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


def interrupted(frames: int, folder: str) -> CommandError:
    if frames:
        text = f"interrupted, {frames} frames kept in {folder}; run the same command again to resume"
    else:
        text = "interrupted before any frame was finished; nothing was written"
    return CommandError(text, INTERRUPTED_EXIT)
