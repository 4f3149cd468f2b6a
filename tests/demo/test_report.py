"""The demo's report: when its counts add up, and what it prints."""

from __future__ import annotations

import hashlib

import pytest

from anyservices._demo._documents import DOCUMENTS, Document, content_of
from anyservices._demo._report import LOOKUP_LIMIT, Report


def _complete(n: int = 6) -> Report:
    return Report(
        face="trio",
        how="async/await on trio",
        source="http://127.0.0.1:1",
        documents=n,
        bytes_stored=n * 10,
        progress_updates=2 * n,
        verified=n,
        indexed=n,
        index_name="face_1_author_1",
        by_author={"ada": n},
        computed=n,
        cached=LOOKUP_LIMIT - n,
        allowed=LOOKUP_LIMIT,
        denied=2 * n - LOOKUP_LIMIT,
        published=n,
        received=n,
    )


def test_a_complete_run_is_ok_and_says_its_face() -> None:
    report = _complete()
    assert report.ok
    lines = report.lines()
    assert lines[0].startswith("[trio] async/await on trio: 6 documents")
    assert "COUNTS DISAGREE" not in "\n".join(lines)
    assert "10 allowed (6 computed, 4 from cache), 2 denied" in "\n".join(lines)


@pytest.mark.parametrize(
    "change",
    [
        {"received": 5},
        {"verified": 5},
        {"indexed": 7},
        {"cached": 3},
        {"denied": 1},
        {"documents": 0, "verified": 0, "indexed": 0, "published": 0, "received": 0},
    ],
)
def test_any_lost_step_is_flagged(change: dict[str, int]) -> None:
    report = _complete()
    for field, value in change.items():
        setattr(report, field, value)
    assert not report.ok
    assert report.lines()[0].endswith("(COUNTS DISAGREE)")


def test_documents_carry_the_digest_of_their_content() -> None:
    assert len({d.id for d in DOCUMENTS}) == len(DOCUMENTS)
    for document in DOCUMENTS:
        content = content_of(document.id, document.size)
        assert len(content) == document.size
        assert hashlib.sha256(content).hexdigest() == document.sha256


def test_a_document_id_must_be_a_plain_slug() -> None:
    with pytest.raises(ValueError, match="id"):
        Document(id="../etc", title="t", author="a", size=1, sha256="0")
