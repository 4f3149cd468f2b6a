"""Generate the typed sync faces from the async classes, or check they are current.

    python scripts/gen_sync_faces.py          # rewrite every src/anyservices/*/_sync.py
    python scripts/gen_sync_faces.py --check  # exit 1 if one is stale (run by `nox -s lint`)

For each async class named in a service's ``_faces.py`` it writes a ``Sync<Name>`` class
whose methods have the same names and parameters and run on the shared portal:

- ``async def m(...) -> R``                       -> ``def m(...) -> R`` (a portal call)
- ``async def m(...)`` with ``yield``, or ``def m(...) -> AsyncIterator[X]``
                                                  -> ``def m(...) -> Iterator[X]``
- ``@asynccontextmanager async def m``, or ``def m(...) -> AbstractAsyncContextManager[X]``
                                                  -> ``def m(...) -> AbstractContextManager[X]``
- ``__aiter__`` (with ``__anext__``)              -> ``__iter__``
- plain methods and properties                    -> passed through
- a result whose type is another async class of the same file is wrapped in its face; a
  plain method typed to return its own class (a fluent builder) returns the face itself.

It imports only what the emitted code uses, each name resolved where the method was
read, and ruff sorts them; the file ends with ``register_face(AsyncClass, SyncClass)``.
Methods a hand-written "extras" base class defines (decorators, overloads) are skipped;
an overloaded method or a property setter elsewhere is an error. Lifecycle methods are
skipped: ``blocking()`` owns them.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import importlib
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


@dataclass(frozen=True)
class Face:
    module: str  # where the async class lives
    name: str  # the async class
    extras: str | None = None  # "module:Class" of a hand-written base with special methods

    @property
    def sync_name(self) -> str:
        return f"Sync{self.name}"


# One entry per generated file; each service adds its own line(s).
FACES: dict[str, list[Face]] = {}

SKIP = {"aclose", "close", "__aenter__", "__aexit__", "__blocking__", "__anext__"}
ASYNC_TO_SYNC = {
    "AsyncIterator": "Iterator",
    "AsyncIterable": "Iterable",
    "AbstractAsyncContextManager": "AbstractContextManager",
    "AsyncContextManager": "AbstractContextManager",
}
CM_NAMES = {"AbstractAsyncContextManager", "AsyncContextManager"}
ITER_NAMES = {"AsyncIterator", "AsyncIterable"}
SYNC_CONTAINERS = {"cm": "AbstractContextManager", "iter": "Iterator"}


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class _Annotations(ast.NodeTransformer):
    """Rewrites an annotation from the async world to the sync one."""

    def __init__(self, faces: dict[str, str]) -> None:
        self.faces = faces

    def visit_Name(self, node: ast.Name) -> ast.expr:
        name = self.faces.get(node.id) or ASYNC_TO_SYNC.get(node.id)
        return node if name is None else ast.Name(name, node.ctx)


def _convert(node: ast.expr | None, faces: dict[str, str]) -> str | None:
    if node is None:
        return None
    return ast.unparse(_Annotations(faces).visit(ast.parse(ast.unparse(node), mode="eval").body))


def _has_yield(func: ast.AsyncFunctionDef) -> bool:
    stack: list[ast.AST] = list(func.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def _decorators(func: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    return {name for d in func.decorator_list if (name := _base_name(d)) is not None}


def _kind(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """call, cm (a ``with`` block), iter (an iterator), property, or plain."""
    decorators = _decorators(func)
    if "property" in decorators:
        return "property"
    if isinstance(func, ast.AsyncFunctionDef):
        if "asynccontextmanager" in decorators:
            return "cm"
        return "iter" if _has_yield(func) else "call"
    returns = _base_name(func.returns) if func.returns is not None else None
    if returns in ITER_NAMES:
        return "iter"
    return "cm" if returns in CM_NAMES else "plain"


def _payload(func: ast.FunctionDef | ast.AsyncFunctionDef, kind: str) -> ast.expr:
    """The type a call returns, or a ``with`` block gives, or an iterator yields."""
    node = func.returns
    if node is None:
        raise SystemExit(f"gen_sync_faces: {func.name} has no return annotation")
    if kind in SYNC_CONTAINERS and isinstance(node, ast.Subscript):
        node = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) else node.slice
    return node


def _signature(func: ast.FunctionDef | ast.AsyncFunctionDef, faces: dict[str, str]) -> str:
    """The sync parameter list: the async one with its annotations made sync."""
    a = func.args
    if a.posonlyargs:
        raise SystemExit(f"gen_sync_faces: {func.name}: positional-only parameters")

    def render(arg: ast.arg, default: ast.expr | None, prefix: str = "") -> str:
        annotation = _convert(arg.annotation, faces)
        text = prefix + arg.arg + (f": {annotation}" if annotation else "")
        if default is not None:
            text += f" = {ast.unparse(default)}" if annotation else f"={ast.unparse(default)}"
        return text

    defaults: list[ast.expr | None] = [None] * (len(a.args) - len(a.defaults))
    defaults += a.defaults
    params = [render(arg, default) for arg, default in zip(a.args, defaults, strict=True)]
    if a.vararg is not None:
        params.append(render(a.vararg, None, "*"))
    elif a.kwonlyargs:
        params.append("*")
    params += [render(arg, d) for arg, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    if a.kwarg is not None:
        params.append(render(a.kwarg, None, "**"))
    return ", ".join(params)


def _arguments(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The call that passes every parameter on (``self`` excepted)."""
    a = func.args
    call = [arg.arg for arg in a.args[1:]]
    if a.vararg is not None:
        call.append(f"*{a.vararg.arg}")
    call += [f"{arg.arg}={arg.arg}" for arg in a.kwonlyargs]
    if a.kwarg is not None:
        call.append(f"**{a.kwarg.arg}")
    return ", ".join(call)


