"""Which Blender runs Kino's Blender-side commands, and how it is started (standard library only).

``scripts/kino stylize|stabilize|composite`` run in the Blender named by ``--blender PATH`` or the
environment variable ``KINO_BLENDER`` (the option wins), default the project's ``.venv-blender``:

* a Blender executable (``blender``, ``Blender.app``): driven the way a render farm drives it,
  ``blender -b --factory-startup --python-exit-code 1 --python scripts/blender_entry.py -- CMD ARGS``,
  with ``BLENDER_USER_RESOURCES`` pointed at a throw-away folder (the user's preferences, add-ons and
  extensions are never read or written);
* a Python whose ``import bpy`` works (``bpy`` from PyPI): ``python -m kino_addon.blender.cli CMD ARGS``;
* a release name, ``4.5``, ``5.0``, ``5.2`` or ``5.3``: the project's environment for it
  (``scripts/setup_env.sh blender-4.5`` ...), or a folder holding ``bin/python``.

Run as ``python -m kino_addon.core.blender_exec CMD ARGS [--blender PATH]``: starts the command there
and exits with its exit status.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass

from . import tempdirs

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV_VAR = "KINO_BLENDER"
#: release -> the project environment ``scripts/setup_env.sh`` makes for it
RELEASES = {"4.5": ".venv-blender-4.5", "5.0": ".venv-blender", "5.2": ".venv-blender-5.2",
            "5.3": ".venv-blender-5.3"}
DEFAULT_RELEASE = "5.0"
USER_PREFIX = "kino-blender-user-"  # the private Blender user folder of each run (tempdirs: swept when orphaned)
ENTRY = os.path.join("scripts", "blender_entry.py")


class BlenderChoiceError(Exception):
    """The named Blender cannot be used; the message says what to do."""


@dataclass(frozen=True)
class Blender:
    kind: str  # "executable" or "python"
    path: str

    def command(self, args, repo_root: str = REPO_ROOT) -> list:
        """The command line that runs ``kino_addon.blender.cli`` with ``args`` in this Blender."""
        if self.kind == "executable":
            return [self.path, "-b", "--factory-startup", "--python-exit-code", "1",
                    "--python", os.path.join(repo_root, ENTRY), "--", *args]
        return [self.path, "-m", "kino_addon.blender.cli", *args]

    def environment(self, base: dict, user_resources: str, repo_root: str = REPO_ROOT) -> dict:
        env = dict(base)
        if self.kind == "executable":
            env["BLENDER_USER_RESOURCES"] = user_resources
        else:  # any bpy Python, not only the project's venvs (whose kino_dev.pth already has the root)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (repo_root, base.get("PYTHONPATH", "")) if p)
        return env


def pop_blender_option(argv) -> tuple:
    """(value of ``--blender PATH`` / ``--blender=PATH`` or None, argv without it)."""
    rest, value, i = [], None, 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--blender":
            if i + 1 >= len(argv):
                raise BlenderChoiceError("--blender needs a value: a Blender executable, a Python with bpy, "
                                         f"or a release ({', '.join(RELEASES)})")
            value, i = argv[i + 1], i + 2
            continue
        if arg.startswith("--blender="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return value, rest


def _version_lines(path: str) -> list:
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BlenderChoiceError(f"{path} could not be run ({exc}); give a Blender executable or a Python "
                                 "with bpy") from None
    return [ln.strip() for ln in (proc.stdout + "\n" + proc.stderr).splitlines() if ln.strip()]


def classify(path: str) -> str:
    """"python" or "executable" for an executable file (asks ``--version`` unless its name says)."""
    name = os.path.basename(path).lower()
    if name.startswith("python"):
        return "python"
    lines = _version_lines(path)  # Blender may log a line or two (colour management) before its version
    for line in lines:
        if line.startswith("Blender "):
            return "executable"
        if line.startswith("Python "):
            return "python"
    first = lines[0] if lines else ""
    raise BlenderChoiceError(f"{path} is neither Blender nor Python (its --version says {first!r}); "
                             "give a Blender executable or a Python whose 'import bpy' works")


def resolve_path(value: str, repo_root: str = REPO_ROOT) -> str:
    """A release name, folder or file -> the executable to run."""
    if value in RELEASES:
        python = os.path.join(repo_root, RELEASES[value], "bin", "python")
        if not os.path.isfile(python):
            setup = "blender" if value == DEFAULT_RELEASE else f"blender-{value}"
            raise BlenderChoiceError(f"Blender {value}'s environment is missing: run scripts/setup_env.sh {setup}")
        return python
    path = os.path.abspath(os.path.expanduser(value))
    if os.path.isdir(path):
        for sub in (("bin", "python"), ("Contents", "MacOS", "Blender"), ("blender",)):
            if os.path.isfile(os.path.join(path, *sub)):
                return os.path.join(path, *sub)
        raise BlenderChoiceError(f"{path} is a folder without bin/python or a blender executable")
    if not os.path.isfile(path):
        found = shutil.which(value)
        if found is None:
            raise BlenderChoiceError(f"{value} does not exist; give a Blender executable, a Python with bpy, "
                                     f"or a release ({', '.join(RELEASES)})")
        path = found
    if not os.access(path, os.X_OK):
        raise BlenderChoiceError(f"{path} is not executable")
    return path


def choose(option=None, environ=None, repo_root: str = REPO_ROOT) -> Blender:
    """The Blender to run: ``option`` (``--blender``), else ``$KINO_BLENDER``, else the default release."""
    environ = os.environ if environ is None else environ
    value = option or environ.get(ENV_VAR) or DEFAULT_RELEASE
    path = resolve_path(value, repo_root)
    return Blender(classify(path), path)


def run(argv, environ=None, repo_root: str = REPO_ROOT) -> int:
    option, args = pop_blender_option(list(argv))
    blender = choose(option, environ, repo_root)
    tempdirs.sweep((USER_PREFIX,))  # what a killed launcher left behind
    user_resources = tempdirs.make(USER_PREFIX)
    try:
        env = blender.environment(dict(os.environ if environ is None else environ), user_resources, repo_root)
        return _run_child(blender.command(args, repo_root), env)
    finally:
        shutil.rmtree(user_resources, ignore_errors=True)


def _run_child(cmd, env) -> int:
    """Run Blender and wait for it whatever signal arrives: a terminal's Ctrl-C reaches the whole process
    group, so Blender stops its job itself (its "interrupted, N frames kept" line, kino.json marked); a
    SIGTERM/SIGHUP sent to this process alone is passed on. Returning before Blender is done would give
    the shell back while Blender still writes."""
    child = subprocess.Popen(cmd, env=env)

    def forward(signum, _frame):
        if signum != signal.SIGINT and child.poll() is None:
            child.send_signal(signum)

    handled = [sig for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if sig is not None]
    previous = {sig: signal.signal(sig, forward) for sig in handled}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(argv)
    except BlenderChoiceError as exc:
        cmd = argv[0] if argv else "kino"
        print(f"kino {cmd}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
