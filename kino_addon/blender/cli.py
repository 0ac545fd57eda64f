"""``python -m kino_addon.blender.cli <cmd> ...`` (what ``scripts/kino stylize|stabilize|composite``
runs): dispatches to ``kino_addon.blender.commands.<cmd>.main(argv) -> int``. Nothing here imports
bpy: the command loads the add-on as an extension first (``devload``), which starts bpy."""
from __future__ import annotations

import importlib
import sys

COMMANDS = ("stylize", "stabilize", "composite")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(f"usage: scripts/kino {{{'|'.join(COMMANDS)}}} ...  (add --help after a command for its options)")
        return 0 if argv else 2
    cmd = argv[0]
    if cmd not in COMMANDS:
        print(f"kino: unknown command {cmd!r}; Blender-side commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    name = f"{__package__}.commands.{cmd}"
    try:
        module = importlib.import_module(name)
        return int(module.main(argv[1:]) or 0)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        print(f"kino {cmd}: this command is not available in this build", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a Ctrl-C before the command installed its own handling
        print(f"kino {cmd}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
