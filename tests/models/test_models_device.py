"""Device/dtype choice, automatic memory options, and out-of-memory errors that say what to change."""
import pytest
import torch

from kino_backend.models.device import (GiB, choose_memory_options, memory_plan, oom_guard, resolve_device,
                                        resolve_dtype)
from kino_backend.stages.base import StageError


def test_cpu_defaults():
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("fp16", "cpu") == torch.float16
    if not torch.cuda.is_available():
        assert resolve_device("auto") in ("cpu", "mps")
    plan = memory_plan("cpu", 4 * GiB)
    assert not (plan["attention_slicing"] or plan["vae_tiling"] or plan["cpu_offload"])


def test_bad_names_are_clear():
    with pytest.raises(StageError) as err:
        resolve_dtype("fp8", "cpu")
    assert err.value.code == "INVALID_PARAMS" and "bf16" in err.value.message
    with pytest.raises(StageError) as err:
        resolve_device("tpu")
    assert "cuda" in err.value.message


def test_memory_options_follow_free_memory():
    model = int(2.2 * GiB)  # SD 1.5 at fp16 with a ControlNet, roughly
    roomy = choose_memory_options(40 * GiB, model)
    assert roomy == {"attention_slicing": False, "vae_tiling": False, "cpu_offload": False}
    tight = choose_memory_options(3 * GiB, model)
    assert tight["attention_slicing"] and tight["vae_tiling"] and not tight["cpu_offload"]
    short = choose_memory_options(2 * GiB, model)
    assert short["cpu_offload"]


def test_oom_becomes_stage_error():
    with pytest.raises(StageError) as err:
        with oom_guard("running the UNet"):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert err.value.code == "OUT_OF_MEMORY"
    assert "resolution" in err.value.message and "running the UNet" in err.value.message
    with pytest.raises(StageError) as err:
        with oom_guard():
            raise torch.OutOfMemoryError("CUDA out of memory")
    assert err.value.code == "OUT_OF_MEMORY"


def test_other_errors_pass_through():
    with pytest.raises(RuntimeError, match="shape mismatch"):
        with oom_guard():
            raise RuntimeError("shape mismatch")
