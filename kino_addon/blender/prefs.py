"""Add-on preferences (how to reach the backend, where models live, which device to use, the cluster
stylize jobs run on) and the one place that turns them into what the backend gets: ``job_options``
(every job's ``options``), ``cluster_options`` (stylize jobs), ``models_dir`` and ``backend_python``."""
from __future__ import annotations

import os

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from . import addon
from .backend_install import DEVICE_ITEMS, draw_install, installed_python

BACKEND_PYTHON_ENV = "KINO_BACKEND_PYTHON"


class PreferenceError(RuntimeError):
    """A preference that cannot be used; the message says which and how to fix it."""


class KinoPreferences(bpy.types.AddonPreferences):
    """How to reach the backend (start it with a Python, or attach with host, port and key), the
    models folder and the device."""
    bl_idname = addon.ADDON_ID

    backend_mode: EnumProperty(
        name="Backend", default='LOCAL',
        items=[('LOCAL', "Start locally", "Start the backend as a subprocess of the Python below"),
               ('ATTACH', "Attach", "Connect to a backend that is already running (e.g. through an SSH tunnel)")])
    python_path: StringProperty(
        name="Backend Python", subtype='FILE_PATH', default=addon.checkout_backend_python(),
        description="Python interpreter of an environment with Kino's backend (torch, diffusers, OpenCV)")
    host: StringProperty(name="Host", default="127.0.0.1")
    port: IntProperty(name="Port", default=0, min=0, max=65535)
    key: StringProperty(name="Key", subtype='PASSWORD',
                        description="The backend's KINO_AUTHKEY (hex)")
    models_dir: StringProperty(name="Models folder", subtype='DIR_PATH',
                               description="Where checkpoints, LoRAs and ControlNets are found")
    cluster_address: StringProperty(
        name="Cluster address", default="",
        description="A Ray cluster (HOST:PORT, from scripts/kino cluster start) whose Kino workers stylize the "
                    "frames; this backend drives it. Empty: the backend stylizes on its own")
    device: EnumProperty(name="Device", default='AUTO',
                         items=[('AUTO', "Auto", "Best available"), ('CUDA', "CUDA", "NVIDIA GPU"),
                                ('MPS', "MPS", "Apple GPU"), ('CPU', "CPU", "Processor only")])
    install_device: EnumProperty(name="Install for", items=DEVICE_ITEMS, default='AUTO',
                                 description="Which torch build Install Backend downloads")
    install_python: StringProperty(name="Python for the backend", subtype='FILE_PATH',
                                   description="A Python 3.11 to build the backend from (empty: Blender's own "
                                               "Python when it is 3.11, else python3.11 on the PATH)")
    torch_index: StringProperty(name="Torch index", description="A mirror of download.pytorch.org's index for "
                                "the device, or 'pip' to take torch from pip's own configuration (empty: the "
                                "official index)")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "backend_mode", expand=True)
        if self.backend_mode == 'LOCAL':
            layout.prop(self, "python_path")
            if not self.python_path:
                layout.label(text="Press Install Backend below, or set the python of an environment where "
                                  "Kino's backend is installed", icon='INFO')
            draw_install(layout, self)
        else:
            row = layout.row()
            row.prop(self, "host")
            row.prop(self, "port")
            layout.prop(self, "key")
        layout.prop(self, "models_dir")
        layout.prop(self, "device")
        layout.prop(self, "cluster_address")
        if self.cluster_address.strip():
            layout.label(text="Stylize jobs run on the cluster's Kino workers (the backend needs Ray)", icon='INFO')


def _path(text: str) -> str:
    """A path typed in Blender (``//`` relative to the .blend, ``~``) as an absolute path."""
    return os.path.abspath(os.path.expanduser(bpy.path.abspath(text))) if text else ""


def models_dir(prefs=None) -> str:
    """The models folder as an absolute path ("" when unset)."""
    prefs = prefs if prefs is not None else addon.preferences()
    return _path(getattr(prefs, "models_dir", "") or "")


def job_options(prefs=None) -> dict:
    """The ``options`` every job starts from: ``models_dir`` and ``device`` when the preferences set
    them (the backend's default otherwise). Nothing else carries these two settings."""
    prefs = prefs if prefs is not None else addon.preferences()
    options = {}
    if models_dir(prefs):
        options["models_dir"] = models_dir(prefs)
    device = getattr(prefs, "device", "AUTO")
    if device != "AUTO":
        options["device"] = device.lower()
    return options


def cluster_options(prefs=None) -> dict:
    """``{"cluster": ADDRESS}`` when the preferences name a cluster for stylize jobs, else ``{}``."""
    prefs = prefs if prefs is not None else addon.preferences()
    address = (getattr(prefs, "cluster_address", "") or "").strip()
    return {"cluster": address} if address else {}


def backend_python(prefs=None) -> str:
    """The backend's Python: the preference 'Backend Python' when set, else ``$KINO_BACKEND_PYTHON``,
    else a checkout's ``.venv-backend``, else the one Install Backend made. Raises ``PreferenceError``
    when there is none."""
    prefs = prefs if prefs is not None else addon.preferences()
    python = (_path(getattr(prefs, "python_path", "") or "") or os.environ.get(BACKEND_PYTHON_ENV, "")
              or addon.checkout_backend_python() or installed_python())
    if not python:
        raise PreferenceError("no backend Python is set: in Preferences > Add-ons > Kino, press Install Backend "
                              "(or set 'Backend Python' to the python of an environment with Kino's backend "
                              "installed; a checkout makes one with scripts/setup_env.sh backend), or attach to "
                              "a running backend")
    if os.path.isdir(python):  # an environment's folder: its python
        inside = [os.path.join(python, *rel) for rel in (("bin", "python"), ("Scripts", "python.exe"), ("python.exe",))]
        found = next((p for p in inside if os.path.isfile(p)), None)
        if found is None:
            raise PreferenceError(f"the backend Python {python!r} is a folder without a python in it (bin/python): "
                                  f"set 'Backend Python' in Preferences > Add-ons > Kino to the python file itself")
        return found
    if not os.path.isfile(python):
        raise PreferenceError(f"the backend Python {python!r} does not exist: fix 'Backend Python' in "
                              f"Preferences > Add-ons > Kino (or {BACKEND_PYTHON_ENV})")
    return python


CLASSES = (KinoPreferences,)
