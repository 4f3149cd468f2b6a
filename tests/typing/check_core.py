"""Never executed: mypy and pyright check that the public types are what we promise.

Each service adds ``check_<service>.py`` beside this file pinning its sync face.
"""

from __future__ import annotations

from typing import assert_type

from anyservices import Blocking, blocking
from anyservices._core._caller import call_user
from tests.core._toy import SyncToy, ToyConfig, ToyService


def check_blocking() -> None:
    opener = blocking(ToyService(ToyConfig()))
    assert_type(opener, Blocking[SyncToy])
    with opener as toy:
        assert_type(toy, SyncToy)
        assert_type(toy.echo("x"), str)
    with blocking(ToyService(ToyConfig()), backend="trio") as toy:
        assert_type(toy, SyncToy)


async def check_call_user() -> None:
    def plain(x: int) -> str:
        return str(x)

    async def coroutine(x: int) -> bytes:
        return bytes(x)

    assert_type(await call_user(plain, 1), str)
    assert_type(await call_user(coroutine, 1), bytes)
