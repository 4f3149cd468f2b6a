"""No network: models, bulk operation dicts, driver timeouts, cursors closed on early exit."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, cast

import anyio
import pymongo
import pymongo._csot
import pymongo.errors
import pytest
from bson import ObjectId
from pydantic import BaseModel, ConfigDict, Field

from anyservices._core._service import State
from anyservices.mongo import (
    MongoConfig,
    MongoDataError,
    MongoError,
    MongoService,
    MongoSession,
    MongoTimeoutError,
)
from anyservices.mongo._models import from_document, to_document
from anyservices.mongo._service import _bulk_operation


class User(BaseModel):
    id: str | None = Field(default=None, alias="_id")
    email: str
    age: int = 0


class Typed(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    id: ObjectId = Field(alias="_id")


def test_object_id_becomes_str_and_back() -> None:
    oid = ObjectId()
    user = from_document(
        User, {"_id": oid, "email": "a@b"}, collection="users", operation="find_one_model"
    )
    assert user.id == str(oid)
    assert to_document(user) == {"_id": oid, "email": "a@b", "age": 0}
    assert to_document(User(email="x")) == {"email": "x", "age": 0}
    assert to_document(User(_id="custom-id", email="x"))["_id"] == "custom-id"


def test_a_typed_id_is_left_alone() -> None:
    oid = ObjectId()
    typed = from_document(Typed, {"_id": oid}, collection="c", operation="o")
    assert typed.id == oid


def test_validation_error_names_collection_document_and_field() -> None:
    with pytest.raises(MongoDataError) as caught:
        from_document(
            User, {"_id": "doc-7", "email": 5, "age": "x"}, collection="users", operation="op"
        )
    message = str(caught.value)
    assert "doc-7" in message
    assert "email" in message
    assert "age" in message
    assert caught.value.resource == "users"


def test_bulk_operation_dicts() -> None:
    op = _bulk_operation({"update_one": {"filter": {"a": 1}, "update": {"$set": {"b": 2}}}}, "c")
    assert isinstance(op, pymongo.UpdateOne)
    passthrough = pymongo.DeleteOne({"a": 1})
    assert _bulk_operation(passthrough, "c") is passthrough
    with pytest.raises(MongoDataError, match="one key"):
        _bulk_operation({"insert_one": {}, "delete_one": {}}, "c")
    with pytest.raises(MongoDataError, match="bad arguments for delete_one"):
        _bulk_operation({"delete_one": {"query": {}}}, "c")


async def test_the_callers_deadline_and_timeout_ms_reach_the_driver() -> None:
    service = MongoService(MongoConfig(timeout_ms=60_000))
    seen: list[float | None] = []

    def probe() -> None:
        seen.append(pymongo._csot.get_timeout())

    await service._call(probe, "p")
    with anyio.fail_after(5):
        await service._call(probe, "p")
    await service._call(probe, "p", driver_timeout=2.0)
    assert seen[0] == 60.0
    assert seen[1] is not None
    assert 0 < seen[1] <= 5
    assert seen[2] == 2.0
    assert MongoService(MongoConfig(timeout_ms=None))._timeout is None


async def test_driver_errors_are_mapped_and_counted() -> None:
    service = MongoService(MongoConfig())

    def slow() -> None:
        raise pymongo.errors.ExecutionTimeout("operation exceeded time limit", 50)

    with pytest.raises(MongoTimeoutError) as caught:
        await service._call(slow, "find_one", "users")
    assert (caught.value.operation, caught.value.resource) == ("find_one", "users")
    assert service.statistics().errors == 1


class _FakeCursor:
    def __init__(self, n: int) -> None:
        self._items = iter([{"n": i} for i in range(n)])
        self.closed = False

    def __iter__(self) -> _FakeCursor:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._items)

    def close(self) -> None:
        self.closed = True


class _FakeCollection:
    def __init__(self, cursor: _FakeCursor) -> None:
        self.cursor = cursor
        self.find_kwargs: dict[str, Any] = {}

    def find(self, *args: Any, **kwargs: Any) -> _FakeCursor:
        self.find_kwargs = kwargs
        return self.cursor


def as_generator(iterator: AsyncIterator[Any]) -> AsyncGenerator[Any, None]:
    """find_iter is typed as an AsyncIterator (its sync face is an Iterator); it is a generator."""
    return cast("AsyncGenerator[Any, None]", iterator)


def _service_with(collection: _FakeCollection) -> MongoService:
    service = MongoService(MongoConfig())
    service._db = {"c": collection}  # type: ignore[assignment]
    service._state = State.OPEN
    return service


async def test_find_iter_closes_the_cursor_when_left_early() -> None:
    fake = _FakeCollection(_FakeCursor(100))
    service = _service_with(fake)
    seen: list[int] = []
    async with aclosing(as_generator(service.find_iter("c", {}, batch_size=10))) as documents:
        async for document in documents:
            seen.append(document["n"])
            if len(seen) == 15:
                break
    assert fake.cursor.closed
    assert fake.find_kwargs["batch_size"] == 10
    assert service.statistics().calls == 3  # two batches and the close


async def test_find_iter_closes_the_cursor_at_the_end() -> None:
    fake = _FakeCollection(_FakeCursor(20))
    service = _service_with(fake)
    assert len([d async for d in service.find_iter("c", {}, batch_size=10)]) == 20
    assert fake.cursor.closed


class _FakeSession:
    """A ClientSession whose commit fails ``commit_failures`` times with ``label``."""

    def __init__(self, commit_failures: int = 0, label: str = "UnknownTransactionCommitResult"):
        self.commit_failures = commit_failures
        self.label = label
        self.in_transaction = False
        self.calls: list[str] = []

    def start_transaction(self) -> None:
        self.calls.append("start")
        self.in_transaction = True

    def commit_transaction(self) -> None:
        self.calls.append("commit")
        if self.commit_failures:
            self.commit_failures -= 1
            raise pymongo.errors.OperationFailure(
                "commit unknown", 50, {"errorLabels": [self.label]}
            )
        self.in_transaction = False

    def abort_transaction(self) -> None:
        self.calls.append("abort")
        self.in_transaction = False

    def end_session(self) -> None:
        self.calls.append("end")


class _FakeClient:
    def __init__(self, session: _FakeSession) -> None:
        self.session = session

    def start_session(self) -> _FakeSession:
        return self.session


def _service_with_session(session: _FakeSession) -> MongoService:
    service = MongoService(MongoConfig())
    service._client = _FakeClient(session)  # type: ignore[assignment]
    service._state = State.OPEN
    return service


async def test_an_unknown_commit_result_retries_the_commit_and_logs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = _FakeSession(commit_failures=2)
    service = _service_with_session(session)
    with caplog.at_level(logging.INFO, logger="anyservices.mongo"):
        async with service.transaction(max_commit_retries=2):
            pass
    assert session.calls == ["start", "commit", "commit", "commit", "end"]
    retries = [r.getMessage() for r in caplog.records if "retrying the commit" in r.getMessage()]
    assert [m.split("(")[1].split(")")[0] for m in retries] == ["1 of 2", "2 of 2"]


async def test_the_commit_gives_up_after_max_commit_retries() -> None:
    session = _FakeSession(commit_failures=5)
    service = _service_with_session(session)
    with pytest.raises(MongoTimeoutError, match="commit unknown") as caught:
        async with service.transaction(max_commit_retries=1):
            pass
    assert "UnknownTransactionCommitResult" in caught.value.labels
    assert session.calls == ["start", "commit", "commit", "end"]


async def test_other_commit_errors_are_not_retried() -> None:
    session = _FakeSession(commit_failures=1, label="SomethingElse")
    service = _service_with_session(session)
    with pytest.raises(MongoError):
        async with service.transaction():
            pass
    assert session.calls == ["start", "commit", "end"]


async def test_a_transaction_already_over_is_not_aborted_again() -> None:
    session = _FakeSession()
    service = _service_with_session(session)
    with pytest.raises(KeyError):
        async with service.transaction():
            session.in_transaction = False  # the driver ended it (e.g. a failed commit)
            raise KeyError("boom")
    assert session.calls == ["start", "end"]


async def test_a_plain_function_runs_in_a_transaction_on_the_async_face() -> None:
    session = _FakeSession()
    service = _service_with_session(session)
    seen: list[MongoSession] = []

    def body(s: MongoSession) -> int:
        seen.append(s)
        return 7

    assert await service.run_transaction(body) == 7  # type: ignore[arg-type]
    assert seen[0].driver_session is cast("Any", session)
    assert repr(seen[0]) == "<MongoSession in_transaction=False>"


class _FakeStream:
    def __init__(self, changes: list[dict[str, Any] | None]) -> None:
        self.changes = changes
        self.closed = False

    def try_next(self) -> dict[str, Any] | None:
        return self.changes.pop(0)

    def close(self) -> None:
        self.closed = True


class _WatchedCollection(_FakeCollection):
    def __init__(self, stream: _FakeStream) -> None:
        super().__init__(_FakeCursor(0))
        self.stream = stream

    def watch(self, *args: Any, **kwargs: Any) -> _FakeStream:
        return self.stream


async def test_watch_waits_through_empty_hops_and_closes_its_stream() -> None:
    stream = _FakeStream([None, None, {"n": 1}, None, {"n": 2}])
    service = _service_with(_WatchedCollection(stream))
    got: list[int] = []
    async with aclosing(as_generator(service.watch("c"))) as changes:
        async for change in changes:
            got.append(change["n"])
            if len(got) == 2:
                break
    assert got == [1, 2]
    assert stream.closed


async def test_a_model_method_refuses_what_is_not_a_model() -> None:
    service = MongoService(MongoConfig())
    with pytest.raises(MongoDataError, match="expected a pydantic model, got dict"):
        await service.insert_one_model("c", {"email": "x"})  # type: ignore[arg-type]


class NoId(BaseModel):
    name: str
    count: int = 0


class IdLast(BaseModel):
    name: str
    id: str | None = Field(default=None, alias="_id")


def test_models_without_an_id_or_with_it_last() -> None:
    assert to_document(NoId(name="a")) == {"name": "a", "count": 0}
    plain = from_document(NoId, {"_id": ObjectId(), "name": "a"}, collection="c", operation="o")
    assert plain == NoId(name="a")
    oid = ObjectId()
    last = from_document(IdLast, {"_id": oid, "name": "b"}, collection="c", operation="o")
    assert last.id == str(oid)


def test_the_faces_module_names_the_generated_classes() -> None:
    from anyservices.mongo import _faces, _sync  # noqa: PLC0415 -- the generator's input

    names = {entry[1] for entry in _faces.FACES}
    assert names == {"MongoService", "MongoCollection"}
    assert {f"Sync{name}" for name in names} <= set(_sync.__all__)
