"""Free text that may carry personal data, kept out of events (DESIGN §3).

Reasons, references, notes and descriptions are typed by people, and people write names, phone numbers
and ID numbers into them. Topics are copied widely and kept forever, so such text lives in the owning
service's erasable register (`<schema>.free_text`, libs/events/sql/004_free_text.sql) and the event
carries only its id: a field `X_ref` (or `X_refs`, a dict of them) stands for the text `X`.

* A command wraps each text in `FreeText.of(field, body)` and hands it to the domain, which puts
  `text.text_id` into the event; the store writes the texts its events refer to in the append's
  transaction (`EventStore.append(..., texts=...)`), so a text exists exactly when its event does.
* Reads resolve references (`resolve`, then `shown` for a payload as users saw it before).
* Erasure blanks the body and keeps the row (`erase`): the reference stays valid and resolves to None.

Events published before this (schema v1) carried their text inline; their upcasters leave it where it was
(an `X` field beside the empty `X_ref`), so what `shown` gives for them is the text as published.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from libs.events.errors import NotFound
from libs.events.ids import new_id

if TYPE_CHECKING:
    from libs.events.http import CommandResult, CommandUnit, IdempotentCommands

__all__ = [
    "ErasureConfirmation",
    "FreeText",
    "erase",
    "erase_command",
    "keep",
    "reference_fields",
    "refs_in",
    "resolve",
    "shown",
    "texts_referred_to",
]


@dataclass(frozen=True)
class FreeText:
    """A person's text on its way into the register, under the id its event will carry."""

    text_id: uuid.UUID
    field: str
    body: str

    @classmethod
    def of(cls, field: str, body: str) -> FreeText:
        return cls(new_id(), field, body)

    @classmethod
    def optional(cls, field: str, body: str | None) -> FreeText | None:
        """None for no text (absent or blank)."""
        return cls.of(field, body) if body and body.strip() else None


def _table(schema: str) -> str:
    return f'"{schema}".free_text'


def texts_referred_to(
    texts: Iterable[FreeText | None], payloads: Iterable[tuple[str, Mapping[str, Any]]]
) -> list[tuple[str, FreeText]]:
    """Pure: each text some (stream id, payload) refers to, with the first such stream. A text no event
    refers to (e.g. a failure reason given with a successful callback) is not kept."""
    dumped = [(stream_id, json.dumps(payload)) for stream_id, payload in payloads]
    found: list[tuple[str, FreeText]] = []
    for text in texts:
        if text is None:
            continue
        key = str(text.text_id)
        stream = next((s for s, body in dumped if key in body), None)
        if stream is not None:
            found.append((stream, text))
    return found


async def keep(conn: asyncpg.Connection, schema: str, texts: Sequence[tuple[str, FreeText]]) -> None:
    """Write texts to the register (inside the transaction that appended their events, after the append)."""
    if not texts:
        return
    await conn.execute(
        f"insert into {_table(schema)} (text_id, stream_id, field, body)"
        " select * from unnest($1::uuid[], $2::text[], $3::text[], $4::text[])",
        [t.text_id for _, t in texts],
        [stream for stream, _ in texts],
        [t.field for _, t in texts],
        [t.body for _, t in texts],
    )


def reference_fields(model: type[BaseModel]) -> dict[str, str]:
    """Pure: the model's text references, field → the text it stands for: `X_ref` (a UUID) → `X`, `X_refs`
    (a dict of UUIDs) → `X`. Other `_ref` fields (a pawn customer's `customer_ref`) are not texts."""
    found: dict[str, str] = {}
    for name, info in model.model_fields.items():
        args = set(get_args(info.annotation)) | {info.annotation}
        if name.endswith("_ref") and uuid.UUID in args:
            found[name] = name.removesuffix("_ref")
        elif (
            name.endswith("_refs") and get_origin(info.annotation) is dict and get_args(info.annotation)[1] is uuid.UUID
        ):
            found[name] = name.removesuffix("_refs")
    return found


def refs_in(payload: Mapping[str, Any], model: type[BaseModel]) -> set[uuid.UUID]:
    """Pure: the text references a payload of `model` (dumped as JSON, or as stored) carries."""
    found: set[uuid.UUID] = set()
    for name in reference_fields(model):
        value = payload.get(name)
        if isinstance(value, Mapping):
            found.update(uuid.UUID(str(v)) for v in value.values() if v)
        elif value:
            found.add(uuid.UUID(str(value)))
    return found


def shown(payload: Mapping[str, Any], texts: Mapping[uuid.UUID, str | None], model: type[BaseModel]) -> dict[str, Any]:
    """Pure: a payload of `model` as users saw it before references: each `X_ref` replaced by the text `X` (None
    once erased), each `X_refs` dict by a dict of texts. A v1 event's inline `X` (no reference) stays as it was."""
    out = dict(payload)
    for name, base in reference_fields(model).items():
        if name not in out:
            continue
        value = out.pop(name)
        if isinstance(value, Mapping):
            if value or not out.get(base):
                out[base] = {k: texts.get(uuid.UUID(str(v))) for k, v in value.items()}
        elif value:
            out[base] = texts.get(uuid.UUID(str(value)))
        else:
            out.setdefault(base, None)
    return out


async def resolve(
    conn: asyncpg.Connection | asyncpg.Pool, schema: str, refs: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID, str | None]:
    """text id → its body (None once erased). Unknown ids are absent."""
    wanted = sorted({r for r in refs if r is not None})
    if not wanted:
        return {}
    rows = await conn.fetch(f"select text_id, body from {_table(schema)} where text_id = any($1::uuid[])", wanted)
    return {r["text_id"]: r["body"] for r in rows}


async def erase(
    conn: asyncpg.Connection | asyncpg.Pool,
    schema: str,
    *,
    text_ids: Sequence[uuid.UUID] = (),
    stream_ids: Sequence[str] = (),
) -> list[uuid.UUID]:
    """Blank the named texts, and every text of the named streams (PDPA erasure). Returns the ids erased
    now (texts erased before are left as they are)."""
    rows = await conn.fetch(
        f"update {_table(schema)} set body = null, erased_at = now()"
        " where erased_at is null and (text_id = any($1::uuid[]) or stream_id = any($2::text[]))"
        " returning text_id",
        list(text_ids),
        list(stream_ids),
    )
    return [r["text_id"] for r in rows]


async def erase_command(
    commands: IdempotentCommands, schema: str, key: str, fingerprint: str, text_id: uuid.UUID
) -> CommandResult:
    """The department erases one text by its id (each service's `POST …/free-texts/{text_id}/erasure`).
    Erasing a text erased before answers the same; an unknown id is a 404."""

    async def command(unit: CommandUnit) -> tuple[int, dict[str, Any]]:
        async with unit.conn.transaction():
            if not await unit.conn.fetchval(f"select 1 from {_table(schema)} where text_id = $1", text_id):
                raise NotFound("free text", text_id)
            await erase(unit.conn, schema, text_ids=[text_id])
            body = {"text_id": str(text_id), "erased": True}
            await unit.record(201, body)
        return 201, body

    return await commands.execute(key, fingerprint, command)


class ErasureConfirmation(BaseModel):
    """Erasure cannot be undone: its request says so in its body, so that an empty or stray POST (a retried
    form, a crawler, a script with the wrong path) erases nothing."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"confirm": True}]})

    confirm: Literal[True] = Field(description="Must be true: what is erased cannot be restored")
