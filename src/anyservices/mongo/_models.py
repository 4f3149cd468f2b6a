"""Documents to pydantic models and back, with ``_id`` handled in one place.

A model names its id with the alias ``_id`` (``id: str | None = Field(None, alias="_id")``).
Reading: an ObjectId ``_id`` becomes its hex string when the field is a ``str``, and is
left alone otherwise (a model may declare ``ObjectId`` or any other id type). Writing: a
``None`` id is left out (the server makes one), and a ``str`` id that is a valid
ObjectId hex string is stored as that ObjectId, so ids round-trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from bson import ObjectId
from pydantic import BaseModel

from .._core._models import load_model
from ._errors import MongoDataError

__all__ = ("from_document", "id_text", "storable_id", "to_document")

M = TypeVar("M", bound=BaseModel)


def id_text(value: object) -> str:
    """How we hand ids out: ObjectId as its hex string, anything else as ``str()``."""
    return str(value)


def storable_id(value: object) -> object:
    """An id as stored: a 24-hex string becomes its ObjectId."""
    if isinstance(value, str) and ObjectId.is_valid(value):
        return ObjectId(value)
    return value


def _id_field_is_str(model_class: type[BaseModel]) -> bool:
    for name, field in model_class.model_fields.items():
        if field.alias == "_id" or (field.alias is None and name == "_id"):
            annotation: object = field.annotation
            return annotation is str or annotation == (str | None)
    return False


def from_document(
    model_class: type[M], document: Mapping[str, Any], *, collection: str, operation: str
) -> M:
    """Validate one document; failures name the collection, the document's _id and the fields."""
    data = dict(document)
    if isinstance(data.get("_id"), ObjectId) and _id_field_is_str(model_class):
        data["_id"] = str(data["_id"])
    try:
        return load_model(model_class, data, error=MongoDataError, resource=collection)
    except MongoDataError as exc:
        message = f"document _id={id_text(document.get('_id'))}: {exc.message}"
        raise MongoDataError(message, operation=operation, resource=collection) from None


def to_document(model: BaseModel) -> dict[str, Any]:
    """The document to store for ``model`` (by alias, so ``id`` is written as ``_id``)."""
    document = model.model_dump(by_alias=True, mode="python")
    if "_id" in document:
        if document["_id"] is None:
            del document["_id"]
        else:
            document["_id"] = storable_id(document["_id"])
    return document
