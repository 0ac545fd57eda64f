"""The step runner behind Install Backend: progress from pip's real output, steps one after another,
optional steps, failures in the artist's words, cancel, and the never-blocking poll."""
import os
import sys
import time

from kino_addon.core import backend_install as core
from kino_addon.core.backend_install_plan import PlanStep
from kino_addon.core.backend_install_run import PipWatcher, StepRunner, classify_failure, clean_env

# Lines as pip 26.3 printed them during this project's backend install (abridged).
PIP_LINES = """Looking in indexes: https://pypi.org/simple, file:///opt/pypi/simple
Processing /opt/pypi/files/numpy-1.26.4-cp311-cp311-linux_x86_64.whl (from -r /k/requirements/backend.txt (line 3))
Collecting protobuf==4.25.9 (from -r /k/requirements/backend.txt (line 4))
  Downloading protobuf-4.25.9-cp37-abi3-manylinux2014_x86_64.whl (295 kB)
Collecting opencv-contrib-python-headless==4.11.0.86 (from -r /k/requirements/backend.txt (line 5))
  Downloading opencv_contrib_python_headless-4.11.0.86-cp37-abi3-manylinux_2_17_x86_64.whl (56.1 MB)
Progress 0 of 56078660
Progress 29360128 of 56078660
Collecting tokenizers<=0.23.0,>=0.22.0 (from transformers==5.24.0->-r /k/requirements/backend.txt (line 7))
Installing collected packages: flatbuffers, numpy, protobuf, opencv-contrib-python-headless
Successfully installed flatbuffers-25.12.19 numpy-1.26.4 protobuf-4.25.9 opencv-contrib-python-headless-4.11.0.86
""".splitlines()


def py_step(key, code, weight=1.0, **kw):
    return PlanStep(key, f"step {key}", (sys.executable, "-c", code), weight, **kw)


def test_pip_watcher_reads_pips_real_output(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    w = PipWatcher(expected=6, site_packages=str(site))
    seen = []
    for line in PIP_LINES[:-1]:
        w.feed(line)
        seen.append(w.status())
    assert seen[1][0] == "numpy" and abs(seen[1][1] - 0.1) < 1e-9  # 1 of 6 top-level requirements: 0.6 * 1/6
    assert seen[6][0] == "opencv-contrib-python-headless (0%)" and seen[7][0].endswith("(52%)")
    assert w.top == 3 and w.deps == 1
    assert seen[8][1] < seen[9][1] or seen[9][0].startswith("installing")
    installing = seen[9]
    assert installing == ("installing 4 packages (0/4)", 0.7)
    (site / "numpy-1.26.4.dist-info").mkdir()
    (site / "opencv_contrib_python_headless-4.11.0.86.dist-info").mkdir()
    assert w.status()[0] == "installing 4 packages (2/4)" and abs(w.status()[1] - 0.85) < 1e-9  # dist-info count
    w.feed(PIP_LINES[-1])
    assert w.status() == ("", 1.0)


def test_steps_run_in_order_with_progress_and_a_log(tmp_path):
    steps = [py_step("a", "print('Collecting numpy==1.26.4 (from -r r.txt (line 1))')", 1.0, pip=True, expected=1),
             py_step("b", "import time; time.sleep(0.3); print('second')", 3.0)]
    runner = StepRunner(steps, str(tmp_path / "install.log")).start()
    seen = []
    while runner.poll().state == "running":
        seen.append((runner.progress.step, round(runner.progress.fraction, 2)))
        time.sleep(0.02)
    assert runner.progress.state == "done" and runner.progress.fraction == 1.0
    assert [s for s, _ in seen][0] == 1 and seen[-1][0] == 2
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and 0.2 <= max(f for s, f in seen if s == 2) < 1.0
    assert runner.outputs == {"a": ["Collecting numpy==1.26.4 (from -r r.txt (line 1))"], "b": ["second"]}
    log = (tmp_path / "install.log").read_text()
    assert "--- a:" in log and "second" in log and "=== done" in log


def test_a_failing_step_stops_with_the_reason_an_optional_one_warns(tmp_path):
    enospc = ("ERROR: Could not install packages due to an OSError: [Errno 28] No space left on device: "
              "'/home/u/.config/blender/5.0/extensions/.user/user_default/kino/backend-env/lib/python3.11/torch'")
    steps = [py_step("opt", "import sys; print('offline'); sys.exit(1)", optional=True),
             py_step("pip", f"import sys; print({enospc!r}); sys.exit(1)"),
             py_step("never", "print('not run')")]
    progress = StepRunner(steps, str(tmp_path / "log")).start().wait(tick=0.02)
    assert progress.state == "failed" and progress.step == 2
    assert progress.message.startswith("The disk is full") and "Install Backend again" in progress.message
    assert len(progress.warnings) == 1 and "step opt did not work" in progress.warnings[0]


def test_failures_in_the_artists_words():
    step = PlanStep("packages", "Installing diffusers", ("pip",), 1.0)
    net = ("WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError(': Failed to establish "
           "a new connection: [Errno -2] Name or service not known')': /simple/diffusers/\n"
           "ERROR: Could not find a version that satisfies the requirement diffusers==0.42.1\n"
           "ERROR: No matching distribution found for diffusers==0.42.1")
    assert classify_failure(step, net, "L").startswith("No network: Kino could not download")
    missing = "ERROR: No matching distribution found for diffusers==0.42.1"
    assert "diffusers==0.42.1 that Kino needs was not found" in classify_failure(step, missing, "L")
    ssl = "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    assert "certificate" in classify_failure(step, ssl, "L") and "pip config set global.cert" in \
        classify_failure(step, ssl, "L")
    other = classify_failure(step, "Traceback\nERROR: something odd happened\nmore", "/x/install.log")
    assert other == "Installing diffusers failed: ERROR: something odd happened. Full log: /x/install.log"


def test_cancel_stops_the_running_step_and_its_children(tmp_path):
    marker = tmp_path / "child.pid"
    code = ("import subprocess, sys, time, pathlib; "
            "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
            f"pathlib.Path({str(marker)!r}).write_text(str(c.pid)); print('started', flush=True); time.sleep(60)")
    runner = StepRunner([py_step("long", code), py_step("after", "print(1)")], str(tmp_path / "log")).start()
    deadline = time.monotonic() + 30
    while not marker.exists() and time.monotonic() < deadline:
        runner.poll()
        time.sleep(0.05)
    runner.cancel()
    progress = runner.wait(tick=0.02)
    assert progress.state == "cancelled" and "Install Backend again" in progress.message
    child = int(marker.read_text())
    for _ in range(100):  # the step's own child went with it (its process group)
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{child}/stat") as fh:  # a zombie waiting for init counts as gone
            if fh.read().split()[2] == "Z":
                break
        time.sleep(0.05)
    else:
        raise AssertionError("the cancelled step's child process is still running")
    assert "after" not in runner.outputs


def test_poll_never_blocks(tmp_path):
    """Polling returns while the step still runs (it would be "done" had poll waited for it)."""
    flag = tmp_path / "go"
    code = f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.02)\nprint('end')"
    runner = StepRunner([py_step("waits", code)], str(tmp_path / "log")).start()
    for _ in range(20):
        assert runner.poll().state == "running"
    assert runner._proc.poll() is None  # the step is still alive: no poll waited for it
    flag.write_text("")
    assert runner.wait(tick=0.02).state == "done" and runner.outputs["waits"] == ["end"]


