"""What the install tests do inside Blender (bpy), one action per process, like an artist's sessions:

    python blender_side.py ACTION [ARGS...]      (BLENDER_USER_RESOURCES names the user folder)

Actions: install-zip ZIP | install DEVICE [repair] | check | stylize OUT | ui-progress | remove |
offline | disk-preflight | looks. Everything goes through the extension installed from the zip in
that user folder (``bl_ext.user_default.kino``), never through the checkout. Each action prints
``RESULT <json>`` lines.
"""
import json
import os
import sys

assert os.environ.get("BLENDER_USER_RESOURCES"), "set BLENDER_USER_RESOURCES"
import bpy  # noqa: E402  (after BLENDER_USER_RESOURCES)
import addon_utils  # noqa: E402  (available once bpy is imported)

MODULE = "bl_ext.user_default.kino"


def result(**kw):
    print("RESULT " + json.dumps(kw), flush=True)


def sub(dotted):
    import importlib
    return importlib.import_module(f"{MODULE}.{dotted}")


def load(online=True):
    """The add-on as the artist's Blender has it: saved preferences, the installed extension enabled."""
    bpy.ops.wm.read_userpref()
    if MODULE not in bpy.context.preferences.addons:
        addon_utils.enable(MODULE, default_set=True)
    bpy.context.preferences.system.use_online_access = online
    assert bpy.app.online_access == online
    return bpy.context.preferences.addons[MODULE].preferences


def op(fn, **kw):
    """Call an operator; an ERROR report raises in the background: return (result, message)."""
    try:
        return sorted(fn(**kw)), ""
    except RuntimeError as exc:
        return ["CANCELLED"], str(exc)


def install_zip(zip_path):
    res = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    prefs = load()
    bpy.ops.wm.save_userpref()
    result(installed=sorted(res), python_path=prefs.python_path, file=sys.modules[MODULE].__file__)


def install(device, repair=""):
    prefs = load()
    bi = sub("kino_addon.blender.backend_install")
    res, msg = op(bpy.ops.kino.install_backend, device=device, repair=bool(repair))
    bpy.ops.wm.save_userpref()
    result(result=res, error=msg, python_path=prefs.python_path, env=bi.env_dir(), message=bi.STATE.message,
           summary=bi.STATE.summary, state=bi.STATE.job.progress.state, warnings=list(bi.STATE.job.progress.warnings))


def check():
    load()
    bi = sub("kino_addon.blender.backend_install")
    res, msg = op(bpy.ops.kino.check_backend)
    result(result=res, error=msg, summary=bi.STATE.summary, report=bi.STATE.job.report)


