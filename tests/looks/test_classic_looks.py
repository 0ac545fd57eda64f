"""The classic looks (toon, paint, pencil, watercolor) and the ``none`` pass-through on real footage."""
from __future__ import annotations

import numpy as np
import pytest

from kino_backend.stages import all_stages, get_stage
from kino_backend.stages.base import Frame, JobContext, ParamError
from kino_backend.stages.classic.common import noise, paper

LOOKS = ("toon", "paint", "pencil", "watercolor")


def stylize_clip(name: str, frames: list, **params) -> list:
    """Run a look the way the job runner does: validate, open, stylize each Frame, close."""
    stage = get_stage(name)
    ctx = JobContext(job_id="test", frames_total=len(frames), width=frames[0].shape[1], height=frames[0].shape[0])
    run = stage.open(stage.validate(params), ctx)
    try:
        return [run.stylize(Frame(index=i + 1, source=f, image=f)) for i, f in enumerate(frames)]
    finally:
        run.close()


def affine_residual(src: np.ndarray, out: np.ndarray) -> float:
    """Mean absolute residual (0-255) of the best global affine colour map out ~ M @ src + b.

    A tint, grade, brightness or contrast change is explained by such a map (residual ~0); a real
    look changes pixels differently depending on their neighbourhood, so much remains unexplained.
    """
    x = np.concatenate([src.reshape(-1, 3).astype(np.float64), np.ones((src.shape[0] * src.shape[1], 1))], axis=1)
    y = out.reshape(-1, 3).astype(np.float64)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return float(np.abs(y - x @ coef).mean())


def test_every_look_is_registered_with_role_look():
    stages = all_stages()
    for name in LOOKS + ("none",):
        assert name in stages, f"{name} is not registered"
        assert stages[name].role == "look"
        spec = stages[name].spec()
        assert spec["help"] and spec["label"]
    for name in LOOKS:
        params = stages[name].spec()["params"]
        assert len(params) >= 3
        for p in params:
            assert p["help"], f"{name}.{p['name']} needs a help text"
            assert ("min" in p and "max" in p) or p.get("choices"), f"{name}.{p['name']} needs a range"
            if "min" in p:
                assert p["min"] <= p["default"] <= p["max"]


def test_affine_residual_detects_a_tint(clip):
    tint = np.clip(clip[0].astype(np.float64) * [0.8, 0.9, 0.7] + [30, 10, 40], 0, 255).astype(np.uint8)
    assert np.abs(tint.astype(int) - clip[0]).mean() >= 8  # large change ...
    assert affine_residual(clip[0], tint) < 1.0  # ... but only a tint


@pytest.mark.parametrize("name", LOOKS)
def test_look_on_real_clip(name, clip):
    out = stylize_clip(name, clip)
    assert len(out) == len(clip)
    for src, img in zip(clip, out):
        assert img.shape == src.shape and img.dtype == np.uint8
        mad = float(np.abs(img.astype(np.int16) - src.astype(np.int16)).mean())
        assert mad >= 8.0, f"{name}: mean absolute difference {mad:.2f} is too small for a look"
        residual = affine_residual(src, img)
        assert residual >= 3.0, f"{name}: output is explained by a global colour map (residual {residual:.2f})"
    # The frames differ, so the stylized frames must too (the look follows the picture).
    assert np.abs(out[0].astype(int) - out[-1]).mean() > 2.0
    again = stylize_clip(name, clip)
    for a, b in zip(out, again):
        assert np.array_equal(a, b), f"{name} is not deterministic"


@pytest.mark.parametrize("name", LOOKS)
def test_look_follows_small_exposure_changes_smoothly(name, clip):
    """No per-frame global decision: a +2 exposure step changes the output by a few levels only."""
    src = clip[0]
    brighter = np.clip(src.astype(np.int16) + 2, 0, 255).astype(np.uint8)
    a, b = get_stage(name).apply(src), get_stage(name).apply(brighter)
    change = float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
    assert change < 4.0, f"{name}: a +2 exposure step changed the output by {change:.2f} on average"


@pytest.mark.parametrize("name", LOOKS)
def test_look_does_not_amplify_frame_to_frame_change(name, consecutive):
    """Flicker check on real consecutive frames: textures are fixed, so the stylized frames change
    from one to the next about as much as the footage does (measured ratios 0.5-1.2)."""
    out = stylize_clip(name, consecutive)
    step = lambda seq: np.mean([np.abs(b.astype(np.int16) - a).mean() for a, b in zip(seq, seq[1:])])  # noqa: E731
    ratio = step(out) / step(consecutive)
    assert ratio < 1.6, f"{name} changes {ratio:.2f}x as much as the footage between consecutive frames"


@pytest.mark.parametrize("name", LOOKS)
def test_odd_and_tiny_sizes(name, odd_frame):
    stage = get_stage(name)
    out = stage.apply(odd_frame)
    assert out.shape == (97, 171, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - odd_frame).mean() >= 8.0
    for shape in ((1, 37, 3), (29, 1, 3), (1, 1, 3)):
        strip = np.ascontiguousarray(odd_frame[: shape[0], : shape[1]])
        result = stage.apply(strip)
        assert result.shape == shape and result.dtype == np.uint8
        assert np.array_equal(result, stage.apply(strip))


