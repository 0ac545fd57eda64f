"""The add-on's side of running on a cluster: the "Cluster address" preference reaches the backend as
the stylize job's ``options.cluster`` (the output folder does not change with it), the job's frames are
sent without waiting, and the panel shows the cluster's worker count and frames/s."""
import types

import blender_ext
import bpy
import pytest

from kino_media import add_image_strip, select_only
from test_panel import FakeLayout


def draw(kino):
    layout = FakeLayout()
    kino.panel.KINO_PT_main.draw(types.SimpleNamespace(layout=layout), bpy.context)
    return layout.log


def test_cluster_address_reaches_the_backend_and_keeps_the_output_folder(scene, kino, backend, media):
    strip = add_image_strip(scene, media / "idx", start=1, channel=1)
    select_only(scene, strip)
    scene.kino.look = "toon"
    prefs = blender_ext.addon_preferences()
    bpy.ops.kino.stylize(frame_first=1, frame_last=3)
    alone = kino.strip_job.QUEUE.finished[-1]
    prefs.cluster_address = " 127.0.0.1:1 "  # nothing listens there
    try:
        with pytest.raises(RuntimeError, match="no Ray cluster answers at 127.0.0.1:1|Ray is not installed"):
            bpy.ops.kino.stylize(frame_first=1, frame_last=6)
    finally:
        prefs.cluster_address = ""
    job = kino.strip_job.QUEUE.finished[-1]
    assert job.session.spec.options.get("cluster") == "127.0.0.1:1"
    assert job.session.max_in_flight >= 6, "a cluster job's frames go out without waiting for results"
    assert job.state == "failed"
    assert ("no Ray cluster answers at 127.0.0.1:1" in job.error or "Ray is not installed" in job.error), job.error
    bpy.ops.kino.stylize(frame_first=1, frame_last=3)
    assert kino.strip_job.QUEUE.finished[-1].folder == alone.folder  # same settings, same folder


def test_panel_shows_the_clusters_workers_and_frames_per_second(scene, kino, backend, media):
    strip = add_image_strip(scene, media / "idx", start=1, channel=1)
    select_only(scene, strip)
    scene.kino.look = "toon"
    bpy.ops.kino.stylize(frame_first=1, frame_last=2)
    last = kino.strip_job.QUEUE.finished[-1]
    last.session.provenance = dict(last.session.provenance or {}, timings={
        "cluster": {"workers": ["kino-worker-0", "kino-worker-1"], "frames_per_s": 3.4, "plan": "spans"}})
    labels = [e[1] for e in draw(kino) if e[0] == "label"]
    assert "Cluster: 2 workers, 3.40 frames/s" in labels
    job = kino.strip_job.StripJob(scene, strip, backend.client, backend.hello, last.session.spec.workflow, {},
                                  alive=backend.connected, max_in_flight=1)
    job.session.cluster = {"workers": 3, "frames_per_s": 1.25}  # what job.progress from a cluster job carries
    kino.strip_job.QUEUE.add([job])
    try:
        labels = [e[1] for e in draw(kino) if e[0] == "label"]
        assert "Cluster: 3 workers, 1.25 frames/s" in labels
    finally:
        kino.strip_job.QUEUE.cancel()
        kino.strip_job.QUEUE.run()
