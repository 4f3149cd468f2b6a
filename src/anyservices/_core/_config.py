"""The base of every service config: an eager, frozen pydantic model with ``from_env()``.

Validation errors never echo a value (``hide_input_in_errors``), and a message that a
validator wrote is hidden too when it would show part of a secret (a password, or a
URL's userinfo): the error then names the field, not the value.
"""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final, Self, cast

import pydantic_core
from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic.config import ExtraValues
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ._secrets import is_secret_name

__all__ = ("ServiceConfig",)


class ServiceConfig(BaseModel):
    """Validated at construction: a bad value raises ``pydantic.ValidationError`` naming it.

    Unknown fields are refused (a typo must not be ignored), secrets are ``SecretStr``
    so that neither ``repr()`` nor logs show them, and no validation error shows an
    input value.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, hide_input_in_errors=True
    )

    #: Environment variables read by :meth:`from_env` start with this.
    env_prefix: ClassVar[str] = "ANYSERVICES_"

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _without_secrets(exc, type(self), data) from None

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: ExtraValues | None = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """Pydantic's ``model_validate``, with errors that keep secrets (see the module)."""
        try:
            return super().model_validate(
                obj,
                strict=strict,
                extra=extra,
                from_attributes=from_attributes,
                context=context,
                by_alias=by_alias,
                by_name=by_name,
            )
        except ValidationError as exc:
            raise _without_secrets(exc, cls, obj) from None

    @classmethod
    def model_validate_json(
        cls,
        json_data: str | bytes | bytearray,
        *,
        strict: bool | None = None,
        extra: ExtraValues | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """Pydantic's ``model_validate_json``, with errors that keep secrets (see the module)."""
        try:
            return super().model_validate_json(
                json_data,
                strict=strict,
                extra=extra,
                context=context,
                by_alias=by_alias,
                by_name=by_name,
            )
        except ValidationError as exc:
            raise _without_secrets(exc, cls, _parsed(json_data)) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Build the config from ``<env_prefix><FIELD>`` variables; ``overrides`` win.

        ``RedisConfig.from_env()`` reads ``ANYSERVICES_REDIS_HOST`` and so on from
        ``environ`` (default ``os.environ``); names are case-insensitive, nested fields
        use ``__``, and variables naming no field are ignored, so one environment can
        hold every service's settings.
        """
        token = _ENVIRON.set(os.environ if environ is None else environ)
        try:
            loaded = _settings_class_for(cls)(**overrides)
        finally:
            _ENVIRON.reset(token)
        values = {name: getattr(loaded, name) for name in loaded.model_fields_set}
        return cls.model_validate(values)


# -- reading a given environment ---------------------------------------------------------

_ENVIRON: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar("anyservices_environ")


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading the mapping ``from_env`` was given."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Our settings classes are case-insensitive: names are compared lowercased.
        return {key.lower(): value for key, value in _ENVIRON.get().items()}


def _sources(
    cls: type[BaseSettings],
    /,
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    **_: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    del cls
    return (init_settings, _MappingEnvSource(settings_cls))


_SETTINGS_CLASSES: dict[type[ServiceConfig], type[BaseSettings]] = {}


def _settings_class_for(config_class: type[ServiceConfig]) -> type[BaseSettings]:
    """A ``BaseSettings`` twin of ``config_class`` that reads the environment."""
    settings_class = _SETTINGS_CLASSES.get(config_class)
    if settings_class is None:
        settings_class = type(
            f"{config_class.__name__}FromEnv",
            (config_class, BaseSettings),
            {
                "model_config": SettingsConfigDict(
                    env_prefix=config_class.env_prefix,
                    extra="ignore",
                    frozen=True,
                    case_sensitive=False,
                    env_nested_delimiter="__",
                    hide_input_in_errors=True,
                ),
                "settings_customise_sources": classmethod(_sources),
                "__module__": config_class.__module__,
            },
        )
        _SETTINGS_CLASSES[config_class] = settings_class
    return settings_class


# -- errors without secrets ---------------------------------------------------------------

#: Error types whose message a validator wrote (and may have put an input into).
_AUTHORED: Final = frozenset({"value_error", "assertion_error"})
_PARTS: Final = re.compile(r"[:/?#@&=;,\s]+")


def _without_secrets(exc: ValidationError, model: type[BaseModel], data: object) -> ValidationError:
    """``exc`` without its inputs, and with messages that would show part of a secret
    replaced by one naming the field (``errors()`` carries no input either)."""
    secrets = _secret_parts(data)
    model_fields = model.model_fields
    line_errors: list[InitErrorDetails] = []
    for error in exc.errors(include_url=False):
        message, loc = error["msg"], error["loc"]
        leaked = {field for part, field in secrets.items() if part in message}
        if leaked and error["type"] in _AUTHORED:
            fields = sorted(leaked)
            message = f"invalid {' and '.join(fields)} (the details would show part of a secret)"
            if not loc and len(fields) == 1:
                loc = tuple(fields[0].split("."))  # a model validator's: about this field
        elif not loc:  # a model validator's "url: bad port" is the url's "bad port"
            kind, comma, text = message.rpartition("Value error, ")
            named, colon, detail = text.partition(": ")
            if colon and named in model_fields:
                loc, message = (named,), f"{kind}{comma}{detail}"
        # Not literals, as the stubs ask: with no context, pydantic-core formats nothing.
        error_type: Any = error["type"]
        template: Any = message
        line_errors.append(
            {
                "type": PydanticCustomError(error_type, template),
                "loc": loc,
                "input": None,
            }
        )
    return ValidationError.from_exception_data(model.__name__, line_errors, hide_input=True)


def _parsed(json_data: str | bytes | bytearray) -> object:
    """The JSON's data, to find the secrets in; None when it is not JSON at all."""
    try:
        return pydantic_core.from_json(json_data)
    except ValueError:
        return None


def _secret_parts(data: object, prefix: str = "") -> dict[str, str]:
    """The secrets among the raw inputs and their pieces, each mapped to its field's name."""
    parts: dict[str, str] = {}
    if not isinstance(data, Mapping):
        return parts
    for name, value in data.items():  # pyright: ignore[reportUnknownVariableType]
        field = f"{prefix}{name}"
        if isinstance(value, Mapping):
            parts.update(_secret_parts(cast("Mapping[object, object]", value), f"{field}."))
            continue
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
        elif isinstance(value, str):
            secret = value if is_secret_name(field) else _userinfo(value)
        else:
            continue
        for part in (secret, *_PARTS.split(secret)):
            if len(part) >= 2:  # noqa: PLR2004 -- one character is no secret, and is everywhere
                parts[part] = field
    return parts


def _userinfo(url: str) -> str:
    """A URL's ``user:password`` (up to the last ``@``) and its secret query values."""
    rest = url.partition("://")[2] or url
    userinfo = rest[: max(rest.rfind("@"), 0)]
    query = rest.partition("?")[2]
    values = [
        value
        for option in re.split(r"[&;]", query)
        for name, _, value in [option.partition("=")]
        if is_secret_name(name)
    ]
    return " ".join([userinfo, *values])
