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

from ...core.interrupt import Interrupted
from .runtime import INTERRUPT, CommandError, OutputFolder, interrupted

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".exr", ".webp", ".tga")


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
    if args.track_region and not args.stabilize and not any(p.startswith("stabilize.") for p in args.param):
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
    scene.frame_start, scene.frame_end = strip.frame_final_start, strip.frame_final_end - 1
    for s in sed.strips:
        s.select = False
    strip.select = True
    sed.active_strip = strip
    return strip


def match_source_to_result(strip, plan) -> None:
    """With --frames, trim the saved source strip to the stylized range: same start and length."""
    strip.frame_offset_start += plan.first - strip.frame_final_start
    strip.frame_offset_end += strip.frame_final_end - (plan.first + plan.count)
    strip.id_data.frame_start, strip.id_data.frame_end = plan.first, plan.first + plan.count - 1


def compose(hello: dict, args) -> dict:
    """The job's workflow from --look, --param and --temporal; records what was implied in ``args.notes``."""
    from kino_addon.core.workflow import (NONE_LOOK, WorkflowError, add_stage_first, compose_workflow,
                                          parse_param_args, split_stage_params)
    try:
        stab, items = split_stage_params(hello, args.param, "stabilize")
        temporal = None if args.temporal is None else args.temporal == "on"
        if args.look == NONE_LOOK and temporal is not None:
            args.notes.append("the none look passes frames through untouched: --temporal is ignored")
            temporal = None
        overrides = parse_param_args(hello, compose_workflow(hello, args.look, temporal=temporal), items)
        workflow = compose_workflow(hello, args.look, overrides, temporal=temporal)
    except WorkflowError as exc:
        raise CommandError(str(exc)) from None
    if stab:  # the stage warps by transforms from the tracker: its parameters bring --stabilize along
        if not args.stabilize:
            args.notes.append("stabilize.* parameters given: stabilizing (as with --stabilize)")
        args.stabilize = True
        workflow = add_stage_first(workflow, "stabilize", stab)
    return workflow


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


def run(args, folder: OutputFolder) -> dict:
    from kino_addon.blender import devload
    from kino_addon.core.plan import PlanError, parse_frame_range

    try:
        frame_range = parse_frame_range(args.frames) if args.frames else None
    except PlanError as exc:
        raise CommandError(str(exc)) from None
    out = folder.open()
    verify_out(out)
    python = backend_python()
    module = devload.load_extension(private_tmp=True)
    import bpy
    backend = devload.submodule("kino_addon.blender.backend").BACKEND
    jobs = devload.submodule("kino_addon.blender.jobs")
    jobs.RUNNER.stop_signal = INTERRUPT
    INTERRUPT.on_second = lambda: _mark_interrupted(jobs.RUNNER)
    bpy.context.preferences.addons[module].preferences.python_path = python
    scene = devload.reset_scene()
    strip = add_input_strip(scene, os.path.abspath(args.input))
    try:
        INTERRUPT.check()
        bpy.ops.kino.backend_start()
        INTERRUPT.check()
        workflow = compose(backend.hello, args)
        with quiet_stdout():
            bpy.ops.kino.stylize(workflow_json=json.dumps(workflow), output_dir=out, synchronous=True,
                                 frame_first=frame_range[0] if frame_range else 0,
                                 frame_last=frame_range[1] if frame_range else 0,
                                 stabilize=args.stabilize, track_region=args.track_region or "")
        job = jobs.RUNNER.finished[-1]
        if job.session.state == "interrupted":
            raise interrupted(job.session.frames_on_disk, out)
        if args.blend:
            match_source_to_result(strip, job.plan)
            save_blend(bpy, args.blend)
    except RuntimeError as exc:
        raise CommandError(_clean(exc)) from None
    finally:
        backend.stop()
    return {"out": out, "frames": job.plan.count, "reused": job.session.reused, "strip": job.result_strip,
            "blend": os.path.abspath(args.blend) if args.blend else None,
            "notes": args.notes + notes(job, frame_range)}


def notes(job, frame_range) -> list:
    """What the user should know about how the job ran (values clamped, an earlier run resumed)."""
    out = [job.session.notice] if job.session.notice else []
    out += list((job.session.spec.options.get("stabilize") or {}).get("notes") or [])
    if frame_range and frame_range[1] > frame_range[0] + job.plan.count - 1:
        last = frame_range[0] + job.plan.count - 1
        out.append(f"--frames {frame_range[0]}:{frame_range[1]} goes past the clip's last frame; stylized "
                   f"{frame_range[0]}:{last} ({job.plan.count} frames)")
    return out


def save_blend(bpy, path: str) -> None:
    """Save the scene; paths under the .blend's folder are stored relative (``//``), so the folder can
    move with its results."""
    from kino_addon.blender import devload
    blend = os.path.abspath(path)
    try:
        os.makedirs(os.path.dirname(blend), exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create the folder for --blend {blend} ({exc.strerror or exc})") from None
    devload.submodule("kino_addon.blender.ingest").make_paths_relative(blend)
    bpy.ops.wm.save_as_mainfile(filepath=blend, relative_remap=False)  # the // paths are already right


def _mark_interrupted(runner) -> None:
    """Second Ctrl-C: no time to wait for the backend; kino.json says "interrupted" all the same."""
    for job in runner.jobs[:1]:
        session = job.session
        if session.state in ("running", "cancelling"):
            session._write_sidecar("interrupted")
            print(f"kino stylize: interrupted, {session.frames_on_disk} frames kept in {session.spec.folder}; "
                  "run the same command again to resume", file=sys.stderr)


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
    INTERRUPT.install()
    folder = None
    try:
        args = build_parser().parse_args(argv)
        args.notes = []
        check_args(args)
        folder = OutputFolder(args.out)
        result = run(args, folder)
    except CommandError as exc:
        if folder is not None:
            folder.discard_if_empty()
        print(f"kino stylize: {exc}", file=sys.stderr)
        return exc.code
    except Interrupted:
        if folder is not None:
            folder.discard_if_empty()
        print(f"kino stylize: {interrupted(0, '')}", file=sys.stderr)
        return interrupted(0, "").code
    for note in result["notes"]:
        print(f"kino stylize: note: {note}", file=sys.stderr)
    print(f"kino stylize: {result['frames']} frames in {result['out']}"
          + (f" ({result['reused']} reused)" if result["reused"] else "")
          + (f"; scene saved to {result['blend']}" if result["blend"] else ""))
    return 0
