"""Planning an import: the events a file's rows become, derived ids (the same file plans nothing twice), and the
domain's view of what they bring in (balances, the books, a group closed through its opening month)."""

from __future__ import annotations

from datetime import date

from libs.events.envelope import Actor
from libs.events.registry import REGISTRY
from services.ledger import books, domain
from services.ledger.onboarding.plan import (
    Existing,
    ExistingGroup,
    ExistingMember,
    national_id_hashes,
    opening_day_problems,
    plan_import,
)
from services.ledger.onboarding.rows import DepositRow, GroupRow, ImportFile, MemberRow

KEY = "test-hash-key"
ACTOR = Actor(kind="user", id="importer")


def _id(first_twelve: str) -> str:
    return first_twelve + str(domain.national_id_check_digit(first_twelve))


def _file() -> ImportFile:
    group = GroupRow(2, "G-001", "กลุ่มออมทรัพย์บ้านหนองแก", "27", "2701", None, None, date(2005, 3, 1),
                     date(2024, 5, 31), 5_000, 5_000, 500_000, 5)  # fmt: skip
    a, b = _id("110170012345"), _id("310100054321")
    members = [
        MemberRow(2, "G-001", a, "สมศรี ใจดี", date(2010, 1, 1), 10_000, 1_200_000, 35_050, None),
        MemberRow(3, "G-001", b, "สมหมาย รักออม", date(2020, 6, 15), 5_000, 0, 0, "0812345678"),
    ]
    deposits = [
        DepositRow(2, "G-001", a, date(2024, 6, 5), "sajja", 10_000),
        DepositRow(3, "G-001", a, date(2024, 6, 5), "sajja", 10_000),  # the same again: a second deposit
        DepositRow(4, "G-001", b, date(2024, 6, 7), "special", 2_550),
    ]
    return ImportFile("province.xlsx", [group], members, deposits)


def _streams(plan_appends: list) -> dict[str, list]:  # type: ignore[type-arg]
    return {a.stream_id: [e.payload for e in a.events] for a in plan_appends}


def test_a_new_file_becomes_a_group_its_members_their_opening_balances_and_deposits() -> None:
    found = _file()
    plan = plan_import(found, Existing(), national_id_hashes(found, KEY), ACTOR)
    assert (plan.groups, plan.members, plan.opening_balances, plan.deposits) == (1, 2, 2, 3)
    assert plan.events == 2 + 2 + 2 + 3 and not plan.problems
    streams = _streams(plan.appends)
    [group_stream] = [s for s in streams if s.startswith("group-")]
    group = domain.group_from_events((p, v) for v, p in enumerate(streams[group_stream], 1))
    assert group is not None and group.closed_through == date(2024, 5, 1)  # entries through the opening refused
    assert group.rules.entrance_fee_satang == 0
    members = {
        m.member_id: m
        for stream, payloads in streams.items()
        if stream.startswith("member-")
        for m in [domain.member_from_events((p, v) for v, p in enumerate(payloads, 1))]
        if m is not None
    }
    balances = sorted((m.balances["sajja"], m.balances["special"]) for m in members.values())
    assert balances == [(0, 2_550), (1_220_000, 35_050)]
    # The books: every planned event's postings balance, and cash holds all the savings.
    money = [
        books.postings(REGISTRY.name_of(p)[0], p.model_dump(mode="json"))
        for payloads in streams.values()
        for p in payloads
    ]
    trial = {b.account: b.balance_satang for b in books.trial_balance(money)}
    assert trial[books.CASH] == 1_220_000 + 35_050 + 2_550 and sum(trial.values()) == 0
    # Personal data goes to the register rows, never into an event.
    assert {r.full_name for r in plan.register} == {"สมศรี ใจดี", "สมหมาย รักออม"}
    text = " ".join(p.model_dump_json() for payloads in streams.values() for p in payloads)
    assert not [m.national_id for m in found.members if m.national_id in text]
    assert "สมศรี" not in text and "0812345678" not in text


def test_the_same_file_again_plans_nothing_and_a_corrected_one_only_what_is_new() -> None:
    found = _file()
    hashes = national_id_hashes(found, KEY)
    first = plan_import(found, Existing(), hashes, ACTOR)
    streams = _streams(first.appends)
    existing_groups = {
        g.group_id: ExistingGroup(len(payloads), g.closed_through)
        for stream, payloads in streams.items()
        if stream.startswith("group-")
        for g in [domain.group_from_events((p, v) for v, p in enumerate(payloads, 1))]
        if g is not None
    }
    existing_members = {}
    for r in first.register:
        payloads = streams[domain.member_stream(r.member_id)]
        member = domain.member_from_events((p, v) for v, p in enumerate(payloads, 1))
        assert member is not None
        ids = frozenset(p.transaction_id for p in payloads if hasattr(p, "transaction_id"))
        existing_members[(r.group_id, r.national_id_hash)] = ExistingMember(
            r.member_id, member.version, dict(member.balances), ids
        )
    existing = Existing(existing_groups, existing_members)
    again = plan_import(found, existing, hashes, ACTOR)
    assert again.appends == [] and again.register == []
    assert (again.groups_already, again.members_already, again.deposits_already) == (1, 2, 3)
    corrected = _file()
    corrected.deposits.append(
        DepositRow(5, "G-001", corrected.members[1].national_id, date(2024, 7, 5), "sajja", 5_000)
    )
    more = plan_import(corrected, existing, national_id_hashes(corrected, KEY), ACTOR)
    assert more.deposits == 1 and more.events == 1
    [append] = more.appends
    [deposit] = append.events
    assert (
        append.expected_version
        == existing_members[(next(iter(existing_groups)), hashes[corrected.members[1].national_id])].version
    )
    assert deposit.payload.balance_after_satang == 5_000  # type: ignore[attr-defined]