def test_clean_env_keeps_blenders_python_out():
    env = clean_env({"PYTHONHOME": "/blender/5.0/python", "PYTHONPATH": "/checkout", "PATH": "/bin",
                     "PIP_INDEX_URL": "https://mirror.studio/simple"})
    assert "PYTHONHOME" not in env and "PYTHONPATH" not in env and env["PYTHONNOUSERSITE"] == "1"
    assert env["PIP_INDEX_URL"] == "https://mirror.studio/simple"  # pip's own configuration applies


def test_summary_names_an_interrupted_install_and_an_update(tmp_path):
    env = tmp_path / "env"
    assert core.summarize(str(env), None)["action"] == "INSTALL"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("")
    report = {"python": "3.11.7", "torch": {"version": "2.13.0+cpu", "build": "cpu", "device": "x86_64"},
              "look": {"ok": True, "seconds": 0.3}, "disk_bytes": 1.9e9, "problems": []}
    interrupted = core.summarize(str(env), report)
    assert interrupted["action"] == "INSTALL" and "did not finish" in interrupted["problems"][0]
    core.write_json(str(env / core.RECORD), {"stamp": "0000", "device": "CPU", "torch_build": "cpu"})
    stale = core.summarize(str(env), report)
    assert stale["action"] == "UPDATE" and "press Update Backend" in stale["problems"][0]
    assert "Disk used: 1.90 GB" in stale["lines"] and stale["lines"][1].startswith("torch 2.13.0+cpu (cpu build)")
    broken = core.summarize(str(env), dict(report, problems=["Missing: diffusers: press Reinstall Backend"]))
    assert broken["action"] == "REPAIR"
    assert core.summarize(str(env), None)["action"] == "REPAIR"  # the env's Python no longer runs


def test_quick_summary_from_files_alone(tmp_path):
    """What the preferences show before any check: Install, Update or nothing to do."""
    env = tmp_path / "env"
    assert core.quick_summary(str(env)) == {"lines": ["No backend installed yet."], "problems": [],
                                            "action": "INSTALL", "ok": False}
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("")
    assert "did not finish" in core.quick_summary(str(env))["problems"][0]
    record = {"stamp": core.plan.stamp(), "device": "CPU", "torch_build": "cpu", "torch": "2.13.0+cpu",
              "installed": "2026-01-02 03:04:05"}
    core.write_json(str(env / core.RECORD), record)
    assert core.quick_summary(str(env)) == {"lines": ["Installed 2026-01-02 03:04:05 for CPU (cpu), torch 2.13.0+cpu"],
                                            "problems": [], "action": "", "ok": True}
    core.write_json(str(env / core.RECORD), dict(record, stamp="0123456789abcdef"))
    assert core.quick_summary(str(env))["action"] == "UPDATE"


def test_remove_refuses_a_folder_kino_did_not_make(tmp_path):
    folder = tmp_path / "precious"
    folder.mkdir()
    (folder / "work.txt").write_text("keep me")
    progress = core.RemoveJob(str(folder)).start(threaded=False).wait()
    assert progress.state == "failed" and "left alone" in progress.message and (folder / "work.txt").exists()
    env = tmp_path / "env"
    (env / "lib").mkdir(parents=True)
    (env / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (env / "lib" / "blob").write_bytes(b"x" * 4096)
    job = core.RemoveJob(str(env)).start(threaded=False)
    assert job.wait().state == "done" and not env.exists() and job.freed >= 4096
