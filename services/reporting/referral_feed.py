"""The partner referral feed: its facts projection, refreshes, serving with contact data read from the
ledger's register at that moment, revocations when consent is withdrawn, outcomes, disclosure log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg

from libs.events.envelope import RecordedEvent
from libs.events.runtime import Platform
from services.reporting import referrals

S = '"reporting"'


class ReferralFacts:
    name = "referral_facts"

    def __init__(self, ledger_topic: str, lending_topic: str, pseudonym_key: str) -> None:
        self.topics: Sequence[str] = (ledger_topic, lending_topic)
        self.key = pseudonym_key

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        for e in events:
            p, t = e.payload, e.event_type
            if t == "ledger.MemberEnrolled":
                area = e.area
                await conn.execute(
                    f"insert into {S}.referral_members values ($1, $2, $3, $4, $5, false) on conflict do nothing",
                    p["member_id"],
                    p["group_id"],
                    area.province_code if area else "",
                    area.district_code if area else "",
                    date.fromisoformat(p["joined_on"]),
                )
            elif t == "ledger.MemberExited":
                await conn.execute(
                    f"update {S}.referral_members set exited = true where member_id = $1", p["member_id"]
                )
                await self._revoke(conn, p["member_id"], None, None)
            elif t in ("ledger.ConsentGranted", "ledger.ConsentWithdrawn"):
                granted = t == "ledger.ConsentGranted"
                await conn.execute(
                    f"""insert into {S}.referral_consents values ($1, $2, $3, $4, $5, $6)
                        on conflict (member_id, partner, purpose) do update
                        set in_force = excluded.in_force, notice_version = excluded.notice_version,
                            changed_at = excluded.changed_at""",
                    p["member_id"],
                    p["partner"],
                    p["purpose"],
                    granted,
                    p.get("notice_version"),
                    e.occurred_at,
                )
                if not granted:
                    # Withdrawal takes effect at once: the partner's feed carries the revocation now.
                    await self._revoke(conn, p["member_id"], p["partner"], p["purpose"])
            elif t == "ledger.InstallmentMissed":
                await conn.execute(
                    f"insert into {S}.referral_missed values ($1, $2) on conflict do nothing",
                    p["member_id"],
                    date.fromisoformat(p["month"]),
                )
            elif t == "lending.LoanDisbursed":
                await conn.execute(
                    f"insert into {S}.referral_loans (loan_id, member_id) values ($1, $2) on conflict do nothing",
                    p["loan_id"],
                    p["member_id"],
                )
            elif t == "lending.RepaymentReceived":
                await conn.execute(
                    f"update {S}.referral_loans set repayments = repayments + 1 where loan_id = $1", p["loan_id"]
                )
            elif t == "lending.InstallmentOverdue":
                await conn.execute(
                    f"""update {S}.referral_loans set overdue = overdue + 1,
                        max_days_past_due = greatest(max_days_past_due, $2), last_overdue_on = $3 where loan_id = $1""",
                    p["loan_id"],
                    int(p["days_past_due"]),
                    date.fromisoformat(p["business_date"]),
                )

    async def _revoke(self, conn: asyncpg.Connection, member_id: str, partner: str | None, purpose: str | None) -> None:
        """A revocation for each partner feed where the member's latest entry is a referral."""
        rows = await conn.fetch(
            f"""select distinct on (partner, purpose) partner, purpose, kind, referral_id from {S}.referral_feed
                where member_id = $1 and ($2::text is null or (partner = $2 and purpose = $3))
                order by partner, purpose, seq desc""",
            member_id,
            partner,
            purpose,
        )
        for r in rows:
            if r["kind"] == "referral":
                await conn.execute(
                    f"insert into {S}.referral_feed (partner, purpose, kind, referral_id, member_id)"
                    " values ($1, $2, 'revocation', $3, $4)",
                    r["partner"],
                    r["purpose"],
                    r["referral_id"],
                    member_id,
                )


