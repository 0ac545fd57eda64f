"""``scripts/kino backend install|check|remove`` (the add-on's install code from a terminal) and the
add-on's shipped copy of the looks, which must equal what the backend code of the same release says."""
import json
import os
import subprocess
from pathlib import Path

from kino_backend.presets import catalogue

from kino_addon.protocol import catalogue as looks_catalogue

REPO = Path(__file__).resolve().parents[2]
KINO = str(REPO / "scripts" / "kino")


def kino(*args, env=None, timeout=120):
    full = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    full.update(env or {})
    return subprocess.run([KINO, *args], capture_output=True, text=True, timeout=timeout, env=full, cwd=str(REPO))


def test_dry_run_prints_the_plan_without_installing(tmp_path):
    env = tmp_path / "env"
    out = kino("backend", "install", "--device", "cpu", "--env", str(env), "--dry-run")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    notes = [ln for ln in lines if ln.startswith("#")]
    cmds = [ln for ln in lines if not ln.startswith("#")]
    assert notes[0] == "# Device: CPU (as chosen)"
    assert cmds[0].endswith(f"-m venv {env}") and f"{env}/bin/python -m pip install" in cmds[1]
    assert [c.split(" -r ")[1].split()[0].rsplit("/", 1)[1] for c in cmds[1:5]] == [
        "pip.txt", "torch.txt", "backend.txt", "backend-nodeps.txt"]
    assert "selfcheck --json --device cpu" in cmds[-1]
    assert not env.exists()


def test_check_and_remove_of_a_missing_backend_say_so(tmp_path):
    env = tmp_path / "nothing"
    check = kino("backend", "check", "--env", str(env), "--json")
    assert check.returncode == 1
    summary = json.loads(check.stdout.strip().splitlines()[-1])["summary"]
    assert summary["action"] == "INSTALL" and "No backend is installed" in summary["problems"][0]
    gone = kino("backend", "remove", "--env", str(env))
    assert gone.returncode == 1 and "Nothing to remove" in gone.stderr


def test_bad_usage_exits_2():
    out = kino("backend", "install", "--device", "tpu")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_the_shipped_looks_equal_the_backend_code():
    """Regenerate with: scripts/kino looks --write-snapshot (after changing a look or a stage parameter)."""
    cat = catalogue()
    shipped = looks_catalogue.snapshot()
    assert shipped, "kino_addon/protocol/looks_catalogue.json is missing: scripts/kino looks --write-snapshot"
    assert json.loads(json.dumps(looks_catalogue.catalogue_of(cat))) == shipped, \
        "the add-on's copy of the looks is stale: run scripts/kino looks --write-snapshot"
