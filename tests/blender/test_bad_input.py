"""Bad input gives a clear report (operator error + the panel's last error) and never a torn frame."""
import os
import shutil

import bpy
import pytest

from kino_media import BACKEND_PYTHON, add_image_strip, select_only, write_sequence


@pytest.fixture
def restore_backend(backend, kino):
    import blender_ext
    prefs = blender_ext.addon_preferences()
    yield prefs
    backend.stop()
    prefs.backend_mode = 'LOCAL'
    bpy.ops.kino.backend_start()


def test_missing_image_files(scene, kino, backend, tmp_path, none_look):
    folder = tmp_path / "seq"
    write_sequence(folder, 3)
    strip = add_image_strip(scene, folder, start=1, channel=1)
    select_only(scene, strip)
    shutil.rmtree(folder)
    with pytest.raises(RuntimeError, match="missing"):
        bpy.ops.kino.stylize()
    assert "missing" in kino.strip_job.QUEUE.last_error


def test_damaged_frame_fails_clearly_and_keeps_good_frames(scene, kino, backend, tmp_path, none_look):
    folder = tmp_path / "seq"
    write_sequence(folder, 5)
    (folder / "frame_0004.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # torn file
    strip = add_image_strip(scene, folder, start=1, channel=1)
    select_only(scene, strip)
    scene.kino.look_name = none_look
    with pytest.raises(RuntimeError, match="frame 4.*cannot be decoded"):
        bpy.ops.kino.stylize()
    job = kino.strip_job.QUEUE.finished[-1]
    assert job.session.state == "failed" and not job.result_strip
    assert 4 not in kino.plan.existing_frames(job.folder)
    for n in kino.plan.existing_frames(job.folder):
        assert kino.png.check_png(os.path.join(job.folder, f"frame_{n:04d}.png"), 64, 48)


def test_attach_to_closed_port(scene, kino, restore_backend):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kino.connection.BACKEND.stop()
    restore_backend.backend_mode, restore_backend.host, restore_backend.port = 'ATTACH', "127.0.0.1", port
    restore_backend.key = "00" * 32
    with pytest.raises(RuntimeError, match="could not connect"):
        bpy.ops.kino.backend_start()
    assert "could not connect" in kino.strip_job.QUEUE.last_error


def test_attach_without_a_key_or_a_port_says_which_is_missing(scene, kino, restore_backend):
    """An empty key was sent as a key (refused: "the backend refused our key"); port 0 gave
    "could not connect ... 127.0.0.1:0"."""
    kino.connection.BACKEND.stop()
    restore_backend.backend_mode, restore_backend.host, restore_backend.port = 'ATTACH', "127.0.0.1", 7878
    restore_backend.key = ""
    with pytest.raises(RuntimeError, match="no attach key is set"):
        bpy.ops.kino.backend_start()
    restore_backend.key, restore_backend.port = "00" * 32, 0
    with pytest.raises(RuntimeError, match="the attach port is 0: set the port"):
        bpy.ops.kino.backend_start()


def test_attach_wrong_key_then_right_key_stylizes(scene, kino, media, restore_backend, tmp_path, none_look):
    from kino_addon.protocol.launcher import start_backend
    kino.connection.BACKEND.stop()
    proc = start_backend(str(BACKEND_PYTHON), run_dir=str(tmp_path / "run"), code_root=str(kino_root()))
    try:
        restore_backend.backend_mode, restore_backend.host, restore_backend.port = 'ATTACH', proc.host, proc.port
        restore_backend.key = "ab" * 32
        with pytest.raises(RuntimeError, match="refused our key"):
            bpy.ops.kino.backend_start()
        restore_backend.key = proc.authkey.hex()
        assert bpy.ops.kino.backend_start() == {'FINISHED'}
        assert "attached" in kino.connection.BACKEND.status_line()
        strip = add_image_strip(scene, media / "idx", start=1, channel=1)
        select_only(scene, strip)
        scene.kino.look_name = none_look
        assert bpy.ops.kino.stylize(frame_first=1, frame_last=2) == {'FINISHED'}
        assert kino.strip_job.QUEUE.finished[-1].session.state == "completed"
        kino.connection.BACKEND.stop()
        assert proc.alive()  # an attached backend is not ours to stop
    finally:
        proc.stop()


def test_wrong_protocol_version_is_refused(scene, kino, restore_backend, monkeypatch):
    kino.connection.BACKEND.stop()
    monkeypatch.setattr(kino.connection, "PROTOCOL_VERSION", (2, 0))
    with pytest.raises(RuntimeError, match=r"speaks protocol \[1, 0\], this add-on \[2, 0\]"):
        bpy.ops.kino.backend_start()
    assert not kino.connection.BACKEND.connected() and kino.connection.BACKEND.process is None


def test_missing_backend_python(scene, kino, restore_backend):
    kino.connection.BACKEND.stop()
    restore_backend.python_path = "/nonexistent/python"
    try:
        with pytest.raises(RuntimeError, match="does not exist.*Backend Python"):
            bpy.ops.kino.backend_start()
        # the environment's folder picked instead of its python ("does not exist", it said): its python runs
        restore_backend.python_path = str(BACKEND_PYTHON.parent.parent)
        assert bpy.ops.kino.backend_start() == {'FINISHED'} and kino.connection.BACKEND.connected()
        kino.connection.BACKEND.stop()
        restore_backend.python_path = str(BACKEND_PYTHON.parent.parent / "lib")
        with pytest.raises(RuntimeError, match="is a folder without a python in it"):
            bpy.ops.kino.backend_start()
    finally:
        restore_backend.python_path = str(BACKEND_PYTHON)


def kino_root():
    import blender_ext
    return blender_ext.REPO_ROOT


def test_a_backend_that_stopped_answering_is_shown_so_and_started_again(scene, kino, restore_backend):
    """After a request timed out (a stuck backend), the panel said "running" and the next job used the
    same stuck process. Now the status says "not answering", and the next use starts a fresh one."""
    import signal

    import blender_ext
    errors = blender_ext.addon_submodule("kino_addon.protocol.errors")
    backend = kino.connection.BACKEND
    client = backend.ensure()
    old = backend.process.pid
    os.kill(old, signal.SIGSTOP)  # stuck: alive, never answering
    try:
        with pytest.raises(errors.BackendError, match="no answer to backend.status within 0.5 s"):
            client.request("backend.status", {}, timeout=0.5)
        assert backend.status_line().startswith("not answering (") and "press Stop Backend" in backend.status_line()
        backend.ensure()
        assert backend.process.pid != old and backend.status_line().startswith("running (")
        assert backend.notice == "the backend was not answering and was started again"
    finally:
        try:
            os.kill(old, signal.SIGCONT)
            os.kill(old, signal.SIGKILL)
        except ProcessLookupError:
            pass
