"""``scripts/kino stylize INPUT --look NAME [--param KEY=VALUE ...] [--temporal on|off]
[--frames START:END] [--stabilize [--track-region X,Y,W,H|face]] --out DIR [--blend FILE.blend]
[--cluster ADDRESS]``.

Headless through bpy: the real add-on is enabled as an extension, INPUT becomes a movie or image strip
in a fresh scene, the real backend starts (``KINO_BACKEND_PYTHON``, else the checkout's
``.venv-backend``), and the flags become the job's ``JobChoices``, run synchronously through the same
operator, workflow assembly and ``StripJob`` the panel uses, writing the frames straight into DIR.
"""
from __future__ import annotations

import os
import re
import sys
from typing import Optional

from ..cli import (INTERRUPT, ArgParser, CommandError, OutputFolder, check_blend_path, interrupted, operator_error,
                   quiet_stdout, run_command, verify_out)


def build_parser() -> ArgParser:
    p = ArgParser(prog="scripts/kino stylize", description="Stylize a clip or an image folder through Blender.")
    p.add_argument("input", help="a video file or a folder of numbered images (frame_0001.png ..., in frame order)")
    p.add_argument("--look", required=True, help="look name (scripts/kino looks)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a look parameter, or STAGE.KEY for another stage; VALUE is JSON when it parses")
    p.add_argument("--temporal", choices=("on", "off"), help="temporal consistency (default on, except none)")
    p.add_argument("--frames", metavar="START:END", help="1-based inclusive frame range")
    p.add_argument("--stabilize", action="store_true", help="stabilize before the look, restore after")
    p.add_argument("--track-region", metavar="X,Y,W,H|face", help="lock to this region (with --stabilize)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for frame_0001.png ... and kino.json")
    p.add_argument("--blend", metavar="FILE.blend", help="also save the scene with source and result strips")
    p.add_argument("--cluster", metavar="ADDRESS", default="",
                   help="run on the Kino workers of this Ray cluster (scripts/kino cluster start prints it); "
                        "the frames are the same as without")
    return p


def check_args(args) -> None:
    if args.track_region and not args.stabilize and not any(p.startswith("stabilize.") for p in args.param):
        raise CommandError("--track-region needs --stabilize")
    if args.track_region and args.track_region != "face" and \
            not re.fullmatch(r"\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+\s*", args.track_region):
        raise CommandError(f"--track-region must be X,Y,W,H (source pixels) or face, got {args.track_region!r}")
    if not os.path.exists(args.input):
        raise CommandError(f"input {args.input} does not exist")
    if args.blend:
        check_blend_path(args.blend)


def choices_from_args(hello: dict, args, notes: Optional[list] = None):
    """The flags as the job's ``JobChoices`` (``--param`` checked against what the backend offers);
    what was implied or ignored goes to ``notes``."""
    from kino_addon.core.job_workflow import (PASSTHROUGH_LOOK, JobChoices, WorkflowChoiceError, build_workflow,
                                              parse_param_args)
    notes = [] if notes is None else notes
    temporal = None if args.temporal is None else args.temporal == "on"
    if args.look == PASSTHROUGH_LOOK and temporal is not None:
        notes.append("the none look passes frames through untouched: --temporal is ignored")
    choices = JobChoices(look=args.look, temporal=temporal, stabilize=args.stabilize,
                         track_region=(args.track_region or "").replace(" ", ""))
    try:
        choices.params = parse_param_args(hello, build_workflow(hello, choices), args.param)
    except WorkflowChoiceError as exc:
        raise CommandError(str(exc)) from None
    if "stabilize" in choices.params and not choices.stabilize:  # it needs the tracking: that comes along
        notes.append("stabilize.* parameters given: stabilizing (as with --stabilize)")
        choices.stabilize = True
    if "temporal" in choices.params and temporal is False:
        given = ", ".join(f"temporal.{k}" for k in sorted(choices.params["temporal"]))
        notes.append(f"--temporal off: {given} not used (the temporal stage does not run)")
    return choices


def use_strip_as_scene(scene, strip) -> None:
    """The scene gets the strip's size, fps and frames; the strip is the only one selected."""
    from kino_addon.blender import devload
    compat = devload.submodule("kino_addon.blender.compat")
    elem = strip.elements[0]
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = elem.orig_width, elem.orig_height, 100
    fps = getattr(elem, "orig_fps", 0) or getattr(strip, "fps", 0) or 24
    r.fps, r.fps_base = max(1, round(fps)), max(1, round(fps)) / fps
    first, end = compat.strip_span(strip)
    scene.frame_start, scene.frame_end = first, end - 1
    for s in scene.sequence_editor.strips:
        s.select = False
    strip.select = True
    scene.sequence_editor.active_strip = strip


