#!/usr/bin/env bash
# Create .venv-backend and .venv-blender with the pins and install order of kino_addon/core/backend_install_plan.py,
# and on request one environment per other supported Blender release and the static API check's environment.
# Idempotent: a venv whose requirement files have not changed since its last good install is left as is.
# Usage: scripts/setup_env.sh [backend|blender|blender-4.5|blender-5.2|blender-5.3|blenders|apicheck|all|everything]
#   blender      .venv-blender       bpy 5.0.1 on Python 3.11 (the default Blender)
#   blender-4.5  .venv-blender-4.5   bpy 4.5.x on Python 3.11
#   blender-5.2  .venv-blender-5.2   bpy 5.2.x on Python 3.13
#   blender-5.3  .venv-blender-5.3   bpy 5.3.0 on Python 3.13
#   blenders     the three above; apicheck: .venv-apicheck (pyright + each release's API stubs)
#   all          backend + blender; everything: all + blenders + apicheck
# Python 3.13 is found as KINO_PYTHON313, a working python3.13 on PATH, or pyenv's installed 3.13.x.
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

make_venv() {  # make_venv VENV [PYTHON]
  local venv="$1" py="${2:-$PY}"
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --upgrade -r requirements/pip.txt >/dev/null
}

plan() {  # the backend's install plan: one source of truth with the add-on's Install Backend
  PYTHONPATH="$root" "$PY" -m kino_addon.core.backend_install_plan "$@"
}

backend_ready() {  # 0 when nothing the backend environment is made from changed since it was checked
  local v=.venv-backend want pth
  [ -x "$v/bin/python" ] && [ -f "$v/.kino-stamp" ] && [ -f "$v/.kino-cluster-stamp" ] || return 1
  [ -z "$(find requirements kino_addon/core/backend_install_plan.py scripts/setup_env.sh -newer "$v/.kino-stamp" \
          -print -quit 2>/dev/null)" ] || return 1
  want="$(printf '%s\n%s' "$root/backend" "$root")"
  for pth in "$v"/lib/python3*/site-packages/kino_dev.pth; do
    [ "$(cat "$pth" 2>/dev/null)" = "$want" ] && return 0
  done
  return 1
}

setup_backend() {
  local venv=.venv-backend
  local stamp; stamp=$(plan stamp --dev)
  if ! need "$venv" "$stamp"; then
    touch "$venv/.kino-stamp"  # checked now: backend_ready skips the check until a pin file changes
    return 0
  fi
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
  rm -f "$venv/.kino-cluster-stamp"  # a fresh venv gets the optional part again
}

setup_backend_cluster() {  # optional: Ray (docs/cluster.md); a failure is a warning, Kino works without it
  local venv=.venv-backend
  local stamp; stamp=$(plan cluster-stamp)
  [ -f "$venv/.kino-cluster-stamp" ] && [ "$(cat "$venv/.kino-cluster-stamp")" = "$stamp" ] && return 0
  local cmd; cmd=$(plan cluster-command --quiet --python "$venv/bin/python")
  if eval "$cmd" && "$venv/bin/python" -c "import ray, numpy; assert numpy.__version__.startswith('1.'); \
print('kino setup: cluster ok: ray', ray.__version__)"; then
    echo "$stamp" > "$venv/.kino-cluster-stamp"
  else
    echo "kino setup: warning: Ray was not installed (offline?); Kino works without it, but scripts/kino cluster" \
         "and --cluster need it: rerun scripts/setup_env.sh backend" >&2
  fi
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

is_py313() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; }

find_python313() {  # prints a Python 3.13 interpreter's path, or fails
  local c v p
  for c in "${KINO_PYTHON313:-}" python3.13; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && is_py313 "$c" && { command -v "$c"; return 0; }
  done
  if command -v pyenv >/dev/null 2>&1; then  # pyenv's python3.13 shim needs PYENV_VERSION; ask pyenv directly
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.[0-9]+)?$' | sort -t. -k3,3nr); do
      p="$(pyenv prefix "$v" 2>/dev/null)/bin/python3.13"
      [ -x "$p" ] && is_py313 "$p" && { echo "$p"; return 0; }
    done
  fi
  for p in /usr/local/bin/python3.13 /usr/bin/python3.13 /opt/homebrew/bin/python3.13; do
    [ -x "$p" ] && is_py313 "$p" && { echo "$p"; return 0; }
  done
  return 1
}

