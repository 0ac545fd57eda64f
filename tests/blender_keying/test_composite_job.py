"""The composite runs on the add-on's job machinery (``CompositeJob`` in a ``JobQueue``): cancelled
part-way it keeps the actor layer it has stylized and writes no composite; the same job again resumes
(only the missing frames go to the backend), composites exactly, and removes the layers. Real: Blender
decoding, the backend subprocess, the key stage; the ``none`` look keeps the pixels comparable."""
import os

import blender_ext
import numpy as np
from kino_blender_keying_support import ACTOR, REPO, actor_frame, split_background, write_png

from kino_addon.core.job_workflow import JobChoices, build_workflow
from kino_addon.core.plan import existing_frames
from kino_addon.core.png import read_png

BACKEND_PYTHON = REPO / ".venv-backend" / "bin" / "python"
N = 12


def test_composite_job_cancel_keeps_the_layer_and_the_same_job_resumes(fresh, tmp_path):
    for i in range(N):
        write_png(tmp_path / "actor" / f"a_{i:03d}.png", actor_frame(i))
    write_png(tmp_path / "bg.png", split_background())
    connection = blender_ext.addon_submodule("kino_addon.blender.connection")
    decode = blender_ext.addon_submodule("kino_addon.blender.keying.decode")
    composite = blender_ext.addon_submodule("kino_addon.blender.keying.composite_job")
    prefs = blender_ext.addon_preferences()
    prefs.backend_mode, prefs.python_path = 'LOCAL', str(BACKEND_PYTHON)
    client = connection.BACKEND.ensure()
    try:
        hello = connection.BACKEND.hello
        actor = decode.decode(str(tmp_path / "actor"), str(tmp_path / "work" / "actor"))
        background = decode.decode(str(tmp_path / "bg.png"), str(tmp_path / "work" / "bg"),
                                   size=(actor.width, actor.height), limit=len(actor))
        actor_wf = build_workflow(hello, JobChoices(look="none", params={"key": {"key_color": "auto"}}))
        background_wf = build_workflow(hello, JobChoices(look="none"))
        out = tmp_path / "out"

        def job():
            return composite.CompositeJob(client, hello, actor, background, actor_wf, background_wf, {}, str(out),
                                          "scripts/kino composite ...", alive=connection.BACKEND.connected)

        first = job()
        composite.QUEUE.add([first])
        while first.actor_session.frames_on_disk < 1:
            assert not composite.QUEUE.step(), first.error
        composite.QUEUE.cancel()
        composite.QUEUE.run()
        layer = out / composite.LAYERS / "actor"
        kept = existing_frames(str(layer))
        assert first.state == "cancelled" and first.background_session.state == "new"
        assert 1 <= len(kept) < N and not (out / "kino.json").exists() and not (out / "frame_0001.png").exists()

        again = job()
        composite.QUEUE.add([again])
        composite.QUEUE.run()
        assert again.state == "completed", again.error
        # kept frames are not written again; those after the last checkpoint (one a second at most,
        # docs/resume.md) are computed again only for the keyer's state (``skip``)
        resumed = again.actor_session
        assert resumed.reused == len(kept) and resumed.sent == N - len(kept) + len(resumed.skip)
        assert resumed.skip <= set(kept)
        assert sorted(os.listdir(out)) == [f"frame_{n:04d}.png" for n in range(1, N + 1)] + ["kino.json", "matte"]
        for n in (1, N):
            img = read_png(str(out / f"frame_{n:04d}.png")).astype(int)
            matte = read_png(str(out / "matte" / f"frame_{n:04d}.png"))
            cx = 26 + 2 * (n - 1)
            assert np.abs(img[24, cx] - ACTOR).max() <= 3 and matte[24, cx, 0] == 255
            assert np.abs(img[3, 2] - (220, 30, 30)).max() <= 3 and matte[3, 2, 0] == 0
        assert again.key["key_color_source"] == "auto"
    finally:
        connection.BACKEND.stop()
