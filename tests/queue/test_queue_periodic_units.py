"""Periodic schedules without a server: ticks of ``every`` and cron, and refused input."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest

from anyservices.queue import JobContext, Periodic, QueueConfig, QueueDataError, QueueService

queue = QueueService(QueueConfig(name="periodic-units"))


@queue.task(name="beat")
async def beat(ctx: JobContext, payload: int) -> int:
    return payload


def test_every_ticks_at_multiples_of_the_interval() -> None:
    schedule = Periodic(beat, 1, every=timedelta(minutes=1))
    assert schedule.name == "beat"
    assert schedule.payload == "1"
    assert schedule.next_tick(0) == 60_000
    assert schedule.next_tick(59_999) == 60_000
    assert schedule.next_tick(60_000) == 120_000  # strictly after
    assert schedule.job_id(60_000) == "beat@60000"
    assert repr(schedule) == "<Periodic beat (beat) every 60 s>"


def test_cron_ticks_in_utc() -> None:
    schedule = Periodic(beat, 2, cron="*/5 * * * *", name="five")
    assert schedule.next_tick(0) == 300_000
    assert schedule.next_tick(300_000) == 600_000
    assert schedule.next_tick(299_500) == 300_000
    seconds = Periodic(beat, 2, cron="* * * * * */10")  # six fields: seconds last
    assert seconds.next_tick(1_000) == 10_000
    assert repr(schedule) == "<Periodic five (beat) cron '*/5 * * * *'>"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "cron or every"),
        ({"cron": "* * * * *", "every": 1.0}, "cron or every"),
        ({"every": 0.0005}, "every must be at least 1 ms"),
        ({"every": float("nan")}, "every must be at least 1 ms"),
        ({"cron": "61 * * * *"}, "cron is not a valid cron expression"),
    ],
)
def test_bad_schedules_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Periodic(beat, 1, **options)  # type: ignore[arg-type]


def test_a_bad_payload_is_refused_at_registration() -> None:
    with pytest.raises(QueueDataError, match="bad fields"):
        Periodic(beat, "many", every=1)  # type: ignore[misc]  # a bad payload, on purpose


def test_cron_without_croniter_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "croniter", None)
    with pytest.raises(ImportError, match=r"anyservices\[cron\]"):
        Periodic(beat, 1, cron="* * * * *")
    assert Periodic(beat, 1, every=1).cron is None  # intervals need no croniter


def test_the_faces_module_names_classes_that_exist() -> None:
    """scripts/gen_sync_faces.py reads it; each entry names a real class (and extras)."""
    import importlib  # noqa: PLC0415

    from anyservices.queue._faces import FACES  # noqa: PLC0415

    for entry in FACES:
        module, name, *extras = entry
        assert isinstance(getattr(importlib.import_module(module), name), type)
        for spec in extras:
            extras_module, extras_name = spec.split(":")
            assert isinstance(getattr(importlib.import_module(extras_module), extras_name), type)
