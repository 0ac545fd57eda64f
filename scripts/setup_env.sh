#!/usr/bin/env bash
# Create .venv-backend and .venv-blender with the pins and install order of kino_addon/core/backend_install_plan.py.
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
  "$venv/bin/python" -m pip install --quiet --upgrade -r requirements/pip.txt >/dev/null
}

plan() {  # the backend's install plan: one source of truth with the add-on's Install Backend
  PYTHONPATH="$root" "$PY" -m kino_addon.core.backend_install_plan "$@"
}

setup_backend() {
  local venv=.venv-backend
  local stamp; stamp=$(plan stamp --dev)
  need "$venv" "$stamp" || return 0
  echo "kino setup: creating $venv (torch CPU, diffusers, OpenCV; a few minutes the first time)" >&2
  make_venv "$venv"
  # pip, torch alone first (on these machines a CPU build from local disk, via pip's own configuration),
  # the pinned rest, mediapipe + insightface with --no-deps, the test tools, the CLIP tokenizer file.
  local cmds; cmds=$(plan commands --dev --quiet --torch-index pip --python "$venv/bin/python")
  eval "$cmds"
  "$venv/bin/python" - <<'PY'
import cv2, torch, diffusers, numpy
assert numpy.__version__.startswith("1."), numpy.__version__
print(f"kino setup: backend ok: torch {torch.__version__}, diffusers {diffusers.__version__}, cv2 {cv2.__version__}")
PY
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
