#!/usr/bin/env bash
# Create .venv-backend and .venv-blender with the pins and install order of docs/DEVELOPING.md (environments).
# Idempotent: a venv whose requirement files have not changed since its last good install is left as is.
# Usage: scripts/setup_env.sh [backend|blender|all]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
PY="${KINO_PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
which_env="${1:-all}"

# The stamp covers what is installed (pins and their order), not comments: editing a comment
# never forces a reinstall.
stamp_of() { cat "$@" | sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' | sha256sum | cut -c1-16; }

need() {  # need VENV STAMP -> 0 when (re)install is needed
  [ -x "$1/bin/python" ] && [ -f "$1/.kino-stamp" ] && [ "$(cat "$1/.kino-stamp")" = "$2" ] && return 1
  return 0
}

make_venv() {
  local venv="$1"
  if [ ! -x "$venv/bin/python" ]; then
    "$PY" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --upgrade "pip>=24" >/dev/null
}

setup_backend() {
  local venv=.venv-backend
  local stamp; stamp=$(stamp_of requirements/backend.txt requirements/backend-nodeps.txt)
  need "$venv" "$stamp" || return 0
  echo "kino setup: creating $venv (torch CPU, diffusers, OpenCV; a few minutes the first time)" >&2
  make_venv "$venv"
  # 1. torch alone first: on these machines a CPU build from local disk.
  "$venv/bin/python" -m pip install --quiet "torch==2.13.0"
  # 2. the pinned rest.
  "$venv/bin/python" -m pip install --quiet -r requirements/backend.txt
  # 3. mediapipe and insightface without their dependencies (one cv2 distribution only).
  "$venv/bin/python" -m pip install --quiet --no-deps -r requirements/backend-nodeps.txt
  "$venv/bin/python" - <<'PY'
import cv2, torch, diffusers, numpy
assert numpy.__version__.startswith("1."), numpy.__version__
assert not torch.cuda.is_available() or True
print(f"kino setup: backend ok: torch {torch.__version__}, diffusers {diffusers.__version__}, cv2 {cv2.__version__}")
PY
  # 4. the real CLIP tokenizer for single-file checkpoints (from the open_clip_torch wheel's BPE file).
  PYTHONPATH="$root/backend:$root" "$venv/bin/python" -m kino_backend models fetch-tokenizer --quiet \
    || echo "kino setup: warning: CLIP tokenizer not installed (offline?); rerun: scripts/kino models fetch-tokenizer" >&2
  echo "$stamp" > "$venv/.kino-stamp"
}

setup_blender() {
  local venv=.venv-blender
  local stamp; stamp=$(stamp_of requirements/blender.txt)
  need "$venv" "$stamp" || return 0
  echo "kino setup: creating $venv (bpy 5.0.1, about 1 GB)" >&2
  make_venv "$venv"
  "$venv/bin/python" -m pip install --quiet -r requirements/blender.txt
  "$venv/bin/python" -c "import bpy; print('kino setup: blender ok: bpy', bpy.app.version_string)"
  echo "$stamp" > "$venv/.kino-stamp"
}

link_sources() {  # make kino_backend and kino_addon importable from the venv (idempotent, cheap)
  local venv="$1"
  local site; site=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  printf '%s\n%s\n' "$root/backend" "$root" > "$site/kino_dev.pth"
}

case "$which_env" in
  backend) setup_backend; link_sources .venv-backend ;;
  blender) setup_blender; link_sources .venv-blender ;;
  all) setup_backend; link_sources .venv-backend; setup_blender; link_sources .venv-blender ;;
  *) echo "usage: $0 [backend|blender|all]" >&2; exit 2 ;;
esac
