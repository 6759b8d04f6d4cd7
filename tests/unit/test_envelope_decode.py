"""Projectors decode envelopes the fast way (fields set at once, ids parsed without UUID's checks): what they get
is what the checked constructor gives, for every shape an envelope comes in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson

from libs.events.envelope import Actor, Area, RecordedEvent
from libs.events.ids import new_id


def _event(**changes: object) -> RecordedEvent:
    fields: dict[str, object] = {
        "event_id": new_id(),
        "event_type": "ledger.SavingsDeposited",
        "schema_version": 2,
        "stream_id": f"member-{uuid.uuid4()}",
        "stream_version": 7,
        "position": 123_456,
        "occurred_at": datetime(2024, 1, 5, 3, 4, 5, 678, tzinfo=UTC),
        "recorded_at": datetime(2024, 1, 5, 3, 4, 6, tzinfo=UTC),
        "actor": Actor(kind="user", id="treasurer-1"),
        "correlation_id": uuid.uuid4(),
        "causation_id": uuid.uuid4(),
        "area": Area(province_code="27", district_code="2701"),
        "payload": {"amount_satang": 10_000, "account": "sajja", "member_id": str(uuid.uuid4())},
    }
    return RecordedEvent(**(fields | changes))  # type: ignore[arg-type]


def test_a_decoded_envelope_equals_the_event_that_was_encoded() -> None:
    for event in (
        _event(),
        _event(correlation_id=None, causation_id=None, area=None),
        _event(actor=Actor(kind="system", id="sajja"), schema_version=1),
    ):
        decoded = RecordedEvent.from_json(event.to_json(), "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "k=v")
        assert decoded == event
        assert decoded.traceparent == "00-" + "a" * 32 + "-" + "b" * 16 + "-01" and decoded.tracestate == "k=v"
        assert type(decoded.event_id) is uuid.UUID and decoded.event_id.int == event.event_id.int
        assert str(decoded.event_id) == str(event.event_id) and decoded.event_id.version == event.event_id.version


def test_ids_not_in_the_canonical_form_are_parsed_the_checked_way() -> None:
    event = _event()
    body = orjson.loads(event.to_json())
    body["event_id"] = "{" + str(event.event_id).upper() + "}"  # braces, upper case: UUID() accepts both
    body["correlation_id"] = str(event.correlation_id).replace("-", "")
    decoded = RecordedEvent.from_json(orjson.dumps(body))
    assert decoded.event_id == event.event_id and decoded.correlation_id == event.correlation_id
    body["causation_id"] = "not-an-id-at-all-but-exactly-36-char"
    try:
        RecordedEvent.from_json(orjson.dumps(body))
    except ValueError:
        pass
    else:
        raise AssertionError("a malformed id was accepted")
