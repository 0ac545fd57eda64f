#!/usr/bin/env bash
# Run every test: the backend/pure suites in .venv-backend, the Blender suites (tests/blender*) in
# .venv-blender, where neither cv2 nor torch exists. Extra arguments go to both pytest runs.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup_env.sh all || exit 1
backend_dirs=$(ls -d tests/*/ | grep -v '^tests/blender' | grep -v '^tests/support' | tr '\n' ' ')
blender_dirs=$(ls -d tests/blender*/ 2>/dev/null | tr '\n' ' ')
rc=0
echo "== backend and pure-logic tests (.venv-backend) =="
.venv-backend/bin/python -m pytest -q -p no:cacheprovider $backend_dirs "$@" || rc=$?
if [ -n "$blender_dirs" ]; then
  echo "== Blender tests (.venv-blender, bpy $(.venv-blender/bin/python -c 'import importlib.metadata as m; print(m.version("bpy"))')) =="
  # exit 5 = every test deselected (e.g. make test-fast: the Blender suites are all marked slow)
  .venv-blender/bin/python -m pytest -q -p no:cacheprovider $blender_dirs "$@" \
    || { r=$?; [ $r -eq 5 ] && [ $# -gt 0 ] && r=0; [ $rc -eq 0 ] && rc=$r; }
fi
exit $rc
