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


def test_rounds_alternate_and_a_noisy_round_does_not_decide(monkeypatch, tmp_path):
    calls = []
    inner = fake_run(calls)

    def run_one(clip, out, look, temporal, frames, params, blender):
        r = inner(clip, out, look, temporal, frames, params, blender)
        if len(calls) == 9 and temporal == "on":  # round 2's temporal run: the machine got busy
            r = {**r, "wall_s": r["wall_s"] * 3, "wall_s_per_frame": r["wall_s_per_frame"] * 3}
        return r

    monkeypatch.setattr(pipeline, "run_one", run_one)
    args = pipeline.build_parser().parse_args(["--clip", "c.mp4", "--rounds", "3"])
    report = pipeline.run_bench(args, "c.mp4", str(tmp_path))
    assert [c[0] for c in calls] == ["none", "none", "toon", "toon", "toon"] * 3  # in turn, not 3 x each
    rounds = report["rounds"]
    assert len(rounds) == 3
    assert rounds[1]["ratios"]["with_startup"]["temporal_on_over_off"] > 2.5  # the busy round, on its own
    on_off = report["ratios"]["with_startup"]["temporal_on_over_off"]
    assert abs(on_off - rounds[0]["ratios"]["with_startup"]["temporal_on_over_off"]) < 1e-9  # the medians
    assert abs(on_off - (1.5 + 0.6 * 24) / (1.5 + 0.4 * 24)) < 0.01


def test_rounds_must_be_positive(monkeypatch, tmp_path):
    import pytest
    monkeypatch.setattr(pipeline, "run_one", fake_run([]))
    args = pipeline.build_parser().parse_args(["--clip", "c.mp4", "--rounds", "0"])
    with pytest.raises(ValueError, match="--rounds"):
        pipeline.run_bench(args, "c.mp4", str(tmp_path))


def test_a_run_no_longer_than_the_start_up_has_no_steady_figure():
    runs = {"none": {"frames": 4, "wall_s": 1.4, "wall_s_per_frame": 0.35},
            "look_off": {"frames": 4, "wall_s": 3.0, "wall_s_per_frame": 0.75},
            "look_on": {"frames": 4, "wall_s": 3.4, "wall_s_per_frame": 0.85},
            "look_keyframes": {"frames": 4, "wall_s": 3.2, "wall_s_per_frame": 0.8}}
    r = pipeline.ratios(runs, 1.5)
    assert r["steady"]["s_per_frame"]["none"] is None and r["steady"]["none_over_look_off"] is None
    assert abs(r["steady"]["temporal_on_over_off"] - 1.9 / 1.5) < 0.01
    assert abs(r["with_startup"]["none_over_look_off"] - 0.35 / 0.75) < 0.01
    assert pipeline.median_ratios([r, r, r]) == r
