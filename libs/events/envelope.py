"""The event envelope — contract (DESIGN §3). One envelope per Kafka record, key = stream_id."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson
from pydantic import BaseModel, ConfigDict

from libs.events.ids import parse_uuid

BANGKOK = ZoneInfo("Asia/Bangkok")


class Actor(BaseModel):
    """Who caused an event."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kind: Literal["user", "partner", "system"]
    id: str


SYSTEM_ACTOR = Actor(kind="system", id="sajja")


class Area(BaseModel):
    """Where an event belongs (DOPA codes)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    province_code: str
    district_code: str


class EventPayload(BaseModel):
    """Base of every event's own fields. Consumers ignore fields they do not know (forward compatible)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


@dataclass(frozen=True)
class NewEvent:
    """An event a command decided on, before the store gives it a version and position."""

    payload: EventPayload
    actor: Actor = SYSTEM_ACTOR
    area: Area | None = None
    occurred_at: datetime | None = None
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None


@dataclass(frozen=True)
class RecordedEvent:
    """An event as the store holds it and Kafka carries it."""

    event_id: uuid.UUID
    event_type: str
    schema_version: int
    stream_id: str
    stream_version: int
    position: int
    occurred_at: datetime
    recorded_at: datetime
    actor: Actor
    correlation_id: uuid.UUID | None
    causation_id: uuid.UUID | None
    area: Area | None
    payload: dict[str, Any]
    traceparent: str | None = field(default=None, compare=False)
    tracestate: str | None = field(default=None, compare=False)

    def to_json(self) -> bytes:
        body = {
            "event_id": str(self.event_id),
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "stream_id": self.stream_id,
            "stream_version": self.stream_version,
            "position": self.position,
            "occurred_at": self.occurred_at.astimezone(BANGKOK).isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "actor": self.actor.model_dump(),
            "correlation_id": str(self.correlation_id) if self.correlation_id else None,
            "causation_id": str(self.causation_id) if self.causation_id else None,
            "area": self.area.model_dump() if self.area else None,
            "payload": self.payload,
        }
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=_json_default).encode()

    @classmethod
    def from_json(cls, data: bytes, traceparent: str | None = None, tracestate: str | None = None) -> RecordedEvent:
        body = orjson.loads(data)
        correlation, causation, area = body.get("correlation_id"), body.get("causation_id"), body.get("area")
        # Trusted input (our own envelopes), on every projector's hot path (a rebuild decodes tens of thousands a
        # second): the fields set at once, as the frozen dataclass's __init__ would set them one by one, and the
        # ids parsed without UUID.__init__'s checks (a canonical id; anything else goes the checked way).
        event = _new(cls)
        event.__dict__.update(
            event_id=parse_uuid(body["event_id"]),
            event_type=body["event_type"],
            schema_version=int(body["schema_version"]),
            stream_id=body["stream_id"],
            stream_version=int(body["stream_version"]),
            position=int(body["position"]),
            occurred_at=_from_iso(body["occurred_at"]),
            recorded_at=_from_iso(body["recorded_at"]),
            actor=_actor(body["actor"]),
            correlation_id=parse_uuid(correlation) if correlation else None,
            causation_id=parse_uuid(causation) if causation else None,
            area=_area(area) if area else None,
            payload=body["payload"],
            traceparent=traceparent,
            tracestate=tracestate,
        )
        return event


_new = object.__new__
_from_iso = datetime.fromisoformat


# Consumers decode tens of thousands of envelopes a second, and a handful of actors and areas recur in
# them: share one frozen instance per value instead of building a model per event.
_ACTORS: dict[tuple[str, str], Actor] = {}
_AREAS: dict[tuple[str, str], Area] = {}


def _actor(raw: dict[str, str]) -> Actor:
    key = (raw["kind"], raw["id"])
    actor = _ACTORS.get(key)
    if actor is None:
        if len(_ACTORS) > 10_000:
            _ACTORS.clear()
        actor = _ACTORS[key] = Actor.model_validate(raw)
    return actor


def _area(raw: dict[str, str]) -> Area:
    key = (raw["province_code"], raw["district_code"])
    area = _AREAS.get(key)
    if area is None:
        if len(_AREAS) > 10_000:
            _AREAS.clear()
        area = _AREAS[key] = Area.model_validate(raw)
    return area


def _json_default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__} in an event")


def today_in_thailand() -> date:
    """The business date: today in Asia/Bangkok, whatever the server's own time zone."""
    return datetime.now(BANGKOK).date()
