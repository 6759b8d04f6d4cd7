"""The published language: committed JSON Schemas stay readable by existing consumers."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import pytest

from libs.events import schemas  # noqa: F401
from libs.events.envelope import EventPayload
from libs.events.registry import REGISTRY, EventRegistry, UnknownEventType, dump_schema
from libs.events.schema_compat import breaking_changes
from libs.events.schemas.ledger import SavingsDeposited

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "libs" / "events" / "schemas" / "json"
CURRENT = REGISTRY.json_schemas()


def test_every_event_type_and_version_has_a_committed_schema() -> None:
    committed = {p.name for p in SCHEMA_DIR.glob("*.json")}
    missing = sorted(set(CURRENT) - committed)
    assert not missing, f"run `make schemas` and commit: {missing}"


@pytest.mark.parametrize("name", sorted(p.name for p in SCHEMA_DIR.glob("*.json")))
def test_committed_schema_is_still_readable(name: str) -> None:
    published = json.loads((SCHEMA_DIR / name).read_text())
    assert name in CURRENT, f"{name} was published and its model is gone: consumers still read it"
    problems = breaking_changes(published, CURRENT[name])
    assert problems == [], f"{name} changed incompatibly; publish a new version with an upcaster instead: {problems}"


def test_committed_schemas_are_current() -> None:
    stale = [
        n for n, s in CURRENT.items() if (SCHEMA_DIR / n).exists() and (SCHEMA_DIR / n).read_text() != dump_schema(s)
    ]
    assert stale == [], f"compatible changes not yet written: run `make schemas` ({stale})"


def test_an_incompatible_change_is_caught() -> None:
    published = CURRENT["ledger.SavingsDeposited.v1.json"]
    altered = json.loads(json.dumps(published))
    altered["properties"]["amount_satang"] = {"type": "string"}
    assert any("amount_satang" in p for p in breaking_changes(published, altered))


def test_older_versions_are_upcast_to_the_current_model() -> None:
    registry = EventRegistry()

    @registry.register("demo.Deposited", 1)
    class DepositedV1(EventPayload):
        member_id: uuid.UUID
        amount_baht: int

    @registry.register("demo.Deposited", 2)
    class DepositedV2(EventPayload):
        member_id: uuid.UUID
        amount_satang: int

    @registry.upcaster("demo.Deposited", 1)
    def _v1_to_v2(payload: dict[str, object]) -> dict[str, object]:
        amount = payload.pop("amount_baht")
        assert isinstance(amount, int)
        return payload | {"amount_satang": amount * 100}

    member = uuid.uuid4()
    parsed = registry.parse("demo.Deposited", 1, {"member_id": str(member), "amount_baht": 12})
    assert parsed == DepositedV2(member_id=member, amount_satang=1200)
    with pytest.raises(UnknownEventType):
        registry.parse("demo.Deposited", 3, {})


def test_consumers_ignore_fields_added_by_newer_producers() -> None:
    payload = {
        "transaction_id": str(uuid.uuid4()),
        "member_id": str(uuid.uuid4()),
        "group_id": str(uuid.uuid4()),
        "account": "special",
        "amount_satang": 5000,
        "deposited_on": "2024-01-05",
        "balance_after_satang": 5000,
        "channel": "counter",  # a field from the future
    }
    parsed = REGISTRY.parse("ledger.SavingsDeposited", 1, payload)
    assert isinstance(parsed, SavingsDeposited)
    assert parsed.deposited_on == date(2024, 1, 5)
