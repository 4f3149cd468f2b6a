"""Every method of the original services, on both faces of ours (issue 9).

``original_signatures.txt`` holds the original's 82 public methods. Ours must accept every
call the original accepts, positionally and by keyword: the same parameters in the same
order, with the same names, kinds and defaults; what we add comes after them, keyword-only
with a default. Return annotations must read as the original's, except where
``RETURNS`` records a deliberate difference (../shared/ORIGINAL_SIGNATURES.md, "Where ours
differs on purpose") or a more precise type.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

TABLE = Path(__file__).with_name("original_signatures.txt")

#: (async module, class, sync module, sync class) per original service.
CLASSES = {
    "RedisService": ("anyservices.redis", "RedisService", "anyservices.redis", "SyncRedisService"),
    "MongoService": ("anyservices.mongo", "MongoService", "anyservices.mongo", "SyncMongoService"),
    "MinioService": ("anyservices.minio", "MinioService", "anyservices.minio", "SyncMinioService"),
}

#: Return annotations of ours that differ from the original's on purpose, with the reason.
RETURNS: dict[str, tuple[str, str]] = {
    # service.method: (our annotation, why)
    "MinioService.stat_object": ("ObjectStat", "typed ObjectStat with the SDK Object's attributes"),
    "RedisService.get_or_compute": ("T", "more precise: compute's own result type"),
    "MongoService.get_collection": ("MongoCollection", "our handle: PyMongo's Collection API"),
}

#: Methods returning one of our async classes, whose sync face returns its sync face.
SYNC_CLASSES = {"MongoService.get_collection"}

#: Methods whose async form is deliberately not a coroutine function.
PLAIN_ON_PURPOSE = {
    "RedisService.cache": "a plain method returning a decorator (the original's was a defect)",
}


@dataclass(frozen=True)
class Original:
    service: str
    name: str
    kind: str  # "async", "acm" (async context manager), "plain", "property"
    parameters: tuple[inspect.Parameter, ...]
    returns: str

    @property
    def id(self) -> str:
        return f"{self.service}.{self.name}"


def _default(node: ast.expr) -> Any:
    return eval(compile(ast.Expression(node), "<default>", "eval"), {"timedelta": timedelta})  # noqa: S307 -- our own table's literals


def _parameters(source: str) -> tuple[inspect.Parameter, ...]:
    """The parameters of ``def f(<source>)``, as inspect sees them (annotations dropped)."""
    function = ast.parse(f"def f({source}): pass").body[0]
    assert isinstance(function, ast.FunctionDef)
    args = function.args
    kind = inspect.Parameter
    out: list[inspect.Parameter] = []
    positional = args.posonlyargs + args.args
    defaults = [inspect.Parameter.empty] * (len(positional) - len(args.defaults))
    defaults += [_default(d) for d in args.defaults]
    out += [
        kind(a.arg, kind.POSITIONAL_OR_KEYWORD, default=d)
        for a, d in zip(positional, defaults, strict=True)
    ]
    if args.vararg is not None:
        out.append(kind(args.vararg.arg, kind.VAR_POSITIONAL))
    for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        default = inspect.Parameter.empty if d is None else _default(d)
        out.append(kind(a.arg, kind.KEYWORD_ONLY, default=default))
    if args.kwarg is not None:
        out.append(kind(args.kwarg.arg, kind.VAR_KEYWORD))
    return tuple(out)


_LINE = re.compile(
    r"^(?P<deco>@\w+ )?(?P<async>async )?(?P<name>\w+)\((?P<params>.*)\) -> (?P<returns>.+)$"
)


def _originals() -> list[Original]:
    service = ""
    found: list[Original] = []
    for raw in TABLE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            service = line.strip("[]")
            continue
        match = _LINE.match(line)
        assert match is not None, f"unparsable line in {TABLE.name}: {line}"
        deco = (match["deco"] or "").strip()
        kind = {"@property": "property", "@asynccontextmanager": "acm"}.get(deco)
        kind = kind or ("async" if match["async"] else "plain")
        found.append(
            Original(service, match["name"], kind, _parameters(match["params"]), match["returns"])
        )
    return found


ORIGINALS = _originals()


def _class(service: str, *, sync: bool) -> type[Any]:
    module, name, sync_module, sync_name = CLASSES[service]
    cls: type[Any] = getattr(
        importlib.import_module(sync_module if sync else module), sync_name if sync else name
    )
    return cls


def _norm(annotation: object) -> str:
    """The annotation as text, without spaces or module prefixes, type variables spelt T."""
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    text = re.sub(r"\s+", "", text).replace("typing.", "").replace("builtins.", "")
    return re.sub(r"\b[A-Z]\b", "T", text)


def _check_parameters(original: Original, ours: inspect.Signature) -> None:
    params = list(ours.parameters.values())[1:]  # self
    theirs = list(original.parameters)
    assert len(params) >= len(theirs), f"{original.id}: fewer parameters than the original"
    for mine, want in zip(params, theirs, strict=False):
        assert (mine.name, mine.kind) == (want.name, want.kind), (
            f"{original.id}: parameter {want.name!r} ({want.kind.description}) is "
            f"{mine.name!r} ({mine.kind.description}) here"
        )
        assert mine.default == want.default, (
            f"{original.id}: {want.name}'s default is {mine.default!r}, not {want.default!r}"
        )
    for extra in params[len(theirs) :]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY, (
            f"{original.id}: added parameter {extra.name!r} must be keyword-only"
        )
        assert extra.default is not inspect.Parameter.empty, (
            f"{original.id}: added parameter {extra.name!r} needs a default"
        )


def _expected_return(original: Original, *, sync: bool = False) -> str:
    expected = _norm(RETURNS.get(original.id, (original.returns, ""))[0])
    if sync and original.id in SYNC_CLASSES:
        return f"Sync{expected}"  # a handle's sync face
    return expected


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda o: o.id)
def test_async_face(original: Original) -> None:
    cls = _class(original.service, sync=False)
    assert hasattr(cls, original.name), f"{original.id} is missing"
    attr = inspect.getattr_static(cls, original.name)
    if original.kind == "property":
        assert isinstance(attr, property), f"{original.id} must be a property"
        assert _norm(inspect.signature(attr.fget).return_annotation) == _expected_return(original)  # type: ignore[arg-type]
        return
    func = getattr(cls, original.name)
    if original.kind == "async" and original.id not in PLAIN_ON_PURPOSE:
        assert inspect.iscoroutinefunction(func), f"{original.id} must be a coroutine function"
    signature = inspect.signature(func)
    _check_parameters(original, signature)
    if original.kind == "acm":
        returned = _norm(signature.return_annotation)
        assert any(
            word in returned for word in ("AsyncIterator", "AsyncGenerator", "AsyncContextManager")
        ), f"{original.id} must be an async context manager, returns {returned}"
    elif original.id not in PLAIN_ON_PURPOSE:
        assert _norm(signature.return_annotation) == _expected_return(original), (
            f"{original.id} returns {signature.return_annotation}, not {original.returns}"
        )


@pytest.mark.parametrize("original", ORIGINALS, ids=lambda o: o.id)
def test_sync_face(original: Original) -> None:
    cls = _class(original.service, sync=True)
    assert hasattr(cls, original.name), f"the sync face lacks {original.id}"
    attr = inspect.getattr_static(cls, original.name)
    if original.kind == "property":
        assert isinstance(attr, property), f"{original.id} must be a property on the sync face"
        return
    func = getattr(cls, original.name)
    assert not inspect.iscoroutinefunction(func), f"sync {original.id} must not be async"
    signature = inspect.signature(func)
    _check_parameters(original, signature)
    returned = _norm(signature.return_annotation)
    if original.kind == "acm":
        assert "ContextManager" in returned or "Iterator" in returned, (
            f"sync {original.id} must be a context manager, returns {returned}"
        )
    elif original.id not in PLAIN_ON_PURPOSE:
        assert returned == _expected_return(original, sync=True), (
            f"sync {original.id} returns {returned}, not {original.returns}"
        )


def test_the_table_is_whole() -> None:
    counts = {name: sum(o.service == name for o in ORIGINALS) for name in CLASSES}
    assert counts == {"RedisService": 47, "MongoService": 22, "MinioService": 13}
