"""models.list: the registry over the wire, for the panel's model choices (real backend subprocess)."""
import numpy as np
import pytest
from safetensors.numpy import save_file

from kino_addon.protocol.errors import BackendError

pytestmark = pytest.mark.timeout(120)


def _kohya_lora(path):
    key = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"
    save_file({f"{key}.lora_down.weight": np.zeros((4, 768), np.float32),
               f"{key}.lora_up.weight": np.zeros((320, 4), np.float32),
               f"{key}.alpha": np.array(4.0, np.float32)}, str(path))


def test_models_list_finds_a_lora_and_filters_by_kind(client, tmp_path):
    _kohya_lora(tmp_path / "ink_style.safetensors")
    (tmp_path / "notes.txt").write_text("not a model")
    body, _ = client.request("models.list", {"models_dir": str(tmp_path), "hf_cache": False})
    names = {m["name"]: m for m in body["models"]}
    assert "ink_style.safetensors" in names, body
    assert names["ink_style.safetensors"]["kind"] == "lora"
    only_ckpt, _ = client.request("models.list", {"models_dir": str(tmp_path), "hf_cache": False, "kind": "checkpoint"})
    assert only_ckpt["models"] == []


def test_models_list_missing_folder_says_what_to_do(client, tmp_path):
    with pytest.raises(BackendError) as err:
        client.request("models.list", {"models_dir": str(tmp_path / "nope")})
    assert err.value.code == "NOT_FOUND" and "preferences" in err.value.message
