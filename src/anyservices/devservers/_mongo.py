"""A MongoDB wire-protocol server: SecantusDB (PyPI), in memory, a one-node replica set."""

from __future__ import annotations

from typing import Any

from ._common import HOST, DevServerError, log, wait_until
from ._install import console_script, ensure_pip, has_module
from ._probes import mongo_answers
from ._server import Server

_START_TIMEOUT = 60.0
DATABASE = "anyservices"


class Mongo(Server):
    """``secantusd-py``. It presents replica set ``secantus``, so transactions work."""

    name = "mongo"
    default_port = 27030
    variable = "ANYSERVICES_MONGO_URL"

    def env(self) -> dict[str, str]:
        # directConnection works for SecantusDB and for the compose.yaml replica set alike
        # (whose member calls itself localhost:27017, unreachable from the host).
        return {
            self.variable: f"mongodb://{HOST}:{self.port}/?directConnection=true",
            "ANYSERVICES_MONGO_DATABASE": DATABASE,
        }

    def answers(self) -> bool:
        return mongo_answers(self.port)

    def start(self) -> None:
        ensure_pip("secantus", "secantusdb")
        command = [console_script("secantusd-py"), "--host", HOST, "--port", str(self.port),
                   "--storage-path", ":memory:"]  # fmt: skip
        process = self.spawn(command)
        wait_until(
            self.answers,
            self.name,
            self.logfile,
            timeout=_START_TIMEOUT,
            alive=lambda: process.poll() is None,
        )

    def verify(self) -> None:
        if not has_module("pymongo"):
            log(f"{self.name}: pymongo is not installed; skipping the transaction check")
            return
        try:
            _ping_and_transact(self.env()[self.variable])
        except Exception as error:
            raise DevServerError(f"{self.name}: pymongo check failed: {error!r}") from error
        log(f"{self.name}: pymongo ping and a transaction work")


def _ping_and_transact(url: str) -> None:
    import pymongo  # noqa: PLC0415 -- optional: only when installed

    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        url, serverSelectionTimeoutMS=10_000
    )
    with client:
        client.admin.command("ping")
        collection = client["anyservices_devservers_probe"]["probe"]
        with client.start_session() as session, session.start_transaction():
            collection.insert_one({"ok": True}, session=session)
        if collection.count_documents({}) < 1:
            raise DevServerError("the committed transaction's document is missing")
        client.drop_database("anyservices_devservers_probe")
