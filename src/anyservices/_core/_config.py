"""The base of every service config: an eager, frozen pydantic model with ``from_env()``."""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ("ServiceConfig",)


class ServiceConfig(BaseModel):
    """Validated at construction: a bad value raises ``pydantic.ValidationError`` naming it.

    Unknown fields are refused (a typo must not be ignored), and secrets are
    ``SecretStr`` so that neither ``repr()`` nor logs show them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    #: Environment variables read by :meth:`from_env` start with this.
    env_prefix: ClassVar[str] = "ANYSERVICES_"

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """Build the config from ``<env_prefix><FIELD>`` variables; ``overrides`` win.

        ``RedisConfig.from_env()`` reads ``ANYSERVICES_REDIS_HOST`` and so on; variables
        naming no field are ignored, so one environment can hold every service's settings.
        """
        settings_class = _settings_class_for(cls)
        loaded = settings_class(**overrides)
        values = {name: getattr(loaded, name) for name in loaded.model_fields_set}
        return cls.model_validate(values)


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
                ),
                "__module__": config_class.__module__,
            },
        )
        _SETTINGS_CLASSES[config_class] = settings_class
    return settings_class
