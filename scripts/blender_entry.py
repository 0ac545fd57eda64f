"""What a Blender executable runs for ``scripts/kino stylize|stabilize|composite`` (see
``kino_addon/core/blender_exec.py``)::

    blender -b --factory-startup --python-exit-code 1 --python scripts/blender_entry.py -- CMD ARGS

Blender ignores PYTHONPATH by default, so the checkout's root goes onto ``sys.path`` here; then the
same dispatcher as ``python -m kino_addon.blender.cli`` runs with the arguments after ``--`` and
Blender exits with the command's exit status.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from kino_addon.blender import cli  # noqa: E402

args = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
sys.stdout.flush()
sys.exit(cli.main(args))
