"""Benchmarks: ``python -m kino_backend bench <name>`` runs ``kino_backend.benchmarks.<name>.main(argv)``.
Each prints numbers measured in the same run as their baseline; ``--json`` prints one JSON object on
the last line of stdout."""
