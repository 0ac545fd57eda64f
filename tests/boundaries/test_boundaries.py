"""Module boundaries (design.md): what each package may import, checked two ways.

1. Import checks in a fresh interpreter where forbidden packages are made unimportable by a
   ``sys.meta_path`` blocker, and every newly loaded top-level module is compared with an allow list.
2. Source checks (AST, not grep: comments and strings do not count) over every file.
"""
import ast
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
HEAVY = ["torch", "diffusers", "transformers", "peft", "accelerate", "mediapipe", "insightface", "onnxruntime",
         "torchvision", "controlnet_aux"]
IMPORT_PROBE = textwrap.dedent("""
    import importlib, json, pkgutil, sys
    blocked, targets, calls = json.loads(sys.argv[1])
    sys.path[:0] = [sys.argv[2] + "/backend", sys.argv[2]]

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in blocked:
                raise ImportError(f"{name} is blocked by the boundary test")
            return None

    sys.meta_path.insert(0, Blocker())
    before = {m.split(".")[0] for m in sys.modules}
    for target in targets:
        module = importlib.import_module(target)
        for info in pkgutil.walk_packages(getattr(module, "__path__", []), target + "."):
            importlib.import_module(info.name)
    for dotted in calls:
        mod, _, fn = dotted.rpartition(".")
        getattr(importlib.import_module(mod), fn)()
    loaded = sorted({m.split(".")[0] for m in sys.modules} - before)
    print(json.dumps(loaded))
""")


def probe(blocked, targets, calls=()):
    proc = subprocess.run([sys.executable, "-c", IMPORT_PROBE, json.dumps([blocked, targets, list(calls)]), str(REPO)],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def third_party(loaded, allowed):
    return sorted(m for m in loaded if m not in sys.stdlib_module_names and m not in allowed and not m.startswith("_"))


def test_protocol_imports_only_the_standard_library():
    loaded = probe(["bpy", "numpy", "cv2", "PIL", *HEAVY], ["kino_addon.protocol"])
    assert third_party(loaded, {"kino_addon"}) == []


def test_core_imports_only_stdlib_numpy_and_protocol():
    if not (REPO / "kino_addon" / "core").is_dir():
        pytest.skip("kino_addon/core is not in this checkout yet")
    loaded = probe(["bpy", "mathutils", "cv2", "PIL", *HEAVY], ["kino_addon.core"])
    assert third_party(loaded, {"kino_addon", "numpy", "cython_runtime"}) == []  # numpy loads cython_runtime


def test_backend_server_modules_import_without_bpy_or_heavy_libraries():
    targets = ["kino_backend.server", "kino_backend.session", "kino_backend.jobs", "kino_backend.workflow",
               "kino_backend.presets", "kino_backend.provenance", "kino_backend.resources",
               "kino_backend.commands.serve", "kino_backend.commands.looks", "kino_backend.benchmarks.protocol"]
    probe(["bpy", "mathutils", *HEAVY], targets)


def test_every_stage_and_the_hello_catalogue_load_without_heavy_libraries():
    # stages import torch/diffusers lazily (in open()); listing them for session.hello must not need them
    probe(["bpy", "mathutils", *HEAVY], ["kino_backend.stages"], ["kino_backend.presets.catalogue"])


# -- source checks ---------------------------------------------------------------------------------

def py_files(*parts):
    root = REPO.joinpath(*parts)
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts) if root.exists() else []