setup_blender_release() {  # setup_blender_release 4.5|5.2|5.3
  local rel="$1" venv=".venv-blender-$1" req="requirements/blender-$1.txt" py
  [ -f "$req" ] || { echo "kino setup: no requirements file $req (supported: 4.5, 5.0 = blender, 5.2, 5.3)" >&2; exit 2; }
  local stamp; stamp=$(stamp_of "$req")
  need "$venv" "$stamp" || return 0
  case "$rel" in
    4.5) py="$PY" ;;
    *) py=$(find_python313) || {
         echo "kino setup: Blender $rel's bpy needs Python 3.13, and none was found (tried \$KINO_PYTHON313," \
              "python3.13 on PATH, pyenv's installed 3.13.x, /usr/local/bin, /usr/bin). Install Python 3.13" \
              "(e.g. 'pyenv install 3.13') or set KINO_PYTHON313=/path/to/python3.13." >&2
         exit 1; } ;;
  esac
  echo "kino setup: creating $venv (Blender $rel's bpy on $("$py" -c 'import platform; print("Python", platform.python_version())'), about 1 GB)" >&2
  make_venv "$venv" "$py"
  "$venv/bin/python" -m pip install --quiet -r "$req"
  "$venv/bin/python" -c "import bpy; print('kino setup: blender ok: bpy', bpy.app.version_string)"
  echo "$stamp" > "$venv/.kino-stamp"
}

setup_apicheck() {  # pyright (with its own Node.js) and each release's generated bpy stubs, side by side
  local venv=.venv-apicheck
  local stamp; stamp=$(stamp_of requirements/apicheck.txt requirements/apicheck-stubs.txt)
  need "$venv" "$stamp" || return 0
  local py
  py=$(find_python313) || {  # the stubs use Python 3.12+ syntax, which the check parses
    echo "kino setup: the bpy API check needs Python 3.13 and none was found (KINO_PYTHON313, python3.13," \
         "pyenv's 3.13.x); install one or set KINO_PYTHON313=/path/to/python3.13" >&2
    exit 1; }
  echo "kino setup: creating $venv (pyright + fake-bpy-module stubs for each release)" >&2
  [ -x "$venv/bin/python" ] && ! is_py313 "$venv/bin/python" && rm -rf "$venv"
  make_venv "$venv" "$py"
  "$venv/bin/python" -m pip install --quiet -r requirements/apicheck.txt
  rm -rf "$venv/stubs"
  local line rel pkg
  while read -r line; do  # "RELEASE PACKAGE==VERSION" lines; each stub package is a different 'bpy'
    line="${line%%#*}"; [ -n "${line// }" ] || continue
    rel="${line%% *}"; pkg="${line#* }"
    "$venv/bin/python" -m pip install --quiet --no-deps --target "$venv/stubs/$rel" $pkg
  done < requirements/apicheck-stubs.txt
  echo "$stamp" > "$venv/.kino-stamp"
}

link_sources() {  # make kino_backend and kino_addon importable from the venv (idempotent, cheap)
  local venv="$1"
  local site; site=$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  printf '%s\n%s\n' "$root/backend" "$root" > "$site/kino_dev.pth"
}

compile_sources() {  # Kino's own modules as bytecode for the venv's Python (cheap when nothing changed)
  # Python writes bytecode on first import unless PYTHONDONTWRITEBYTECODE is set (as on CI machines and
  # some shells); then every run compiled the ~500 modules again: 0.3-0.4 s of each scripts/kino run's
  # start (docs/performance.md). A source edited later is simply recompiled in memory by Python.
  local venv="$1" mark="$1/.kino-bytecode"
  if [ -f "$mark" ] && [ -z "$(find kino_addon backend/kino_backend -name '*.py' -newer "$mark" -print -quit)" ]; then
    return 0
  fi
  touch "$mark"  # before compiling: a file edited meanwhile is newer than the mark and compiled next time
  "$venv/bin/python" -m compileall -q -j 0 kino_addon backend/kino_backend >/dev/null ||
    echo "kino setup: warning: could not precompile Kino's modules for $venv (runs start a little slower)" >&2
}

case "$which_env" in
  backend) backend_ready || { setup_backend; setup_backend_cluster; link_sources .venv-backend; }
           compile_sources .venv-backend ;;
  blender) setup_blender; link_sources .venv-blender; compile_sources .venv-blender ;;
  blender-4.5|blender-5.2|blender-5.3) setup_blender_release "${which_env#blender-}"; link_sources ".venv-$which_env"
           compile_sources ".venv-$which_env" ;;
  blender-5.0) setup_blender; link_sources .venv-blender; compile_sources .venv-blender ;;
  blenders) for r in 4.5 5.2 5.3; do setup_blender_release "$r"; link_sources ".venv-blender-$r"
              compile_sources ".venv-blender-$r"; done ;;
  apicheck) setup_apicheck ;;
  all) setup_backend; setup_backend_cluster; link_sources .venv-backend; setup_blender; link_sources .venv-blender
       compile_sources .venv-backend; compile_sources .venv-blender ;;
  everything)
    setup_backend; setup_backend_cluster; link_sources .venv-backend; setup_blender; link_sources .venv-blender
    compile_sources .venv-backend; compile_sources .venv-blender
    for r in 4.5 5.2 5.3; do setup_blender_release "$r"; link_sources ".venv-blender-$r"; compile_sources ".venv-blender-$r"; done
    setup_apicheck ;;
  *) echo "usage: $0 [backend|blender|blender-4.5|blender-5.2|blender-5.3|blenders|apicheck|all|everything]" >&2; exit 2 ;;
esac
