"""Choosing the Blender for scripts/kino's Blender-side commands (kino_addon/core/blender_exec.py):
the option and the environment variable, release names, executables told apart from Pythons, and the
command line and environment each kind is started with."""
import os
import stat
import sys

import pytest

from kino_addon.core import blender_exec as bx


def _script(path, text):
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_the_option_is_taken_out_of_the_command_line_wherever_it_is():
    assert bx.pop_blender_option(["stylize", "in.mp4", "--blender", "/b", "--out", "o"]) == \
        ("/b", ["stylize", "in.mp4", "--out", "o"])
    assert bx.pop_blender_option(["--blender=4.5", "composite", "--out", "o"]) == ("4.5", ["composite", "--out", "o"])
    assert bx.pop_blender_option(["stabilize", "x"]) == (None, ["stabilize", "x"])
    with pytest.raises(bx.BlenderChoiceError, match="needs a value"):
        bx.pop_blender_option(["stylize", "--blender"])


def test_option_beats_environment_beats_default(tmp_path):
    root = tmp_path / "repo"
    for rel, venv in bx.RELEASES.items():
        os.makedirs(root / venv / "bin")
        _script(root / venv / "bin" / "python", "exit 0\n")
    env = {"KINO_BLENDER": "5.2"}
    assert bx.choose(None, {}, str(root)) == bx.Blender("python", str(root / ".venv-blender" / "bin" / "python"))
    assert bx.choose(None, env, str(root)).path == str(root / ".venv-blender-5.2" / "bin" / "python")
    assert bx.choose("4.5", env, str(root)).path == str(root / ".venv-blender-4.5" / "bin" / "python")
    assert bx.choose(str(root / ".venv-blender-5.3"), env, str(root)).path.endswith(".venv-blender-5.3/bin/python")


def test_missing_release_environment_says_how_to_make_it(tmp_path):
    with pytest.raises(bx.BlenderChoiceError, match=r"setup_env.sh blender-5.3"):
        bx.choose("5.3", {}, str(tmp_path))
    with pytest.raises(bx.BlenderChoiceError, match=r"setup_env.sh blender$"):
        bx.choose(None, {}, str(tmp_path))
    with pytest.raises(bx.BlenderChoiceError, match="does not exist"):
        bx.choose(str(tmp_path / "nope"), {}, str(tmp_path))


def test_executables_are_told_apart_by_their_version_line(tmp_path):
    blender = _script(tmp_path / "blender", "echo '00:00.1 color_management | OCIO config'\necho 'Blender 4.5.3 LTS'\n")
    assert bx.classify(blender) == "executable"
    assert bx.classify(_script(tmp_path / "py3", "echo 'Python 3.13.0'\n")) == "python"
    assert bx.classify(sys.executable) == "python"  # named python*: not even asked
    with pytest.raises(bx.BlenderChoiceError, match="neither Blender nor Python"):
        bx.classify(_script(tmp_path / "other", "echo 'GNU bash'\n"))
    (tmp_path / "noexec").write_text("x")
    with pytest.raises(bx.BlenderChoiceError, match="not executable"):
        bx.resolve_path(str(tmp_path / "noexec"))


def test_how_each_kind_is_started(tmp_path):
    exe = bx.Blender("executable", "/opt/blender/blender")
    cmd = exe.command(["stylize", "a.mp4"], "/repo")
    assert cmd == ["/opt/blender/blender", "-b", "--factory-startup", "--python-exit-code", "1", "--python",
                   "/repo/scripts/blender_entry.py", "--", "stylize", "a.mp4"]
    env = exe.environment({"HOME": "/h"}, "/tmp/u", "/repo")
    assert env["BLENDER_USER_RESOURCES"] == "/tmp/u" and "PYTHONPATH" not in env  # the user's config is never used
    py = bx.Blender("python", "/v/bin/python")
    assert py.command(["composite", "--out", "o"], "/repo") == ["/v/bin/python", "-m", "kino_addon.blender.cli",
                                                                "composite", "--out", "o"]
    assert py.environment({"PYTHONPATH": "/x"}, "/tmp/u", "/repo")["PYTHONPATH"] == "/repo" + os.pathsep + "/x"
    folder = tmp_path / "Blender.app" / "Contents" / "MacOS"
    folder.mkdir(parents=True)
    _script(folder / "Blender", "echo 'Blender 5.2.4 LTS'\n")
    assert bx.resolve_path(str(tmp_path / "Blender.app")) == str(folder / "Blender")


def test_run_exits_with_the_commands_status_and_cleans_up(tmp_path):
    log = tmp_path / "log"
    blender = _script(tmp_path / "blender", f'[ "$1" = --version ] && echo "Blender 5.3.0" && exit 0\n'
                                            f'echo "$BLENDER_USER_RESOURCES $*" > {log}\nexit 3\n')
    assert bx.run(["stylize", "x", "--blender", blender], environ={}) == 3
    user_res, *args = log.read_text().split()
    assert args[-3:] == ["--", "stylize", "x"] and not os.path.exists(user_res)


def test_a_killed_launchers_user_folder_is_removed_by_the_next_run(tmp_path, monkeypatch):
    """The launcher removes its private Blender user folder when Blender ends; killed (SIGKILL), it left
    the folder behind for good. Each folder records its owner, so the next run removes the orphans."""
    import subprocess

    from kino_addon.core import tempdirs
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = tempdirs.make(bx.USER_PREFIX)
    (tmp_path / os.path.basename(orphan) / "config").mkdir()
    import json
    owner = os.path.join(orphan, tempdirs.OWNER_FILE)
    with open(owner, "w", encoding="utf-8") as fh:
        json.dump({"pid": dead.pid, "host": __import__("socket").gethostname(), "start": 1}, fh)
    log = tmp_path / "log"
    blender = _script(tmp_path / "blender", f'[ "$1" = --version ] && echo "Blender 5.3.0" && exit 0\n'
                                            f'echo "$BLENDER_USER_RESOURCES" > {log}\nexit 0\n')
    assert bx.run(["stylize", "x", "--blender", blender], environ={}) == 0
    assert not os.path.exists(orphan)
    assert log.read_text().strip().startswith(str(tmp_path / bx.USER_PREFIX))
