"""Issue 12 item 15 at the schema level: whatever JSON can carry, every parameter of every registered
stage answers a ParamError (INVALID_PARAMS on the wire), never another exception (INTERNAL)."""
import pytest

from kino_backend.stages import all_stages
from kino_backend.stages.base import ParamError, ParamSpec
from kino_backend.workflow import WorkflowError, validate_workflow

ODD = [float("nan"), float("inf"), -float("inf"), 1e30, -1e30, 10**400, 2**64, "1e400", "nan", "inf", "x" * 5000,
       [], {}, [[1]], [{"a": 1}], {"k": [1]}, "a\0b", True, None, 1.5, -1, "", " ", "1,2", "inf,0,0", "nan,1,2,3",
       "9" * 5000, "x:inf", "m:canny:nan", "m:canny:1:0:inf"]


@pytest.mark.parametrize("name", sorted(all_stages()))
def test_odd_values_are_param_errors_for_every_parameter(name):
    stage = all_stages()[name]
    for spec in stage.params:
        for value in ODD:
            try:
                stage.validate({spec.name: value})
            except ParamError as exc:
                assert len(exc.message) < 1000, (spec.name, exc.message[:200])


def test_int_parameters_refuse_non_finite_huge_and_fractional_numbers():
    spec = ParamSpec("n", "int", 1, "a count", min=0)  # no max of its own
    for bad in (float("nan"), float("inf"), 1e30, 10**30, "1e400", 2.5, "2.5", [3], {"n": 3}):
        with pytest.raises(ParamError):
            spec.coerce(bad)
    assert spec.coerce("7") == 7 and spec.coerce(7.0) == 7 and spec.coerce(2**62) == 2**62
    assert ParamSpec("f", "float", 0.0, "x", min=-1, max=1).coerce("0.5") == 0.5


@pytest.mark.parametrize("look", [[], {}, ["toon"], {"toon": 1}, 3, None, "x" * 10_000])
def test_a_look_that_is_not_a_name_is_a_field_error(look):
    with pytest.raises(WorkflowError) as info:
        validate_workflow({"version": 1, "look": look, "stages": [{"name": "toon"}]})
    assert "workflow.look" in info.value.fields and len(str(info.value)) < 2000


def test_a_typo_in_a_stage_parameter_suggests_the_closest_name():
    with pytest.raises(WorkflowError) as info:
        validate_workflow({"version": 1, "look": "toon", "stages": [{"name": "toon", "params": {"edge_thiknes": 3}}]})
    message = info.value.fields["toon.edge_thiknes"]
    assert message.startswith("'edge_thiknes' is not a parameter of stage 'toon': did you mean 'edge_thickness'?")
    assert str(info.value).startswith("toon.edge_thiknes: 'edge_thiknes' is not a parameter")  # no "invalid workflow:"