def make_frames(folder, n=4, w=96, h=64):
    """A moving gradient with a checker (numpy + the extension's own PNG writer)."""
    import numpy as np
    png = sub("kino_addon.core.png")
    os.makedirs(folder, exist_ok=True)
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(n):
        img = np.stack([((xx + 7 * i) % w) * 255 // w, yy * 255 // h, ((xx // 12 + yy // 12) % 2) * 200], -1)
        with open(os.path.join(folder, f"src_{i + 1:04d}.png"), "wb") as fh:
            fh.write(png.encode_png(img.astype(np.uint8)))
    return sorted(os.listdir(folder))


def frame_changes(src_dir, out_dir):
    """Mean absolute change of each result frame against its source, and the result's spread."""
    import numpy as np
    png = sub("kino_addon.core.png")
    srcs = sorted(f for f in os.listdir(src_dir) if f.endswith(".png"))
    outs = sorted(f for f in os.listdir(out_dir) if f.startswith("frame_") and f.endswith(".png"))
    stats = []
    for s, o in zip(srcs, outs):
        a = png.read_png(os.path.join(src_dir, s))[..., :3].astype(np.int16)
        b = png.read_png(os.path.join(out_dir, o))[..., :3].astype(np.int16)
        stats.append([list(b.shape), float(np.abs(a - b).mean()), float(b.std())])
    return outs, stats


def stylize(out):
    prefs = load()
    scene = bpy.context.scene
    sub("kino_addon.blender.compat").set_sequencer_scene(bpy.context, scene)
    scene.sequence_editor_create()
    names = make_frames(os.path.join(out, "src"))
    strip = scene.sequence_editor.strips.new_image("src", os.path.join(out, "src", names[0]), 1, 1)
    for name in names[1:]:
        strip.elements.append(name)
    scene.frame_end = len(names)
    strip.select = True
    scene.sequence_editor.active_strip = strip
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(out, "shot.blend"))
    res_start, msg_start = op(bpy.ops.kino.backend_start)
    backend = sub("kino_addon.blender.connection").BACKEND
    proc = backend.process.proc if backend.process is not None else None
    kino = bpy.context.scene.kino
    kino.look = "toon"
    res, msg = op(bpy.ops.kino.stylize, output_dir=os.path.join(out, "result"), synchronous=True)
    cache = os.path.join(bpy.utils.extension_path_user(MODULE), "cache", "looks-from-last-hello.json")
    outs, stats = frame_changes(os.path.join(out, "src"), os.path.join(out, "result")) if res == ["FINISHED"] \
        else ([], [])
    result(start=res_start, start_error=msg_start, result=res, error=msg, python_path=prefs.python_path,
           frames=outs, stats=stats, kino_json=os.path.isfile(os.path.join(out, "result", "kino.json")),
           backend_python=proc.args[0] if proc else "",
           code_root=sub("kino_addon.blender.addon").code_root(), cache=os.path.isfile(cache),
           looks=[lk["name"] for lk in backend.hello.get("looks", [])])
    backend.stop()


def ui_progress():
    """The UI path (timer + thread), driven by hand: timers never fire in background bpy."""
    import time
    load()
    bi = sub("kino_addon.blender.backend_install")
    core = sub("kino_addon.core.backend_install")
    shown = []
    bi._show = lambda text: shown.append(text)
    bi.start_async(core.CheckJob(bi.env_dir(), sub("kino_addon.blender.addon").code_root()), "check")
    t_calls = []
    while True:
        t0 = time.monotonic()
        again = bi._tick()
        t_calls.append(time.monotonic() - t0)
        if again is None:
            break
        time.sleep(0.1)
    check_shown = [s for s in shown if s]
    # an install started the UI way, cancelled from the Cancel button while pip runs
    prefs = bpy.context.preferences.addons[MODULE].preferences
    req = core.InstallRequest(env_dir=bi.env_dir(), device="CPU", code_root=sub("kino_addon.blender.addon").code_root())
    bi.start_async(core.InstallJob(req), "install", req)
    labels = []
    while bi._tick() is not None:
        p = bi.STATE.job.progress
        labels.append(p.label)
        if p.step >= 2 and p.label.startswith("Installing torch"):
            layout = FakeLayout()
            bi.draw_install(layout, prefs)
            drawn = layout.calls
            bpy.ops.kino.cancel_backend_install()
        time.sleep(0.1)
    result(check_summary=bi.STATE.summary, shown=check_shown[:3], cleared=shown[-1] is None,
           slowest_tick=max(t_calls), labels=list(dict.fromkeys(labels)), state=bi.STATE.job.progress.state,
           error=bi.STATE.error, drawn=drawn)


class FakeLayout:
    def __init__(self, calls=None):
        self.calls = [] if calls is None else calls

    def __getattr__(self, name):
        def call(*args, **kw):
            self.calls.append([name, kw.get("text", ""), kw.get("factor", None)])
            return FakeLayout(self.calls)
        return call


def remove():
    prefs = load()
    bi = sub("kino_addon.blender.backend_install")
    before = prefs.python_path
    res, msg = op(bpy.ops.kino.remove_backend)
    result(result=res, error=msg, message=bi.STATE.message, exists=os.path.exists(bi.env_dir()),
           python_before=before, python_after=prefs.python_path)


def offline():
    load(online=False)
    bi = sub("kino_addon.blender.backend_install")
    res, msg = op(bpy.ops.kino.install_backend, device="CPU")
    layout = FakeLayout()
    bi.draw_install(layout, bpy.context.preferences.addons[MODULE].preferences)
    result(result=res, error=msg, env_exists=os.path.exists(bi.env_dir()),
           drawn=" ".join(c[1] for c in layout.calls if c[0] == "label"))


def disk_preflight():
    import collections
    import shutil
    load()
    usage = collections.namedtuple("usage", "total used free")
    shutil.disk_usage = lambda path: usage(100 * 10 ** 9, 99 * 10 ** 9, 10 ** 9)  # a nearly full disk
    bi = sub("kino_addon.blender.backend_install")
    res, msg = op(bpy.ops.kino.install_backend, device="CPU")
    result(result=res, error=msg, env_exists=os.path.exists(bi.env_dir()), state=bi.STATE.job.progress.state)


def disk_fills(tmpfs_free_gb):
    """The disk fills up while pip writes (preflight told a story: 500 GB free)."""
    import collections
    import shutil
    load()
    usage = collections.namedtuple("usage", "total used free")
    shutil.disk_usage = lambda path: usage(10 ** 12, 5 * 10 ** 11, 5 * 10 ** 11)
    bi = sub("kino_addon.blender.backend_install")
    res, msg = op(bpy.ops.kino.install_backend, device="CPU")
    p = bi.STATE.job.progress
    result(result=res, error=msg, state=p.state, step=p.label, record=os.path.exists(
        os.path.join(bi.env_dir(), "kino-install.json")))


def looks():
    load()
    props = sub("kino_addon.blender.stylize.props")
    scene = bpy.context.scene
    sub("kino_addon.blender.compat").set_sequencer_scene(bpy.context, scene)
    names = [i[0] for i in props._look_items(scene.kino, None)]
    scene.kino.look = "watercolor"
    params = sorted({(p.stage, p.name) for p in scene.kino.params})
    result(looks=names, synced=scene.kino.synced_look, params=params,
           running=sub("kino_addon.blender.connection").BACKEND.connected())


if __name__ == "__main__":
    action, args = sys.argv[1], sys.argv[2:]
    {"install-zip": install_zip, "install": install, "check": check, "stylize": stylize, "ui-progress": ui_progress,
     "remove": remove, "offline": offline, "disk-preflight": disk_preflight, "disk-fills": disk_fills,
     "looks": looks}[action](*args)
