"""Does a port really answer? Tiny Redis, MongoDB and S3 probes in the standard library."""

from __future__ import annotations

import http.client
import itertools
import socket
import struct
from typing import BinaryIO

from ._common import HOST

RespValue = bytes | int | None | list["RespValue"]
_OP_MSG = 2013
_REQUEST_IDS = itertools.count(1)


class RespError(Exception):
    """A Redis error reply (``-ERR ...``)."""


def resp_encode(*args: str) -> bytes:
    """A Redis command as a RESP array of bulk strings."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def resp_read(stream: BinaryIO) -> RespValue:
    """One RESP2 reply; error replies raise :class:`RespError`."""
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed in the middle of a reply")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body
    if kind == b"-":
        raise RespError(body.decode(errors="replace"))
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        return None if size < 0 else stream.read(size + 2)[:-2]
    if kind == b"*":
        size = int(body)
        return None if size < 0 else [resp_read(stream) for _ in range(size)]
    raise ConnectionError(f"not a Redis reply: {line[:40]!r}")


def redis_command(port: int, *args: str, host: str = HOST, timeout: float = 2) -> RespValue:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(resp_encode(*args))
        with sock.makefile("rb") as stream:
            return resp_read(stream)


def redis_answers(port: int, host: str = HOST) -> bool:
    """True when a Redis server answers PING (a password-protected one counts too)."""
    try:
        return redis_command(port, "PING", host=host, timeout=1) == b"PONG"
    except RespError as error:
        return str(error).startswith("NOAUTH")
    except (OSError, ValueError):
        return False


def bson_document(fields: dict[str, int | str]) -> bytes:
    """A flat BSON document of int32 and string fields (enough for ``hello``)."""
    body = b""
    for key, value in fields.items():
        name = key.encode() + b"\0"
        if isinstance(value, int):
            body += b"\x10" + name + struct.pack("<i", value)
        else:
            data = value.encode() + b"\0"
            body += b"\x02" + name + struct.pack("<i", len(data)) + data
    return struct.pack("<i", len(body) + 5) + body + b"\0"


def mongo_hello_message(request_id: int) -> bytes:
    """An OP_MSG ``{hello: 1, $db: "admin"}``."""
    payload = struct.pack("<I", 0) + b"\0" + bson_document({"hello": 1, "$db": "admin"})
    return struct.pack("<iiii", 16 + len(payload), request_id, 0, _OP_MSG) + payload


def mongo_answers(port: int, host: str = HOST) -> bool:
    """True when a MongoDB wire-protocol server replies to ``hello``."""
    request_id = next(_REQUEST_IDS)
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(mongo_hello_message(request_id))
            header = sock.recv(16, socket.MSG_WAITALL)
    except OSError:
        return False
    if len(header) < 16:  # noqa: PLR2004 -- the wire header's size
        return False
    _length, _id, response_to, opcode = struct.unpack("<iiii", header)
    return bool(response_to == request_id and opcode == _OP_MSG)


def s3_flavour(port: int, host: str = HOST) -> str | None:
    """``radosgw``, ``moto`` or ``minio`` when an S3 server answers on the port, else None."""
    connection = http.client.HTTPConnection(host, port, timeout=2)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    headers = {key.lower(): value for key, value in response.getheaders()}
    return flavour_of(headers)


def flavour_of(headers: dict[str, str]) -> str | None:
    """Tell the S3 servers apart by their reply headers (lower-case names)."""
    if "minio" in headers.get("server", "").lower():
        return "minio"
    if "x-amzn-requestid" in headers:
        return "moto"
    if "x-amz-request-id" in headers:
        return "radosgw"
    return None
