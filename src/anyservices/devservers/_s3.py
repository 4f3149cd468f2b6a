"""S3: Ceph's RADOS Gateway (checks signatures, like MinIO), or moto's server as a fallback."""

from __future__ import annotations

import io
import os
from typing import Any

from ._ceph import create_user, install, start_cluster
from ._common import HOST, DevServerError, log, state_dir, wait_until
from ._install import console_script, ensure_pip
from ._probes import s3_flavour
from ._process import stop_recorded
from ._server import Server

DEV_ACCESS_KEY = "anyservices-dev"
DEV_SECRET_KEY = "anyservices-dev-secret"  # noqa: S105 -- the fixed local development credential
REGION = "us-east-1"
CHOICE_VARIABLE = "ANYSERVICES_DEVSERVERS_S3"  # radosgw, moto, or unset: radosgw, else moto
_MOTO_TIMEOUT = 60.0
_RGW_ATTEMPTS = 2
_PROBE_BUCKET = "anyservices-devservers-probe"


class S3(Server):
    """An S3 endpoint with the fixed development credentials of compose.yaml's MinIO."""

    name = "s3"
    default_port = 9010
    variable = "ANYSERVICES_MINIO_ENDPOINT"

    def env(self) -> dict[str, str]:
        return {
            self.variable: f"{HOST}:{self.port}",
            "ANYSERVICES_MINIO_ACCESS_KEY": DEV_ACCESS_KEY,
            "ANYSERVICES_MINIO_SECRET_KEY": DEV_SECRET_KEY,
            "ANYSERVICES_MINIO_SECURE": "false",
            "ANYSERVICES_MINIO_REGION": REGION,
            "ANYSERVICES_S3_SERVER": s3_flavour(self.port) or "unknown",
        }

    def answers(self) -> bool:
        return s3_flavour(self.port) is not None

    def describe(self) -> str:
        return f"{HOST}:{self.port} ({s3_flavour(self.port) or 'down'})"

    def start(self) -> None:
        choice = chosen_server()
        if choice != "moto":
            for attempt in range(1, _RGW_ATTEMPTS + 1):  # a fresh cluster for each attempt
                try:
                    self._start_radosgw()
                except DevServerError as error:
                    stop_recorded(self.name, self.markers())
                    if attempt == _RGW_ATTEMPTS and choice == "radosgw":
                        raise
                    log(f"s3: radosgw did not start (attempt {attempt}). Why:\n{error}")
                else:
                    return
            log("s3: radosgw could not be had; falling back to moto")
        self._start_moto()

    def _start_radosgw(self) -> None:
        install()
        root = state_dir() / "ceph"
        start_cluster(root, self.port, self.spawn)
        create_user(root, DEV_ACCESS_KEY, DEV_SECRET_KEY)

    def _start_moto(self) -> None:
        for module in ("moto", "flask", "flask_cors"):
            ensure_pip(module, "moto[s3]", "flask", "flask-cors")
        process = self.spawn([console_script("moto_server"), "-H", HOST, "-p", str(self.port)])
        wait_until(
            self.answers,
            "moto_server",
            self.logfile,
            timeout=_MOTO_TIMEOUT,
            alive=lambda: process.poll() is None,
        )

    def verify(self) -> None:
        ensure_pip("minio", "minio")
        flavour = s3_flavour(self.port)
        try:
            refused = _put_get_and_wrong_secret(f"{HOST}:{self.port}")
        except Exception as error:
            raise DevServerError(f"s3 ({flavour}): minio SDK check failed: {error!r}") from error
        if not refused and flavour != "moto":
            raise DevServerError(f"s3 ({flavour}) accepted a request signed with a wrong secret")
        checks = "signatures checked" if refused else "signatures NOT checked (moto)"
        log(f"s3 ({flavour}): bucket, put and get work with the minio SDK; {checks}")


def chosen_server() -> str:
    choice = os.environ.get(CHOICE_VARIABLE, "").strip().lower() or "auto"
    if choice not in {"auto", "radosgw", "moto"}:
        raise DevServerError(f"{CHOICE_VARIABLE} must be radosgw or moto, not {choice!r}")
    return choice


def _put_get_and_wrong_secret(endpoint: str) -> bool:
    """Bucket, put, get with the dev credentials; True when a wrong secret is refused."""
    from minio.error import S3Error  # noqa: PLC0415

    from minio import Minio  # noqa: PLC0415 -- optional: installed on demand

    def client(secret: str) -> Any:
        return Minio(
            endpoint, access_key=DEV_ACCESS_KEY, secret_key=secret, secure=False, region=REGION
        )

    good = client(DEV_SECRET_KEY)
    if not good.bucket_exists(_PROBE_BUCKET):
        good.make_bucket(_PROBE_BUCKET)
    good.put_object(_PROBE_BUCKET, "probe.txt", io.BytesIO(b"ok"), 2)
    response = good.get_object(_PROBE_BUCKET, "probe.txt")
    try:
        body = response.read()
    finally:
        response.close()
        response.release_conn()
    if body != b"ok":
        raise DevServerError(f"read back {body!r} instead of b'ok'")
    try:
        client("not-the-secret").list_buckets()
        refused = False
    except S3Error:
        refused = True
    good.remove_object(_PROBE_BUCKET, "probe.txt")
    good.remove_bucket(_PROBE_BUCKET)
    return refused
