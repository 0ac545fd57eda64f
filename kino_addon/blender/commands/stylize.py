"""``scripts/kino stylize INPUT --look NAME [--param KEY=VALUE ...] [--temporal on|off]
[--frames START:END] [--stabilize [--track-region X,Y,W,H|face]] --out DIR [--blend FILE.blend]``
(contract §3).

Headless through bpy: the real add-on is enabled as an extension, INPUT becomes a movie or image strip
in a fresh scene, the real backend starts from the project's ``.venv-backend`` (or ``KINO_BACKEND_PYTHON``),
and the job runs synchronously through the same operator and JobSession the panel uses, writing the
frames straight into DIR.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".exr", ".webp", ".tga")


class CommandError(Exception):
    """A one-line reason for a non-zero exit (``code`` 2 for bad usage, 1 otherwise)."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CommandError(message, code=2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="scripts/kino stylize", description="Stylize a clip or an image folder through Blender.")
    p.add_argument("input", help="a video file or a folder of images (sorted by name)")
    p.add_argument("--look", required=True, help="look name (scripts/kino looks)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a look parameter, or STAGE.KEY for another stage; VALUE is JSON when it parses")
    p.add_argument("--temporal", choices=("on", "off"), help="temporal consistency (default on, except none)")
    p.add_argument("--frames", metavar="START:END", help="1-based inclusive frame range")
    p.add_argument("--stabilize", action="store_true", help="stabilize before the look, restore after")
    p.add_argument("--track-region", metavar="X,Y,W,H|face", help="lock to this region (with --stabilize)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for frame_0001.png ... and kino.json")
    p.add_argument("--blend", metavar="FILE.blend", help="also save the scene with source and result strips")
    return p


def check_args(args) -> None:
    if args.track_region and not args.stabilize:
        raise CommandError("--track-region needs --stabilize")
    if args.track_region and args.track_region != "face" and \
            not re.fullmatch(r"\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+\s*", args.track_region):
        raise CommandError(f"--track-region must be X,Y,W,H (source pixels) or face, got {args.track_region!r}")
    if not os.path.exists(args.input):
        raise CommandError(f"input {args.input} does not exist")
    if args.blend and not args.blend.endswith(".blend"):
        raise CommandError(f"--blend must name a .blend file, got {args.blend}")


def image_files(folder: str) -> list:
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTS) and not n.startswith("."))
    if not names:
        raise CommandError(f"the folder {folder} holds no images ({', '.join(IMAGE_EXTS)})")
    return names


def add_input_strip(scene, path: str):
    """INPUT as a movie strip (file) or image strip (folder) at frame 1; the scene gets its size and fps."""
    sed = scene.sequence_editor_create()
    name = os.path.basename(os.path.normpath(path)) or "input"
    try:
        if os.path.isdir(path):
            names = image_files(path)
            strip = sed.strips.new_image(name=name, filepath=os.path.join(path, names[0]), channel=1, frame_start=1)
            for n in names[1:]:
                strip.elements.append(n)
        else:
            strip = sed.strips.new_movie(name=name, filepath=path, channel=1, frame_start=1)
    except RuntimeError as exc:
        raise CommandError(f"Blender cannot read {path}: {str(exc).strip().splitlines()[-1]}") from None
    elem = strip.elements[0]
    if elem.orig_width <= 0 or elem.orig_height <= 0:
        raise CommandError(f"Blender cannot decode {path} (no frame size); is it a readable video or image?")
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = elem.orig_width, elem.orig_height, 100
    fps = getattr(elem, "orig_fps", 0) or getattr(strip, "fps", 0) or 24
    r.fps, r.fps_base = max(1, round(fps)), max(1, round(fps)) / fps
    from kino_addon.blender import compat
    first, end = compat.strip_span(strip)
    scene.frame_start, scene.frame_end = first, end - 1
    for s in sed.strips:
        s.select = False
    strip.select = True
    sed.active_strip = strip
    return strip


