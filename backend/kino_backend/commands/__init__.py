"""Backend command line: ``python -m kino_backend <cmd> ...`` runs ``kino_backend.commands.<cmd>.main(argv)``.

A new command is a new module here with ``main(argv: list[str]) -> int``. Exit 0 on success;
otherwise non-zero with a one-line reason on stderr (``KINO_DEBUG=1`` adds the traceback).
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import traceback
from typing import List


# errors whose message is written for the user (a value refused, a diverged training): shown without the
# exception's name; anything else keeps it, as a hint for a bug report
USER_ERRORS = (ValueError, LookupError, FloatingPointError)
HELPERS = ("output_dir", "footage", "keying_real", "keying_temporal")  # modules (here and in benchmarks) that are not commands
KINO_PACKAGES = ("kino", "kino_backend", "kino_addon")  # a module of these missing is a bug, not the environment


def available(package_path=None) -> List[str]:
    return sorted(i.name for i in pkgutil.iter_modules(package_path or __path__)
                  if not i.name.startswith("_") and i.name not in HELPERS)


def run_module(package: str, names: List[str], argv: List[str], what: str) -> int:
    """Import ``package.<argv[0]>`` and run its ``main(argv[1:])`` with one-line error reporting. Asked
    for help: the usage and 0; given nothing: the usage on stderr and 2, as for any missing argument."""
    if not argv or argv[0] in ("-h", "--help", "help"):
        label = f"{what.strip()} names" if what else "commands"
        print(f"usage: python -m kino_backend {what}<name> ...\n{label}: {', '.join(names)}",
              file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name = argv[0]
    if name not in names:
        print(f"kino: unknown {what or 'command '}{name!r}; available: {', '.join(names)}", file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(f"{package}.{name}")
        return int(module.main(list(argv[1:])) or 0)
    except KeyboardInterrupt:
        print(f"kino {what}{name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line for users; the traceback on request
        if os.environ.get("KINO_DEBUG"):
            traceback.print_exc()
        if isinstance(exc, ModuleNotFoundError) and (exc.name or "kino").split(".")[0] not in KINO_PACKAGES:
            print(f"kino {what}{name}: this Python ({sys.executable}) lacks Kino's backend packages ({exc}): use "
                  "Install Backend in the add-on's preferences (or scripts/kino backend install), or run it with "
                  "the python of the environment Install Backend made", file=sys.stderr)
            return 1
        plain = isinstance(exc, USER_ERRORS) and not isinstance(exc, KeyError) and str(exc)
        said = str(exc) if plain else f"{type(exc).__name__}: {exc}"
        print(f"kino {what}{name}: error: {said}", file=sys.stderr)
        return 1


def main(argv: List[str]) -> int:
    return run_module(__name__, available(), argv, "")
