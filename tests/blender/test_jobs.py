"""The UI path (single timer pump), cancel and resume, and backend death mid-job."""
import os
import signal

import bpy
import numpy as np
import pytest

from kino_media import add_image_strip, index_frame, select_only

from kino_addon.blender import compat


def _job(kino, scene, strip, backend, look, out_dir, max_in_flight=1):
    workflow = {"version": 1, "look": look, "stages": [{"name": look, "enabled": True, "params": {}}]}
    return kino.strip_job.StripJob(scene, strip, backend.client, backend.hello, workflow, {}, out_dir=str(out_dir),
                              alive=backend.connected, max_in_flight=max_in_flight)


def test_timer_pump_cancel_keeps_frames_and_rerun_resumes(scene, media, kino, backend, none_look, tmp_path):
    strip = add_image_strip(scene, media / "idx", start=1, channel=1)
    select_only(scene, strip)
    out = tmp_path / "out"
    job = _job(kino, scene, strip, backend, none_look, out)
    kino.strip_job.QUEUE.add([job])
    ticks = 0
    while job.session.frames_on_disk < 3:
        assert kino.job_pump.pump() is not None
        ticks += 1
        assert ticks < 10000
    assert bpy.ops.kino.cancel() == {'FINISHED'}
    while kino.job_pump.pump() is not None:
        pass
    assert job.session.state == "cancelled"
    kept = kino.plan.existing_frames(str(out))
    assert 3 <= len(kept) < 12 and kept == list(range(1, len(kept) + 1))
    assert not job.result_strip and not (out / ".partial").exists()
    bpy.ops.kino.stylize(choices_json='{"look": "%s"}' % none_look, output_dir=str(out))
    again = kino.strip_job.QUEUE.finished[-1]
    assert again.session.state == "completed" and again.session.reused == len(kept)
    for n in range(1, 13):
        assert np.array_equal(kino.png.read_png(str(out / f"frame_{n:04d}.png")), index_frame(n))


def test_backend_death_mid_job_keeps_frames_and_restarts(scene, media, kino, backend, none_look, tmp_path):
    strip = add_image_strip(scene, media / "idx", start=1, channel=1)
    select_only(scene, strip)
    out = tmp_path / "out"
    job = _job(kino, scene, strip, backend, none_look, out)
    kino.strip_job.QUEUE.add([job])
    while job.session.frames_on_disk < 2:
        kino.strip_job.QUEUE.step()
    os.kill(backend.process.pid, signal.SIGKILL)
    kino.strip_job.QUEUE.run()
    assert job.session.state == "failed"
    assert "backend" in job.session.error and "kept" in job.session.error and "resume" in job.session.error
    assert kino.strip_job.QUEUE.last_error.startswith("idx: ")
    kept = kino.plan.existing_frames(str(out))
    assert len(kept) >= 2
    for n in kept:  # every frame on disk is complete and right
        assert np.array_equal(kino.png.read_png(str(out / f"frame_{n:04d}.png")), index_frame(n))
    assert not backend.connected() and backend.status_line() == "stopped unexpectedly"
    backend.ensure()
    assert backend.connected()
    assert backend.notice == "the backend had stopped (exit code -9) and was started again"
    assert bpy.ops.kino.stylize(output_dir=str(out), choices_json='{"look": "%s"}' % none_look) == {'FINISHED'}
    assert kino.strip_job.QUEUE.finished[-1].session.reused == len(kept)


def test_stylize_needs_a_selected_strip(scene, kino):
    with pytest.raises(RuntimeError, match="poll"):
        bpy.ops.kino.stylize()


def test_opening_another_file_cancels_and_keeps_frames(scene, media, kino, backend, none_look, tmp_path):
    import blender_ext
    strip = add_image_strip(scene, media / "idx", start=1, channel=1)
    out = tmp_path / "out"
    job = _job(kino, scene, strip, backend, none_look, out)
    kino.strip_job.QUEUE.add([job])
    while job.session.frames_on_disk < 2:
        kino.strip_job.QUEUE.step()
    blender_ext.reset_scene()  # read_homefile: Kino's load_pre handler cancels the running job
    assert not kino.strip_job.QUEUE.active and job.session.state == "cancelled"
    assert len(kino.plan.existing_frames(str(out))) >= 2
    assert [s.name for s in bpy.data.scenes if s.name.startswith(".kino")] == []
    assert backend.connected()  # the backend stays up for the next file


def _run_until(kino, job, frames):
    kino.strip_job.QUEUE.add([job])
    while job.session.frames_on_disk < frames:
        kino.strip_job.QUEUE.step()


def test_renamed_moved_or_trimmed_mid_job_the_result_follows_the_strip(scene, media, kino, backend, none_look,
                                                                       tmp_path):
    """Renamed mid-job: the job failed with "strip was removed". Moved along the timeline: the result
    landed where the strip had been. Trimmed: nothing said the result kept the old frames."""
    strip = add_image_strip(scene, media / "idx", start=1, channel=1)
    select_only(scene, strip)
    job = _job(kino, scene, strip, backend, none_look, tmp_path / "a")
    _run_until(kino, job, 2)
    strip.name = "hero"
    compat.set_strip_time(strip, "content_start", 21)
    strip.channel = 3
    kino.strip_job.QUEUE.run()
    assert job.state == "completed", job.error
    result = scene.sequence_editor.strips[job.result_strip]
    assert compat.strip_span(result) == (21, 33) and result.channel == 4  # over the strip where it is now
    assert "kino_job" not in strip  # the job's mark is taken off
    job = _job(kino, scene, strip, backend, none_look, tmp_path / "b")
    _run_until(kino, job, 2)
    compat.set_strip_time(strip, "right_handle_offset", 6)
    kino.strip_job.QUEUE.run()
    assert job.state == "completed" and "was trimmed while the job ran" in job.warning
    other = bpy.data.scenes.new("shot 2")
    other.sequence_editor_create()
    second = add_image_strip(other, media / "idx", start=1, channel=1)
    job = _job(kino, other, second, backend, none_look, tmp_path / "c")
    _run_until(kino, job, 2)
    bpy.data.scenes.remove(other)
    kino.strip_job.QUEUE.run()
    assert job.state == "failed" and "the scene 'shot 2' was removed while the job ran" in job.error
    assert "frames are in" in job.error
