"""``scripts/kino composite --actor A --background B [--actor-look L] [--background-look L]
[--key-color R,G,B] [--garbage-matte X,Y,W,H] --out DIR [--blend FILE.blend] [--json]``.

The actor (shot on a green or blue screen) and the background are decoded through Blender's
sequencer and stylized by the real backend, each with its own look (``toon`` by default), then
composited (``composite_job.CompositeJob``, run on the same job queue machinery as Stylize: a
cancelled or failed run resumes). ``DIR`` gets exactly ``frame_NNNN.png`` (the actor's size and
length; the background is scaled to cover and holds its last frame when shorter) and ``kino.json``;
the mattes go to ``DIR/matte/frame_NNNN.png``. ``--blend`` saves a scene with the source strips and
the composite image-sequence strip above them, plus a scene "Kino Key" holding the same key as a
Keying compositor tree the artist can open and tweak.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import tempfile

from ..cli import ArgParser, CommandError, run_command, verify_out


def build_parser() -> ArgParser:
    p = ArgParser(prog="scripts/kino composite",
                  description="Key an actor, stylize actor and background with their own looks, composite.")
    p.add_argument("--actor", required=True, help="green/blue-screen shot: a video file or a folder of images")
    p.add_argument("--background", required=True, help="background: a video file, a folder of images or one image")
    p.add_argument("--actor-look", default="toon", help="look for the actor (default toon)")
    p.add_argument("--background-look", default="toon", help="look for the background (default toon)")
    p.add_argument("--key-color", metavar="R,G,B", help="screen colour, sRGB 0-255 (default: found automatically)")
    p.add_argument("--garbage-matte", metavar="X,Y,W,H", help="source px; everything outside is background")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for frame_0001.png ... and kino.json")
    p.add_argument("--blend", metavar="FILE.blend", help="also save a scene with the source and composite strips")
    p.add_argument("--json", action="store_true", help="print one JSON summary on the last line")
    return p


def check_args(args) -> None:
    if args.key_color and not re.fullmatch(r"\s*\d{1,3}\s*,\s*\d{1,3}\s*,\s*\d{1,3}\s*", args.key_color):
        raise CommandError(f"--key-color must be R,G,B in sRGB 0-255, e.g. 40,180,60; got {args.key_color!r}", 2)
    if args.key_color and any(int(v) > 255 for v in args.key_color.split(",")):
        raise CommandError(f"--key-color values must be 0-255, got {args.key_color!r}", 2)
    if args.garbage_matte and not re.fullmatch(r"\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+\s*", args.garbage_matte):
        raise CommandError(f"--garbage-matte must be X,Y,W,H in source pixels, got {args.garbage_matte!r}", 2)
    if args.blend and not args.blend.endswith(".blend"):
        raise CommandError(f"--blend must name a .blend file, got {args.blend}", 2)
    for flag, path in (("--actor", args.actor), ("--background", args.background)):
        if not os.path.exists(path):
            raise CommandError(f"{flag} {path} does not exist")


def workflows(hello: dict, args) -> tuple:
    """(actor, background) workflows: the actor's look with the key stage first, the background's look."""
    from kino_addon.core.job_workflow import JobChoices, WorkflowChoiceError, build_workflow
    key_params = {"key_color": args.key_color.replace(" ", "") if args.key_color else "auto"}
    if args.garbage_matte:
        key_params["garbage_matte"] = args.garbage_matte.replace(" ", "")
    try:
        actor = build_workflow(hello, JobChoices(look=args.actor_look, params={"key": key_params}))
        background = build_workflow(hello, JobChoices(look=args.background_look))
    except WorkflowChoiceError as exc:
        raise CommandError(str(exc)) from None
    return actor, background


def command_line(args) -> str:
    """The ``kino.json`` reproduce line: every flag that shaped the frames."""
    parts = ["scripts/kino", "composite", "--actor", args.actor, "--background", args.background,
             "--actor-look", args.actor_look, "--background-look", args.background_look]
    if args.key_color:
        parts += ["--key-color", args.key_color]
    if args.garbage_matte:
        parts += ["--garbage-matte", args.garbage_matte]
    parts += ["--out", args.out]
    return " ".join(shlex.quote(p) for p in parts)


def save_blend(args, out: str, count: int, size: tuple, key_rgb) -> str:
    import bpy
    from kino_addon.blender import devload
    strips = devload.submodule("kino_addon.blender.strips")
    tree = devload.submodule("kino_addon.blender.keying.tree")
    compat = devload.submodule("kino_addon.blender.compat")
    scene = bpy.context.scene
    scene.name = "Kino Composite"
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = size[0], size[1], 100
    strips.add_input_strip(scene, os.path.abspath(args.actor), 1, name="actor")
    strips.add_input_strip(scene, os.path.abspath(args.background), 2, fit='FILL', name="background")
    comp = strips.add_input_strip(scene, out, 3, name="composite")
    for s in scene.sequence_editor.strips:
        if s.name in ("actor", "background") and compat.strip_time(s, "duration") > count:
            compat.set_strip_time(s, "duration", count)
    scene.frame_start, scene.frame_end = 1, compat.strip_span(comp)[1] - 1
    scene.view_settings.view_transform = 'Standard'
    if key_rgb:
        key_scene = bpy.data.scenes.new("Kino Key")
        tree.build_keying_tree(key_scene, os.path.abspath(args.actor), os.path.abspath(args.background), key_rgb)
    blend = os.path.abspath(args.blend)
    os.makedirs(os.path.dirname(blend), exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=blend)
    return blend


def run(args) -> dict:
    from kino_addon.blender import devload
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    verify_out(out)
    module = devload.load_extension()
    import bpy
    connection = devload.submodule("kino_addon.blender.connection")
    decode = devload.submodule("kino_addon.blender.keying.decode")
    composite_job = devload.submodule("kino_addon.blender.keying.composite_job")
    job_pump = devload.submodule("kino_addon.blender.job_pump")
    prefs = devload.submodule("kino_addon.blender.prefs")
    bpy.context.preferences.addons[module].preferences.python_path = ""  # KINO_BACKEND_PYTHON or the checkout's
    work = tempfile.mkdtemp(prefix="kino-composite-")
    try:
        actor = decode.decode(os.path.abspath(args.actor), os.path.join(work, "actor"))
        size = (actor.width, actor.height)
        background = decode.decode(os.path.abspath(args.background), os.path.join(work, "background"), size=size,
                                   limit=len(actor))
        client = connection.BACKEND.ensure()
        actor_wf, background_wf = workflows(connection.BACKEND.hello, args)
        job = composite_job.CompositeJob(client, connection.BACKEND.hello, actor, background, actor_wf,
                                         background_wf, prefs.job_options(), out, command_line(args),
                                         alive=connection.BACKEND.connected)
        job_pump.start_jobs(composite_job.QUEUE, [job], synchronous=True)
        if job.state != "completed":
            raise CommandError(job.error or f"the composite was {job.state}")
        blend = save_blend(args, out, len(actor), size, job.key.get("key_color")) if args.blend else None
    except (decode.DecodeError, connection.BackendUnavailable) as exc:
        raise CommandError(str(exc)) from None
    finally:
        connection.BACKEND.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {"out": out, "frames": len(actor), "width": size[0], "height": size[1],
            "key_color": job.key.get("key_color"), "blend": blend}


def main(argv) -> int:
    def body() -> int:
        args = build_parser().parse_args(argv)
        check_args(args)
        result = run(args)
        print(f"kino composite: {result['frames']} frames ({result['width']}x{result['height']}) in "
              f"{result['out']}, key colour {result['key_color']}"
              + (f"; scene saved to {result['blend']}" if result["blend"] else ""))
        if args.json:
            print(json.dumps(result))
        return 0
    return run_command("composite", body)
