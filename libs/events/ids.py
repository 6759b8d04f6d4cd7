"""Identifiers: UUIDv7 everywhere (time-ordered, so indexes stay compact)."""

from __future__ import annotations

import uuid

import uuid6


def new_id() -> uuid.UUID:
    """A fresh UUIDv7 as a standard-library UUID."""
    return uuid.UUID(int=uuid6.uuid7().int)


def stream_id(kind: str, entity_id: uuid.UUID | str) -> str:
    """Stream ids name the aggregate kind: 'member-<uuid>', 'group-<uuid>'."""
    return f"{kind}-{entity_id}"
