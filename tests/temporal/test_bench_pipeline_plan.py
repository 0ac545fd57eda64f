"""bench pipeline's plan: which scripts/kino stylize runs it makes (the measured look's --param go to
that look's runs only, never to the pass-through ones) and the ratios it reports from them. The runs
themselves go through Blender and are timed by hand (docs/performance.md); here they are recorded."""
from kino_backend.benchmarks import pipeline


def fake_run(calls):
    def run_one(clip, out, look, temporal, frames, params, blender):
        calls.append((look, temporal, frames, list(params)))
        cost = {"none": 0.1, "toon": 0.4, "diffusion": 4.0}[look]
        if temporal == "on":
            cost = cost / 8 + 0.8 if any(p.startswith("temporal.keyframe_interval") for p in params) else cost + 0.2
        wall = 1.5 + cost * frames
        return {"frames": frames, "wall_s": wall, "wall_s_per_frame": wall / frames}
    return run_one


def test_look_params_reach_the_look_runs_only(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(pipeline, "run_one", fake_run(calls))
    args = pipeline.build_parser().parse_args(["--clip", "c.mp4", "--look", "diffusion", "--frames", "24",
                                               "--param", "model=/m/sd15", "--param", "steps=3"])
    report = pipeline.run_bench(args, "c.mp4", str(tmp_path))
    assert calls == [("none", "off", 1, []), ("none", "off", 24, []),
                     ("diffusion", "off", 24, ["model=/m/sd15", "steps=3"]),
                     ("diffusion", "on", 24, ["model=/m/sd15", "steps=3"]),
                     ("diffusion", "on", 24, ["model=/m/sd15", "steps=3", "temporal.keyframe_interval=10"])]
    assert report["params"] == ["model=/m/sd15", "steps=3"] and report["look"] == "diffusion"
    steady = report["ratios"]["steady"]
    # per-frame on over keyframes (the start-up run takes 1.6 s, not 1.5: hence the tolerance)
    assert abs(steady["keyframes_speedup"] - 4.2 / (0.5 + 0.8)) < 0.02
    assert abs(steady["none_over_look_off"] - 0.1 / 4.0) < 0.01
    assert abs(steady["temporal_on_over_off"] - 4.2 / 4.0) < 0.01


def test_default_plan_is_toon_without_params(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(pipeline, "run_one", fake_run(calls))
    pipeline.run_bench(pipeline.build_parser().parse_args(["--clip", "c.mp4"]), "c.mp4", str(tmp_path))
    assert [c[0] for c in calls] == ["none", "none", "toon", "toon", "toon"]
    assert calls[-1][3] == ["temporal.keyframe_interval=10"] and calls[2][3] == []
