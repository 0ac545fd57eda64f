"""Benchmarks: ``python -m kino_backend bench <name>`` runs ``kino_backend.benchmarks.<name>.main(argv)``.
Each prints numbers measured in the same run as their baseline; ``--json`` prints one JSON object on
the last line of stdout."""


def pick_device(tiny: bool, name: str, needs: str, tiny_what: str):
    """"cpu" for a ``--tiny`` run, "cuda" when there is a GPU, else None after saying on stderr that the
    full-size benchmark ``needs`` one and what ``--tiny`` runs instead."""
    import sys

    import torch
    if tiny:
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    print(f"kino bench {name}: no CUDA GPU here; {needs} needs one. Run with --tiny for the CPU version on "
          f"{tiny_what}.", file=sys.stderr)
    return None
