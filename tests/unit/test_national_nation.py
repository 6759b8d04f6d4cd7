"""The national benchmark's synthetic nation (bench/national/nation.py): its events are what the services write."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from datetime import date
from typing import Any

from bench.national import nation
from libs.events.envelope import Actor, Area
from libs.events.free_text import refs_in
from libs.events.registry import REGISTRY
from libs.events.schemas.ledger import SavingsDeposited, SavingsWithdrawn
from libs.events.store import PreparedEvent
from services.ledger import domain as ledger

KEY = "bench-key"
TODAY = date(2026, 1, 15)


def _groups(count: int = 3, seed: int = 7) -> nation.Output:
    specs = nation.plan(seed, 0.0003)
    out = nation.Output()
    for spec in specs[:count]:
        out.extend(nation.group_year(seed, spec, KEY, TODAY, nation.products()))
    return out


def _model(event: PreparedEvent) -> Any:
    return REGISTRY.parse(event.event_type, event.schema_version, json.loads(event.payload))


def test_the_plan_at_scale_one_is_the_departments_figures() -> None:
    specs = nation.plan(1, 1.0)
    assert len(specs) == 31_715 and sum(s.size for s in specs) == 3_262_510
    assert len({s.district_code for s in specs}) == 928
    assert all(s.district_code.startswith(s.province_code) for s in specs)
    assert [s.first_member for s in specs[:3]] == [0, specs[0].size, specs[0].size + specs[1].size]
    small = nation.plan(1, 0.0003)
    assert len(small) == 10 and len({s.district_code for s in small}) == 10


def test_every_event_is_a_valid_event_of_its_type_in_gapless_streams() -> None:
    out = _groups()
    versions: dict[str, list[int]] = defaultdict(list)
    texts = {t.text_id for _, t in out.ledger_texts + out.lending_texts}
    refs: set[uuid.UUID] = set()
    for event in out.ledger + out.lending:
        model = _model(event)
        # The payload is exactly what the event's model dumps: what a service's append would store.
        assert json.loads(event.payload) == model.model_dump(mode="json"), event.event_type
        assert REGISTRY.name_of(model) == (event.event_type, event.schema_version)
        Actor.model_validate_json(event.actor)
        area = Area.model_validate_json(event.area or "")
        assert area.district_code.startswith(area.province_code)
        assert event.event_id.version == 7
        versions[event.stream_id].append(event.stream_version)
        refs |= refs_in(json.loads(event.payload), type(model))
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
    # Free text is in the registers, by the ids the events carry; nothing refers to a text not kept.
    assert refs == texts and refs
    kinds = Counter(e.event_type for e in out.ledger + out.lending)
    for kind in (
        "ledger.GroupRegistered",
        "ledger.MemberEnrolled",
        "ledger.SavingsDeposited",
        "ledger.InstallmentMissed",
        "ledger.MonthClosed",
        "ledger.JournalEntryPosted",
        "lending.LoanApplied",
        "lending.LoanDisbursed",
        "lending.RepaymentReceived",
        "lending.InstallmentOverdue",
        "lending.ItemPledged",
    ):
        assert kinds[kind], kind
    assert kinds["ledger.MonthClosed"] == 3 * 12


def test_members_savings_replay_through_the_ledgers_domain() -> None:
    """Each deposit and withdrawal is what domain.deposit / domain.withdraw decide on the member's stream so far."""
    out = _groups(2)
    streams: dict[str, list[PreparedEvent]] = defaultdict(list)
    for event in out.ledger:
        if event.stream_id.startswith("member-"):
            streams[event.stream_id].append(event)
    checked = 0
    for events in streams.values():
        history: list[tuple[Any, int]] = []
        for event in events:
            model = _model(event)
            member = ledger.member_from_events(history)
            if isinstance(model, SavingsDeposited):
                assert member is not None
                decided = ledger.deposit(
                    member, model.transaction_id, model.account, model.amount_satang, model.deposited_on, TODAY
                )
                assert decided == model
                checked += 1
            elif isinstance(model, SavingsWithdrawn):
                assert member is not None
                decided_w = ledger.withdraw(
                    member,
                    ledger.GroupRules(),
                    model.transaction_id,
                    model.account,
                    model.amount_satang,
                    model.withdrawn_on,
                    TODAY,
                )
                assert decided_w == model
            history.append((model, event.stream_version))
    assert checked > 100


def test_the_registers_and_the_answered_sagas() -> None:
    out = _groups()
    ids = [row[3] for row in out.register]
    assert len(set(ids)) == len(ids) == sum(1 for e in out.ledger if e.event_type == "ledger.MemberEnrolled")
    for _, _, digest, national_id, name, *_ in out.register:
        assert ledger.validate_national_id(national_id) == national_id
        assert digest == ledger.national_id_hash(national_id, KEY)
        assert name and national_id not in "".join(e.payload for e in out.ledger)
    requests = [
        e for e in out.lending if e.event_type in ("lending.DisbursementRequested", "lending.RepaymentReceived")
    ]
    assert sorted(m for m, *_ in out.ledger_inbox) == sorted(str(e.event_id) for e in requests)
    postings = [e for e in out.ledger if e.event_type == "ledger.JournalEntryPosted"]
    assert sorted(m for m, *_ in out.lending_inbox) == sorted(str(e.event_id) for e in postings)
    assert {o for *_, o in out.lending_inbox} == {"LoanDisbursed", "nothing to do"}


def test_a_group_is_the_same_from_the_same_seed() -> None:
    spec = nation.plan(5, 0.0003)[1]
    a = nation.group_year(5, spec, KEY, TODAY, nation.products())
    b = nation.group_year(5, spec, KEY, TODAY, nation.products())
    assert [(e.event_id, e.payload) for e in a.ledger + a.lending] == [
        (e.event_id, e.payload) for e in b.ledger + b.lending
    ]
