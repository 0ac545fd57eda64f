"""Preferences > Add-ons > Kino: Install, Check, Update, Reinstall and Remove the backend.

``kino.install_backend(device=AUTO|CUDA|ROCM|MPS|CPU)`` builds the backend's Python environment in
the extension's user folder (``<extensions>/.user/<repo>/kino/backend-env``) with the code of
``kino_addon.core.backend_install`` (the same as ``scripts/kino backend install``) and sets "Backend
Python" to it. In the background (``bpy.app.background``) it runs to the end before returning; in
the UI a timer polls the job, so Blender never freezes: progress shows in the preferences and the
status bar, and Cancel stops it (running Install again completes it).
"""
from __future__ import annotations

import atexit
import os

import bpy
from bpy.props import BoolProperty, EnumProperty

from ..core import backend_install as core
from ..core.backend_install_cli import default_env_dir
from ..core.backend_install_plan import env_python
from . import addon

TICK = 0.25
DEVICE_ITEMS = [('AUTO', "Auto", "Detect the GPU (NVIDIA: CUDA, AMD: ROCm, Apple silicon: MPS), else the CPU"),
                ('CUDA', "CUDA", "NVIDIA GPU (torch's CUDA 12 build from download.pytorch.org)"),
                ('ROCM', "ROCm", "AMD GPU on Linux (torch's ROCm build from download.pytorch.org)"),
                ('MPS', "Apple GPU", "Apple silicon Mac (torch's default macOS wheel)"),
                ('CPU', "CPU", "No GPU: the classic looks run well; diffusion is slow")]
LABELS = {"": "Install Backend", "INSTALL": "Install Backend", "UPDATE": "Update Backend",
          "REPAIR": "Reinstall Backend"}


class _State:
    """The one backend-install job of this Blender session and what the last one found."""

    def __init__(self):
        self.job = None
        self.kind = ""  # install, check, remove
        self.request = None
        self.summary: dict = {}
        self.looked = False  # the quick summary (files only) was read once
        self.message = ""
        self.error = ""

    @property
    def active(self) -> bool:
        return self.job is not None and self.job.progress.state == "running"


STATE = _State()


def env_dir() -> str:
    """Where the backend environment lives: the extension's own user folder."""
    try:
        return os.path.join(bpy.utils.extension_path_user(addon.ADDON_ID, create=False), "backend-env")
    except ValueError:  # loaded as a plain add-on, not an extension
        return default_env_dir()


def installed_python() -> str:
    """The installed environment's Python when its install finished, else ""."""
    env = env_dir()
    done = os.path.isfile(os.path.join(env, core.RECORD))
    return env_python(env) if done and os.path.exists(env_python(env)) else ""


def offline_reason() -> str:
    if bpy.app.online_access:
        return ""
    if getattr(bpy.app, "online_access_overridden", False):
        return ("Blender was started in offline mode (--offline-mode), so Kino installs nothing. Start "
                "Blender without it (or install from a terminal: see 'Installing the backend' in Kino's README).")
    return core.OFFLINE


def _show(text) -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for win in (wm.windows if wm is not None else []):
        try:
            win.workspace.status_text_set(text)
        except (AttributeError, RuntimeError, TypeError):
            pass
        for area in win.screen.areas:
            if area.type == 'PREFERENCES':
                area.tag_redraw()


