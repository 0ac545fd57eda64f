"""The name-level half of the bpy API check (``scripts/check_bpy_api.py``): which bpy names the add-on
uses, and whether a release's generated stubs still have them.

pyright can only check code whose types it knows, and most of the add-on passes Blender objects through
untyped parameters. This half needs no types: from each release's stubs it reads every ``bpy.types``
class with its members and methods' keyword parameters, and every operator with its keywords; from the
add-on's source (AST) it reads

* attribute names (``strip.left_handle``) that are members of some bpy type in the baseline release,
* keywords of calls to bpy methods (``strips.new_effect(length=...)``),
* operators called (``bpy.ops.render.render(animation=...)``) with their keywords,
* node and type names (``nodes.new("CompositorNodeKeying")``, ``bpy.types.Strip``).

A name the baseline has and a release has on no type at all is reported for that release. A rename on
one type while another type keeps the name is not seen here (pyright sees it where types are known,
and the Blender test suites, which run on every release, see the rest).
"""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field

# attributes of Python's own types (str.strip, list.append ...) are not Blender's, whatever the stubs say
_BUILTIN = set().union(*(dir(t) for t in (str, bytes, list, dict, set, tuple, int, float, object)))
_ANY = "**"  # a method that takes any keyword
_NODE_PREFIXES = ("CompositorNode", "ShaderNode", "GeometryNode", "FunctionNode", "TextureNode", "NodeGroup",
                  "NodeReroute", "NodeFrame", "NodeSocket")


@dataclass
class ApiIndex:
    members: set = field(default_factory=set)        # attribute/method names on any bpy type
    types: set = field(default_factory=set)          # bpy.types class names (node idnames included)
    keywords: dict = field(default_factory=dict)     # method name -> keyword names over every type
    ops: dict = field(default_factory=dict)          # "render.render" -> keyword names


def _params(fn: ast.FunctionDef) -> set:
    a = fn.args
    names = {p.arg for p in a.args + a.kwonlyargs + a.posonlyargs if p.arg not in ("self", "cls")}
    return names | ({_ANY} if a.kwarg else set())


def _parse(path: str) -> ast.Module:
    with open(path, encoding="utf-8") as fh:
        return ast.parse(fh.read(), path)


def index_stubs(stub_root: str) -> ApiIndex:
    """Read ``<stub_root>/bpy-stubs`` (one release's fake-bpy-module)."""
    idx = ApiIndex()
    for cls in _parse(os.path.join(stub_root, "bpy-stubs", "types", "__init__.pyi")).body:
        if not isinstance(cls, ast.ClassDef):
            continue
        idx.types.add(cls.name)
        for node in cls.body:
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                idx.members.add(node.target.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("__"):
                idx.members.add(node.name)
                idx.keywords.setdefault(node.name, set()).update(_params(node))
    ops_root = os.path.join(stub_root, "bpy-stubs", "ops")
    for mod in sorted(os.listdir(ops_root)):
        path = os.path.join(ops_root, mod, "__init__.pyi")
        if not os.path.isfile(path):
            continue
        for cls in _parse(path).body:
            if isinstance(cls, ast.ClassDef):
                new = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__new__"]
                idx.ops[f"{mod}.{cls.name}"] = _params(new[0]) - {"execution_context", "undo"} if new else set()
    return idx


@dataclass(frozen=True)
class Use:
    kind: str   # "member", "keyword", "operator", "type"
    name: str   # member name, "method(keyword)", "render.render" / "render.render(keyword)", type name
    where: str  # "path:line"


def _dotted(node) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _imported_names(tree: ast.AST) -> set:
    """Names bound by imports, or to a module loaded by name (``x = devload.submodule(...)``,
    ``importlib.import_module``): their attributes are module contents or Kino's own, not bpy members."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                and _dotted(node.value.func).endswith(("submodule", "import_module")):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names - {"bpy"}


def _uses_in(tree: ast.AST, where) -> list:
    out = []
    modules = _imported_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            # chains from an imported module or name (compat.x, connection.BACKEND.ensure) or from a
            # CONSTANT (Kino's singletons: BACKEND, QUEUE) are Kino's or Python's, not Blender data
            own = isinstance(root, ast.Name) and (root.id in modules or root.id.isupper())
            if not own and node.attr not in _BUILTIN:
                out.append(Use("member", node.attr, where(node)))
            dotted = _dotted(node)
            if dotted.startswith("bpy.types.") and dotted.count(".") == 2:
                out.append(Use("type", node.attr, where(node)))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            dotted = _dotted(node.func)
            kws = [k.arg for k in node.keywords if k.arg]
            if dotted.startswith("bpy.ops.") and dotted.count(".") == 3:
                op = dotted[len("bpy.ops."):]
                out.append(Use("operator", op, where(node)))
                out += [Use("operator", f"{op}({k})", where(node)) for k in kws]
            else:
                out += [Use("keyword", f"{node.func.attr}({k})", where(node)) for k in kws]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(_NODE_PREFIXES) \
                and node.value.isidentifier():
            out.append(Use("type", node.value, where(node)))
    return out


def uses(root: str, package: str) -> list:
    """Every candidate bpy use in the ``.py`` files under ``root/package``."""
    out = []
    base = os.path.join(root, package)
    for folder, _dirs, files in os.walk(base):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, root)
                out += _uses_in(_parse(path), lambda n, rel=rel: f"{rel}:{n.lineno}")
    return out


def known(idx: ApiIndex, use: Use) -> bool:
    """Whether the release described by ``idx`` has what ``use`` needs."""
    if use.kind == "member":
        return use.name in idx.members
    if use.kind == "type":
        return use.name in idx.types
    if use.kind == "keyword":
        method, kw = use.name[:-1].split("(")
        return method in idx.keywords and (kw in idx.keywords[method] or _ANY in idx.keywords[method])
    op, _, kw = use.name.rstrip(")").partition("(")
    return op in idx.ops and (not kw or kw in idx.ops[op] or _ANY in idx.ops[op])


def missing(base: ApiIndex, other: ApiIndex, used: list) -> dict:
    """name -> [where...] for the uses the baseline has and ``other`` lacks."""
    out: dict = {}
    for use in used:
        if known(base, use) and not known(other, use):
            out.setdefault(f"{use.kind} {use.name}", []).append(use.where)
    return out
