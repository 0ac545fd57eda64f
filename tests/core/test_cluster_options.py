"""The add-on's pure side of cluster jobs: the output folder's hash ignores where the job runs, and a
job session keeps the worker count and frames/s that a cluster job's progress carries."""
import types

from kino_addon.core.job_session import JobSession, JobSpec
from kino_addon.core.plan import settings_hash


def test_settings_hash_does_not_depend_on_the_cluster():
    wf = {"version": 1, "look": "toon", "stages": []}
    base = settings_hash({"path": "a.mp4"}, wf, {"device": "cpu"}, (1, 10))
    assert settings_hash({"path": "a.mp4"}, wf, {"device": "cpu", "cluster": "127.0.0.1:6379"}, (1, 10)) == base
    assert settings_hash({"path": "a.mp4"}, wf, {"device": "cuda"}, (1, 10)) != base


def test_session_keeps_the_clusters_progress(tmp_path):
    spec = JobSpec(folder=str(tmp_path), count=3, width=4, height=4, workflow={}, options={})
    session = JobSession(None, spec, lambda n: None)
    session._on_progress(types.SimpleNamespace(body={"stage": "toon", "workers": 2, "frames_per_s": 4.5}))
    assert session.cluster == {"workers": 2, "frames_per_s": 4.5} and session.stage == "toon"
    plain = JobSession(None, spec, lambda n: None)
    plain._on_progress(types.SimpleNamespace(body={"stage": "toon"}))
    assert plain.cluster == {}
