"""A stand-in for a Blender executable, for tests on machines where only ``bpy`` (Blender as a
Python module) is installed. Run by the Python that has bpy, it follows Blender's command line for
what Kino's launcher uses, and runs the real Blender (bpy) underneath:

    blender_exe.py --version                       prints "Blender <version>" like ``blender --version``
    blender_exe.py -b --factory-startup [--python-exit-code N] --python FILE [-- ARGS...]

As in Blender: Blender starts (``import bpy``) before the script, ``sys.argv`` is the whole command line,
the script runs as ``__main__`` with ``__file__`` set, ``sys.exit(n)`` in it exits with n, an uncaught
exception exits with ``--python-exit-code`` (default 0, Blender's default), and neither PYTHONPATH nor
the checkout is on ``sys.path`` (Blender ignores PYTHONPATH unless ``--python-use-system-env`` is
given). Anything else on the command line is refused (exit 64), so a test fails when the launcher
drives Blender in a way this stand-in does not mirror.

``tests/support/blender_exe.py make-wrapper PATH PYTHON`` writes an executable ``PATH`` that runs this
file with ``PYTHON``.
"""
import os
import runpy
import stat
import sys
import traceback


def make_wrapper(path: str, python: str) -> str:
    with open(path, "w") as fh:
        fh.write(f'#!/bin/sh\nexec "{python}" "{os.path.abspath(__file__)}" "$@"\n')
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def parse(argv):
    opts = {"background": False, "factory": False, "exit_code": 0, "python": None, "version": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return opts, argv[i + 1:]
        if a in ("-b", "--background"):
            opts["background"] = True
        elif a == "--factory-startup":
            opts["factory"] = True
        elif a in ("-v", "--version"):
            opts["version"] = True
        elif a in ("--python-exit-code", "--python", "-P"):
            if i + 1 >= len(argv):
                raise SystemExit(f"blender: {a} needs an argument")
            key = "exit_code" if a == "--python-exit-code" else "python"
            opts[key] = int(argv[i + 1]) if key == "exit_code" else argv[i + 1]
            i += 1
        else:
            print(f"blender stand-in: unsupported argument {a!r}", file=sys.stderr)
            raise SystemExit(64)
        i += 1
    return opts, []


def main(argv) -> int:
    if argv[:1] == ["make-wrapper"]:
        print(make_wrapper(argv[1], argv[2]))
        return 0
    opts, _rest = parse(argv)
    # A real Blender knows nothing of the checkout: its Python ignores PYTHONPATH and has no kino_dev.pth
    extra = set(os.environ.get("PYTHONPATH", "").split(os.pathsep)) - {""}
    sys.path[:] = [p for p in sys.path if p not in extra and not os.path.isdir(os.path.join(p or ".", "kino_addon"))]
    import bpy
    if opts["version"]:
        print(f"Blender {bpy.app.version_string}")
        return 0
    if not opts["background"] or not opts["python"]:
        print("blender stand-in: only background runs of a script (-b ... --python FILE) are mirrored",
              file=sys.stderr)
        return 64
    script = os.path.abspath(opts["python"])
    sys.argv = [os.path.abspath(__file__)] + argv
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001  (Blender prints any error of the script, then goes on)
        traceback.print_exc()
        return opts["exit_code"]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