def imports(path, top_level_only=False):
    """(module name, line) for every import in the file (or only module-level statements)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    nodes = ast.walk(tree)
    if top_level_only:
        nodes = [n for stmt in tree.body if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                 for n in ast.walk(stmt)]
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.module, node.lineno))
    return out


def violations(files, forbidden, top_level_only=False):
    return [f"{p.relative_to(REPO)}:{line} imports {name}" for p in files
            for name, line in imports(p, top_level_only) if name.split(".")[0] in forbidden]


def test_addon_never_imports_cv2_torch_or_pil():
    assert violations(py_files("kino_addon"), {"cv2", "PIL", *HEAVY}) == []


def test_only_the_blender_package_imports_bpy():
    files = [p for p in py_files("kino_addon") if "blender" not in p.relative_to(REPO / "kino_addon").parts[:1]]
    assert violations(files + py_files("backend"), {"bpy", "mathutils", "bmesh"}) == []


def test_protocol_source_is_stdlib_only():
    bad = [f"{p.relative_to(REPO)}:{line} imports {name}" for p in py_files("kino_addon", "protocol")
           for name, line in imports(p) if name.split(".")[0] not in sys.stdlib_module_names
           and not name.startswith("kino_addon.protocol")]
    assert bad == []


# Modules made of torch.nn.Module classes: they import torch at the top by necessity, and only code
# that already runs torch imports them (inside functions). The probe below checks that the modules
# the registry and the stages import at load time stay torch-free.
TORCH_MODULES = {"backend/kino_backend/identity/pulid/attention.py", "backend/kino_backend/identity/pulid/eva_vit.py",
                 "backend/kino_backend/identity/pulid/idformer.py"}


def test_backend_imports_heavy_libraries_lazily():
    files = [p for p in py_files("backend") if str(p.relative_to(REPO)) not in TORCH_MODULES]
    assert violations(files, set(HEAVY), top_level_only=True) == []
    probe(["bpy", "mathutils", *HEAVY], ["kino_backend.identity.pulid.adapter", "kino_backend.models.classify",
                                         "kino_backend.models.registry"])
    stems = {os.path.basename(m)[:-3] for m in TORCH_MODULES}  # nothing imports them at module level
    importers = [f"{p.relative_to(REPO)}:{n.lineno}" for p in py_files("backend")
                 for stmt in ast.parse(p.read_text(encoding="utf-8")).body
                 if isinstance(stmt, (ast.Import, ast.ImportFrom)) for n in [stmt]
                 if any(a.name.split(".")[-1] in stems for a in n.names)
                 or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[-1] in stems)]
    assert importers == []


def test_no_pickle_on_the_wire():
    files = py_files("kino_addon", "protocol") + [REPO / "backend" / "kino_backend" / f"{m}.py"
                                                  for m in ("server", "session", "jobs")]
    assert violations(files, {"pickle", "marshal", "shelve"}) == []
    calls = [f"{p.relative_to(REPO)}:{n.lineno} .{n.func.attr}()" for p in files
             for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Attribute) and n.func.attr in ("send", "recv")
             and not (isinstance(n.func.value, ast.Attribute) and n.func.value.attr == "link")
             and not (isinstance(n.func.value, ast.Name) and n.func.value.id in ("link",))]
    assert calls == [], "Connection.send/recv unpickle; use send_bytes/recv_bytes via Channel"


def test_blender_package_does_not_edit_sys_path():
    bad = [f"{p.relative_to(REPO)}:{n.lineno}" for p in py_files("kino_addon", "blender")
           for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.Attribute) and n.attr == "path"
           and isinstance(n.value, ast.Name) and n.value.id == "sys"]
    assert bad == []


# -- the add-on's layout ---------------------------------------------------------------------------

BLENDER = REPO / "kino_addon" / "blender"
FEATURES = sorted(p.name for p in BLENDER.iterdir() if (p / "__init__.py").is_file())
ROOT_MODULES = {"__init__", "panel", "backend_ops", "cli"}  # they assemble the features
UI_MODULES = {"ops", "panel", "command", "props"}  # a feature's own face: never another feature's library
# the same feature on both sides of the wire (the add-on's part and the backend's part share its name)
SHARED_FEATURE_NAMES = {"keying", "stabilize", "train", "protocol", "keyframes"}


def blender_imports(path):
    """Modules of kino_addon.blender that ``path`` imports (relative imports resolved), as dotted names
    relative to kino_addon.blender."""
    rel = path.relative_to(BLENDER).with_suffix("")
    package = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)] if node.level > 1 else package
            if node.level - 1 > len(package):
                continue  # above kino_addon.blender (core, protocol)
            mod = base + (node.module.split(".") if node.module else [])
            out += [".".join(mod + [a.name]) if not node.module else ".".join(mod) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kino_addon.blender."):
            out.append(node.module[len("kino_addon.blender."):])
    return out


def test_addon_feature_packages_do_not_use_each_others_operators_panels_or_commands():
    assert {"stylize", "stabilize", "keying", "train"} <= set(FEATURES)
    bad = []
    for path in py_files("kino_addon", "blender"):
        rel = path.relative_to(BLENDER)
        owner = rel.parts[0] if len(rel.parts) > 1 else None
        for target in blender_imports(path):
            parts = target.split(".")
            if parts[0] in FEATURES and parts[0] != owner:
                if owner is None and rel.stem not in ROOT_MODULES:
                    bad.append(f"{rel}: a shared module imports the feature {target}")
                elif owner is not None and len(parts) > 1 and parts[1] in UI_MODULES - {"props"}:
                    bad.append(f"{rel}: imports another feature's {target}")
    assert bad == []


def test_addon_and_backend_module_names_are_unique():
    def names(root):
        out = {}
        for p in py_files(*root):
            out.setdefault(p.parent.name if p.name == "__init__.py" else p.stem, []).append(str(p.relative_to(REPO)))
        return out
    addon, backend = names(("kino_addon",)), names(("backend", "kino_backend"))
    clashes = sorted(set(addon) & set(backend) - SHARED_FEATURE_NAMES - {"__init__", "__main__"})
    assert clashes == [], [(n, addon[n], backend[n]) for n in clashes]
