"""Type variables shared by the async service and its generated sync face."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias, TypeVar

from pydantic import BaseModel

__all__ = ("Headers", "JsonBody", "ModelT", "Params", "ProgressCallback")

ModelT = TypeVar("ModelT", bound=BaseModel)

#: Called with (bytes done so far, total bytes or None when the server did not say).
ProgressCallback: TypeAlias = Callable[[int, int | None], object]

#: Query parameters of a request.
Params: TypeAlias = Mapping[str, str | int | float | bool | None] | None
#: Extra headers of a request.
Headers: TypeAlias = Mapping[str, str] | None
#: Anything ``json.dumps`` accepts (and what a JSON body decodes to).
JsonBody: TypeAlias = Any