@pytest.mark.parametrize("name", LOOKS)
def test_non_default_parameters_change_the_picture(name, clip):
    stage = get_stage(name)
    base = stage.apply(clip[1])
    changed = 0
    for spec in stage.params:
        if spec.kind == "enum":
            other = next(c for c in spec.choices if c != spec.default)
        else:
            other = spec.max if spec.default != spec.max else spec.min
        img = stage.apply(clip[1], **{spec.name: other})
        assert img.shape == base.shape
        if np.abs(img.astype(int) - base).mean() > 0.5:
            changed += 1
        else:
            pytest.fail(f"{name}.{spec.name}={other} did not change the picture")
    assert changed == len(stage.params)


@pytest.mark.parametrize("name", LOOKS)
def test_parameter_validation(name):
    stage = get_stage(name)
    defaults = stage.validate({})
    assert set(defaults) == {p.name for p in stage.params}
    for spec in stage.params:
        if spec.kind in ("int", "float"):
            with pytest.raises(ParamError) as err:
                stage.validate({spec.name: spec.max + 1})
            assert err.value.field == spec.name
            with pytest.raises(ParamError):
                stage.validate({spec.name: spec.min - 1})
            with pytest.raises(ParamError):
                stage.validate({spec.name: "lots"})
        elif spec.kind == "enum":
            with pytest.raises(ParamError):
                stage.validate({spec.name: "crayon"})
    with pytest.raises(ParamError) as err:
        stage.validate({"no_such_parameter": 1})
    assert "is not a parameter of stage" in str(err.value) and "its parameters are" in str(err.value)


def test_looks_reject_bad_frames():
    from kino_backend.stages.base import StageError
    with pytest.raises(StageError) as err:
        get_stage("toon").apply(np.zeros((8, 8), np.uint8))
    assert "RGB" in err.value.message
    with pytest.raises(StageError):
        get_stage("pencil").apply(np.zeros((8, 8, 3), np.float32))


def test_pencil_modes_differ_in_colour(clip):
    graphite = get_stage("pencil").apply(clip[0], mode="graphite")
    colour = get_stage("pencil").apply(clip[0], mode="colour")
    sat = lambda im: float((im.max(axis=2).astype(int) - im.min(axis=2)).mean())  # noqa: E731
    assert sat(colour) > sat(graphite) + 3.0


def test_textures_are_fixed_per_size():
    a, b = paper((90, 160)), paper((90, 160))
    assert a is b or np.array_equal(a, b)
    assert abs(float(a.mean())) < 0.1 and 0.9 < float(a.std()) < 1.1
    assert np.array_equal(noise((40, 50), 2.0, salt=3), noise((40, 50), 2.0, salt=3))
    assert not np.array_equal(noise((40, 50), 2.0, salt=3), noise((40, 50), 2.0, salt=4))
    with pytest.raises(ValueError):
        a[0, 0] = 1.0  # shared between frames: read-only


def test_none_is_bit_exact(clip, odd_frame):
    frames = clip + [odd_frame, np.zeros((1, 1, 3), np.uint8)]
    out = stylize_clip("none", frames)
    assert len(out) == len(frames)
    for src, img in zip(frames, out):
        assert img.dtype == np.uint8 and np.array_equal(img, src)
    with pytest.raises(ParamError):
        get_stage("none").validate({"strength": 1})


@pytest.mark.parametrize("look", LOOKS + ("none",))
def test_preset_runs_through_the_workflow_runner(look, consecutive):
    """The built-in preset of each look validates and runs end to end (with the temporal stage)."""
    from kino_backend.presets import builtin_presets
    from kino_backend.workflow import Pipeline, validate_workflow
    presets, problems = builtin_presets()
    assert look in presets, f"preset {look} did not load: {problems}"
    stages = [s["name"] for s in presets[look]["stages"]]
    assert stages == (["none"] if look == "none" else [look, "temporal"])
    missing = [n for n in stages if n not in all_stages()]
    if missing:
        pytest.skip(f"stage(s) {missing} not registered yet")
    frames = [np.ascontiguousarray(f[::2, ::2]) for f in consecutive[:3]]  # 128x128
    ctx = JobContext(job_id="t", frames_total=3, width=128, height=128)
    with Pipeline(validate_workflow(presets[look]), ctx) as pipeline:
        out = list(pipeline.run(iter(Frame(index=i + 1, source=f, image=f) for i, f in enumerate(frames))))
    assert [o.index for o in out] == [1, 2, 3]
    for src, o in zip(frames, out):
        assert o.image.shape == src.shape and o.image.dtype == np.uint8
        if look == "none":
            assert np.array_equal(o.image, src)
        else:
            assert np.abs(o.image.astype(np.int16) - src).mean() >= 8.0


def test_same_pixels_whatever_the_thread_count(odd_frame):
    """Bit-exact results do not depend on how many threads OpenCV uses (machines differ)."""
    import cv2
    before = cv2.getNumThreads()
    try:
        for name in LOOKS:
            cv2.setNumThreads(1)
            one = get_stage(name).apply(odd_frame)
            cv2.setNumThreads(4)
            four = get_stage(name).apply(odd_frame)
            assert np.array_equal(one, four), f"{name} depends on the thread count"
    finally:
        cv2.setNumThreads(before)
