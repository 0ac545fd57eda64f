"""Ray is an optional part of the backend environment: pinned in its own file, installed after the rest
with the rest's pins as constraints (so it cannot move numpy<2 or protobuf, nor pull torch), and a
failure there is only a warning."""
import importlib.metadata
import os
import pathlib

import pytest

from kino_addon.core import backend_install_plan as plan

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_the_cluster_part_is_pinned_and_pulls_no_torch_or_numpy():
    pins = plan.read_pins(str(REPO / "requirements" / plan.REQ_CLUSTER))
    assert pins and all("==" in p for p in pins)
    names = {p.split("==")[0].lower() for p in pins}
    assert "ray" in names and not names & {"torch", "numpy", "protobuf", "ray[default]"}
    try:
        requires = importlib.metadata.requires("ray") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("Ray is not installed here")
    plain = [r for r in requires if "extra ==" not in r]
    assert not [r for r in plain if r.split()[0].lower().startswith(("torch", "numpy"))], plain


def test_setup_env_installs_it_after_the_rest_constrained_and_optional():
    step = plan.cluster_step("VENV/bin/python", code_root=str(REPO), quiet=True)
    argv = list(step.argv)
    assert step.optional and argv[:4] == ["VENV/bin/python", "-m", "pip", "install"]
    assert argv[argv.index("-r") + 1].endswith(os.path.join("requirements", plan.REQ_CLUSTER))
    assert argv[argv.index("-c") + 1].endswith(os.path.join("requirements", plan.REQ_BACKEND))
    text = (REPO / "scripts" / "setup_env.sh").read_text()
    assert "plan cluster-command" in text and "plan cluster-stamp" in text
    assert text.index("setup_backend; setup_backend_cluster;") > 0  # after the rest
    assert len(plan.cluster_stamp()) == 16 and plan.cluster_stamp() == plan.cluster_stamp()
