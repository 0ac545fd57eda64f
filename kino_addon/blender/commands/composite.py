"""``scripts/kino composite --actor A --background B [--actor-look L] [--background-look L]
[--key-color R,G,B] [--garbage-matte X,Y,W,H] [--param key.K=V|actor.K=V|background.K=V ...]
[--frames START:END] [--actor-scale S] [--actor-offset X,Y] [--bars crop|keep] --out DIR
[--blend FILE.blend]`` (contract §3).

The actor (shot on a green or blue screen) and the background are decoded through Blender's
sequencer, stylized by the real backend, each with its own look (``toon`` by default): the actor with
``[key, <look>, temporal]`` so the matte comes back with every frame, the background with
``[<look>, temporal]``. Black letterbox/pillarbox bars of the actor plate are outside the picture:
by default (``--bars crop``) both plates are cut to the actor's picture area, so the body reaches the
frame edge (``--bars keep`` keeps the frame size and the bars stay black). The stylized actor is placed
(``--actor-scale`` about the bottom centre, ``--actor-offset`` in pixels) and goes over the stylized
background through the matte (a straight alpha-over on sRGB values, as the sequencer's Alpha Over
does). ``DIR`` gets exactly ``frame_NNNN.png`` (the actor's picture size and length; the background is
scaled to cover and holds its last frame when shorter) and ``kino.json``; the mattes go to
``DIR/matte/frame_NNNN.png``. ``--blend`` saves a scene with the source strips and the composite
image-sequence strip above them, plus a scene "Kino Key" holding the same key as a Keying compositor
tree the artist can open and tweak.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys

from ...core.interrupt import Interrupted
from ...core.placement import PlacementError, check as check_placement, parse_offset, place
from ...core.plan import PlanError, parse_frame_range
from .runtime import INTERRUPT, CommandError, OutputFolder, interrupted
from .stylize import backend_python, verify_out

FRAME = "frame_{:04d}.png"
PARAM_PREFIXES = ("key.", "actor.", "background.")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise CommandError(message, code=2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="scripts/kino composite",
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
    if args.blend and not args.blend.endswith(".blend"):
        raise CommandError(f"--blend must name a .blend file, got {args.blend}", 2)
    try:
        args.frame_range = parse_frame_range(args.frames) if args.frames else None
        args.offset = parse_offset(args.actor_offset)
    except (PlanError, PlacementError) as exc:
        raise CommandError(str(exc), 2) from None
    bad = [p for p in args.param if not p.startswith(PARAM_PREFIXES) or "=" not in p]
    if bad:
        raise CommandError(f"--param {bad[0]!r}: give key.KEY=VALUE (the keyer), actor.KEY=VALUE or "
                           "background.KEY=VALUE (that plate's look)", 2)
    for flag, path in (("--actor", args.actor), ("--background", args.background)):
        if not os.path.exists(path):
            raise CommandError(f"{flag} {path} does not exist")


def _plate_workflow(hello: dict, look: str, items: list) -> dict:
    from kino_addon.core.workflow import compose_workflow, parse_param_args
    overrides = parse_param_args(hello, compose_workflow(hello, look), items)
    return compose_workflow(hello, look, overrides)


def workflows(hello: dict, args, crop=None) -> tuple:
    """(actor workflow [key, look, temporal], background workflow); ``crop``: the picture area the actor
    plate was cut to (the garbage matte is given in source pixels of the uncut frame)."""
    from kino_addon.core.workflow import WorkflowError, add_stage_first, split_stage_params
    key_params = {"key_color": args.key_color.replace(" ", "") if args.key_color else "auto"}
    if args.garbage_matte:
        x, y, w, h = (int(v) for v in args.garbage_matte.split(","))
        if crop:
            x, y = x - crop[0], y - crop[1]
        key_params["garbage_matte"] = f"{x},{y},{w},{h}"
    try:
        key, _ = split_stage_params(hello, [p for p in args.param if p.startswith("key.")], "key")
        plate = {name: [p[len(name) + 1:] for p in args.param if p.startswith(name + ".")]
                 for name in ("actor", "background")}
        actor = add_stage_first(_plate_workflow(hello, args.actor_look, plate["actor"]), "key",
                                dict(key_params, **key))
        background = _plate_workflow(hello, args.background_look, plate["background"])
    except WorkflowError as exc:
        raise CommandError(str(exc)) from None
    return actor, background


def _command_line(args) -> str:
    parts = ["scripts/kino", "composite", "--actor", args.actor, "--background", args.background,
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
              "--out", args.out]
    return " ".join(shlex.quote(p) for p in parts)


def write_outputs(job, actor, background, out: str, args) -> int:
    """Place every actor frame, composite it over its background frame; write the frames and the mattes."""
    import numpy as np
    from kino_addon.core.files import atomic_write_png
    os.makedirs(os.path.join(out, "matte"), exist_ok=True)
    last_bg = max(background.frames)
    for n in sorted(actor.frames):
        INTERRUPT.check()
        if n not in actor.mattes:
            raise CommandError(f"the backend returned no matte for actor frame {n}; is the key stage installed?")
        fg, matte = place(np.load(actor.frames[n]), actor.mattes[n], args.actor_scale, args.offset)
        bg = np.load(background.frames[min(n, last_bg)])
        atomic_write_png(os.path.join(out, FRAME.format(n)), job.alpha_over(fg, bg, matte))
        atomic_write_png(os.path.join(out, "matte", FRAME.format(n)), matte)
    return len(actor.frames)


def key_record(actor) -> dict:
    """What the key stage recorded (key colour used, where it came from, garbage matte, bars)."""
    prov = actor.provenance if isinstance(actor.provenance, dict) else {}
    return (prov.get("stages") or {}).get("key") or prov.get("key") or {}


def write_sidecar(args, out: str, actor, background, sizes: dict, layout: dict) -> None:
    import bpy
    from kino_addon.blender import addon
    from kino_addon.core.sidecar import build_sidecar, write_sidecar as write
    data = build_sidecar(
        status="completed",
        source={"actor": os.path.abspath(args.actor), "background": os.path.abspath(args.background), **sizes},
        workflow={"actor": actor.workflow, "background": background.workflow},
        options={}, frames={"count": len(actor.frames), "first": 1, "source_first": layout["first"]},
        provenance={"actor": actor.provenance, "background": background.provenance},
        versions={"kino": addon.version(), "blender": bpy.app.version_string},
        command=_command_line(args), reused=0)
    data["composite"] = {"operation": "alpha_over_straight_srgb", "key": key_record(actor),
                         "background_fit": "cover", "background_holds_last_frame": True,
                         "bars": args.bars, "picture_area": layout["picture"],
                         "actor_scale": args.actor_scale, "actor_offset": list(args.offset),
                         "actor_scale_pivot": "bottom centre"}
    write(out, data)


def save_blend(args, out: str, count: int, size: tuple, key_rgb) -> str:
    import bpy
    from kino_addon.blender import composite_job as job
    from kino_addon.blender import devload
    from kino_addon.blender import keying_tree
    scene = bpy.context.scene
    scene.name = "Kino Composite"
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = size[0], size[1], 100
    job.add_strip(scene, os.path.abspath(args.actor), 1, name="actor")
    job.add_strip(scene, os.path.abspath(args.background), 2, fit='FILL', name="background")
    comp = job.add_strip(scene, out, 3, name="composite")
    for s in scene.sequence_editor.strips:
        if s.name in ("actor", "background") and s.frame_final_duration > count:
            s.frame_final_duration = count
    scene.frame_start, scene.frame_end = 1, comp.frame_final_end - 1
    scene.view_settings.view_transform = 'Standard'
    if key_rgb:
        key_scene = bpy.data.scenes.new("Kino Key")
        keying_tree.build_keying_tree(key_scene, os.path.abspath(args.actor), os.path.abspath(args.background),
                                      key_rgb)
    blend = os.path.abspath(args.blend)
    try:
        os.makedirs(os.path.dirname(blend), exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create the folder for --blend {blend} ({exc.strerror or exc})") from None
    devload.submodule("kino_addon.blender.ingest").make_paths_relative(blend)
    bpy.ops.wm.save_as_mainfile(filepath=blend, relative_remap=False)  # the // paths are already right
    return blend


def decode_plates(job, args, work: str) -> tuple:
    """(actor plate, background plate, layout {first, picture, source_size}, notes): the actor's frames
    (cut to its picture area with --bars crop), the background rendered to cover that size."""
    from kino_addon.core.bars import picture_area
    first, last = args.frame_range or (1, None)
    limit = None if last is None else last - first + 1
    actor = job.decode(os.path.abspath(args.actor), os.path.join(work, "actor"), limit=limit, first=first)
    notes = []
    if last is not None and first + len(actor) - 1 < last:
        notes.append(f"--frames {first}:{last} goes past the actor's last frame; compositing {first}:"
                     f"{first + len(actor) - 1} ({len(actor)} frames)")
    source_size = (actor.width, actor.height)
    picture = picture_area([actor.read(n) for n in sorted({1, (len(actor) + 1) // 2, len(actor)})])
    if picture and args.bars == "crop":
        actor = actor.cropped(picture)
        notes.append(f"the actor plate has black bars: both plates are cut to its picture area "
                     f"{picture[2]}x{picture[3]} at {picture[0]},{picture[1]} (--bars keep keeps them)")
    INTERRUPT.check()
    size = (actor.width, actor.height)
    try:
        background = job.decode(os.path.abspath(args.background), os.path.join(work, "background"), size=size,
                                limit=len(actor), first=first)
    except job.CompositeError:  # shorter than the actor's first frame: start at its own first frame
        background = job.decode(os.path.abspath(args.background), os.path.join(work, "background"), size=size,
                                limit=len(actor))
    return actor, background, {"first": first, "picture": list(picture) if picture else None,
                               "source_size": list(source_size)}, notes


def run(args, folder: OutputFolder) -> dict:
    from kino_addon.blender import devload
    out = folder.open()
    verify_out(out)
    python = backend_python()
    devload.load_extension(private_tmp=True)
    from kino_addon.blender import composite_job as job
    from kino_addon.protocol.launcher import start_backend
    work = job.work_dir()
    backend = None
    try:
        actor_src, bg_src, layout, notes = decode_plates(job, args, work)
        size = (actor_src.width, actor_src.height)
        try:
            check_placement(args.actor_scale, args.offset, *size)
        except PlacementError as exc:
            raise CommandError(str(exc), 2) from None
        backend = start_backend(python, run_dir=os.path.join(work, "run"), code_root=devload.REPO_ROOT)
        client = backend.connect("kino-composite/0.1")
        actor_wf, bg_wf = workflows(client.hello, args, tuple(layout["picture"]) if actor_src.crop else None)
        actor = job.run_job(client, actor_wf, actor_src, len(actor_src), work, stop=INTERRUPT)
        background = job.run_job(client, bg_wf, bg_src, len(bg_src), work, stop=INTERRUPT)
        count = write_outputs(job, actor, background, out, args)
        write_sidecar(args, out, actor, background, {"width": size[0], "height": size[1],
                                                     "background_frames": len(bg_src)}, layout)
        key = key_record(actor)
        blend = save_blend(args, out, count, size, key.get("key_color")) if args.blend else None
    except job.Stopped:
        raise Interrupted() from None
    except (job.CompositeError, job.BackendError) as exc:
        raise CommandError(getattr(exc, "message", None) or str(exc)) from None
    finally:
        if backend is not None:
            backend.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {"out": out, "frames": count, "width": size[0], "height": size[1], "key_color": key.get("key_color"),
            "blend": blend, "notes": notes, "picture_area": layout["picture"]}


def main(argv) -> int:
    INTERRUPT.install()
    folder = None
    try:
        args = build_parser().parse_args(argv)
        check_args(args)
        folder = OutputFolder(args.out)
        result = run(args, folder)
    except (CommandError, Interrupted) as exc:
        if folder is not None:
            folder.discard_if_empty()
        if isinstance(exc, Interrupted):  # composites are written after both jobs: run again for all
            written = len([n for n in os.listdir(folder.path) if n.endswith(".png")]) if folder and \
                os.path.isdir(folder.path) else 0
            exc = interrupted(0, "") if not written else CommandError(
                f"interrupted; {written} composite frames were written to {folder.path}; run the same "
                "command again to make them all", interrupted(0, "").code)
        print(f"kino composite: {exc}", file=sys.stderr)
        return exc.code
    for note in result["notes"]:
        print(f"kino composite: note: {note}", file=sys.stderr)
    print(f"kino composite: {result['frames']} frames ({result['width']}x{result['height']}) in {result['out']}, "
          f"key colour {result['key_color']}" + (f"; scene saved to {result['blend']}" if result["blend"] else ""))
    if args.json:
        print(json.dumps(result))
    return 0