def match_source_to_result(strip, plan) -> None:
    """With --frames, trim the saved source strip to the stylized range: same start and length."""
    from kino_addon.blender import devload
    compat = devload.submodule("kino_addon.blender.compat")
    first, end = compat.strip_span(strip)
    left, right = compat.strip_time(strip, "left_handle_offset"), compat.strip_time(strip, "right_handle_offset")
    compat.set_strip_time(strip, "left_handle_offset", left + plan.first - first)
    compat.set_strip_time(strip, "right_handle_offset", right + end - (plan.first + plan.count))
    strip.id_data.frame_start, strip.id_data.frame_end = plan.first, plan.first + plan.count - 1


def run(args, folder: OutputFolder) -> dict:
    from kino_addon.blender import devload
    from kino_addon.core.plan import PlanError, parse_frame_range

    try:
        frame_range = parse_frame_range(args.frames) if args.frames else None
    except PlanError as exc:
        raise CommandError(str(exc)) from None
    out = folder.open()
    verify_out(out)
    module = devload.load_extension(private_tmp=True)
    import bpy
    connection = devload.submodule("kino_addon.blender.connection")
    strips = devload.submodule("kino_addon.blender.strips")
    queue = devload.submodule("kino_addon.blender.stylize.strip_job").QUEUE
    queue.stop_signal = INTERRUPT
    INTERRUPT.on_second = lambda: _mark_interrupted(queue)
    prefs = bpy.context.preferences.addons[module].preferences
    prefs.python_path = ""  # KINO_BACKEND_PYTHON or the checkout's
    prefs.cluster_address = args.cluster.strip()
    scene = devload.reset_scene()
    try:
        strip = strips.add_input_strip(scene, os.path.abspath(args.input))
    except strips.SourceError as exc:
        raise CommandError(str(exc)) from None
    use_strip_as_scene(scene, strip)
    from kino_addon.core.image_size import folder_notes
    notes = folder_notes(os.path.abspath(args.input))
    try:
        INTERRUPT.check()
        bpy.ops.kino.backend_start()
        INTERRUPT.check()
        choices = choices_from_args(connection.BACKEND.hello, args, notes)
        with quiet_stdout():
            bpy.ops.kino.stylize(choices_json=choices.to_json(), output_dir=out, synchronous=True,
                                 frame_first=frame_range[0] if frame_range else 0,
                                 frame_last=frame_range[1] if frame_range else 0)
        job = queue.finished[-1]
        if job.state == "interrupted":
            raise interrupted(job.session.frames_on_disk, out)
        if args.blend:
            match_source_to_result(strip, job.plan)
            save_blend(bpy, args.blend)
    except RuntimeError as exc:
        raise CommandError(operator_error(exc)) from None
    finally:
        connection.BACKEND.stop()
    return {"out": out, "frames": job.plan.count, "reused": job.session.reused, "strip": job.result_strip,
            "blend": os.path.abspath(args.blend) if args.blend else None, "notes": notes + job_notes(job, frame_range)}


def job_notes(job, frame_range) -> list:
    """What the user should know about how the job ran (values clamped, an earlier run resumed)."""
    from kino_addon.core.face_notes import faceid_note
    from kino_addon.core.painted_keyframes import fill_note
    out = [job.session.notice] if job.session.notice else []
    out += [job.warning] if job.warning else []  # e.g. a variable-frame-rate movie (strip_job)
    fill = fill_note(job.session.provenance)
    out += [fill] if fill else []
    face = faceid_note(job.session.provenance, job.plan.count)
    out += [face] if face else []
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
    devload.submodule("kino_addon.blender.blend_paths").make_paths_relative(blend)
    bpy.ops.wm.save_as_mainfile(filepath=blend, relative_remap=False)  # the // paths are already right


def _mark_interrupted(queue) -> None:
    """Second Ctrl-C: no time to wait for the backend; kino.json says "interrupted" all the same."""
    for job in queue.jobs[:1]:
        session = job.session
        if session.state in ("running", "cancelling"):
            session._write_sidecar("interrupted")
            print(f"kino stylize: interrupted, {session.frames_on_disk} frames kept in {session.spec.folder}; "
                  "run the same command again to resume", file=sys.stderr)


def main(argv) -> int:
    def body() -> int:
        args = build_parser().parse_args(argv)
        check_args(args)
        result = run(args, OutputFolder(args.out))
        for note in result["notes"]:
            print(f"kino stylize: note: {note}", file=sys.stderr)
        n = result["frames"]
        print(f"kino stylize: {n} frame{'' if n == 1 else 's'} in {result['out']}"
              + (f" ({result['reused']} reused)" if result["reused"] else "")
              + (f"; scene saved to {result['blend']}" if result["blend"] else ""))
        return 0
    return run_command("stylize", body)
