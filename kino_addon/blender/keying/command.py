"""``scripts/kino composite --actor A --background B [--actor-look L] [--background-look L]
[--key-color R,G,B] [--garbage-matte X,Y,W,H] [--param key.K=V|actor.K=V|background.K=V ...]
[--frames START:END] [--actor-scale S] [--actor-offset X,Y] [--bars crop|keep] --out DIR
[--blend FILE.blend] [--json]``.

The actor (shot on a green or blue screen) and the background are decoded through Blender's
sequencer and stylized by the real backend, each with its own look (``toon`` by default), then
composited (``composite_job.CompositeJob``, run on the same job queue machinery as Stylize: a
cancelled or failed run resumes). Black letterbox/pillarbox bars of the actor plate are outside the
picture: by default (``--bars crop``) both plates are cut to the actor's picture area, so the body
reaches the frame edge (``--bars keep`` keeps the frame size and the bars stay black). The keyed actor
is placed with ``--actor-scale`` (about the frame's bottom centre) and ``--actor-offset`` (px).
``DIR`` gets exactly ``frame_NNNN.png`` (the actor's picture size and
length; the background is scaled to cover and holds its last frame when shorter) and ``kino.json``;
the mattes go to ``DIR/matte/frame_NNNN.png``. ``--blend`` saves a scene with the source strips and
the composite image-sequence strip above them, plus a scene "Kino Key" holding the same key as a
Keying compositor tree the artist can open and tweak.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys

import numpy as np

from ...core.image_size import folder_notes
from ...core.kino_command import command_line as kino_command_line
from ...core.media import float_note
from ...core.movie_timing import movie_notes
from ...core.placement import PlacementError, check as check_placement, parse_offset
from ...core.plan import PlanError, parse_frame_range
from ..cli import (INTERRUPT, ArgParser, CommandError, OutputFolder, check_blend_path, interrupted, run_command,
                   verify_out)

PARAM_PREFIXES = ("key.", "actor.", "background.")


def build_parser() -> ArgParser:
    p = ArgParser(prog="scripts/kino composite",
                  description="Key an actor, stylize actor and background with their own looks, composite.")
    p.add_argument("--actor", required=True, help="green/blue-screen shot: a video file or a folder of images")
    p.add_argument("--background", required=True, help="background: a video file, a folder of images or one image")
    p.add_argument("--actor-look", default="toon", help="look for the actor (default toon)")
    p.add_argument("--background-look", default="toon", help="look for the background (default toon)")
    p.add_argument("--key-color", metavar="R,G,B", help="screen colour, sRGB 0-255 (default: found automatically)")
    p.add_argument("--garbage-matte", metavar="X,Y,W,H", help="source px; everything outside is background")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="key.KEY=V (the keyer's parameters, e.g. key.despill=0.5), actor.KEY=V or "
                        "background.KEY=V (that plate's look, e.g. actor.levels=4, background.temporal.strength=0.5)")
    p.add_argument("--frames", metavar="START:END", help="1-based inclusive range of the actor's frames")
    p.add_argument("--actor-scale", type=float, default=1.0, metavar="S",
                   help="scale the keyed actor about the frame's bottom centre (default 1)")
    p.add_argument("--actor-offset", default="0,0", metavar="X,Y", help="move the actor by X,Y px (x right, y down)")
    p.add_argument("--bars", choices=("crop", "keep"), default="crop",
                   help="black letterbox/pillarbox bars of the actor plate: crop both plates to the picture "
                        "(default) or keep the frame size with the bars black")
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
    if args.blend:
        check_blend_path(args.blend)
    try:
        args.frame_range = parse_frame_range(args.frames) if args.frames else None
        args.offset = parse_offset(args.actor_offset)
        check_placement(args.actor_scale, (0.0, 0.0), 1, 1)  # the scale now; the offset once the size is known
    except (PlanError, PlacementError) as exc:
        raise CommandError(str(exc), 2) from None
    bad = [p for p in args.param if not p.startswith(PARAM_PREFIXES) or "=" not in p]
    if bad:
        raise CommandError(f"--param {bad[0]!r}: give key.KEY=VALUE (the keyer), actor.KEY=VALUE or "
                           "background.KEY=VALUE (that plate's look)", 2)
    for flag, path in (("--actor", args.actor), ("--background", args.background)):
        if not os.path.exists(path):
            raise CommandError(f"{flag} {path} does not exist")


def _plate_choices(hello: dict, look: str, items: list, extra: dict):
    from kino_addon.core.job_workflow import JobChoices, build_workflow, parse_param_args
    params = parse_param_args(hello, build_workflow(hello, JobChoices(look=look)), items)
    for stage, values in extra.items():
        params[stage] = dict(values, **params.get(stage, {}))
    return build_workflow(hello, JobChoices(look=look, params=params))


def workflows(hello: dict, args, crop=None, keyed: bool = True) -> tuple:
    """(actor, background) workflows: the actor's look with the key stage first (``--param key.*`` and
    ``actor.*``; no key stage unless ``keyed``: an actor plate that is already transparent), the
    background's look (``background.*``). ``crop``: the picture area the actor plate was cut to (the
    garbage matte is given in source pixels of the uncut frame)."""
    from kino_addon.core.job_workflow import WorkflowChoiceError
    key_params = {"key_color": args.key_color.replace(" ", "") if args.key_color else "auto"}
    if args.garbage_matte:
        x, y, w, h = (int(v) for v in args.garbage_matte.split(","))
        if crop:
            x, y = x - crop[0], y - crop[1]
        key_params["garbage_matte"] = f"{x},{y},{w},{h}"
    items = {name: [p[len(name) + 1:] for p in args.param if p.startswith(name + ".")]
             for name in ("actor", "background")}
    try:
        if keyed:
            actor = _plate_choices(hello, args.actor_look,
                                   items["actor"] + [p for p in args.param if p.startswith("key.")], {"key": key_params})
        else:
            actor = _plate_choices(hello, args.actor_look, items["actor"], {})
        background = _plate_choices(hello, args.background_look, items["background"], {})
    except WorkflowChoiceError as exc:
        raise CommandError(str(exc)) from None
    return actor, background


def command_line(args) -> str:
    """The ``kino.json`` reproduce line: every flag that shaped the frames."""
    parts = ["composite", "--actor", os.path.abspath(args.actor), "--background", os.path.abspath(args.background),
             "--actor-look", args.actor_look, "--background-look", args.background_look]
    if args.key_color:
        parts += ["--key-color", args.key_color]
    if args.garbage_matte:
        parts += ["--garbage-matte", args.garbage_matte]
    for item in args.param:
        parts += ["--param", item]
    if args.frames:
        parts += ["--frames", args.frames]
    parts += ["--actor-scale", f"{args.actor_scale:g}", "--actor-offset", args.actor_offset, "--bars", args.bars,
              "--out", os.path.abspath(args.out)]
    return kino_command_line(parts)


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
    try:
        os.makedirs(os.path.dirname(blend), exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create the folder for --blend {blend} ({exc.strerror or exc})") from None
    devload.submodule("kino_addon.blender.blend_paths").make_paths_relative(blend)
    bpy.ops.wm.save_as_mainfile(filepath=blend, relative_remap=False)  # the // paths are already right
    return blend


def transparent_actor_note(args) -> str:
    """What a composite does with an actor plate that is already transparent (keyed elsewhere)."""
    unused = [flag for flag, given in (("--key-color", args.key_color), ("--garbage-matte", args.garbage_matte),
                                       ("--param key.*", any(p.startswith("key.") for p in args.param))) if given]
    return ("the actor plate is already transparent: its own alpha is the matte and it is not keyed"
            + (f" ({', '.join(unused)} not used)" if unused else ""))


def decode_plates(decode, args, work: str) -> tuple:
    """(actor plate, background plate, layout {first, picture, source_size}, notes): the actor's frames
    (cut to its picture area with --bars crop), the background rendered to cover that size."""
    from kino_addon.core.bars import picture_area
    first, last = args.frame_range or (1, None)
    limit = None if last is None else last - first + 1
    actor = decode.decode(os.path.abspath(args.actor), os.path.join(work, "actor"), limit=limit, first=first,
                          alpha=True)
    notes = []
    if last is not None and first + len(actor) - 1 < last:
        notes.append(f"--frames {first}:{last} goes past the actor's last frame; compositing {first}:"
                     f"{first + len(actor) - 1} ({len(actor)} frames)")
    source_size = (actor.width, actor.height)
    samples = [actor.read(n) for n in sorted({1, (len(actor) + 1) // 2, len(actor)})]
    if all(bool((s[..., 3] == 255).all()) for s in samples):
        actor, samples = actor.opaque(), [np.ascontiguousarray(s[..., :3]) for s in samples]
    else:
        notes.append(transparent_actor_note(args))
    picture = None if actor.alpha else picture_area(samples)  # a transparent plate's outside is not a bar
    if picture and args.bars == "crop":
        actor = actor.cropped(picture)
        notes.append(f"the actor plate has black bars: both plates are cut to its picture area "
                     f"{picture[2]}x{picture[3]} at {picture[0]},{picture[1]} (--bars keep keeps them)")
    INTERRUPT.check()
    size = (actor.width, actor.height)
    try:
        background = decode.decode(os.path.abspath(args.background), os.path.join(work, "background"), size=size,
                                   limit=len(actor), first=first)
    except decode.DecodeError:  # shorter than the actor's first frame: start at its own first frame
        background = decode.decode(os.path.abspath(args.background), os.path.join(work, "background"), size=size,
                                   limit=len(actor))
    for path, plate in ((args.actor, actor), (args.background, background)):
        notes += movie_notes(os.path.abspath(path), plate.total) + [float_note(os.path.abspath(path))]
    notes = [n for n in notes if n]
    return actor, background, {"first": first, "picture": list(picture) if picture else None,
                               "source_size": list(source_size)}, notes


def run_job(job_pump, composite_job, job, out: str) -> None:
    """Run the composite to its end; an interrupted or failed one is the command's error."""
    job_pump.start_jobs(composite_job.QUEUE, [job], synchronous=True)
    if job.state == "interrupted":
        raise interrupted(job.actor_session.frames_on_disk, out, composite_job.RESUME_HINT)
    if job.state != "completed":
        raise CommandError(job.error or f"the composite was {job.state}")


