"""``kino models convert``: pickle weights -> safetensors with torch's restricted loader. Real: torch.save,
the converter, the CLI; the files are small made-up state dicts."""
from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from safetensors.torch import load_file

from kino_backend.commands.models import main as models_main
from kino_backend.models.convert import convert
from kino_backend.stages.base import StageError


def test_checkpoint_wrapper_is_unwrapped_and_bookkeeping_left_out(tmp_path):
    w = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    shared = torch.ones(6)
    src = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"a.weight": w, "b.view": shared[:3], "b.full": shared}, "epoch": 3,
                "global_step": 1200}, src)
    done = convert(str(src))
    out = load_file(done["output"])
    assert set(out) == {"a.weight", "b.view", "b.full"} and torch.equal(out["a.weight"], w)
    assert torch.equal(out["b.view"], torch.ones(3))  # a view of shared storage becomes its own tensor
    assert sorted(done["skipped"]) == ["epoch", "global_step"]
    from kino_addon.protocol.atomic import file_mode
    assert os.stat(done["output"]).st_mode & 0o777 == file_mode()  # not safetensors' own 0600


def test_nested_lists_flatten_with_dots(tmp_path):
    src = tmp_path / "adapter.pt"
    torch.save({"layers": [{"w": torch.zeros(2)}, {"w": torch.ones(2)}], "proj": torch.eye(2)}, src)
    out = load_file(convert(str(src))["output"])
    assert set(out) == {"layers.0.w", "layers.1.w", "proj"} and torch.equal(out["layers.1.w"], torch.ones(2))


class Payload:
    """Unpickling this would run ``os.system`` under a plain ``pickle.load``."""

    def __reduce__(self):
        return (os.system, ("echo owned > /dev/null",))


def test_a_pickle_with_code_is_refused_and_nothing_is_written(tmp_path):
    src = tmp_path / "evil.bin"
    with open(src, "wb") as fh:
        pickle.dump({"w": Payload()}, fh)
    with pytest.raises(StageError, match="will not load it") as err:
        convert(str(src))
    assert err.value.code == "INVALID_PARAMS"
    assert not (tmp_path / "evil.safetensors").exists()


def test_bad_inputs_are_clear(tmp_path):
    with pytest.raises(StageError, match="no such file"):
        convert(str(tmp_path / "missing.bin"))
    st = tmp_path / "x.safetensors"
    st.write_bytes(b"")
    with pytest.raises(StageError, match="needs no conversion"):
        convert(str(st))
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(StageError, match="download it again"):
        convert(str(broken))
    empty = tmp_path / "empty.pt"
    torch.save({"epoch": 1}, empty)
    with pytest.raises(StageError, match="no tensors"):
        convert(str(empty))


def test_command_line_converts_refuses_overwrite_and_forces(tmp_path, capsys):
    src = tmp_path / "ip-adapter-faceid_sd15.bin"
    torch.save({"image_proj": {"proj.0.weight": torch.ones(2, 2)}, "ip_adapter": {"1.to_k_ip.weight": torch.ones(2)}},
               src)
    assert models_main(["convert", str(src), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["converted"][0]
    assert rec["tensors"] == 2 and os.path.isfile(rec["output"])
    assert set(load_file(rec["output"])) == {"image_proj.proj.0.weight", "ip_adapter.1.to_k_ip.weight"}
    assert models_main(["convert", str(src)]) == 1
    assert "--force" in capsys.readouterr().err
    assert models_main(["convert", str(src), "--force", "--out", str(tmp_path / "other.safetensors")]) == 0
    assert (tmp_path / "other.safetensors").is_file()
