"""The CLIP tokenizer Kino builds: real ids from the installed BPE file, exact-size tiny vocabularies."""
import os

import pytest

from kino_backend.models import tokenizer as tok
from kino_backend.models.tokenizer_fetch import fetch


def _clip(d):
    from transformers import CLIPTokenizer
    return CLIPTokenizer.from_pretrained(str(d))


def test_byte_table_is_a_bijection():
    table = tok.byte_to_unicode()
    assert len(table) == 256 and len(set(table.values())) == 256
    assert table[ord("a")] == "a" and table[32] != " "  # space maps to a printable stand-in


@pytest.mark.skipif(tok.installed_bpe() is None, reason="CLIP BPE file not installed: run "
                    "`scripts/kino models fetch-tokenizer` (needs PyPI once)")
def test_real_clip_ids(tmp_path):
    vocab, merges = tok.clip_vocab_from_bpe(tok.installed_bpe())
    assert len(vocab) == 49408 and len(merges) == 48894
    t = _clip(tok.write_tokenizer(tmp_path / "tok", vocab, merges))
    assert t("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert t.pad_token_id == 49407


@pytest.mark.parametrize("size", [600, 1000, 1234])
def test_generated_vocab_has_exact_size(tmp_path, size):
    t = _clip(tok.tokenizer_dir(size, str(tmp_path / "tok")))
    assert len(t) == size
    ids = t("a photo of a cat").input_ids
    assert ids[0] == size - 2 and ids[-1] == size - 1 and max(ids) < size
    assert t("the").input_ids != t("tea").input_ids


def test_full_vocab_without_any_source_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf"))
    monkeypatch.setattr(tok, "installed_bpe", lambda: None)
    with pytest.raises(tok.StageError) as err:
        tok.tokenizer_dir(49408, str(tmp_path / "tok"))
    assert err.value.code == "MODEL_MISSING" and "fetch-tokenizer" in err.value.message


def test_hf_cache_tokenizer_is_used(tmp_path, monkeypatch):
    snap = tmp_path / "hub" / "models--openai--clip-vit-large-patch14" / "snapshots" / "abc123"
    vocab, merges = tok.generated_vocab(1000)
    tok.write_tokenizer(snap, vocab, merges)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert tok.find_hf_tokenizer() == str(snap)


def test_fetch_offline_warns_and_returns_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    dest = tmp_path / "share" / tok.BPE_NAME
    assert fetch(str(dest), quiet=True) == 1
    assert "warning" in capsys.readouterr().err and not dest.exists()
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"x")
    assert fetch(str(dest), quiet=True) == 0  # idempotent: present means done