def test_deposits_in_a_month_the_group_closed_since_are_refused_and_the_opening_must_end_a_month() -> None:
    found = _file()
    hashes = national_id_hashes(found, KEY)
    first = plan_import(found, Existing(), hashes, ACTOR)
    [group_append] = [a for a in first.appends if a.stream_id.startswith("group-")]
    group_id = group_append.events[0].payload.group_id  # type: ignore[attr-defined]
    closed = Existing({group_id: ExistingGroup(3, date(2024, 6, 1))})
    plan = plan_import(found, closed, hashes, ACTOR)
    assert sorted(p.row for p in plan.problems) == [2, 3, 4]
    assert {(p.sheet, p.field) for p in plan.problems} == {("deposits", "deposited_on")}
    mid_month = ImportFile(
        "f.xlsx", [found.groups[0].__class__(**{**found.groups[0].__dict__, "opening_on": date(2024, 5, 30)})]
    )
    [problem] = opening_day_problems(mid_month)
    assert (problem.sheet, problem.row, problem.field) == ("groups", 2, "opening_on")
    assert "2024-05-31" in problem.reason_en


def test_a_loan_carried_over_is_the_books_receivable_and_lending_s_open_loan_with_what_is_left() -> None:
    from decimal import Decimal

    from libs.events.schemas.lending import LoanOpened
    from services.ledger.onboarding.rows import LoanRow
    from services.lending import domain as lending

    found = _file()
    borrower = found.members[0]
    found.loans.append(
        LoanRow(
            2,
            "G-001",
            borrower.national_id,
            "สัญญา 12/2567",
            date(2024, 1, 15),
            3_000_000,
            1_750_000,
            "flat",
            Decimal("0.01"),
            7,
            date(2024, 6, 15),
        )  # fmt: skip
    )
    hashes = national_id_hashes(found, KEY)
    plan = plan_import(found, Existing(), hashes, ACTOR)
    assert (plan.loans, plan.loans_already) == (1, 0)
    [lending_append] = plan.lending_appends
    [event] = lending_append.events
    opened = event.payload
    assert isinstance(opened, LoanOpened) and lending_append.expected_version == 0
    assert sum(i.principal_satang for i in opened.schedule) == 1_750_000 and len(opened.schedule) == 7
    assert opened.schedule[0].due_on == date(2024, 6, 15) and opened.schedule[-1].due_on == date(2024, 12, 15)
    loan = lending.loan_from_events([(opened, 1)])
    assert loan is not None and loan.status == "active" and loan.outstanding_principal_satang == 1_750_000
    # The ledger side, in the borrower's stream: loans receivable lent out of cash.
    member_events = next(a for a in plan.appends if a.stream_id == domain.member_stream(opened.member_id)).events
    [recorded] = [e.payload for e in member_events if REGISTRY.name_of(e.payload)[0] == "ledger.OpeningLoanRecorded"]
    assert books.postings("ledger.OpeningLoanRecorded", recorded.model_dump(mode="json")) == [
        books.Posting(books.LOANS_RECEIVABLE, debit_satang=1_750_000),
        books.Posting(books.CASH, credit_satang=1_750_000),
    ]
    assert recorded.loan_id == opened.loan_id  # type: ignore[attr-defined]
    # Both sides already in: nothing planned again.
    member = next(r for r in plan.register if r.member_id == opened.member_id)
    payloads = [e.payload for e in member_events]
    state = domain.member_from_events((p, v) for v, p in enumerate(payloads, 1))
    assert state is not None
    ids = frozenset(p.transaction_id for p in payloads if hasattr(p, "transaction_id"))
    existing = Existing(
        {},
        {(member.group_id, member.national_id_hash): ExistingMember(
            member.member_id, state.version, dict(state.balances), ids, frozenset({opened.loan_id}))},
        frozenset({opened.loan_id}),
    )  # fmt: skip
    again = plan_import(found, existing, hashes, ACTOR)
    assert (again.loans, again.loans_already) == (0, 1) and again.lending_appends == []
