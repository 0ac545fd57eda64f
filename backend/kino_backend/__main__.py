"""``python -m kino_backend <command> ...``: see ``kino_backend.commands``."""
import sys

from .commands import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
