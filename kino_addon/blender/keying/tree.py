"""The Keying compositor tree the artist can open: actor (image sequence, still or movie clip) ->
Keying (key colour set) -> Alpha Over over the background (scaled to cover the actor's frame).

Built in its own scene (a scene with sequencer strips would render its strips instead of the
compositor), rendered headless with the Standard view transform so pixels come out as they went in.
Blender's compositor works in scene-linear light, so the key colour (sRGB 0-255) is converted to
linear before it goes into the Keying node's Key Color socket.

Also runnable for the keying benchmark (``kino_backend.benchmarks.keying`` calls it in .venv-blender)::

    python -m kino_addon.blender.keying.tree --actor A --background B --key R,G,B --out DIR [--garbage X,Y,W,H]

which writes ``DIR/composite_NNNN.png`` (the tree's output), ``DIR/matte_NNNN.png`` (16-bit) and
``DIR/keyed_NNNN.png`` (the Keying node's despilled image, RGBA 16-bit).
"""
from __future__ import annotations

import argparse
import os
import re
import sys

import bpy

from ...core.media import image_files, is_movie
from .. import compat

TREE_NAME = "Kino Key"


def srgb_to_linear(value: float) -> float:
    c = value / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def key_socket_value(key_rgb) -> tuple:
    """sRGB 0-255 -> the scene-linear RGBA the Keying node's Key Color socket wants."""
    return tuple(srgb_to_linear(float(v)) for v in key_rgb) + (1.0,)


def source_node(tree, path: str):
    """A compositor node reading ``path`` (movie file, image folder, or one image). An image folder is
    read as Blender reads an image sequence: by the frame number in the file names, which should be
    consecutive (frame_0001.png, frame_0002.png ...).

    Returns (node, (width, height), frame_count)."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        names = image_files(path)
        img = bpy.data.images.load(os.path.join(path, names[0]), check_existing=False)
        node = tree.nodes.new("CompositorNodeImage")
        if len(names) > 1:
            img.source = 'SEQUENCE'
        node.image = img
        # Blender picks the file by the number in its name: scene frame 1 must show the first file
        digits = re.search(r"(\d+)(?=\.[^.]+$)", names[0])
        first_number = int(digits.group(1)) if digits else 1
        node.frame_start, node.frame_offset, node.frame_duration = 1, first_number - 1, len(names)
        return node, tuple(img.size), len(names)
    if is_movie(path):
        clip = bpy.data.movieclips.load(path, check_existing=False)
        node = tree.nodes.new("CompositorNodeMovieClip")
        node.clip = clip
        return node, tuple(clip.size), int(clip.frame_duration)
    if not os.path.isfile(path):
        raise ValueError(f"{path} does not exist")
    img = bpy.data.images.load(path, check_existing=False)
    node = tree.nodes.new("CompositorNodeImage")
    node.image = img
    return node, tuple(img.size), 1


def _garbage_nodes(tree, keying, rect, size) -> None:
    """Box mask over the rectangle (X, Y, W, H in px, y down), inverted into the Garbage Matte input."""
    x, y, w, h = rect
    width, height = size
    box = tree.nodes.new("CompositorNodeBoxMask")
    box.inputs["Position"].default_value = ((x + w / 2) / width, 1.0 - (y + h / 2) / height)
    box.inputs["Size"].default_value = (w / width, h / height)
    inv = tree.nodes.new("ShaderNodeMath")
    inv.operation = 'SUBTRACT'
    inv.inputs[0].default_value = 1.0
    tree.links.new(box.outputs["Mask"], inv.inputs[1])
    tree.links.new(inv.outputs[0], keying.inputs["Garbage Matte"])


def _file_output(tree, folder: str, prefix: str, socket, mode: str):
    fo, inputs = compat.file_output(tree, folder, prefix, [('RGBA' if mode != 'BW' else 'FLOAT', "v")],
                                    color_mode=mode, color_depth='16')
    tree.links.new(socket, inputs["v"])
    return fo


def build_keying_tree(scene, actor: str, background: str, key_rgb, garbage=None, extra_outputs: str = ""):
    """Build the tree on ``scene`` (which should have no sequencer strips). Sets the render size to the
    actor's and the frame range to its length. Returns a dict of the main nodes."""
    tree = compat.new_compositor_tree(scene, TREE_NAME)
    links = tree.links
    fg, size, count = source_node(tree, actor)
    bg, _bg_size, _bg_count = source_node(tree, background)
    scale = tree.nodes.new("CompositorNodeScale")  # cover: render size, cropped
    compat.scale_to_render_size(scale, 'CROP')
    key = tree.nodes.new("CompositorNodeKeying")
    key.inputs["Key Color"].default_value = key_socket_value(key_rgb)
    over = tree.nodes.new("CompositorNodeAlphaOver")
    out = compat.output_node(tree)
    plate, actor_in = compat.alpha_over_inputs(over)
    links.new(fg.outputs["Image"], key.inputs["Image"])
    links.new(bg.outputs["Image"], scale.inputs["Image"])
    links.new(scale.outputs["Image"], plate)
    links.new(key.outputs["Image"], actor_in)
    links.new(over.outputs["Image"], out.inputs["Image"])
    if garbage:
        _garbage_nodes(tree, key, garbage, size)
    if extra_outputs:
        _file_output(tree, extra_outputs, "matte_", key.outputs["Matte"], 'BW')
        _file_output(tree, extra_outputs, "keyed_", key.outputs["Image"], 'RGBA')
    for i, node in enumerate((fg, bg, scale, key, over, out)):
        node.location = (i * 220 - 600, 0 if node in (fg, key, over, out) else -300)
    r = scene.render
    r.resolution_x, r.resolution_y, r.resolution_percentage = size[0], size[1], 100
    r.use_compositing = True
    r.image_settings.file_format = 'PNG'
    r.image_settings.color_mode = 'RGB'
    r.image_settings.color_depth = '8'
    scene.view_settings.view_transform = 'Standard'
    scene.view_settings.look = 'None'
    if bpy.app.background:
        compat.cpu_compositor(scene)
    scene.frame_start, scene.frame_end = 1, max(1, count)
    return {"tree": tree, "actor": fg, "background": bg, "scale": scale, "keying": key, "alpha_over": over,
            "output": out, "size": size, "frames": count}


def render_tree(scene, out_dir: str, prefix: str = "composite_") -> list:
    """Render the scene's compositor over its frame range; return the written PNG paths."""
    os.makedirs(out_dir, exist_ok=True)
    scene.render.filepath = os.path.join(out_dir, prefix + "####")
    bpy.ops.render.render(animation=True, scene=scene.name)
    return [scene.render.frame_path(frame=f) for f in range(scene.frame_start, scene.frame_end + 1)]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m kino_addon.blender.keying.tree")
    p.add_argument("--actor", required=True)
    p.add_argument("--background", required=True)
    p.add_argument("--key", required=True, help="R,G,B sRGB 0-255")
    p.add_argument("--garbage", help="X,Y,W,H")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    key = [int(v) for v in args.key.split(",")]
    garbage = [int(v) for v in args.garbage.split(",")] if args.garbage else None
    scene = bpy.data.scenes.new("Kino Key")
    out = os.path.abspath(args.out)
    build_keying_tree(scene, args.actor, args.background, key, garbage, extra_outputs=out)
    paths = render_tree(scene, out)
    print(f"rendered {len(paths)} frames to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
