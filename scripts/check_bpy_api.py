"""Static check of the add-on's bpy usage against each Blender release's generated API stubs
(``fake-bpy-module-*``, one folder per release in ``.venv-apicheck/stubs/``, made by
``scripts/setup_env.sh apicheck`` from ``requirements/apicheck-stubs.txt``), in two halves:

1. names (``scripts/bpy_api_names.py``): every bpy member, method keyword, operator and node type the
   add-on's source names, looked up in each release's stubs;
2. types: pyright over the add-on with each release's stubs, where it knows the types (its
   attribute-access and call diagnostics only; the stubs' typing noise, e.g. ``bpy_prop_array``, is
   not an API change).

Both are compared with the 5.0 baseline: what 5.0 has and a release lacks is reported. In
``compat.py`` that is expected (it is where Kino reaches each release's own API behind a feature
test) and listed as "guarded"; anywhere else it is a finding, and a finding on a supported release
fails the check (exit 1). ``main`` (Blender's development branch, what 6.0 will be) is informational.
Usage::

    .venv-apicheck/bin/python scripts/check_bpy_api.py [--releases 4.5,5.2] [--names-only] [--json]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import pickle
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpy_api_names as names  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = os.path.join(ROOT, ".venv-apicheck")
STUB_LIST = os.path.join(ROOT, "requirements", "apicheck-stubs.txt")
TARGET = "kino_addon/blender"
GUARDED = "kino_addon/blender/compat.py"
BASELINE = "5.0"
INFORMATIONAL = {"main"}
PYTHON = {"4.5": "3.11", "5.0": "3.11"}  # the rest: 3.13
RULES = {"reportAttributeAccessIssue", "reportCallIssue"}


def stub_releases() -> list:
    out = []
    with open(STUB_LIST, encoding="utf-8") as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line.split()[0])
    return out


def stubs_dir(release: str) -> str:
    stubs = os.path.join(ENV, "stubs", release)
    if not os.path.isdir(stubs):
        raise SystemExit(f"check_bpy_api: no stubs for {release} in {stubs}; run scripts/setup_env.sh apicheck")
    return stubs


def stub_index(release: str) -> names.ApiIndex:
    """The release's name index, cached beside its stubs (reading them takes seconds)."""
    stubs = stubs_dir(release)
    cache = os.path.join(stubs, ".kino-index.pickle")
    source = os.path.join(stubs, "bpy-stubs", "types", "__init__.pyi")
    if os.path.isfile(cache) and os.path.getmtime(cache) >= os.path.getmtime(source):
        with open(cache, "rb") as fh:
            return pickle.load(fh)
    idx = names.index_stubs(stubs)
    with open(cache, "wb") as fh:
        pickle.dump(idx, fh)
    return idx


def run_pyright(release: str, target: str) -> dict:
    """pyright's JSON report for the add-on against one release's stubs."""
    stubs_dir(release)
    config = os.path.join(ENV, f"pyright-{release}.json")
    with open(config, "w", encoding="utf-8") as fh:  # paths are relative to the config file's folder
        json.dump({"include": [os.path.relpath(target, ENV)], "extraPaths": [os.path.join("stubs", release), ".."],
                   "pythonVersion": PYTHON.get(release, "3.13"), "typeCheckingMode": "basic",
                   "reportMissingModuleSource": False}, fh)
    proc = subprocess.run([os.path.join(ENV, "bin", "pyright"), "-p", config, "--outputjson"],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"check_bpy_api: pyright failed for {release} (rc {proc.returncode}): "
                         f"{(proc.stderr or proc.stdout)[-800:]}") from None
    if report["summary"]["filesAnalyzed"] == 0:
        raise SystemExit(f"check_bpy_api: pyright analysed no files for {release}")
    return report


def diagnostics(report: dict) -> collections.Counter:
    """(file, rule, message's first line) -> count, for the rules that say something about an API."""
    out = collections.Counter()
    for d in report["generalDiagnostics"]:
        if d.get("severity") != "error" or d.get("rule") not in RULES:
            continue
        rel = os.path.relpath(d["file"], ROOT)
        out[(rel, d["rule"], d["message"].splitlines()[0].strip())] += 1
    return out


def _guarded(where: str) -> bool:
    return where.replace(os.sep, "/").split(":")[0].endswith(GUARDED)


def compare_pyright(base: collections.Counter, other: collections.Counter) -> tuple:
    new = sorted(other - base)
    return ([f"{f}: {msg} [pyright {rule}]" for f, rule, msg in new if not _guarded(f)],
            [f"{f}: {msg} [pyright {rule}]" for f, rule, msg in new if _guarded(f)])


def compare_names(base, other, used) -> tuple:
    found, guarded = [], []
    for name, where in sorted(names.missing(base, other, used).items()):
        plain = [w for w in where if not _guarded(w)]
        if plain:
            found.append(f"{name} (used at {', '.join(plain[:4])}) [names]")
        if len(plain) < len(where):
            guarded.append(f"{name} [names]")
    return found, guarded


def check(releases, target: str, use_pyright: bool = True) -> dict:
    order = [BASELINE] + [r for r in releases if r != BASELINE]
    used = names.uses(ROOT, os.path.relpath(target, ROOT))
    index = {r: stub_index(r) for r in order}
    typed = {r: diagnostics(run_pyright(r, target)) for r in order} if use_pyright else {}
    result = {"baseline": BASELINE, "names_checked": sum(names.known(index[BASELINE], u) for u in used),
              "pyright": use_pyright, "releases": {}}
    for release in order[1:]:
        found, guarded = compare_names(index[BASELINE], index[release], used)
        if use_pyright:
            more = compare_pyright(typed[BASELINE], typed[release])
            found, guarded = found + more[0], guarded + more[1]
        result["releases"][release] = {"findings": found, "guarded": guarded,
                                       "informational": release in INFORMATIONAL}
    return result


def print_report(result: dict, target: str) -> None:
    print(f"bpy API check of {os.path.relpath(target, ROOT)}: {result['names_checked']} uses of bpy names"
          + (" + pyright" if result["pyright"] else "") + f", against {result['baseline']}")
    for release, r in result["releases"].items():
        tag = " (informational)" if r["informational"] else ""
        print(f"  {release}{tag}: {len(r['findings'])} finding(s), {len(r['guarded'])} guarded in compat.py")
        for line in r["findings"]:
            print(f"    FINDING {line}")
        for line in r["guarded"]:
            print(f"    guarded {line}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--releases", help="comma-separated (default: every release in requirements/apicheck-stubs.txt)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on the last line")
    p.add_argument("--names-only", action="store_true", help="skip pyright (seconds instead of minutes)")
    p.add_argument("--package", default=os.path.join(ROOT, TARGET), help="the source folder to check "
                   "(default: kino_addon/blender; compat.py in it is where release differences belong)")
    args = p.parse_args(argv)
    known = stub_releases()
    releases = args.releases.split(",") if args.releases else known
    unknown = [r for r in releases if r not in known]
    if unknown:
        print(f"check_bpy_api: no stubs listed for {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    target = os.path.abspath(args.package)
    if not os.path.isdir(target):
        print(f"check_bpy_api: {target} is not a folder", file=sys.stderr)
        return 2
    result = check(releases, target, use_pyright=not args.names_only)
    print_report(result, target)
    if args.json:
        print(json.dumps(result))
    failed = [r for r, v in result["releases"].items() if v["findings"] and not v["informational"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
