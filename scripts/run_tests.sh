#!/usr/bin/env bash
# Run every test: the backend/pure suites in .venv-backend; the Blender suites (tests/blender*) in the
# bpy of each supported Blender release (no cv2 or torch there); the static bpy API check.
#   KINO_TEST_RELEASES=smoke    (default, `make test`) the Blender suites in full on the default release
#                               (5.0), their release_smoke tests on 4.5, 5.2 and 5.3; API check by names
#   KINO_TEST_RELEASES=full     (CI, .ci/run) the whole Blender suites on all four releases; API check
#                               by names and with pyright
#   KINO_TEST_RELEASES=default  the default release only (no other environments are made)
# Extra arguments go to every pytest run. The time each Blender release takes is printed.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mode="${KINO_TEST_RELEASES:-smoke}"
case "$mode" in smoke|full|default) ;; *) echo "KINO_TEST_RELEASES must be smoke, full or default" >&2; exit 2 ;; esac
scripts/setup_env.sh all || exit 1
if [ "$mode" != default ]; then
  scripts/setup_env.sh blenders || exit 1
  scripts/setup_env.sh apicheck || exit 1
fi
backend_dirs=$(ls -d tests/*/ | grep -v '^tests/blender' | grep -v '^tests/support' | tr '\n' ' ')
blender_dirs=$(ls -d tests/blender*/ 2>/dev/null | tr '\n' ' ')
# --confcutdir tests: the checkout's own folder holds the extension's __init__.py, which pytest must not
# import as a test package (that fails when the folder's name is not a Python name, e.g. kino-main)
pytest_args=(-q -p no:cacheprovider --confcutdir tests)
rc=0
user_args=$#
keep() {  # remember the first failure; pytest's 5 (every test deselected) is none when the caller's own
  # arguments deselected them (make test-fast: the Blender suites are all marked slow)
  [ "$1" -eq 5 ] && [ "$user_args" -gt 0 ] && return 0
  [ "$1" -ne 0 ] && [ $rc -eq 0 ] && rc=$1
  return 0
}

echo "== backend and pure-logic tests (.venv-backend) =="
.venv-backend/bin/python -m pytest "${pytest_args[@]}" $backend_dirs "$@" || keep $?

blender_suite() {  # blender_suite VENV RELEASE [pytest args...]
  local venv="$1" rel="$2"; shift 2
  local version start
  version=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("bpy"))')
  echo "== Blender $rel tests ($venv, bpy $version${1:+, $*}) =="
  start=$SECONDS
  "$venv/bin/python" -m pytest "${pytest_args[@]}" "$@" $blender_dirs || keep $?
  echo "== Blender $rel: $((SECONDS - start)) s =="
}

if [ -n "$blender_dirs" ]; then
  blender_suite .venv-blender 5.0 "$@"
  if [ "$mode" != default ]; then
    for r in 4.5 5.2 5.3; do
      if [ "$mode" = full ]; then blender_suite ".venv-blender-$r" "$r" "$@"
      else blender_suite ".venv-blender-$r" "$r" -m release_smoke "$@"; fi
    done
  fi
fi

if [ "$mode" != default ]; then
  echo "== bpy API check against each release's stubs =="
  if [ "$mode" = full ]; then .venv-apicheck/bin/python scripts/check_bpy_api.py || keep $?
  else .venv-apicheck/bin/python scripts/check_bpy_api.py --names-only || keep $?; fi
fi
exit $rc
