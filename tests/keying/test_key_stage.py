import numpy as np
import pytest

from kino_backend.keying.synthetic import make_case
from kino_backend.stages import get_stage
from kino_backend.stages.base import Frame, JobContext, ParamError, StageError
from kino_backend.workflow import Pipeline, validate_workflow


def _frames(case, n):
    return [Frame(index=i + 1, source=case.plate, image=case.plate.copy()) for i in range(n)]


def test_stage_sets_matte_and_despilled_actor():
    case = make_case(96)
    stage = get_stage("key")
    ctx = JobContext("j", 3, 96, 96)
    run = stage.open(stage.validate({}), ctx)
    out = list(run.prepare(iter(_frames(case, 3))))
    assert [f.index for f in out] == [1, 2, 3]
    for f in out:
        assert f.matte.dtype == np.float32 and f.matte.shape == (96, 96)
        assert np.abs(f.matte - case.alpha).mean() < 0.02
        assert f.image.dtype == np.uint8 and f.image.shape == (96, 96, 3)
        assert (f.source == case.plate).all()
        solid = f.matte > 0.99
        g = f.image.astype(int)
        assert (g[..., 1] - np.maximum(g[..., 0], g[..., 2]))[solid].max() <= 1
    prov = ctx.provenance["key"]
    assert prov["key_color_source"] == "auto" and len(prov["key_color"]) == 3
    assert out[0].meta["key_color"] == prov["key_color"]


def test_given_key_colour_and_garbage_matte():
    case = make_case(96)
    stage = get_stage("key")
    ctx = JobContext("j", 1, 96, 96)
    run = stage.open(stage.validate({"key_color": "45,170,65", "garbage_matte": "0,0,48,96"}), ctx)
    (f,) = list(run.prepare(iter(_frames(case, 1))))
    assert f.matte[:, 48:].max() == 0.0 and f.matte[:, :48].max() == 1.0
    assert ctx.provenance["key"]["key_color"] == [45, 170, 65]
    assert ctx.provenance["key"]["key_color_source"] == "given"


def test_bad_params_are_field_errors():
    stage = get_stage("key")
    for params, field in (({"key_color": "green"}, "key_color"), ({"garbage_matte": "1,2"}, "garbage_matte"),
                          ({"clip_black": 0.6, "clip_white": 0.55}, "clip_black")):
        with pytest.raises(ParamError) as info:
            stage.validate(params)
        assert info.value.field == field
    run = stage.open(stage.validate({"garbage_matte": "500,500,10,10"}), JobContext("j", 1, 96, 96))
    with pytest.raises(StageError, match="outside"):
        list(run.prepare(iter(_frames(make_case(96), 1))))


def test_key_then_look_keeps_the_matte_through_the_pipeline():
    case = make_case(64)
    wf = validate_workflow({"version": 1, "look": "none", "stages": [
        {"name": "key", "enabled": True, "params": {}}, {"name": "none", "enabled": True, "params": {}}]})
    ctx = JobContext("j", 2, 64, 64)
    with Pipeline(wf, ctx) as pipe:
        out = list(pipe.run(iter(_frames(case, 2))))
    assert len(out) == 2 and all(f.matte is not None for f in out)
    assert np.abs(out[0].matte - case.alpha).mean() < 0.03
