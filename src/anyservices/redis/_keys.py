"""The namespace, applied in one place to every key the service sends."""

from __future__ import annotations

__all__ = ("Keys",)


class Keys:
    """Prefixes keys with ``namespace:`` (or leaves them alone without a namespace)."""

    def __init__(self, namespace: str | None) -> None:
        self.prefix = f"{namespace}:" if namespace else ""

    def __call__(self, key: str) -> str:
        return self.prefix + key

    def many(self, keys: tuple[str, ...] | list[str]) -> list[str]:
        prefix = self.prefix
        return [prefix + key for key in keys]

    def strip(self, key: str) -> str:
        return key.removeprefix(self.prefix)
