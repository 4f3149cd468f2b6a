"""The README's first command: the demo pipeline, on every face, against the real servers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from anyservices import blocking
from anyservices._demo._documents import DOCUMENTS
from anyservices._demo._report import BUCKET, COLLECTION, LOOKUP_LIMIT
from anyservices._demo._run import run_face
from anyservices._demo._server import document_server
from anyservices.minio import MinioConfig, MinioService
from anyservices.mongo import MongoConfig, MongoService
from anyservices.testing import Face


@pytest.fixture
def demo_env(
    redis_env: dict[str, str],
    mongo_env: dict[str, str],
    s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """The servers' ``ANYSERVICES_*`` variables, set in this process too."""
    env = {**redis_env, **mongo_env, **s3_env}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_pipeline_stores_indexes_caches_and_announces(face: Face, demo_env: dict[str, str]) -> None:
    del demo_env
    n = len(DOCUMENTS)
    with document_server() as source:
        report = run_face(face, source)

    assert report.ok, report.lines()
    assert report.face == face
    assert report.documents == report.verified == report.indexed == n
    assert report.bytes_stored == sum(d.size for d in DOCUMENTS)
    assert report.progress_updates > n  # a start and at least one chunk per document
    assert report.by_author == {"ada": 2, "alan": 1, "claude": 1, "edsger": 2}
    assert (report.allowed, report.denied) == (LOOKUP_LIMIT, 2 * n - LOOKUP_LIMIT)
    assert (report.computed, report.cached) == (n, LOOKUP_LIMIT - n)  # each computed once
    assert report.published == report.received == n

    # What the report says is really on the servers.
    with blocking(MinioService(MinioConfig.from_env(default_bucket=BUCKET))) as s3:
        for document in DOCUMENTS:
            body = s3.download_data(f"{face}/{document.id}.bin")
            assert hashlib.sha256(body).hexdigest() == document.sha256
    with blocking(MongoService(MongoConfig.from_env())) as mongo:
        rows = mongo.find_many(COLLECTION, {"face": face}, sort=[("_id", 1)])
    assert [row["title"] for row in rows] == [
        d.title for d in sorted(DOCUMENTS, key=lambda d: d.id)
    ]
    assert all(row["object"] == f"{face}/{row['id']}.bin" for row in rows)


def _demo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANYSERVICES_")}
    return subprocess.run(
        [sys.executable, "-m", "anyservices", "demo", "--no-start", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_runs_every_face_and_says_which(demo_env: dict[str, str]) -> None:
    result = _demo(env=demo_env)
    assert result.returncode == 0, result.stderr
    heads = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert [line.split("]")[0][1:] for line in heads] == ["asyncio", "trio", "sync"]
    assert "async/await on trio" in result.stdout
    assert "the blocking() faces (shared portal on asyncio)" in result.stdout
    assert "COUNTS DISAGREE" not in result.stdout


def test_cli_names_the_unreachable_service_without_a_traceback(demo_env: dict[str, str]) -> None:
    env = {**demo_env, "ANYSERVICES_REDIS_URL": "redis://127.0.0.1:1/0"}
    result = _demo("--face", "trio", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("[trio] failed:")
    assert "redis" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/health", 200, b"ok"),
        ("/documents/doc-404/content", 404, b"no such document"),
        ("/elsewhere", 404, b"not found"),
    ],
)
def test_document_server_answers_health_and_refuses_unknown_paths(
    path: str, status: int, body: bytes
) -> None:
    with document_server() as source:
        try:
            with urllib.request.urlopen(source + path, timeout=10) as response:  # noqa: S310
                got = (response.status, response.read())
        except urllib.error.HTTPError as error:
            got = (error.code, error.read())
    assert got == (status, body)
