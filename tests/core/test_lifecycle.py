from __future__ import annotations

import logging

import pytest

from anyservices import blocking
from anyservices._core._errors import ServiceClosedError
from anyservices._core._service import State
from anyservices.testing import Face, open_face

from ._toy import ToyConfig, ToyService


def test_construct_does_no_io() -> None:
    service = ToyService(ToyConfig())
    assert service.state is State.NEW
    assert service.events == []


async def test_same_body_on_every_face(face: Face) -> None:
    async with open_face(face, ToyService(ToyConfig())) as toy:
        assert await toy.echo("hi") == "hi"
        async with toy.scoped() as value:
            assert value == "inside"
        assert [i async for i in toy.count(3)] == [0, 1, 2]


async def test_open_close_and_owned_tasks() -> None:
    service = ToyService(ToyConfig())
    async with service:
        assert service.state is State.OPEN
    assert service.state.value == "closed"
    assert service.events == ["open", "closed"]


async def test_enter_twice_refused() -> None:
    service = ToyService(ToyConfig())
    async with service:
        with pytest.raises(ServiceClosedError, match="only once"):
            await service.__aenter__()


async def test_use_after_close_names_the_problem() -> None:
    service = ToyService(ToyConfig())
    async with service:
        pass
    with pytest.raises(ServiceClosedError, match="closed"):
        await service.echo("x")


async def test_failed_open_releases_what_it_took() -> None:
    service = ToyService(ToyConfig(fail_open=True))
    with pytest.raises(ConnectionRefusedError):
        async with service:
            pytest.fail("must not enter")
    assert service.state is State.CLOSED
    assert service.events == ["closed"]


async def test_aclose_and_close_alias() -> None:
    service = ToyService(ToyConfig())
    await service.__aenter__()
    await service.close()
    await service.aclose()  # idempotent
    assert service.events == ["open", "closed"]


def test_logger_injection() -> None:
    logger = logging.getLogger("custom")
    assert ToyService(ToyConfig(), logger=logger)._logger is logger
    assert ToyService(ToyConfig())._logger.name == "anyservices.toy"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_blocking_open_close_without_with(backend: str) -> None:
    opener = blocking(ToyService(ToyConfig()), backend=backend)  # type: ignore[arg-type]
    toy = opener.open()
    try:
        assert toy.echo("x") == "x"
        with toy.scoped() as value:
            assert value == "inside"
        it = toy.count(10)
        assert next(it) == 0
        del it  # leaving early closes the async generator on the portal
    finally:
        toy.close()
    with pytest.raises(ServiceClosedError):
        toy.echo("y")


def test_blocking_rejects_unknown_backend() -> None:
    with pytest.raises(ValueError, match="backend"):
        blocking(ToyService(ToyConfig()), backend="curio")  # type: ignore[arg-type]


def test_blocking_exception_in_block_reaches_service() -> None:
    service = ToyService(ToyConfig())
    with pytest.raises(KeyError), blocking(service):
        raise KeyError("boom")
    assert service.state is State.CLOSED
    assert service.events == ["open", "closed"]
