"""Every difference between the Blender releases Kino supports (4.5 LTS, 5.0, 5.2 LTS, 5.3) in one
place; the rest of the add-on calls these functions instead of the release-specific API.

The newest API is used wherever the running Blender has it (so nothing here needs touching when 6.0
removes the deprecated names); the older spelling is the fallback. Differences are detected from the
RNA definitions, not from version numbers, so a point release that back-ports a name just works.

==========================  =======================================  ======================================
what                        5.x (newest)                             4.5
==========================  =======================================  ======================================
sequencer scene             ``context.sequencer_scene`` (workspace)  ``context.scene``
compositor tree             5.3: ``scene.compositor_effects`` (an    ``scene.use_nodes`` + ``scene.node_tree``
                            effect's ``node_group``); 5.0-5.2:
                            ``scene.compositing_node_group``
compositor device           5.2+ defaults to GPU: Kino's headless    CPU
                            renders ask for CPU
compositor output           Group Output + an "Image" interface      Composite node
File Output                 ``directory``/``file_name``/items        ``base_path`` + ``file_slots``
Scale node                  "Type"/"Frame Type" input sockets        ``space``/``frame_method`` properties
Alpha Over inputs           "Background"/"Foreground"                by index (1, 2: both named "Image")
strip timing (5.1+)         ``left_handle``, ``right_handle``,       ``frame_final_start/end/duration``,
                            ``duration``, ``left/right_handle_       ``frame_offset_start/end``,
                            offset``, ``content_start``,             ``frame_start``,
                            ``content_trim_start/end``               ``animation_offset_start/end``
effect strip length         ``new_effect(length=)``                  ``new_effect(frame_end=)``
==========================  =======================================  ======================================
"""
from __future__ import annotations

import os

import bpy


def _has_prop(rna_type, name: str) -> bool:
    return name in rna_type.bl_rna.properties


#: 5.0+: the compositor is a node group assigned to the scene (4.5: the scene's embedded node_tree).
COMPOSITOR_GROUPS = _has_prop(bpy.types.Scene, "compositing_node_group")
#: 5.3+: the scene holds a stack of compositor effects, each with a node group
#: (``compositing_node_group``, the active effect's group, goes in 6.0).
COMPOSITOR_EFFECTS = _has_prop(bpy.types.Scene, "compositor_effects")
#: 5.0+: the sequencer edits the workspace's sequencer scene.
SEQUENCER_SCENE = _has_prop(bpy.types.WorkSpace, "sequencer_scene")
#: 5.1+: strip timing as handles and content (the frame_final_*/frame_offset_* names go in 6.0).
STRIP_HANDLES = _has_prop(bpy.types.Strip, "left_handle")

#: the option a path property that takes "//" (relative to the .blend) needs (4.5 to 5.3 have it);
#: without it, assigning a "//" path prints 'does not support blend relative "//" prefix'.
BLEND_RELATIVE = {'PATH_SUPPORTS_BLEND_RELATIVE'}

# new name -> the name before 5.1 (same meaning, same units)
_OLD_TIMING = {
    "left_handle": "frame_final_start",          # first timeline frame the strip shows
    "right_handle": "frame_final_end",           # first timeline frame after it (exclusive)
    "duration": "frame_final_duration",          # right_handle - left_handle
    "left_handle_offset": "frame_offset_start",  # handle trim from the content's start
    "right_handle_offset": "frame_offset_end",   # handle trim from the content's end
    "content_start": "frame_start",              # timeline frame where the source's first frame sits
    "content_duration": "frame_duration",        # the content's length in timeline frames, before handles
    "content_trim_start": "animation_offset_start",  # source frames skipped at the start
    "content_trim_end": "animation_offset_end",
}


# -- sequencer ---------------------------------------------------------------------------------------

def sequencer_scene(context):
    """The scene the Sequencer editor shows (None when there is none)."""
    if SEQUENCER_SCENE:
        return context.sequencer_scene
    return context.scene


def set_sequencer_scene(context, scene) -> None:
    """Make ``scene`` the one the Sequencer shows (what a user does by picking it in the editor)."""
    if SEQUENCER_SCENE:
        context.workspace.sequencer_scene = scene
    elif context.window is not None:
        context.window.scene = scene


def strip_time(strip, name: str):
    """A strip timing value by its 5.1+ name (a key of ``_OLD_TIMING``), on any release."""
    return getattr(strip, name if STRIP_HANDLES else _OLD_TIMING[name])


def set_strip_time(strip, name: str, value) -> None:
    setattr(strip, name if STRIP_HANDLES else _OLD_TIMING[name], value)


def strip_span(strip) -> tuple:
    """(left_handle, right_handle): the timeline frames ``[first, end)`` the strip shows."""
    return strip_time(strip, "left_handle"), strip_time(strip, "right_handle")


