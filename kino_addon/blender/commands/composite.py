"""``scripts/kino composite --actor A --background B [--actor-look L] [--background-look L]
[--key-color R,G,B] [--garbage-matte X,Y,W,H] --out DIR [--blend FILE.blend]`` (contract §3).

The actor (shot on a green or blue screen) and the background are decoded through Blender's
sequencer, stylized by the real backend, each with its own look (``toon`` by default): the actor with
``[key, <look>, temporal]`` so the matte comes back with every frame, the background with
``[<look>, temporal]``. The stylized actor goes over the stylized background through the matte (a
straight alpha-over on sRGB values, as the sequencer's Alpha Over does). ``DIR`` gets exactly
``frame_NNNN.png`` (the actor's size and length; the background is scaled to cover and holds its last
frame when shorter) and ``kino.json``; the mattes go to ``DIR/matte/frame_NNNN.png``. ``--blend``
saves a scene with the source strips and the composite image-sequence strip above them, plus a scene
"Kino Key" holding the same key as a Keying compositor tree the artist can open and tweak.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import sys

from .stylize import CommandError, backend_python, verify_out

FRAME = "frame_{:04d}.png"


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
    from kino_addon.core.workflow import WorkflowError, add_stage_first, compose_workflow
    key_params = {"key_color": args.key_color.replace(" ", "") if args.key_color else "auto"}
    if args.garbage_matte:
        key_params["garbage_matte"] = args.garbage_matte.replace(" ", "")
    try:
        actor = add_stage_first(compose_workflow(hello, args.actor_look), "key", key_params)
        background = compose_workflow(hello, args.background_look)
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
    parts += ["--out", args.out]
    return " ".join(shlex.quote(p) for p in parts)


def write_outputs(job, actor, background, out: str) -> int:
    """Composite every actor frame over its background frame; write the frames and the mattes."""
    import numpy as np
    from kino_addon.core.files import atomic_write_png
    os.makedirs(os.path.join(out, "matte"), exist_ok=True)
    last_bg = max(background.frames)
    for n in sorted(actor.frames):
        if n not in actor.mattes:
            raise CommandError(f"the backend returned no matte for actor frame {n}; is the key stage installed?")
        fg = np.load(actor.frames[n])
        bg = np.load(background.frames[min(n, last_bg)])
        atomic_write_png(os.path.join(out, FRAME.format(n)), job.alpha_over(fg, bg, actor.mattes[n]))
        atomic_write_png(os.path.join(out, "matte", FRAME.format(n)), actor.mattes[n])
    return len(actor.frames)


def key_record(actor) -> dict:
    """What the key stage recorded (key colour used, where it came from, garbage matte, bars)."""
    prov = actor.provenance if isinstance(actor.provenance, dict) else {}
    return (prov.get("stages") or {}).get("key") or prov.get("key") or {}


def write_sidecar(args, out: str, actor, background, sizes: dict) -> None:
    import bpy
    from kino_addon.blender import addon
    from kino_addon.core.sidecar import build_sidecar, write_sidecar as write
    data = build_sidecar(
        status="completed",
        source={"actor": os.path.abspath(args.actor), "background": os.path.abspath(args.background), **sizes},
        workflow={"actor": actor.workflow, "background": background.workflow},
        options={}, frames={"count": len(actor.frames), "first": 1},
        provenance={"actor": actor.provenance, "background": background.provenance},
        versions={"kino": addon.version(), "blender": bpy.app.version_string},
        command=_command_line(args), reused=0)
    data["composite"] = {"operation": "alpha_over_straight_srgb", "key": key_record(actor),
                         "background_fit": "cover", "background_holds_last_frame": True}
    write(out, data)


def save_blend(args, out: str, count: int, size: tuple, key_rgb) -> str:
    import bpy
    from kino_addon.blender import composite_job as job
    from kino_addon.blender import compat, keying_tree
    scene = bpy.context.scene
    scene.name = "Kino Composite"
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = size[0], size[1], 100
    job.add_strip(scene, os.path.abspath(args.actor), 1, name="actor")
    job.add_strip(scene, os.path.abspath(args.background), 2, fit='FILL', name="background")
    comp = job.add_strip(scene, out, 3, name="composite")
    for s in scene.sequence_editor.strips:
        if s.name in ("actor", "background") and compat.strip_time(s, "duration") > count:
            compat.set_strip_time(s, "duration", count)
    scene.frame_start, scene.frame_end = 1, compat.strip_span(comp)[1] - 1
    scene.view_settings.view_transform = 'Standard'
    if key_rgb:
        key_scene = bpy.data.scenes.new("Kino Key")
        keying_tree.build_keying_tree(key_scene, os.path.abspath(args.actor), os.path.abspath(args.background),
                                      key_rgb)
    blend = os.path.abspath(args.blend)
    os.makedirs(os.path.dirname(blend), exist_ok=True)
    bpy.ops.wm.save_as_mainfile(filepath=blend)
    return blend


def run(args) -> dict:
    from kino_addon.blender import devload
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    verify_out(out)
    python = backend_python()
    devload.load_extension()
    from kino_addon.blender import composite_job as job
    from kino_addon.protocol.launcher import start_backend
    work = job.work_dir()
    backend = None
    try:
        actor_src = job.decode(os.path.abspath(args.actor), os.path.join(work, "actor"))
        size = (actor_src.width, actor_src.height)
        bg_src = job.decode(os.path.abspath(args.background), os.path.join(work, "background"), size=size,
                            limit=len(actor_src))
        backend = start_backend(python, run_dir=os.path.join(work, "run"), code_root=devload.REPO_ROOT)
        client = backend.connect("kino-composite/0.1")
        actor_wf, bg_wf = workflows(client.hello, args)
        actor = job.run_job(client, actor_wf, actor_src, len(actor_src), work)
        background = job.run_job(client, bg_wf, bg_src, len(bg_src), work)
        count = write_outputs(job, actor, background, out)
        write_sidecar(args, out, actor, background, {"width": size[0], "height": size[1],
                                                     "background_frames": len(bg_src)})
        key = key_record(actor)
        blend = save_blend(args, out, count, size, key.get("key_color")) if args.blend else None
    except (job.CompositeError, job.BackendError) as exc:
        raise CommandError(getattr(exc, "message", None) or str(exc)) from None
    finally:
        if backend is not None:
            backend.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {"out": out, "frames": count, "width": size[0], "height": size[1], "key_color": key.get("key_color"),
            "blend": blend}


def main(argv) -> int:
    try:
        args = build_parser().parse_args(argv)
        check_args(args)
        result = run(args)
    except CommandError as exc:
        print(f"kino composite: {exc}", file=sys.stderr)
        return exc.code
    print(f"kino composite: {result['frames']} frames ({result['width']}x{result['height']}) in {result['out']}, "
          f"key colour {result['key_color']}" + (f"; scene saved to {result['blend']}" if result["blend"] else ""))
    if args.json:
        print(json.dumps(result))
    return 0
