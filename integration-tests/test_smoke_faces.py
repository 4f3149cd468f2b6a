"""The harness itself: one body, three faces, against a real loopback socket."""

from __future__ import annotations

import anyio

from anyservices.testing import Face


async def test_loopback_roundtrip_on_every_face(face: Face) -> None:
    async def handler(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.send(await stream.receive())

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)  # noqa: S610 -- not SQL
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handler)
        async with await anyio.connect_tcp("127.0.0.1", port) as client:
            await client.send(face.encode())
            assert await client.receive() == face.encode()
        tg.cancel_scope.cancel()