def _summary(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The docstring's first paragraph, line breaks kept (it fits at the same indentation)."""
    doc = ast.get_docstring(func)
    if not doc:
        return ""
    lines = doc.split("\n\n", 1)[0].splitlines()
    return f'"""{lines[0]}"""\n' if len(lines) == 1 else '"""' + "\n".join(lines) + '\n"""\n'


def _iter_method(next_def: ast.AsyncFunctionDef, faces: dict[str, str]) -> str:
    """``__aiter__`` becomes ``__iter__`` yielding what ``__anext__`` returns."""
    payload = _payload(next_def, "call")
    wrap = f", {faces[payload.id]}" if isinstance(payload, ast.Name) and payload.id in faces else ""
    return (
        f"def __iter__(self) -> Iterator[{_convert(payload, faces)}]:\n"
        f"    return self._portal.wrap_iter(self._wrapped.__aiter__(){wrap})\n"
    )


def _method(func: ast.FunctionDef | ast.AsyncFunctionDef, faces: dict[str, str], owner: str) -> str:
    """The sync face's method for ``func`` of the async class ``owner``.

    A result of a class in FACES is wrapped in its face; a plain method typed to return
    its own class (a fluent builder such as ``Pipeline.set``) returns the face itself.
    """
    kind = _kind(func)
    payload = _payload(func, kind)
    returns = _convert(payload, faces)
    if kind in SYNC_CONTAINERS:
        returns = f"{SYNC_CONTAINERS[kind]}[{returns}]"
    decorators = "".join(
        f"@{ast.unparse(d)}\n" for d in func.decorator_list if _base_name(d) == "property"
    )
    body = _summary(func)
    target = f"self._wrapped.{func.name}"
    args = _arguments(func)
    wrap = faces.get(payload.id) if isinstance(payload, ast.Name) else None
    if kind == "property":
        body += f"return {target}\n"
    elif kind == "call":
        value = f"self._portal.call({target}{', ' if args else ''}{args})"
        body += f"return {wrap}(self._portal, {value})\n" if wrap else f"return {value}\n"
    elif kind in SYNC_CONTAINERS:
        adapter = "wrap_cm" if kind == "cm" else "wrap_iter"
        body += f"return self._portal.{adapter}({target}({args}){', ' + wrap if wrap else ''})\n"
    elif wrap and faces.get(owner) == wrap:
        body += f"{target}({args})\nreturn self\n"
    elif wrap:
        body += f"return {wrap}(self._portal, {target}({args}))\n"
    else:
        body += f"return {target}({args})\n"
    head = f"def {func.name}({_signature(func, faces)}) -> {returns}:"
    return f"{decorators}{head}\n{textwrap.indent(body, '    ')}"


def _parse(module: str) -> ast.Module:
    return ast.parse(Path(str(importlib.import_module(module).__file__)).read_text())


def _imported_from(tree: ast.Module, module: str, name: str) -> tuple[str, str] | None:
    """Where a top-level ``from ... import`` of ``module`` takes ``name`` from."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return _target(node, module), alias.name
    return None


def _sources(face: Face) -> dict[type, tuple[str, ast.Module, ast.ClassDef]]:
    """The face's class and its anyservices bases, each with its module's source.

    Found by following the class statements' bases through each module's imports, from
    the module FACES names: ``__module__`` (set to the public path) is never read.
    """
    found: dict[type, tuple[str, ast.Module, ast.ClassDef]] = {}
    todo = [(face.module, face.name)]
    while todo:
        module, name = todo.pop()
        if not module.startswith("anyservices.") or module.startswith("anyservices._core."):
            continue  # the lifecycle base belongs to blocking(), not to the face
        tree = _parse(module)
        class_def = next(
            (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None
        )
        if class_def is None:
            origin = _imported_from(tree, module, name)
            if origin is not None:
                todo.append(origin)
            continue
        found[getattr(importlib.import_module(module), name)] = (module, tree, class_def)
        todo += [(module, base) for b in class_def.bases if (base := _base_name(b))]
    return found


def _target(node: ast.ImportFrom, module: str) -> str:
    """The absolute module a ``from ... import`` in ``module`` imports from."""
    if not node.level:
        return node.module or ""
    package = module.split(".")[: -node.level]
    return ".".join([*package, node.module] if node.module else package)


# Names the generator itself writes, and where they come from.
OWN_IMPORTS = {
    "SyncFace": "from anyservices._core._syncface import SyncFace",
    "register_face": "from anyservices._core._syncface import register_face",
    "unwrap": "from anyservices._core._syncface import unwrap",
    "Generator": "from collections.abc import Generator",
    "Iterable": "from collections.abc import Iterable",
    "Iterator": "from collections.abc import Iterator",
    "AbstractContextManager": "from contextlib import AbstractContextManager",
    "Any": "from typing import Any",
}
TYPEVAR_CALLS = {"TypeVar", "ParamSpec", "TypeVarTuple"}


@dataclass(frozen=True)
class Binding:
    """What a top-level name of a source module is: an import, a type variable, a definition."""

    line: str  # the import statement (absolute), or the type variable's assignment
    typing_only: bool = False  # imported under ``if TYPE_CHECKING:``
    module: str | None = None  # for a type variable: the module to resolve its own names in


def _bindings(tree: ast.Module, module: str) -> dict[str, Binding]:
    """Every top-level name of a module, as the line that binds it in another module."""
    found: dict[str, Binding] = {}

    def imports(node: ast.stmt, *, typing_only: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                found.setdefault(name, Binding(f"import {ast.unparse(alias)}", typing_only))
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            source = _target(node, module)
            for alias in node.names:
                line = f"from {source} import {ast.unparse(alias)}"
                found.setdefault(alias.asname or alias.name, Binding(line, typing_only))

    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for sub in node.body:
                imports(sub, typing_only=True)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            imports(node, typing_only=False)
        elif isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = Binding(f"from {module} import {node.name}")
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            call = node.value
            for target in targets:
                if not isinstance(target, ast.Name):
                    continue
                if isinstance(call, ast.Call) and _base_name(call.func) in TYPEVAR_CALLS:
                    found[target.id] = Binding(ast.unparse(node), module=module)
                else:
                    found[target.id] = Binding(f"from {module} import {target.id}")
    return found


def _names(node: ast.AST | None, *, annotation: bool = False) -> set[str]:
    """The names an expression mentions; in an annotation, quoted forward references too."""
    names: set[str] = set()
    for sub in ast.walk(node) if node is not None else ():
        if isinstance(sub, ast.Name):
            names.add(sub.id)
        elif annotation and isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            try:
                names |= _names(ast.parse(sub.value, mode="eval"), annotation=True)
            except SyntaxError:
                continue
    return names


def _used_names(code: str) -> tuple[set[str], set[str]]:
    """The global names an emitted method uses: (in annotations only, at run time)."""
    function = ast.parse(code).body[0]
    assert isinstance(function, ast.FunctionDef)  # _method emits one def
    args = function.args
    params = [a for a in (*args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a]
    annotations = _names(function.returns, annotation=True)
    for arg in params:
        annotations |= _names(arg.annotation, annotation=True)
    runtime: set[str] = set()
    for expr in [*function.decorator_list, *args.defaults, *args.kw_defaults, *function.body]:
        runtime |= _names(expr)
    runtime -= {a.arg for a in params}  # the body passes the parameters on
    return annotations - runtime, runtime


def _resolve(
    names: set[str], module: str, bindings: dict[str, dict[str, Binding]]
) -> dict[str, Binding]:
    """Where each name comes from, as ``module`` sees it (builtins and own names dropped)."""
    resolved: dict[str, Binding] = {}
    for name in sorted(names):
        if name in OWN_IMPORTS:
            resolved[name] = Binding(OWN_IMPORTS[name])
        elif name in bindings[module]:
            resolved[name] = bindings[module][name]
        elif not hasattr(builtins, name):
            raise SystemExit(f"gen_sync_faces: cannot resolve {name!r} in {module}")
    return resolved


def _import_block(
    uses: list[tuple[str, set[str], bool]], bindings: dict[str, dict[str, Binding]]
) -> tuple[list[str], list[str], list[str]]:
    """The runtime imports, the TYPE_CHECKING imports and the type variables emitted code needs.

    ``uses`` holds (module, names, at run time): each name is resolved as its module sees it.
    """
    chosen: dict[str, tuple[Binding, bool]] = {}
    todo = list(uses)
    while todo:
        module, names, at_runtime = todo.pop()
        for name, binding in _resolve(names, module, bindings).items():
            earlier = chosen.get(name)
            if earlier is not None and earlier[0].line != binding.line:
                raise SystemExit(f"gen_sync_faces: {name!r} means two things: {binding.line!r}")
            if earlier is not None and (earlier[1] or not at_runtime):
                continue
            if at_runtime and binding.typing_only:
                raise SystemExit(f"gen_sync_faces: {name!r} is needed at run time: {binding.line}")
            chosen[name] = (binding, at_runtime)
            if binding.module is not None:  # a type variable: its bound, constraints, default
                used = _names(ast.parse(binding.line))
                todo.append((binding.module, used - {name}, True))
    typevars = sorted(b.line for b, _ in chosen.values() if b.module is not None)
    imports = [b for b, _ in chosen.values() if b.module is None]
    runtime = sorted({b.line for b in imports if not b.typing_only})
    typing_only = sorted({b.line for b in imports if b.typing_only} - set(runtime))
    return runtime, typing_only, typevars


def generate(path: str, faces: list[Face]) -> str:
    names = {face.name: face.sync_name for face in faces}
    own_module = path.removeprefix("src/").removesuffix(".py").replace("/", ".")
    bindings: dict[str, dict[str, Binding]] = {}
    uses: list[tuple[str, set[str], bool]] = []
    classes: list[str] = []
    for face in faces:
        cls = getattr(importlib.import_module(face.module), face.name)
        bases = f"SyncFace[{face.name}]"
        skip = set(SKIP)
        found = _sources(face)
        if face.extras:
            extras_module, extras_name = face.extras.split(":")
            bindings.setdefault(extras_module, _bindings(_parse(extras_module), extras_module))
            uses.append((extras_module, {extras_name}, True))
            bases = f"{extras_name}, {bases}"
            extras_class: type = getattr(importlib.import_module(extras_module), extras_name)
            skip |= set(vars(extras_class))
        methods: list[str] = []
        seen: set[str] = set()
        for klass in cls.__mro__:
            if klass not in found:
                continue
            module, tree, class_def = found[klass]
            bindings.setdefault(module, _bindings(tree, module))
            defined: list[ast.FunctionDef | ast.AsyncFunctionDef] = [
                n for n in class_def.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            for func in defined:
                public = not func.name.startswith("_") or func.name == "__aiter__"
                if func.name in seen or func.name in skip or not public:
                    continue
                if {"overload", "setter"} & {
                    name for n in defined if n.name == func.name for name in _decorators(n)
                } or any(isinstance(d, ast.Attribute) for d in func.decorator_list):
                    raise SystemExit(
                        f"gen_sync_faces: {face.name}.{func.name} is overloaded or has a setter:"
                        " write its sync method in the extras class"
                    )
                seen.add(func.name)
                if func.name == "__aiter__":
                    next_def = next(
                        n
                        for n in defined
                        if isinstance(n, ast.AsyncFunctionDef) and n.name == "__anext__"
                    )
                    text = _iter_method(next_def, names)
                else:
                    text = _method(func, names, klass.__name__)
                methods.append(text)
                annotation_only, runtime = _used_names(text)
                local = set(names.values())
                uses.append((module, annotation_only - local, False))
                uses.append((module, runtime - local, True))
        uses.append((face.module, {face.name, "SyncFace", "register_face"}, True))
        doc = f'"""The sync face of :class:`{face.module.split("._")[0]}.{face.name}`."""\n'
        body = textwrap.indent(doc + "\n".join(methods), "    ")
        classes.append(f"class {face.sync_name}({bases}):\n{body}")
    for module in {m for m, _, _ in uses}:
        bindings.setdefault(module, _bindings(_parse(module), module))
    runtime_imports, typing_imports, typevars = _import_block(uses, bindings)
    runtime_imports = [line for line in runtime_imports if f"from {own_module} " not in line]
    sources = sorted({m for m, _, _ in uses} - {own_module})
    header = (
        "# AUTOGENERATED by scripts/gen_sync_faces.py from\n"
        + "".join(f"# {module}\n" for module in sources)
        + "# Do not edit: change the async code and run `python scripts/gen_sync_faces.py`.\n"
        '"""Generated sync faces; see ``scripts/gen_sync_faces.py``."""\n\n'
        "from __future__ import annotations\n\n"
    )
    if typing_imports:
        runtime_imports.append("from typing import TYPE_CHECKING")
    text = header + "\n".join(runtime_imports) + "\n"
    if typing_imports:
        text += "\nif TYPE_CHECKING:\n" + textwrap.indent("\n".join(typing_imports), "    ") + "\n"
    text += (
        "\n"
        + "\n".join(typevars)
        + "\n\n__all__ = ("
        + "".join(f'"{face.sync_name}", ' for face in sorted(faces, key=lambda f: f.sync_name))
        + ")\n\n\n"
        + "\n\n\n".join(classes)
        + "\n\n\n"
        + "".join(f"register_face({face.name}, {face.sync_name})\n" for face in faces)
    )
    return _format(text, path)


def _format(text: str, path: str) -> str:
    """Sort the imports as ruff's isort wants them, then format."""
    ruff = Path(sys.executable).with_name("ruff")
    command = [str(ruff) if ruff.exists() else "ruff", "--stdin-filename", path]
    for step in (["check", "--select", "I", "--fix", "--exit-zero"], ["format"]):
        text = subprocess.run(
            [command[0], *step, *command[1:], "-"],
            input=text,
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout
    return text


def _load_faces() -> None:
    """Each service declares its faces in ``<service>/_faces.py`` as ``FACES = [...]``."""
    for spec in sorted((ROOT / "src" / "anyservices").glob("*/_faces.py")):
        service = spec.parent.name
        module = importlib.import_module(f"anyservices.{service}._faces")
        FACES[f"src/anyservices/{service}/_sync.py"] = [Face(*entry) for entry in module.FACES]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a file is stale")
    options = parser.parse_args()
    _load_faces()
    stale: list[str] = []
    for path, faces in FACES.items():
        text = generate(path, faces)
        target = ROOT / path
        if options.check:
            if not target.exists() or target.read_text() != text:
                stale.append(path)
        else:
            target.write_text(text)
            print(f"wrote {path}")
    if stale:
        print("stale sync faces (run `python scripts/gen_sync_faces.py`):")
        for path in stale:
            print(f"  {path}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