def new_effect(strips, name: str, type: str, channel: int, frame_start: int, length: int = 1, **inputs):
    """``strips.new_effect`` with the strip's length in frames (4.5 takes an exclusive end frame);
    ``inputs``: ``input1``/``input2``. Effects that take their length from an input ignore it."""
    if "length" in strips.bl_rna.functions["new_effect"].parameters:
        return strips.new_effect(name=name, type=type, channel=channel, frame_start=frame_start, length=length,
                                 **inputs)
    return strips.new_effect(name=name, type=type, channel=channel, frame_start=frame_start,
                             frame_end=frame_start + length, **inputs)


# -- compositor --------------------------------------------------------------------------------------

def compositor_tree(scene):
    """The scene's compositor node tree (5.3: the active effect's), or None."""
    if COMPOSITOR_EFFECTS:
        effect = scene.compositor_effects.active
        return effect.node_group if effect is not None else None
    if COMPOSITOR_GROUPS:
        return scene.compositing_node_group
    return scene.node_tree if scene.use_nodes else None


def set_compositor_tree(scene, tree) -> None:
    """Make ``tree`` (a compositor node group) the scene's compositor (5.3: its active effect's, one
    is added when the scene has none)."""
    if COMPOSITOR_EFFECTS:
        effect = scene.compositor_effects.active or scene.compositor_effects.new(tree.name)
        effect.node_group = tree
    else:
        scene.compositing_node_group = tree


def new_compositor_tree(scene, name: str):
    """An empty compositor tree made the scene's compositor (5.x: a new node group called ``name``
    with an "Image" output; 4.5: the scene's own tree, emptied). Add its output with ``output_node``."""
    if COMPOSITOR_GROUPS:
        tree = bpy.data.node_groups.new(name, "CompositorNodeTree")
        tree.interface.new_socket(name="Image", in_out='OUTPUT', socket_type='NodeSocketColor')
        set_compositor_tree(scene, tree)
        return tree
    scene.use_nodes = True
    tree = scene.node_tree
    tree.nodes.clear()
    return tree


def remove_compositor_tree(tree) -> None:
    """Delete a tree ``new_compositor_tree`` made when nothing uses it (4.5's belong to their scene)."""
    if COMPOSITOR_GROUPS and tree is not None and tree.users == 0:
        bpy.data.node_groups.remove(tree)


def cpu_compositor(scene) -> None:
    """Composite on the CPU (5.2+ default to the GPU, which a headless machine may only emulate)."""
    if _has_prop(bpy.types.RenderSettings, "compositor_device"):
        scene.render.compositor_device = 'CPU'


def output_node(tree):
    """The node whose "Image" input is what the render writes (5.x: Group Output; 4.5: Composite)."""
    if COMPOSITOR_GROUPS:
        return tree.nodes.new("NodeGroupOutput")
    node = tree.nodes.new("CompositorNodeComposite")
    node.use_alpha = True
    return node


def file_output(tree, directory: str, file_name: str, items, file_format: str = 'PNG', color_mode: str = 'RGBA',
                color_depth: str = '8'):
    """A File Output node writing ``<directory>/<file_name><item><frame>.<ext>`` for each
    ``(socket_type, item)`` of ``items`` (socket_type 'RGBA' or 'FLOAT'). Returns (node, {item: input})."""
    fo = tree.nodes.new("CompositorNodeOutputFile")
    fmt = fo.format
    if hasattr(fmt, "media_type"):  # 5.x: the default is a multilayer EXR; PNG needs media_type first
        fmt.media_type = 'IMAGE'
    fmt.file_format, fmt.color_mode, fmt.color_depth = file_format, color_mode, color_depth
    inputs = {}
    if hasattr(fo, "file_output_items"):
        fo.directory = directory.rstrip(os.sep) + os.sep
        fo.file_name = file_name
        for socket_type, item in items:
            fo.file_output_items.new(socket_type, item)
            inputs[item] = fo.inputs[item]
        return fo, inputs
    fo.base_path = directory.rstrip(os.sep) + os.sep  # 4.5: one path per slot, relative to base_path
    fo.file_slots.clear()
    for _socket_type, item in items:
        fo.file_slots.new(file_name + item)
        inputs[item] = fo.inputs[file_name + item]
    return fo, inputs


def scale_to_render_size(node, frame: str = 'CROP') -> None:
    """Set a Scale node to the render size; ``frame``: 'STRETCH', 'FIT' or 'CROP' (cover)."""
    if "Type" in node.inputs:
        node.inputs["Type"].default_value = "Render Size"
        node.inputs["Frame Type"].default_value = frame.title()
    else:
        node.space = 'RENDER_SIZE'
        node.frame_method = frame


def alpha_over_inputs(node) -> tuple:
    """(background, foreground) input sockets of an Alpha Over node."""
    if "Background" in node.inputs:
        return node.inputs["Background"], node.inputs["Foreground"]
    return node.inputs[1], node.inputs[2]
