"""Where public objects say they live: the one rule every package ``__init__`` applies.

A class or function defined in a private module (``anyservices.redis._service``) reports
the nearest public package above it (``anyservices.redis``) as its ``__module__``, so
reprs, tracebacks, pickles and docs name the import path users write, as anyio and
httpcore do. Objects defined in a public module, re-exported from elsewhere, or without a
writable ``__module__`` (type aliases, constants) are left alone. Nothing in the library
reads ``__module__`` to find source code (the sync-face generator reads the modules
named in each ``_faces.py``).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping

__all__ = ("mark_public",)


def mark_public(package: str, namespace: Mapping[str, object], names: Iterable[str]) -> None:
    """Set ``__module__`` to ``package`` on the names it re-exports from its private modules.

    Call it at the end of the package's ``__init__``:
    ``mark_public(__name__, globals(), __all__)``.
    """
    prefix = f"{package}."
    for name in names:
        value = namespace.get(name)  # a lazily loaded name is marked by its own package
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        module: str = value.__module__
        private = module.removeprefix(prefix).split(".")
        if module.startswith(prefix) and all(part.startswith("_") for part in private):
            value.__module__ = package