class ReferralFeed:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.pool = platform.pool
        self.partners = referrals.load_partners()
        self.key = platform.settings.national_id_hash_key + ":referrals"

    def rules(self, partner: str) -> referrals.PartnerRules:
        return self.partners[partner]

    async def refresh(self, partner: str, as_of: date) -> int:
        """Refer every consenting, eligible member not referred already; returns how many were added."""
        rules = self.partners[partner]
        added = 0
        async with self.pool.acquire() as conn, conn.transaction():
            # One refresh at a time per partner: two at once could refer a member twice.
            await conn.execute("select pg_advisory_xact_lock(hashtextextended('referrals:' || $1, 0))", partner)
            candidates = await conn.fetch(
                f"""select m.member_id, m.joined_on from {S}.referral_members m
                    join {S}.referral_consents c on c.member_id = m.member_id
                    where not m.exited and c.in_force and c.partner = $1 and c.purpose = $2
                      and coalesce((select kind from {S}.referral_feed f where f.member_id = m.member_id
                                    and f.partner = $1 and f.purpose = $2 order by seq desc limit 1), '') <> 'referral'
                    order by m.member_id""",
                partner,
                rules.purpose,
            )
            for c in candidates:
                missed = [
                    r["month"]
                    for r in await conn.fetch(
                        f"select month from {S}.referral_missed where member_id = $1", c["member_id"]
                    )
                ]
                loans = [
                    referrals.LoanRecord(r["repayments"], r["overdue"], r["max_days_past_due"], r["last_overdue_on"])
                    for r in await conn.fetch(f"select * from {S}.referral_loans where member_id = $1", c["member_id"])
                ]
                verdict = referrals.evaluate(rules, c["joined_on"], missed, loans, as_of)
                if not verdict.eligible:
                    continue
                await conn.execute(
                    f"insert into {S}.referral_feed (partner, purpose, kind, referral_id, member_id, score, evidence)"
                    " values ($1, $2, 'referral', $3, $4, $5, $6::jsonb)",
                    partner,
                    rules.purpose,
                    referrals.pseudonym(self.key, partner, c["member_id"]),
                    c["member_id"],
                    str(verdict.score),
                    json.dumps(verdict.evidence, ensure_ascii=False),
                )
                added += 1
        return added

    async def page(self, partner: str, after: int, limit: int) -> list[dict[str, Any]]:
        """Feed entries after a cursor. A referral carries the contact data its consent allows, read from
        the ledger's register now (none once consent is withdrawn); each disclosure is logged."""
        rules = self.partners[partner]
        rows = await self.pool.fetch(
            f"select * from {S}.referral_feed where partner = $1 and seq > $2 order by seq limit $3",
            partner,
            after,
            limit,
        )
        items = []
        async with self.platform.service_client("ledger") as ledger:
            for r in rows:
                item: dict[str, Any] = {"seq": r["seq"], "kind": r["kind"], "referral_id": r["referral_id"]}
                if r["kind"] == "referral":
                    item |= {"score": r["score"], "evidence": json.loads(r["evidence"]), "contact": None}
                    answer = await ledger.get(
                        f"/ledger/v1/members/{r['member_id']}/contact",
                        params={"partner": partner, "purpose": rules.purpose},
                    )
                    if answer.status_code == 200:
                        found = answer.json()
                        contact = {f: found.get(f) for f in rules.contact_fields}
                        item["contact"] = contact
                        await self.pool.execute(
                            f"insert into {S}.disclosure_log (partner, purpose, referral_id, member_id, fields)"
                            " values ($1, $2, $3, $4, $5)",
                            partner,
                            rules.purpose,
                            r["referral_id"],
                            r["member_id"],
                            [f for f, v in contact.items() if v is not None],
                        )
                items.append(item)
        return items

    async def record_outcome(self, partner: str, referral_id: str, outcome: str) -> bool:
        known = await self.pool.fetchval(
            f"select 1 from {S}.referral_feed where partner = $1 and referral_id = $2 and kind = 'referral'",
            partner,
            referral_id,
        )
        if not known:
            return False
        await self.pool.execute(
            f"insert into {S}.referral_outcomes (referral_id, partner, outcome) values ($1, $2, $3)"
            " on conflict do nothing",
            referral_id,
            partner,
            outcome,
        )
        return True
