"""The pawn-customer referral rule (issue #6): tickets redeemed on time in the last 12 months, renewals
paid by maturity, no forfeits, no ticket past maturity, and a consent in force for the partner and purpose."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.reporting.referrals import (
    PartnerRules,
    PawnCustomerRecord,
    PawnCustomerRules,
    PawnTicketRecord,
    Renewal,
    contact_branch,
    evaluate_pawn_customer,
    load_partners,
    load_rule_sets,
    parse_rule_set,
    pawn_subject,
    pseudonym,
    refer_pawn_customers,
    year_before,
)

AS_OF = date(2025, 6, 30)
RULES = PawnCustomerRules(
    partner="gsb",
    purpose="pawn-customer-referral",
    name_th="ธนาคารออมสิน",
    name_en="Government Savings Bank",
    subjects="pawn-customers",
    min_on_time_redemptions_12m=3,
)


def ticket(
    redeemed_on: date | None,
    maturity: date = date(2025, 5, 30),
    pledged_on: date = date(2025, 1, 1),
    principal: int = 1_000_000,
    branch: str = "SK-01",
    **kw: object,
) -> PawnTicketRecord:
    return PawnTicketRecord(branch, principal, pledged_on, maturity, redeemed_on=redeemed_on, **kw)  # type: ignore[arg-type]


def on_time(n: int, day: date = date(2025, 5, 1)) -> list[PawnTicketRecord]:
    return [ticket(day) for _ in range(n)]


def test_exactly_the_minimum_on_time_redemptions_is_eligible_and_one_fewer_is_not() -> None:
    assert evaluate_pawn_customer(RULES, on_time(3), AS_OF).eligible
    fewer = evaluate_pawn_customer(RULES, on_time(2), AS_OF)
    assert not fewer.eligible and fewer.evidence["redemptions_passed"] == "ไม่ผ่าน"
    four = evaluate_pawn_customer(RULES, on_time(4), AS_OF)
    assert four.evidence["redemptions"] == "ไถ่ถอนตรงเวลา 4 ครั้งใน 12 เดือน (เกณฑ์อย่างน้อย 3)"


def test_redeemed_on_the_maturity_date_is_on_time_and_a_day_later_is_not() -> None:
    maturity = date(2025, 5, 30)
    assert ticket(maturity, maturity).redeemed_on_time()
    late = ticket(maturity + timedelta(days=1), maturity)
    assert not late.redeemed_on_time()
    # Three on time and one late: the late one is not counted, and the rules allow no late redemption.
    verdict = evaluate_pawn_customer(RULES, [*on_time(3), late], AS_OF)
    assert not verdict.eligible
    assert verdict.evidence["redemptions_passed"] == "ผ่าน"
    assert verdict.evidence["late_redemptions"].startswith("ไถ่ถอนเกินกำหนด 1 ครั้ง")
    assert verdict.evidence["late_redemptions_passed"] == "ไม่ผ่าน"
    lenient = RULES.model_copy(update={"max_late_redemptions_12m": 1})
    assert evaluate_pawn_customer(lenient, [*on_time(3), late], AS_OF).eligible
    assert not evaluate_pawn_customer(lenient, [*on_time(2), late], AS_OF).eligible


def test_a_renewal_paid_by_maturity_counts_as_on_time_and_a_late_one_does_not() -> None:
    # Pledged 2025-01-01 (maturity 2025-05-31), renewed on 2025-05-20: new maturity 2025-10-19; redeemed
    # 2025-06-15, after the first maturity but before the one in force.
    renewed = ticket(date(2025, 6, 15), date(2025, 10, 19), renewals=(Renewal(date(2025, 5, 20), date(2025, 5, 31)),))
    assert renewed.redeemed_on_time()
    verdict = evaluate_pawn_customer(RULES, [*on_time(2), renewed], AS_OF)
    assert verdict.eligible and "ต่อดอกตรงเวลา 1 ครั้ง" in verdict.evidence["redemptions"]
    # The renewal paid a day after the maturity then in force (within a grace period): not on time.
    late_renewal = ticket(
        date(2025, 6, 15), date(2025, 10, 31), renewals=(Renewal(date(2025, 6, 1), date(2025, 5, 31)),)
    )
    assert not late_renewal.redeemed_on_time()
    assert not evaluate_pawn_customer(RULES, [*on_time(2), late_renewal], AS_OF).eligible


def test_a_forfeit_within_12_months_disqualifies_and_an_older_one_does_not() -> None:
    recent = ticket(None, date(2025, 1, 30), pledged_on=date(2024, 9, 1), forfeited_on=date(2025, 2, 1))
    verdict = evaluate_pawn_customer(RULES, [*on_time(3), recent], AS_OF)
    assert not verdict.eligible and verdict.evidence["forfeits_passed"] == "ไม่ผ่าน"
    old = ticket(None, date(2024, 5, 30), pledged_on=date(2024, 1, 1), forfeited_on=date(2024, 6, 2))
    assert evaluate_pawn_customer(RULES, [*on_time(3), old], AS_OF).eligible


def test_redemptions_older_than_12_months_are_ignored() -> None:
    year_ago = date(2024, 6, 30)  # not within the 12 months: they start the day after
    old = [
        ticket(year_ago, date(2024, 7, 30), pledged_on=date(2024, 3, 1)),
        ticket(date(2024, 1, 5), date(2024, 2, 28), pledged_on=date(2023, 10, 1)),
    ]
    verdict = evaluate_pawn_customer(RULES, [*on_time(2), *old], AS_OF)
    assert not verdict.eligible and verdict.evidence["redemptions"].startswith("ไถ่ถอนตรงเวลา 2 ครั้ง")
    day_after = ticket(date(2024, 7, 1), date(2024, 7, 30), pledged_on=date(2024, 3, 1))
    assert evaluate_pawn_customer(RULES, [*on_time(2), day_after], AS_OF).eligible


def test_what_happened_after_the_date_is_not_counted() -> None:
    later = on_time(3, date(2025, 7, 1))
    assert not evaluate_pawn_customer(RULES, later, AS_OF).eligible
    forfeited_later = ticket(None, date(2025, 6, 20), forfeited_on=date(2025, 7, 25))
    # On the date that ticket was open and past its maturity: not eligible either way.
    verdict = evaluate_pawn_customer(RULES, [*on_time(3), forfeited_later], AS_OF)
    assert verdict.evidence["forfeits_passed"] == "ผ่าน" and verdict.evidence["past_maturity_passed"] == "ไม่ผ่าน"


def test_an_open_ticket_past_its_maturity_disqualifies_one_within_its_term_does_not() -> None:
    overdue = ticket(None, date(2025, 6, 29))
    verdict = evaluate_pawn_customer(RULES, [*on_time(3), overdue], AS_OF)
    assert not verdict.eligible and verdict.evidence["past_maturity"] == "มีตั๋วเลยกำหนดไถ่ถอน 1 ใบ"
    assert evaluate_pawn_customer(RULES, [*on_time(3), ticket(None, AS_OF)], AS_OF).eligible
    # A ticket whose transfer was never confirmed lent nothing: it is not overdue.
    unpaid = ticket(None, date(2025, 6, 29), paid_out=False)
    assert evaluate_pawn_customer(RULES, [*on_time(3), unpaid], AS_OF).eligible


def test_the_minimum_principal_counts_on_time_redemptions_only() -> None:
    rules = PawnCustomerRules.model_validate(RULES.model_dump(mode="json") | {"min_on_time_principal": "30000.00"})
    assert rules.min_on_time_principal == 3_000_000
    assert evaluate_pawn_customer(rules, on_time(3), AS_OF).eligible  # 3 × 10,000.00
    small = [ticket(date(2025, 5, 1), principal=999_999), *on_time(2)]
    verdict = evaluate_pawn_customer(rules, small, AS_OF)
    assert not verdict.eligible
    assert verdict.evidence["principal"] == "เงินต้นที่ไถ่ถอนตรงเวลารวม 29999.99 บาท (เกณฑ์อย่างน้อย 30000.00 บาท)"
    with pytest.raises(ValidationError):
        PawnCustomerRules.model_validate(RULES.model_dump(mode="json") | {"min_on_time_principal": 300.5})


def test_the_score_weighs_volume_and_the_share_settled_on_time() -> None:
    assert evaluate_pawn_customer(RULES, on_time(6), AS_OF).score == Decimal("100.00")
    assert evaluate_pawn_customer(RULES, on_time(3), AS_OF).score == Decimal("75.00")
    late = ticket(date(2025, 6, 1), date(2025, 5, 30))
    # 3 on time of 4 settled: 25.00 for volume + 37.50 for the share.
    assert evaluate_pawn_customer(RULES, [*on_time(3), late], AS_OF).score == Decimal("62.50")


def test_only_customers_with_a_consent_in_force_for_the_partner_and_purpose_are_referred() -> None:
    good = tuple(on_time(4))
    customers = [
        PawnCustomerRecord("c-consents", good, {("gsb", "pawn-customer-referral"): True}),
        PawnCustomerRecord("c-withdrew", good, {("gsb", "pawn-customer-referral"): False}),
        PawnCustomerRecord("c-never", good, {}),
        PawnCustomerRecord("c-other-purpose", good, {("gsb", "loan-referral"): True}),
        PawnCustomerRecord("c-other-partner", good, {("baac", "pawn-customer-referral"): True}),
        PawnCustomerRecord("c-too-few", tuple(on_time(1)), {("gsb", "pawn-customer-referral"): True}),
    ]
    referred = refer_pawn_customers(RULES, customers, AS_OF)
    assert [ref for ref, _ in referred] == ["c-consents"]
    assert referred[0][1].eligible


def test_the_contact_branch_is_the_latest_pledges() -> None:
    assert contact_branch([]) is None
    tickets = [ticket(None, pledged_on=date(2025, 3, 1), branch="BKK-02"), ticket(None, branch="SK-01")]
    assert contact_branch(tickets) == "BKK-02"


def test_a_year_before_29_february_is_28_february() -> None:
    assert year_before(date(2024, 2, 29)) == date(2023, 2, 28)
    assert year_before(date(2025, 6, 30)) == date(2024, 6, 30)


def test_a_pawn_customers_pseudonym_never_equals_a_members() -> None:
    assert pseudonym("k", "gsb", pawn_subject("c-1")) != pseudonym("k", "baac", pawn_subject("c-1"))
    assert len(pseudonym("k", "gsb", pawn_subject("c-1"))) == 24


def test_the_shipped_rule_sets_for_gsb() -> None:
    [members] = load_partners().values()
    assert isinstance(members, PartnerRules) and members.purpose == "loan-referral"
    sets = {r.purpose: r for r in load_rule_sets()["gsb"]}
    assert set(sets) == {"loan-referral", "pawn-customer-referral"}
    pawn = sets["pawn-customer-referral"]
    assert isinstance(pawn, PawnCustomerRules) and pawn.contact_fields == ("customer_ref", "branch_code")


def test_rule_sets_refuse_contact_data_sajja_does_not_hold_and_duplicate_purposes(tmp_path: Path) -> None:
    data = RULES.model_dump(mode="json")
    with pytest.raises(ValidationError):
        parse_rule_set(data | {"contact_fields": ["customer_ref", "phone"]})
    with pytest.raises(ValidationError):
        parse_rule_set(data | {"min_on_time_redemptions_12m": 0})
    (tmp_path / "a.json").write_text(json.dumps(data))
    (tmp_path / "b.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="two rule sets"):
        load_rule_sets(tmp_path)
