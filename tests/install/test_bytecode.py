"""scripts/setup_env.sh precompiles Kino's own modules for each environment's Python, so a run does not
compile them again where Python writes no bytecode (PYTHONDONTWRITEBYTECODE, as on CI): 0.3-0.4 s of
every scripts/kino run's start (docs/performance.md). Runs in the backend environment the set-up made."""
import importlib.util
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv-backend"
MARK = VENV / ".kino-bytecode"
NEEDS_BACKEND_ENV = pytest.mark.skipif(
    not (VENV / "bin" / "python").exists() or Path(sys.prefix).resolve() != VENV.resolve(),
    reason="runs in the backend environment scripts/setup_env.sh makes (.venv-backend: its Python's bytecode tag)")


def _setup_backend():
    proc = subprocess.run([str(REPO / "scripts" / "setup_env.sh"), "backend"], cwd=REPO, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr


def _pyc_source_mtime(source: Path) -> int:
    """The source modification time a module's bytecode was made from (its header's third word)."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    assert cached.is_file(), f"no bytecode for {source.relative_to(REPO)} ({cached.name})"
    header = cached.read_bytes()[:16]
    assert header[:4] == importlib.util.MAGIC_NUMBER
    flags, mtime = struct.unpack("<II", header[4:12])
    assert flags == 0  # timestamp-based: Python checks it against the source and recompiles when stale
    return mtime


@NEEDS_BACKEND_ENV
def test_setup_precompiles_the_add_on_and_the_backend():
    _setup_backend()
    for source in (REPO / "kino_addon" / "core" / "png.py", REPO / "backend" / "kino_backend" / "server.py",
                   REPO / "kino_addon" / "blender" / "panel.py"):
        assert _pyc_source_mtime(source) == int(source.stat().st_mtime) & 0xFFFFFFFF
    assert MARK.is_file()


@NEEDS_BACKEND_ENV
def test_a_source_newer_than_the_mark_is_compiled_again():
    _setup_backend()
    source = REPO / "kino_addon" / "core" / "png.py"
    cached = Path(importlib.util.cache_from_source(str(source)))
    cached.unlink()
    os.utime(MARK, (1_000_000_000, 1_000_000_000))  # older than every source: the next set-up compiles
    _setup_backend()
    assert _pyc_source_mtime(source) == int(source.stat().st_mtime) & 0xFFFFFFFF
    assert MARK.stat().st_mtime > 1_000_000_000
    cached.unlink()  # nothing newer than the mark now: the set-up leaves the bytecode alone
    _setup_backend()
    assert not cached.exists()
    os.utime(MARK, (1_000_000_000, 1_000_000_000))
    _setup_backend()  # and puts it back for the runs after this test
    assert cached.is_file()