def _finish(job) -> None:
    """After a job ends: results, preference, messages."""
    progress = job.progress
    STATE.error = progress.message if progress.state in ("failed", "cancelled") else ""
    warn = " ".join(progress.warnings)
    if STATE.kind == "install" and progress.state == "done":
        req = STATE.request
        prefs = addon.preferences()
        if prefs is not None:
            prefs.python_path = req.python
            prefs.backend_mode = 'LOCAL'
        STATE.summary = core.summarize(req.env_dir, job.report, req.code_root)
        torch = job.report.get("torch") or {}
        STATE.message = (f"Backend installed for {job.prepared.device}: Python {job.report.get('python')}, "
                         f"torch {torch.get('version')} ({torch.get('build')}), device {torch.get('device')}. "
                         f"Backend Python is set. {warn}").strip()
    elif STATE.kind == "check":
        STATE.summary = job.summary or {}
        STATE.message = "Backend works." if STATE.summary.get("ok") else ""
        if STATE.summary and not STATE.summary.get("ok"):
            STATE.error = ""
    elif STATE.kind == "remove" and progress.state == "done":
        prefs = addon.preferences()
        if prefs is not None and prefs.python_path.startswith(os.path.abspath(job.env_dir)):
            prefs.python_path = ""
        STATE.summary = core.quick_summary(job.env_dir, addon.code_root())
        STATE.message = f"Backend removed: {job.freed / 1e9:.2f} GB freed."
    elif STATE.kind == "install" and job.report:
        STATE.summary = core.summarize(STATE.request.env_dir, job.report, STATE.request.code_root)


def _tick():
    job = STATE.job
    if job is None:
        return None
    progress = job.poll()
    if progress.state == "running":
        _show(f"Kino backend: {progress.text()}")
        return TICK
    _finish(job)
    _show(None)
    return None


def start_async(job, kind: str, request=None) -> None:
    """The UI path: prepare in a thread, steps as subprocesses, a timer polls (Blender never freezes)."""
    STATE.job, STATE.kind, STATE.request = job, kind, request
    STATE.message = STATE.error = ""
    job.start(threaded=True)
    if not bpy.app.timers.is_registered(_tick):  # persistent: opening another .blend must not orphan it
        bpy.app.timers.register(_tick, first_interval=TICK, persistent=True)


def run_sync(job, kind: str, request=None):
    """The background path (scripts, tests): run to the end before returning; returns the progress."""
    STATE.job, STATE.kind, STATE.request = job, kind, request
    STATE.message = STATE.error = ""
    job.start(threaded=False)
    last = [""]

    def show(progress) -> None:  # the console of a background Blender: one line per change
        if progress.text() != last[0]:
            last[0] = progress.text()
            print(f"Kino backend: {last[0]}", flush=True)
    job.wait(tick=0.2, on_progress=show)
    _finish(job)
    return job.progress


def run_install_op(op, job, kind: str, request=None) -> set:
    if STATE.active:
        op.report({'ERROR'}, "Kino: a backend install or check is already running; wait or cancel it")
        return {'CANCELLED'}
    if not bpy.app.background:
        start_async(job, kind, request)
        op.report({'INFO'}, f"Kino: backend {kind} started (progress in Preferences > Add-ons > Kino and the "
                            "status bar)")
        return {'FINISHED'}
    progress = run_sync(job, kind, request)
    if kind == "check" and STATE.summary:  # a check that found problems still did its job
        ok = STATE.summary.get("ok")
        op.report({'INFO'} if ok else {'WARNING'},
                  "Kino: " + " ".join(STATE.summary["lines"] if ok else STATE.summary["problems"]))
        return {'FINISHED'}
    if progress.state != "done":
        op.report({'ERROR'}, f"Kino: {progress.message}")
        return {'CANCELLED'}
    op.report({'INFO'}, f"Kino: {STATE.message or 'done'}")
    return {'FINISHED'}


class KINO_OT_install_backend(bpy.types.Operator):
    bl_idname = "kino.install_backend"
    bl_label = "Install Backend"
    bl_description = ("Download and install Kino's backend (Python 3.11, torch for the device, diffusers, "
                      "OpenCV: about 2 GB, a few minutes) into Blender's user folder, check it and use it")

    device: EnumProperty(name="Device", items=DEVICE_ITEMS, default='AUTO')
    repair: BoolProperty(name="Repair", default=False, options={'SKIP_SAVE'},
                         description="Also reinstall the packages the last check found broken")

    def invoke(self, context, event):
        return context.window_manager.invoke_confirm(
            self, event, title="Install Kino's backend", confirm_text="Install",
            message="Downloads about 2 GB of Python packages with pip (a few minutes); Blender stays usable")

    def execute(self, context):
        reason = offline_reason()
        if reason:
            STATE.error, STATE.message = reason, ""
            self.report({'ERROR'}, f"Kino: {reason}")
            return {'CANCELLED'}
        prefs = addon.preferences()
        req = core.InstallRequest(env_dir=env_dir(), device=self.device, code_root=addon.code_root(),
                                  base_python=getattr(prefs, "install_python", "") or "",
                                  torch_index=getattr(prefs, "torch_index", "") or "", repair=self.repair,
                                  online=bool(bpy.app.online_access))
        if req.base_python:
            req.base_python = bpy.path.abspath(req.base_python)
        return run_install_op(self, core.InstallJob(req), "install", req)


