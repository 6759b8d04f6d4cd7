"""Free text stays out of events (DESIGN §3, issue 12): every string field of every event type is classified, so
a new free-text field cannot slip into the published language unnoticed; v1 events keep their inline text when
upcast; the free-text helpers' pure parts."""

from __future__ import annotations

import json
import types
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from libs.events import schemas  # noqa: F401 - registers every event type
from libs.events.free_text import FreeText, reference_fields, refs_in, shown, texts_referred_to
from libs.events.registry import REGISTRY
from libs.events.schemas.campaign import NominationSubmitted
from libs.events.schemas.ledger import TransactionReversed
from libs.events.schemas.lending import ItemPledged

# Why a string field may carry what it carries. Free text a person types is none of these: it goes to the owning
# service's free-text register and the event carries its id (`X_ref`, a UUID, which is not a string field).
CODE = "a code, slug, id or number from a closed or generated set"
ACTOR = "the id of the user or partner who acted (as the envelope's actor)"
NAME = "the name of a group, village, product, programme, campaign or organisation, not of a person"
SYSTEM = "a message the system composes from dates and amounts"
HASH = "a keyed hash"
PSEUDONYM = "the pawnshop office's own customer reference, refused when it looks like an ID, phone or account"
LEGACY = "v1 events' inline text, kept as published when upcast; v2 producers write the register's id instead"

CLASSIFIED: dict[str, dict[str, str]] = {
    "ledger.GroupRegistered": {
        "name": NAME,
        "village": NAME,
        "province_code": CODE,
        "district_code": CODE,
        "subdistrict_code": CODE,
    },
    "ledger.MemberEnrolled": {"national_id_hash": HASH},
    "ledger.ConsentGranted": {"partner": CODE, "purpose": CODE, "notice_version": CODE},
    "ledger.ConsentWithdrawn": {"partner": CODE, "purpose": CODE},
    "ledger.MemberExited": {"reason": LEGACY},
    "ledger.TransactionReversed": {"reason": LEGACY},
    "ledger.JournalEntryPosted": {"memo": LEGACY, "lines[].account": CODE, "source": CODE},
    "ledger.DividendsAllocated": {"closed_accounts{key}": CODE},
    "ledger.LendingPostingRefused": {"reason": SYSTEM},
    "lending.ProductDefined": {"product_id": CODE, "name_th": NAME, "name_en": NAME},
    "lending.LoanApplied": {
        "purpose": LEGACY,
        "product_id": CODE,
        "programme_id": CODE,
        "entered_by": ACTOR,
        "eligibility{key}": CODE,
    },
    "lending.LoanOpened": {"product_id": CODE, "entered_by": ACTOR},
    "lending.LoanApproved": {"approved_by": ACTOR},
    "lending.LoanRejected": {"reason": LEGACY, "rejected_by": ACTOR},
    "lending.LoanDisbursementFailed": {"reason": SYSTEM},
    "lending.LoanRescheduled": {"reason": LEGACY},
    "lending.LoanWrittenOff": {"reason": LEGACY, "programme_id": CODE},
    "lending.RepaymentReceived": {"programme_id": CODE},
    "lending.ProgrammeLaunched": {
        "programme_id": CODE,
        "name_th": NAME,
        "name_en": NAME,
        "funder": NAME,
        "eligibility_required[]": CODE,
        "province_code": CODE,
        "district_code": CODE,
    },
    "lending.ProgrammeFunded": {"note": LEGACY, "programme_id": CODE},
    "lending.FundsAllocated": {"programme_id": CODE, "province_code": CODE, "district_code": CODE},
    "lending.FundsReturned": {"programme_id": CODE, "province_code": CODE, "district_code": CODE},
    "lending.ItemPledged": {
        "item_description": LEGACY,
        "branch_code": CODE,
        "customer_ref": PSEUDONYM,
        "rate_table": CODE,
    },
    "lending.PayoutConfirmed": {"reference": LEGACY},
    "lending.PayoutFailed": {"reason": LEGACY},
    "lending.PawnCustomerConsentGranted": {
        "customer_ref": PSEUDONYM,
        "partner": CODE,
        "purpose": CODE,
        "notice_version": CODE,
    },
    "lending.PawnCustomerConsentWithdrawn": {"customer_ref": PSEUDONYM, "partner": CODE, "purpose": CODE},
    "campaign.CampaignLaunched": {
        "campaign_id": CODE,
        "name_th": NAME,
        "name_en": NAME,
        "provinces[]": CODE,
        "targets{key}": CODE,
        "targets{}{key}": CODE,
    },
    "campaign.ReportSubmitted": {
        "notes": LEGACY,
        "campaign_id": CODE,
        "code": CODE,
        "counters{key}": CODE,
        "consolidates[]": CODE,
        "submitted_by": ACTOR,
    },
    "campaign.NominationSubmitted": {
        "override_reason": LEGACY,
        "narrative{key}": CODE,
        "narrative{}": LEGACY,
        "narrative_refs{key}": CODE,
        "campaign_id": CODE,
        "district_code": CODE,
        "nominee_id": CODE,
        "proposed_id": CODE,
        "score": CODE,
        # Computed from the record with the score ("ฝากสัจจะครบตามกำหนด 12 จาก 12 เดือน"), never typed.
        "evidence{key}": CODE,
        "evidence{}": SYSTEM,
        "submitted_by": ACTOR,
    },
    "campaign.AwardGranted": {
        "citation": LEGACY,
        "campaign_id": CODE,
        "province_code": CODE,
        "district_code": CODE,
        "nominee_id": CODE,
        "granted_by": ACTOR,
    },
}