def match_source_to_result(strip, plan) -> None:
    """With --frames, trim the saved source strip to the stylized range: same start and length."""
    from kino_addon.blender import compat
    first, end = compat.strip_span(strip)
    left, right = compat.strip_time(strip, "left_handle_offset"), compat.strip_time(strip, "right_handle_offset")
    compat.set_strip_time(strip, "left_handle_offset", left + plan.first - first)
    compat.set_strip_time(strip, "right_handle_offset", right + end - (plan.first + plan.count))
    strip.id_data.frame_start, strip.id_data.frame_end = plan.first, plan.first + plan.count - 1


def compose(hello: dict, args) -> dict:
    from kino_addon.core.workflow import NONE_LOOK, WorkflowError, compose_workflow, parse_param_args
    try:
        if args.look == NONE_LOOK:
            return compose_workflow(hello, args.look)
        temporal = None if args.temporal is None else args.temporal == "on"
        overrides = parse_param_args(hello, compose_workflow(hello, args.look, temporal=temporal), args.param)
        return compose_workflow(hello, args.look, overrides, temporal=temporal)
    except WorkflowError as exc:
        raise CommandError(str(exc)) from None


def backend_python() -> str:
    from kino_addon.blender.devload import REPO_ROOT
    python = os.environ.get("KINO_BACKEND_PYTHON") or os.path.join(REPO_ROOT, ".venv-backend", "bin", "python")
    if not os.path.isfile(python):
        raise CommandError(f"no backend Python at {python}: run scripts/setup_env.sh backend "
                           "(or set KINO_BACKEND_PYTHON)")
    return python


def verify_out(out: str) -> None:
    """DIR holds exactly frame_NNNN.png and kino.json (anything else only in subfolders)."""
    extra = [n for n in os.listdir(out) if os.path.isfile(os.path.join(out, n))
             and n != "kino.json" and not re.fullmatch(r"frame_\d{4,}\.png", n)]
    if extra:
        raise CommandError(f"{out} holds files that are not stylized frames: {', '.join(sorted(extra)[:5])}; "
                           "use an empty output folder")


def run(args) -> dict:
    from kino_addon.blender import devload
    from kino_addon.core.plan import PlanError, parse_frame_range

    try:
        frame_range = parse_frame_range(args.frames) if args.frames else None
    except PlanError as exc:
        raise CommandError(str(exc)) from None
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    verify_out(out)
    python = backend_python()
    module = devload.load_extension()
    import bpy
    backend = devload.submodule("kino_addon.blender.backend").BACKEND
    jobs = devload.submodule("kino_addon.blender.jobs")
    bpy.context.preferences.addons[module].preferences.python_path = python
    scene = devload.reset_scene()
    strip = add_input_strip(scene, os.path.abspath(args.input))
    try:
        bpy.ops.kino.backend_start()
        workflow = compose(backend.hello, args)
        with quiet_stdout():
            bpy.ops.kino.stylize(workflow_json=json.dumps(workflow), output_dir=out, synchronous=True,
                                 frame_first=frame_range[0] if frame_range else 0,
                                 frame_last=frame_range[1] if frame_range else 0,
                                 stabilize=args.stabilize, track_region=args.track_region or "")
        job = jobs.RUNNER.finished[-1]
        if args.blend:
            match_source_to_result(strip, job.plan)
            blend = os.path.abspath(args.blend)
            os.makedirs(os.path.dirname(blend), exist_ok=True)
            bpy.ops.wm.save_as_mainfile(filepath=blend)
    except RuntimeError as exc:
        raise CommandError(_clean(exc)) from None
    finally:
        backend.stop()
    return {"out": out, "frames": job.plan.count, "reused": job.session.reused, "strip": job.result_strip,
            "blend": os.path.abspath(args.blend) if args.blend else None}


@contextlib.contextmanager
def quiet_stdout():
    """Blender prints a "Saved: ..." line per rendered frame on the C level: keep stdout readable."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _clean(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = " ".join(ln.removeprefix("Error: ") for ln in lines if not ln.startswith("Warning"))
    return text or str(exc)


def main(argv) -> int:
    try:
        args = build_parser().parse_args(argv)
        check_args(args)
        result = run(args)
    except CommandError as exc:
        print(f"kino stylize: {exc}", file=sys.stderr)
        return exc.code
    print(f"kino stylize: {result['frames']} frames in {result['out']}"
          + (f" ({result['reused']} reused)" if result["reused"] else "")
          + (f"; scene saved to {result['blend']}" if result["blend"] else ""))
    return 0