class KINO_OT_check_backend(bpy.types.Operator):
    bl_idname = "kino.check_backend"
    bl_label = "Check Backend"
    bl_description = "Show what is installed (Python, torch, device, versions, disk used) and what is wrong"

    def execute(self, context):
        return run_install_op(self, core.CheckJob(env_dir(), addon.code_root()), "check")


class KINO_OT_cancel_backend_install(bpy.types.Operator):
    bl_idname = "kino.cancel_backend_install"
    bl_label = "Cancel"
    bl_description = "Stop the install; what is already installed is kept and Install completes it later"

    @classmethod
    def poll(cls, context):
        return STATE.active

    def execute(self, context):
        STATE.job.cancel()
        return {'FINISHED'}


def _wrap(layout, text: str, icon: str = 'NONE', width: int = 90) -> None:
    line, first = "", True
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            layout.label(text=line, icon=icon if first else 'BLANK1')
            line, first = word, False
        else:
            line = f"{line} {word}".strip()
    if line:
        layout.label(text=line, icon=icon if first else 'BLANK1')


def draw_install(layout, prefs) -> None:
    """The "Backend install" box of the preferences (only reads state)."""
    box = layout.box()
    box.label(text="Backend install", icon='PACKAGE')
    if STATE.active:
        p = STATE.job.progress
        _wrap(box, (f"Step {p.step}/{p.steps}: {p.label}" if p.step else p.label) +
              (f" - {p.package}" if p.package else ""))
        box.progress(factor=p.fraction, text=f"{p.fraction * 100:.0f}%")
        box.operator("kino.cancel_backend_install", icon='CANCEL')
        return
    if not STATE.looked and not STATE.summary:
        STATE.summary, STATE.looked = core.quick_summary(env_dir(), addon.code_root()), True
    row = box.row(align=True)
    row.prop(prefs, "install_device", text="")
    action = STATE.summary.get("action", "") if STATE.summary else ""
    op = row.operator("kino.install_backend", text=LABELS.get(action, "Install Backend"), icon='IMPORT')
    op.device, op.repair = prefs.install_device, action == "REPAIR"
    row = box.row(align=True)
    row.operator("kino.check_backend", icon='VIEWZOOM')
    row.operator("kino.remove_backend", icon='TRASH')
    col = box.column()
    col.prop(prefs, "install_python")
    col.prop(prefs, "torch_index")
    reason = offline_reason()
    if reason:
        _wrap(box, reason, icon='INFO')
    if STATE.error and STATE.error != reason:
        _wrap(box, STATE.error, icon='ERROR')
    if STATE.message:
        _wrap(box, STATE.message, icon='CHECKMARK')
    for line in (STATE.summary or {}).get("lines", []):
        _wrap(box, line)
    for problem in (STATE.summary or {}).get("problems", []):
        _wrap(box, problem, icon='ERROR')


def _cancel_running() -> None:
    """Blender quits or the add-on goes: stop pip (a later Install completes the environment)."""
    if STATE.active:
        STATE.job.cancel()


def on_register():
    atexit.register(_cancel_running)


def on_unregister():
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
    _cancel_running()
    atexit.unregister(_cancel_running)


CLASSES = (KINO_OT_install_backend, KINO_OT_check_backend, KINO_OT_cancel_backend_install)  # Remove: backend_ops
