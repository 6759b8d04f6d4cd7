"""Event types: type name → versioned pydantic models, with upcasters from older versions."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from libs.events.envelope import EventPayload, RecordedEvent

P = TypeVar("P", bound=type[EventPayload])
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventType(LookupError):
    """An event type (or version) this process has no model for."""


@dataclass
class EventRegistry:
    """Knows every event type and version; turns stored payloads into the current model."""

    _models: dict[tuple[str, int], type[EventPayload]] = field(default_factory=dict)
    _names: dict[type[EventPayload], tuple[str, int]] = field(default_factory=dict)
    _latest: dict[str, int] = field(default_factory=dict)
    _upcasters: dict[tuple[str, int], Upcaster] = field(default_factory=dict)

    def register(self, event_type: str, version: int = 1) -> Callable[[P], P]:
        def decorate(model: P) -> P:
            key = (event_type, version)
            if key in self._models:
                raise ValueError(f"{event_type} v{version} is registered twice")
            self._models[key] = model
            self._names[model] = key
            self._latest[event_type] = max(version, self._latest.get(event_type, 0))
            return model

        return decorate

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning a v`from_version` payload into v`from_version + 1`."""

        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return decorate

    def name_of(self, payload: EventPayload) -> tuple[str, int]:
        try:
            return self._names[type(payload)]
        except KeyError:
            raise UnknownEventType(f"{type(payload).__name__} is not a registered event") from None

    def latest_version(self, event_type: str) -> int:
        try:
            return self._latest[event_type]
        except KeyError:
            raise UnknownEventType(event_type) from None

    def event_types(self) -> set[str]:
        return {event_type for event_type, _ in self._models}

    def models(self) -> dict[tuple[str, int], type[EventPayload]]:
        """(event type, version) → its model, every version."""
        return dict(self._models)

    def knows(self, event_type: str) -> bool:
        return event_type in self._latest

    def upcast(self, event_type: str, version: int, payload: dict[str, Any]) -> dict[str, Any]:
        latest = self.latest_version(event_type)
        if version > latest:
            raise UnknownEventType(f"{event_type} v{version} is newer than this consumer (v{latest})")
        while version < latest:
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise UnknownEventType(f"no upcaster for {event_type} v{version} → v{version + 1}")
            payload = step(payload)
            version += 1
        return payload

    def parse(self, event_type: str, version: int, payload: dict[str, Any]) -> EventPayload:
        """The payload as the current model, upcasting older versions."""
        latest = self.latest_version(event_type)
        return self._models[(event_type, latest)].model_validate(self.upcast(event_type, version, payload))

    def parse_event(self, event: RecordedEvent) -> EventPayload:
        return self.parse(event.event_type, event.schema_version, event.payload)

    def json_schemas(self) -> dict[str, dict[str, Any]]:
        """file name → JSON Schema, one per registered type and version."""
        schemas: dict[str, dict[str, Any]] = {}
        for (event_type, version), model in sorted(self._models.items()):
            schema = model.model_json_schema(mode="serialization")
            schema["$id"] = f"urn:sajja:event:{event_type}:v{version}"
            schema["x-event-type"] = event_type
            schema["x-schema-version"] = version
            schemas[f"{event_type}.v{version}.json"] = schema
        return schemas


def dump_schema(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


# The platform's one registry: every schema module registers into it on import.
REGISTRY = EventRegistry()
