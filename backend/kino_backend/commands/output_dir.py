"""The output folder of a backend command that writes numbered files and then a ``kino.json``
(``interpolate``, ``noise``).

A folder of numbered files without its ``kino.json`` looks like a finished result, and a run that
fails half-way must not cost the results of an earlier run in the same folder. So a run writes into a
staging folder inside the output folder (``.partial-<pid>``) and only when it has finished replaces
the earlier run's files with its own; a run that fails, is interrupted or is killed leaves the
folder as it was (a killed run's staging folder is removed by the next run). Files the command did not
write are never touched: a folder holding any is refused.
"""
from __future__ import annotations

import os
import re
import shutil

from kino_addon.core.frame_files import OutputFolderError, make_output_folder

SIDECAR = "kino.json"
STAGING = ".partial-"


class OutputDir:
    """``with OutputDir(path, pattern, what) as out:`` ... write files whose names match ``pattern`` and
    ``kino.json`` into ``out.staging``; they land in ``out.path`` when the block ends without an error.
    ``what`` names the files in messages ("frames")."""

    def __init__(self, path: str, pattern: "re.Pattern[str]", what: str):
        self.path, self.pattern, self.what = os.path.abspath(path), pattern, what
        self.staging = os.path.join(self.path, f"{STAGING}{os.getpid()}")
        self.created = False

    def _ours(self, name: str) -> bool:
        return bool(self.pattern.match(name)) or name == SIDECAR or name.startswith(STAGING)

    def __enter__(self) -> "OutputDir":
        if os.path.isdir(self.path):
            other = sorted(n for n in os.listdir(self.path) if not self._ours(n))
            if other:
                raise OutputFolderError(f"{self.path} holds files that are not {self.what} of an earlier run "
                                        f"({', '.join(other[:3])}); use an empty folder or a new one")
        else:
            self.created = True
        make_output_folder(self.path)
        for name in os.listdir(self.path):  # a killed run's staging folder
            if name.startswith(STAGING):
                shutil.rmtree(os.path.join(self.path, name), ignore_errors=True)
        os.mkdir(self.staging)
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if exc is None:
            self._publish()
            return
        shutil.rmtree(self.staging, ignore_errors=True)
        if self.created:
            try:
                os.rmdir(self.path)
            except OSError:  # something else appeared in it meanwhile: leave it
                pass

    def _publish(self) -> None:
        """The earlier run's files out, this run's in (the kino.json last)."""
        for name in os.listdir(self.path):
            path = os.path.join(self.path, name)
            if (self.pattern.match(name) or name == SIDECAR) and os.path.isfile(path):
                os.remove(path)
        names = sorted(os.listdir(self.staging), key=lambda n: n == SIDECAR)
        for name in names:
            os.replace(os.path.join(self.staging, name), os.path.join(self.path, name))
        os.rmdir(self.staging)
