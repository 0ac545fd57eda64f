"""docs/adding-a-look.md stays true: its code blocks, dropped into a scratch copy of the backend at the
paths the recipe names, give a look that the real CLI lists and that stylizes frames (checked by pixels)."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(REPO, "docs", "adding-a-look.md")


def _blocks(lang: str) -> list:
    text = open(DOC, encoding="utf-8").read()
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipe")
    shutil.copytree(os.path.join(REPO, "backend"), root / "backend",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(os.path.join(REPO, "kino_addon"), root / "kino_addon",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (code,) = _blocks("python")
    (preset,) = _blocks("json")
    (root / "backend/kino_backend/stages/classic/duotone.py").write_text(code)
    (root / "backend/kino_backend/presets/duotone.json").write_text(preset)
    return root


def _python(root, code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{root / 'backend'}{os.pathsep}{root}"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                          cwd=str(root))


def test_the_recipe_look_is_listed_with_its_parameters(scratch):
    env = {**os.environ, "PYTHONPATH": f"{scratch / 'backend'}{os.pathsep}{scratch}"}
    out = subprocess.run([sys.executable, "-m", "kino_backend", "looks", "--json"], capture_output=True, text=True,
                         env=env, timeout=120, cwd=str(scratch))
    assert out.returncode == 0, out.stderr
    looks = {look["name"]: look for look in json.loads(out.stdout)["looks"]}
    assert "duotone" in looks and "toon" in looks
    names = {p["name"] for p in looks["duotone"]["params"]}
    assert {"duotone.palette", "duotone.contrast"} <= names or {"palette", "contrast"} <= names


def test_the_recipe_look_stylizes_through_the_workflow_runner(scratch):
    code = """
import json, numpy as np
from kino_backend.presets import workflow_for_look
from kino_backend.workflow import Pipeline, validate_workflow
from kino_backend.stages.base import Frame, JobContext
wf = validate_workflow(workflow_for_look("duotone"), known_looks=["duotone"])
out = []
for value in (0, 255):  # one single-frame job each: the temporal stage has nothing to carry
    im = np.full((40, 48, 3), value, np.uint8)
    with Pipeline(wf, JobContext("recipe", 1, 48, 40)) as pipe:
        out += [f.image for f in pipe.run(iter([Frame(1, im, im)]))]
print(json.dumps([o[20, 20].tolist() for o in out]))
"""
    res = _python(scratch, code)
    assert res.returncode == 0, res.stderr
    black, white = json.loads(res.stdout.strip().splitlines()[-1])
    assert np.abs(np.array(black) - [20, 30, 70]).max() <= 1  # the indigo palette's shadows
    assert np.abs(np.array(white) - [250, 235, 200]).max() <= 1  # and its highlights


def test_a_bad_parameter_is_refused_by_name(scratch):
    res = _python(scratch, """
from kino_backend.stages import get_stage
try:
    get_stage("duotone").validate({"palette": "plaid"})
except Exception as exc:
    print(type(exc).__name__, exc)
""")
    assert res.returncode == 0, res.stderr
    assert "palette" in res.stdout and "plaid" in res.stdout
