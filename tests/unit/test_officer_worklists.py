"""The pure rules behind the officers' worklists and the member search: which applications wait for a checker and
for whom, how a national ID is shown to those who may not see it, what a search looks for, a page's cursor."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from libs.events.envelope import Actor, Area, RecordedEvent
from libs.events.http import Problem
from services.ledger.domain import national_id_hash
from services.ledger.member_search import masked, search_terms
from services.lending.approvals import Application, application_step
from services.lending.worklists import parse_cursor
from tests.support.api import national_id

LOAN = str(uuid.uuid4())


def _event(event_type: str, payload: dict[str, object], version: int) -> RecordedEvent:
    at = datetime(2024, 5, 20, tzinfo=UTC)
    return RecordedEvent(
        uuid.uuid4(), event_type, 1, f"loan-{LOAN}", version, version, at, at, Actor(kind="user", id="x"), None, None,
        Area(province_code="27", district_code="2701"), {"loan_id": LOAN, **payload},
    )  # fmt: skip


APPLIED = _event(
    "lending.LoanApplied",
    {
        "member_id": str(uuid.uuid4()),
        "group_id": str(uuid.uuid4()),
        "product_id": "occupation",
        "principal_satang": 150_000,
        "term_months": 6,
        "applied_on": "2024-05-20",
        "entered_by": "maker",
        "terms": {"approvals_required": 2},
    },
    1,
)


def test_an_application_waits_until_fully_approved_and_only_for_those_who_may_still_check_it() -> None:
    waiting: dict[str, Application | None] = {}
    assert application_step(waiting, APPLIED)
    application = waiting[LOAN]
    assert application is not None
    assert (application.district_code, application.approvals_required, application.applied_on) == (
        "2701",
        2,
        date(2024, 5, 20),
    )
    assert not application.may_check("maker") and application.may_check("checker")
    assert not application_step(waiting, APPLIED)  # a redelivered application changes nothing
    first = _event("lending.LoanApproved", {"approved_by": "checker", "approvals": 1, "fully_approved": False}, 2)
    assert application_step(waiting, first) and application.approved_by == ["checker"]
    assert not application_step(waiting, first)  # the same approval twice counts once
    assert not application.may_check("checker") and application.may_check("another")
    second = _event("lending.LoanApproved", {"approved_by": "another", "approvals": 2, "fully_approved": True}, 3)
    assert application_step(waiting, second) and waiting[LOAN] is None
    assert not application_step(waiting, _event("lending.LoanDisbursed", {}, 4))


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [("lending.LoanRejected", {"rejected_by": "checker"}), ("lending.LoanClosed", {"reason": "rejected"})],
)
def test_a_rejected_or_closed_application_waits_no_longer(event_type: str, payload: dict[str, object]) -> None:
    waiting: dict[str, Application | None] = {}
    application_step(waiting, APPLIED)
    assert application_step(waiting, _event(event_type, payload, 2)) and waiting[LOAN] is None


def test_a_national_id_is_shown_masked_and_looked_for_by_its_hash() -> None:
    nid = national_id(72)
    assert masked(nid) == f"x-xxxx-xxxxx-{nid[10:12]}-{nid[12]}" and masked(None) is None
    dashed = f"{nid[0]}-{nid[1:5]}-{nid[5:10]}-{nid[10:12]}-{nid[12]}"
    assert search_terms(f" {dashed} ", "key") == (dashed, national_id_hash(nid, "key"))
    # Words, and thirteen digits that are not an ID (a wrong check digit), are looked for in names.
    assert search_terms("  สมศรี   ใจดี ", "key") == ("สมศรี ใจดี", None)
    wrong = nid[:12] + str((int(nid[12]) + 1) % 10)
    assert search_terms(wrong, "key") == (wrong, None)


def test_a_page_cursor_is_the_last_rows_due_date_and_loan() -> None:
    loan = uuid.uuid4()
    assert parse_cursor(f"2024-02-15_{loan}") == (date(2024, 2, 15), loan)
    assert parse_cursor(None) == (date.min, uuid.UUID(int=0))
    for bad in ("x", "2024-02-15", f"15/02/2024_{loan}", "2024-02-15_nope"):
        with pytest.raises(Problem) as refused:
            parse_cursor(bad)
        assert refused.value.status == 422
