"""``python -m kino_backend bench <name> ...`` runs ``kino_backend.benchmarks.<name>.main(argv)``."""
from __future__ import annotations

from typing import List

from .. import benchmarks
from . import available, run_module


def main(argv: List[str]) -> int:
    return run_module(benchmarks.__name__, available(benchmarks.__path__), argv, "bench ")