def string_fields(tp: Any, path: str = "") -> Iterator[str]:
    """Paths of every place a string can sit in a model: `a.b`, `list[]`, `dict{key}` and `dict{}` (values).
    Literal (closed vocabularies), UUIDs, dates and numbers are not strings here."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is str:
        yield path
    elif origin is Annotated:
        yield from string_fields(args[0], path)
    elif origin is Literal:
        return
    elif origin in (Union, types.UnionType):
        for arg in args:
            yield from string_fields(arg, path)
    elif origin in (list, tuple, set, frozenset):
        for arg in args:
            if arg is not Ellipsis:
                yield from string_fields(arg, f"{path}[]")
    elif origin is dict:
        yield from string_fields(args[0], f"{path}{{key}}")
        yield from string_fields(args[1], f"{path}{{}}")
    elif isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, info in tp.model_fields.items():
            yield from string_fields(info.annotation, f"{path}.{name}" if path else name)


def every_string_field() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for (event_type, _), model in REGISTRY.models().items():
        found.setdefault(event_type, set()).update(string_fields(model))
    return {t: paths for t, paths in found.items() if paths}


def test_every_string_field_of_every_event_is_classified() -> None:
    found = every_string_field()
    unclassified = sorted(f"{t}.{p}" for t, paths in found.items() for p in paths - CLASSIFIED.get(t, {}).keys())
    assert not unclassified, (
        "string fields nobody has classified: free text a person types (reasons, notes, descriptions, references)"
        " goes to the service's free-text register (libs/events/free_text.py) with only its id in the event;"
        f" codes, names and ids belong in CLASSIFIED: {unclassified}"
    )
    stale = sorted(f"{t}.{p}" for t, paths in CLASSIFIED.items() for p in paths.keys() - found.get(t, set()))
    assert not stale, f"classified fields that no longer exist: {stale}"


def test_the_walk_finds_nested_and_contained_strings() -> None:
    class Inner(BaseModel):
        text: str
        kind: Literal["a", "b"]

    class Outer(BaseModel):
        inner: Inner | None
        tags: list[str]
        notes: dict[str, str]
        when: date
        ref: uuid.UUID

    assert set(string_fields(Outer)) == {"inner.text", "tags[]", "notes{key}", "notes{}"}


@pytest.mark.parametrize(
    ("event_type", "path"),
    sorted((t, p) for t, paths in CLASSIFIED.items() for p, why in paths.items() if why == LEGACY),
)
def test_legacy_text_sits_beside_its_reference_and_is_empty_by_default(event_type: str, path: str) -> None:
    model = REGISTRY.models()[(event_type, REGISTRY.latest_version(event_type))]
    name = path.removesuffix("{}")
    assert REGISTRY.latest_version(event_type) >= 2, "a field with inline text was never moved to the register"
    fields = model.model_fields
    reference = fields.get(f"{name}_ref") or fields.get(f"{name}_refs")
    assert reference is not None, f"{event_type}.{name} has no reference field beside it"
    assert [p for p in string_fields(reference.annotation) if not p.endswith("{key}")] == []
    assert not fields[name].is_required() and fields[name].get_default(call_default_factory=True) in (None, {})


def test_v1_events_keep_their_inline_text_when_upcast() -> None:
    member, group, tx = (str(uuid.uuid4()) for _ in range(3))
    v1 = {
        "member_id": member,
        "group_id": group,
        "transaction_id": tx,
        "reversed_kind": "deposit",
        "account": "sajja",
        "amount_satang": 100,
        "balance_delta_satang": -100,
        "reason": "บันทึกผิดคน",
    }
    parsed = REGISTRY.parse("ledger.TransactionReversed", 1, v1)
    assert isinstance(parsed, TransactionReversed)
    assert (parsed.reason, parsed.reason_ref) == ("บันทึกผิดคน", None)
    assert shown(parsed.model_dump(mode="json"), {}, TransactionReversed)["reason"] == "บันทึกผิดคน"

    nomination = {
        "campaign_id": "savings-50y",
        "district_code": "2701",
        "kind": "member",
        "nominee_id": member,
        "score": "80.00",
        "evidence": {"regularity": "12/12"},
        "proposed_id": member,
        "override_reason": None,
        "submitted_on": "2024-02-16",
        "deadline": None,
        "late": False,
        "submitted_by": "officer",
        "narrative": {"occupation": "ทำนา"},
    }
    upcast = REGISTRY.parse("campaign.NominationSubmitted", 1, nomination)
    assert isinstance(upcast, NominationSubmitted)
    assert shown(upcast.model_dump(mode="json"), {}, NominationSubmitted)["narrative"] == {"occupation": "ทำนา"}


def test_a_v2_event_carries_ids_and_reads_show_the_texts() -> None:
    description = FreeText.of("item_description", "แหวนทอง สลักชื่อ สมศรี 0812345678")
    pledged = ItemPledged(
        ticket_id=uuid.uuid4(),
        branch_code="BKK-01",
        customer_ref="C123456",
        item_category="gold",
        item_description_ref=description.text_id,
        appraised_value_satang=1_000_000,
        principal_satang=800_000,
        pledged_on=date(2025, 3, 1),
        rate_table="office-2025",
        monthly_interest_satang=10_000,
        maturity_date=date(2025, 7, 1),
    )
    payload = pledged.model_dump(mode="json")
    assert "สมศรี" not in json.dumps(payload, ensure_ascii=False)
    assert refs_in(payload, ItemPledged) == {description.text_id}
    assert shown(payload, {description.text_id: description.body}, ItemPledged)["item_description"] == description.body
    assert shown(payload, {description.text_id: None}, ItemPledged)["item_description"] is None  # erased
    assert "item_description_ref" not in shown(payload, {}, ItemPledged)
    assert shown(payload, {}, ItemPledged)["customer_ref"] == "C123456"  # a pseudonym, not a text reference
    assert reference_fields(ItemPledged) == {"item_description_ref": "item_description"}

    other = FreeText.of("reason", "not referred to")
    kept = texts_referred_to([description, other, None], [("pawn-1", payload), ("pawn-1", {"x": 1})])
    assert kept == [("pawn-1", description)]


def test_nomination_texts_resolve_per_section() -> None:
    occupation = FreeText.of("narrative.occupation", "เลี้ยงไก่")
    payload = {"narrative_refs": {"occupation": str(occupation.text_id)}, "narrative": {}, "override_reason": None}
    assert refs_in(payload, NominationSubmitted) == {occupation.text_id}
    assert shown(payload, {occupation.text_id: "เลี้ยงไก่"}, NominationSubmitted)["narrative"] == {"occupation": "เลี้ยงไก่"}
    assert FreeText.optional("notes", "  ") is None and FreeText.optional("notes", None) is None
