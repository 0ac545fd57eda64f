"""Install the real CLIP BPE file (``bpe_simple_vocab_16e6.txt.gz``) at setup time.

It ships inside the ``open_clip_torch`` wheel; ``pip download --no-deps`` fetches the wheel (nothing is
installed) and the one data file is extracted into ``<sys.prefix>/share/kino/``. Idempotent; offline it
warns and returns 1 without failing anything else.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
import zipfile

from .tokenizer import BPE_NAME, CLIP_VOCAB_SIZE, clip_vocab_from_bpe

OPEN_CLIP_PIN = "open_clip_torch==3.3.0"


def target_path() -> str:
    return os.path.join(sys.prefix, "share", "kino", BPE_NAME)


def fetch(dest: str | None = None, quiet: bool = False) -> int:
    """Install the BPE file at ``dest`` (default ``target_path()``); 0 when present/installed, 1 with a warning."""
    dst = dest or target_path()
    if os.path.isfile(dst):
        if not quiet:
            print(f"kino: CLIP tokenizer already installed: {dst}")
        return 0
    with tempfile.TemporaryDirectory(prefix="kino-openclip-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--retries", "1", "--timeout", "15",
               OPEN_CLIP_PIN, "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            proc = subprocess.CompletedProcess(cmd, 1, "", str(exc))
        wheels = glob.glob(os.path.join(tmp, "*.whl"))
        if proc.returncode != 0 or not wheels:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no wheel"]
            print(f"kino: warning: could not download {OPEN_CLIP_PIN} for the CLIP tokenizer ({tail[0]}); "
                  "single-file checkpoints will need the tokenizer in the Hugging Face cache. "
                  "Rerun `scripts/kino models fetch-tokenizer` when online.", file=sys.stderr)
            return 1
        with zipfile.ZipFile(wheels[0]) as zf:
            member = next((n for n in zf.namelist() if n.endswith("/" + BPE_NAME)), None)
            if member is None:
                print(f"kino: warning: {wheels[0]} has no {BPE_NAME}", file=sys.stderr)
                return 1
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with zf.open(member) as src, open(dst + ".part", "wb") as out:
                out.write(src.read())
            if len(clip_vocab_from_bpe(dst + ".part")[0]) != CLIP_VOCAB_SIZE:
                os.remove(dst + ".part")
                print(f"kino: warning: {member} in {wheels[0]} is not the CLIP BPE file", file=sys.stderr)
                return 1
            os.replace(dst + ".part", dst)
    if not quiet:
        print(f"kino: CLIP tokenizer installed: {dst}")
    return 0
