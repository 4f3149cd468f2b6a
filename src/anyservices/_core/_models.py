"""The JSON and model codec every service shares (pydantic ``TypeAdapter`` based).

A value that cannot be encoded, or data that does not validate, raises the calling
service's :class:`~anyservices.DataError` subclass naming the bad fields, never echoing
the data (it may hold secrets or personal data).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeVar, cast

import pydantic
import pydantic_core

from ._errors import DataError

__all__ = ("adapter_for", "dump_json", "load_json", "load_model")

T = TypeVar("T")

_ANY: Final = pydantic.TypeAdapter[Any](Any)
_ADAPTERS: dict[object, pydantic.TypeAdapter[Any]] = {}

# Error types whose message the model's author wrote (it may quote the input).
_AUTHORED = frozenset({"value_error", "assertion_error"})


def adapter_for(model_class: Any) -> pydantic.TypeAdapter[Any]:
    """The cached ``TypeAdapter`` of ``model_class`` (a model, dataclass, ``list[M]``, ...)."""
    try:
        adapter = _ADAPTERS.get(model_class)
    except TypeError:  # unhashable (an Annotated with a dict inside, say): not cached
        return pydantic.TypeAdapter[Any](model_class)
    if adapter is None:
        adapter = _ADAPTERS[model_class] = pydantic.TypeAdapter[Any](model_class)
    return adapter


def dump_json(
    value: object,
    *,
    error: type[DataError],
    resource: str | None,
    operation: str | None = None,
) -> str:
    """``value`` (plain data, models, dataclasses) as compact JSON text."""
    try:
        return _ANY.dump_json(value).decode()
    except pydantic_core.PydanticSerializationError as exc:
        raise error(
            f"cannot encode as JSON: {exc}", operation=operation, resource=resource
        ) from None


def load_json(
    data: str | bytes,
    *,
    error: type[DataError],
    resource: str | None,
    operation: str | None = None,
) -> Any:
    """Plain data from JSON text."""
    return _validate(_ANY, data, "JSON", error=error, resource=resource, operation=operation)


def load_model(
    model_class: type[T],
    data: str | bytes | Mapping[str, Any],
    *,
    error: type[DataError],
    resource: str | None,
    operation: str | None = None,
) -> T:
    """A ``model_class`` from JSON text or a mapping, validated."""
    value = _validate(
        adapter_for(model_class),
        data,
        f"a valid {_name(model_class)}",
        error=error,
        resource=resource,
        operation=operation,
    )
    return cast("T", value)


def _validate(
    adapter: pydantic.TypeAdapter[Any],
    data: str | bytes | Mapping[str, Any],
    what: str,
    *,
    error: type[DataError],
    resource: str | None,
    operation: str | None,
) -> Any:
    try:
        if isinstance(data, str | bytes | bytearray):
            return adapter.validate_json(data)
        return adapter.validate_python(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(_describe(problem) for problem in exc.errors()[:5])
        raise error(
            f"the value is not {what} ({problems})", operation=operation, resource=resource
        ) from None


def _name(model_class: object) -> str:
    """``User``, ``list[User]``: the name a reader knows the type by."""
    args: tuple[object, ...] = getattr(model_class, "__args__", ())
    origin = getattr(model_class, "__origin__", model_class)
    name = getattr(origin, "__name__", None) or repr(origin)
    return f"{name}[{', '.join(_name(arg) for arg in args)}]" if args else name


def _describe(problem: pydantic_core.ErrorDetails) -> str:
    field = ".".join(str(part) for part in problem["loc"]) or "(root)"
    if problem["type"] in _AUTHORED:
        return f"{field}: invalid value"
    return f"{field}: {problem['msg']}"
