"""Every name ``python -m kino_backend --help`` and ``bench --help`` list runs: helper modules (the footage
finder, the keying bench's parts) were listed as benches and failed with AttributeError."""
import importlib

from kino_backend import benchmarks, commands
from kino_backend.commands import available


def test_every_listed_command_and_bench_has_a_main():
    for package, names in ((commands, available()), (benchmarks, available(benchmarks.__path__))):
        assert names
        for name in names:
            module = importlib.import_module(f"{package.__name__}.{name}")
            assert callable(getattr(module, "main", None)), f"{package.__name__}.{name} is listed but has no main"