def run(args, folder: OutputFolder) -> dict:
    from kino_addon.blender import devload
    out = folder.open()
    verify_out(out)
    module = devload.load_extension(private_tmp=True)
    import bpy
    connection = devload.submodule("kino_addon.blender.connection")
    decode = devload.submodule("kino_addon.blender.keying.decode")
    composite_job = devload.submodule("kino_addon.blender.keying.composite_job")
    job_pump = devload.submodule("kino_addon.blender.job_pump")
    prefs = devload.submodule("kino_addon.blender.prefs")
    tempdirs = devload.submodule("kino_addon.core.tempdirs")
    composite_job.QUEUE.stop_signal = INTERRUPT
    bpy.context.preferences.addons[module].preferences.python_path = ""  # KINO_BACKEND_PYTHON or the checkout's
    work = tempdirs.make("kino-composite-")
    try:
        client = connection.BACKEND.ensure()
        workflows(connection.BACKEND.hello, args)  # a wrong --param fails before the plates are decoded
        actor, background, layout, notes = decode_plates(decode, args, work)
        notes = folder_notes(os.path.abspath(args.actor)) + folder_notes(os.path.abspath(args.background)) + notes
        size = (actor.width, actor.height)
        try:
            check_placement(args.actor_scale, args.offset, *size)
        except PlacementError as exc:
            raise CommandError(str(exc), 2) from None
        INTERRUPT.check()
        actor_wf, background_wf = workflows(connection.BACKEND.hello, args,
                                            tuple(layout["picture"]) if actor.crop else None, keyed=not actor.alpha)
        record = {"matte": "the actor plate's own alpha" if actor.alpha else "key",
                  "bars": args.bars, "picture_area": layout["picture"], "actor_scale": args.actor_scale,
                  "actor_offset": list(args.offset), "actor_scale_pivot": "bottom centre"}
        job = composite_job.CompositeJob(client, connection.BACKEND.hello, actor, background, actor_wf,
                                         background_wf, prefs.job_options(), out, command_line(args),
                                         alive=connection.BACKEND.connected,
                                         placement=(args.actor_scale, args.offset), record=record)
        if job.done_before() is not None:  # the same composite, complete: nothing to stylize again
            job.abandon()
            notes.append(f"{out} holds this composite complete already ({len(actor)} frames): nothing was made again")
        else:
            run_job(job_pump, composite_job, job, out)
        blend = save_blend(args, out, len(actor), size, job.key.get("key_color")) if args.blend else None
    except (decode.DecodeError, connection.BackendUnavailable) as exc:
        raise CommandError(str(exc)) from None
    finally:
        connection.BACKEND.stop()
        shutil.rmtree(work, ignore_errors=True)
    notes += [job.key["note"]] if job.key.get("note") else []  # e.g. no green or blue screen in sight
    return {"out": out, "frames": len(actor), "width": size[0], "height": size[1],
            "key_color": job.key.get("key_color"), "blend": blend, "notes": notes,
            "picture_area": layout["picture"]}


def main(argv) -> int:
    def body() -> int:
        args = build_parser().parse_args(argv)
        check_args(args)
        result = run(args, OutputFolder(args.out))
        for note in result["notes"]:
            print(f"kino composite: note: {note}", file=sys.stderr)
        print(f"kino composite: {result['frames']} frames ({result['width']}x{result['height']}) in "
              f"{result['out']}, key colour {result['key_color']}"
              + (f"; scene saved to {result['blend']}" if result["blend"] else ""))
        if args.json:
            print(json.dumps(result))
        return 0
    return run_command("composite", body)
