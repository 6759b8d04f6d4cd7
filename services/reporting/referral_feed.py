"""The partner referral feed: its facts projection, refreshes, serving with contact data read from the
ledger's register at that moment, revocations when consent is withdrawn, outcomes, disclosure log.

Pawn customers (rule sets for "pawn-customers") go through the same feed: their tickets and consents are
projected from the lending topic, and when a referral is served its contact (only the office's
customer_ref and branch code) is given once lending confirms the consent is still in force."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import date
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx

from libs.events.envelope import BANGKOK, RecordedEvent, today_in_thailand
from libs.events.runtime import Platform
from services.reporting import referrals

S = '"reporting"'
# Held by a refresh of one partner's feed (one at a time), and by a facts batch that may revoke referrals.
REFRESH_LOCK = "select pg_advisory_xact_lock(hashtextextended('referrals:' || $1, 0))"
REVOKING_EVENTS = frozenset({"ledger.MemberExited", "ledger.ConsentWithdrawn", "lending.PawnCustomerConsentWithdrawn"})


class ReferralFacts:
    """Projection: the facts the partners' rule sets judge (members, consents, missed installments, loans,
    pawn tickets and pawn customers' consents); a withdrawal or an exit also revokes the member's (or
    customer's) referrals in the partners' feeds."""

    name = "referral_facts"
    tables = (
        "referral_members",
        "referral_consents",
        "referral_missed",
        "referral_loans",
        "referral_pawn_tickets",
        "referral_pawn_renewals",
        "referral_pawn_consents",
    )

    def __init__(
        self, ledger_topic: str, lending_topic: str, pseudonym_key: str, schema: str = "reporting", revokes: bool = True
    ) -> None:
        self.topics: Sequence[str] = (ledger_topic, lending_topic)
        self.key = pseudonym_key
        self.partners = sorted(referrals.load_rule_sets())
        self.s = f'"{schema}"'
        # The feeds are what partners were sent: a rebuilt copy does not revoke again (it happened).
        self.revokes = revokes
        s = self.s
        self._member_sql = f"insert into {s}.referral_members values ($1, $2, $3, $4, $5, false) on conflict do nothing"
        self._exit_sql = f"update {s}.referral_members set exited = true where member_id = $1"
        self._consent_sql = f"""insert into {s}.referral_consents values ($1, $2, $3, $4, $5, $6)
            on conflict (member_id, partner, purpose) do update
            set in_force = excluded.in_force, notice_version = excluded.notice_version,
                changed_at = excluded.changed_at"""
        self._missed_sql = f"insert into {s}.referral_missed values ($1, $2) on conflict do nothing"
        self._loan_sql = f"insert into {s}.referral_loans (loan_id, member_id) values ($1, $2) on conflict do nothing"
        self._repayment_sql = f"update {s}.referral_loans set repayments = repayments + 1 where loan_id = $1"
        self._overdue_sql = f"""update {s}.referral_loans set overdue = overdue + 1,
            max_days_past_due = greatest(max_days_past_due, $2), last_overdue_on = $3 where loan_id = $1"""
        self._pledged_sql = (
            f"insert into {s}.referral_pawn_tickets (ticket_id, customer_ref, branch_code, principal_satang,"
            " pledged_on, maturity_date) values ($1, $2, $3, $4, $5, $6) on conflict do nothing"
        )
        self._paid_out_sql = f"update {s}.referral_pawn_tickets set paid_out = true where ticket_id = $1"
        # The renewal with the maturity date it had to beat; then the ticket's new maturity date (one statement
        # each, in event order: a second renewal in the batch beats the first one's date).
        self._renewed_sql = f"""with renewal as (
                insert into {s}.referral_pawn_renewals (ticket_id, stream_version, paid_on, due_by)
                select ticket_id, $2, $3, maturity_date from {s}.referral_pawn_tickets where ticket_id = $1
                on conflict do nothing)
            update {s}.referral_pawn_tickets set maturity_date = $4 where ticket_id = $1"""
        self._redeemed_sql = f"update {s}.referral_pawn_tickets set redeemed_on = $2 where ticket_id = $1"
        self._forfeited_sql = f"update {s}.referral_pawn_tickets set forfeited_on = $2 where ticket_id = $1"
        self._pawn_consent_sql = f"""insert into {s}.referral_pawn_consents values ($1, $2, $3, $4, $5, $6)
            on conflict (customer_ref, partner, purpose) do update
            set in_force = excluded.in_force, notice_version = excluded.notice_version,
                changed_at = excluded.changed_at"""
        # The order the statements run in (inserts before the updates of the same rows).
        self._statements = (
            self._member_sql,
            self._exit_sql,
            self._consent_sql,
            self._missed_sql,
            self._loan_sql,
            self._repayment_sql,
            self._overdue_sql,
            self._pledged_sql,
            self._paid_out_sql,
            self._renewed_sql,
            self._redeemed_sql,
            self._forfeited_sql,
            self._pawn_consent_sql,
        )

    def rebuilt_in(self, schema: str) -> ReferralFacts:
        ledger, lending = self.topics
        return ReferralFacts(ledger, lending, self.key, schema=schema, revokes=False)

    async def apply(self, conn: asyncpg.Connection, events: Sequence[RecordedEvent]) -> None:
        if self.revokes and any(e.event_type in REVOKING_EVENTS for e in events):
            # Wait for refreshes in flight: a referral one is about to commit is then seen, and revoked, instead
            # of outliving the withdrawal or exit. Every partner, always in the same order: no deadlock.
            for partner in self.partners:
                await conn.execute(REFRESH_LOCK, partner)
        # One statement per kind of fact, each run over its rows at once (executemany: one round trip), in an
        # order that keeps every key's history: a row is inserted before it is updated (its stream's first
        # event comes first), updates of one kind run in event order, and updates of different kinds to one
        # row touch different columns. Revocations follow the facts they come from, in event order.
        calls: dict[str, list[tuple[Any, ...]]] = {sql: [] for sql in self._statements}
        # Revocations, each with the business day of the exit or withdrawal that caused it (the pipeline's day).
        exits: list[tuple[str, date]] = []
        withdrawals: list[tuple[str, str, str, date]] = []
        pawn_withdrawals: list[tuple[str, str, str, date]] = []
        for e in events:
            p, t = e.payload, e.event_type
            if t == "ledger.MemberEnrolled":
                area = e.area
                calls[self._member_sql].append(
                    (
                        p["member_id"],
                        p["group_id"],
                        area.province_code if area else "",
                        area.district_code if area else "",
                        date.fromisoformat(p["joined_on"]),
                    )
                )
            elif t == "ledger.MemberExited":
                calls[self._exit_sql].append((p["member_id"],))
                exits.append((p["member_id"], _day(e)))
            elif t in ("ledger.ConsentGranted", "ledger.ConsentWithdrawn"):
                granted = t == "ledger.ConsentGranted"
                calls[self._consent_sql].append(
                    (p["member_id"], p["partner"], p["purpose"], granted, p.get("notice_version"), e.occurred_at)
                )
                if not granted:  # withdrawal takes effect at once: the partner's feed carries the revocation now
                    withdrawals.append((p["member_id"], p["partner"], p["purpose"], _day(e)))
            elif t == "ledger.InstallmentMissed":
                calls[self._missed_sql].append((p["member_id"], date.fromisoformat(p["month"])))
            elif t in ("lending.LoanDisbursed", "lending.LoanOpened"):
                calls[self._loan_sql].append((p["loan_id"], p["member_id"]))
            elif t == "lending.RepaymentReceived":
                calls[self._repayment_sql].append((p["loan_id"],))
            elif t == "lending.InstallmentOverdue":
                calls[self._overdue_sql].append(
                    (p["loan_id"], int(p["days_past_due"]), date.fromisoformat(p["business_date"]))
                )
            elif t == "lending.ItemPledged":
                calls[self._pledged_sql].append(
                    (
                        p["ticket_id"],
                        p["customer_ref"],
                        p["branch_code"],
                        int(p["principal_satang"]),
                        date.fromisoformat(p["pledged_on"]),
                        date.fromisoformat(p["maturity_date"]),
                    )
                )
            elif t == "lending.PayoutConfirmed":
                calls[self._paid_out_sql].append((p["ticket_id"],))
            elif t == "lending.PawnInterestPaid":
                calls[self._renewed_sql].append(
                    (
                        p["ticket_id"],
                        e.stream_version,
                        date.fromisoformat(p["paid_on"]),
                        date.fromisoformat(p["maturity_date"]),
                    )
                )
            elif t == "lending.PawnRedeemed":
                calls[self._redeemed_sql].append((p["ticket_id"], date.fromisoformat(p["redeemed_on"])))
            elif t == "lending.PawnForfeited":
                calls[self._forfeited_sql].append((p["ticket_id"], date.fromisoformat(p["forfeited_on"])))
            elif t in ("lending.PawnCustomerConsentGranted", "lending.PawnCustomerConsentWithdrawn"):
                granted = t == "lending.PawnCustomerConsentGranted"
                calls[self._pawn_consent_sql].append(
                    (p["customer_ref"], p["partner"], p["purpose"], granted, p.get("notice_version"), e.occurred_at)
                )
                if not granted:
                    pawn_withdrawals.append((p["customer_ref"], p["partner"], p["purpose"], _day(e)))
        for sql, rows in calls.items():
            if rows:
                await conn.executemany(sql, rows)
        for member_id, on in exits:
            await self._revoke(conn, member_id, None, None, on)
        for member_id, partner, purpose, on in withdrawals:
            await self._revoke(conn, member_id, partner, purpose, on)
        for customer_ref, partner, purpose, on in pawn_withdrawals:
            await self._revoke_pawn(conn, customer_ref, partner, purpose, on)

    async def _revoke_pawn(
        self, conn: asyncpg.Connection, customer_ref: str, partner: str, purpose: str, on: date | None = None
    ) -> None:
        if not self.revokes:
            return
        latest = await conn.fetchrow(
            f"""select kind, referral_id from {self.s}.referral_feed
                where customer_ref = $1 and partner = $2 and purpose = $3 order by seq desc limit 1""",
            customer_ref,
            partner,
            purpose,
        )
        if latest is not None and latest["kind"] == "referral":
            await conn.execute(
                f"insert into {self.s}.referral_feed (partner, purpose, kind, referral_id, customer_ref)"
                " values ($1, $2, 'revocation', $3, $4)",
                partner,
                purpose,
                latest["referral_id"],
                customer_ref,
            )
            await count_entry(conn, partner, latest["referral_id"], "revocation", None, on)

    async def _revoke(
        self, conn: asyncpg.Connection, member_id: str, partner: str | None, purpose: str | None, on: date | None = None
    ) -> None:
        """A revocation for each partner feed where the member's latest entry is a referral."""
        if not self.revokes:
            return
        rows = await conn.fetch(
            f"""select distinct on (partner, purpose) partner, purpose, kind, referral_id from {self.s}.referral_feed
                where member_id = $1 and ($2::text is null or (partner = $2 and purpose = $3))
                order by partner, purpose, seq desc""",
            member_id,
            partner,
            purpose,
        )
        for r in rows:
            if r["kind"] == "referral":
                await conn.execute(
                    f"insert into {self.s}.referral_feed (partner, purpose, kind, referral_id, member_id)"
                    " values ($1, $2, 'revocation', $3, $4)",
                    r["partner"],
                    r["purpose"],
                    r["referral_id"],
                    member_id,
                )
                await count_entry(conn, r["partner"], r["referral_id"], "revocation", member_id, on)


class ReferralFeed:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.pool = platform.pool
        # partner → its rule sets (members, pawn customers), one per purpose.
        self.partners = referrals.load_rule_sets()
        self.key = platform.settings.national_id_hash_key + ":referrals"

    def rules(self, partner: str, purpose: str) -> referrals.RuleSet | None:
        return next((r for r in self.partners[partner] if r.purpose == purpose), None)

    async def refresh(self, partner: str, as_of: date) -> int:
        """Refer every consenting, eligible member or pawn customer not referred already, under each of the
        partner's rule sets; returns how many were added."""
        added = 0
        async with self.pool.acquire() as conn, conn.transaction():
            # One refresh at a time per partner: two at once could refer someone twice.
            await conn.execute(REFRESH_LOCK, partner)
            for rules in self.partners[partner]:
                if isinstance(rules, referrals.PawnCustomerRules):
                    added += await self._refresh_pawn_customers(conn, rules, as_of)
                else:
                    added += await self._refresh_members(conn, rules, as_of)
        return added

    async def _refresh_members(self, conn: asyncpg.Connection, rules: referrals.PartnerRules, as_of: date) -> int:
        partner = rules.partner
        added = 0
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
                for r in await conn.fetch(f"select month from {S}.referral_missed where member_id = $1", c["member_id"])
            ]
            loans = [
                referrals.LoanRecord(r["repayments"], r["overdue"], r["max_days_past_due"], r["last_overdue_on"])
                for r in await conn.fetch(f"select * from {S}.referral_loans where member_id = $1", c["member_id"])
            ]
            verdict = referrals.evaluate(rules, c["joined_on"], missed, loans, as_of)
            if not verdict.eligible:
                continue
            referral_id = referrals.pseudonym(self.key, partner, c["member_id"])
            await conn.execute(
                f"insert into {S}.referral_feed (partner, purpose, kind, referral_id, member_id, score, evidence)"
                " values ($1, $2, 'referral', $3, $4, $5, $6::jsonb)",
                partner,
                rules.purpose,
                referral_id,
                c["member_id"],
                str(verdict.score),
                json.dumps(verdict.evidence, ensure_ascii=False),
            )
            await count_entry(conn, partner, referral_id, "referral", c["member_id"], as_of)
            added += 1
        return added

    async def _refresh_pawn_customers(
        self, conn: asyncpg.Connection, rules: referrals.PawnCustomerRules, as_of: date
    ) -> int:
        # Customers who ever consented to this partner and purpose and whose latest entry is not a referral;
        # whether the consent is in force now, and the record, are judged by `referrals`.
        consents = await conn.fetch(
            f"""select c.customer_ref, c.in_force from {S}.referral_pawn_consents c
                where c.partner = $1 and c.purpose = $2
                  and coalesce((select kind from {S}.referral_feed f where f.customer_ref = c.customer_ref
                                and f.partner = $1 and f.purpose = $2 order by seq desc limit 1), '') <> 'referral'
                order by c.customer_ref""",
            rules.partner,
            rules.purpose,
        )
        refs = [c["customer_ref"] for c in consents]
        tickets = await pawn_tickets(conn, refs)
        customers = [
            referrals.PawnCustomerRecord(
                c["customer_ref"],
                tickets.get(c["customer_ref"], ()),
                {(rules.partner, rules.purpose): c["in_force"]},
            )
            for c in consents
        ]
        referred = referrals.refer_pawn_customers(rules, customers, as_of)
        for customer_ref, verdict in referred:
            referral_id = referrals.pseudonym(self.key, rules.partner, referrals.pawn_subject(customer_ref))
            await conn.execute(
                f"insert into {S}.referral_feed (partner, purpose, kind, referral_id, customer_ref, score, evidence)"
                " values ($1, $2, 'referral', $3, $4, $5, $6::jsonb)",
                rules.partner,
                rules.purpose,
                referral_id,
                customer_ref,
                str(verdict.score),
                json.dumps(verdict.evidence, ensure_ascii=False),
            )
            await count_entry(conn, rules.partner, referral_id, "referral", None, as_of)
        return len(referred)

    async def page(self, partner: str, after: int, limit: int) -> list[dict[str, Any]]:
        """Feed entries after a cursor. A referral carries the contact data its consent allows, read now
        (none once consent is withdrawn): a member's from the ledger's register; a pawn customer's (the
        office's reference and branch) once lending confirms the consent. Each disclosure is logged."""
        rows = await self.pool.fetch(
            f"select * from {S}.referral_feed where partner = $1 and seq > $2 order by seq limit $3",
            partner,
            after,
            limit,
        )
        items = []
        async with _Clients(self.platform) as clients:
            for r in rows:
                item: dict[str, Any] = {
                    "seq": r["seq"],
                    "kind": r["kind"],
                    "referral_id": r["referral_id"],
                    "purpose": r["purpose"],
                }
                rules = self.rules(partner, r["purpose"])
                if r["kind"] == "referral":
                    item |= {"score": r["score"], "evidence": json.loads(r["evidence"]), "contact": None}
                    contact: dict[str, Any] | None = None
                    if isinstance(rules, referrals.PawnCustomerRules):
                        contact = await self._pawn_contact(await clients.get("lending"), rules, r["customer_ref"])
                    elif rules is not None:
                        contact = await self._member_contact(await clients.get("ledger"), rules, r["member_id"])
                    if contact is not None:
                        item["contact"] = contact
                        await self.pool.execute(
                            f"insert into {S}.disclosure_log (partner, purpose, referral_id, member_id, customer_ref,"
                            " fields) values ($1, $2, $3, $4, $5, $6)",
                            partner,
                            r["purpose"],
                            r["referral_id"],
                            r["member_id"],
                            r["customer_ref"],
                            [f for f, v in contact.items() if v is not None],
                        )
                items.append(item)
        return items

    async def _member_contact(
        self, ledger: httpx.AsyncClient, rules: referrals.PartnerRules, member_id: Any
    ) -> dict[str, Any] | None:
        answer = await ledger.get(
            f"/ledger/v1/members/{member_id}/contact", params={"partner": rules.partner, "purpose": rules.purpose}
        )
        if answer.status_code != 200:
            return None
        found = answer.json()
        return {f: found.get(f) for f in rules.contact_fields}

    async def _pawn_contact(
        self, lending: httpx.AsyncClient, rules: referrals.PawnCustomerRules, customer_ref: str
    ) -> dict[str, Any] | None:
        answer = await lending.get(f"/lending/v1/pawn/customers/{quote(customer_ref, safe='')}/consents")
        if answer.status_code != 200 or not any(
            c["partner"] == rules.partner and c["purpose"] == rules.purpose for c in answer.json()["in_force"]
        ):
            return None
        tickets = (await pawn_tickets(self.pool, [customer_ref])).get(customer_ref, ())
        found = {"customer_ref": customer_ref, "branch_code": referrals.contact_branch(tickets)}
        return {f: found[f] for f in rules.contact_fields}

    async def record_outcome(self, partner: str, referral_id: str, outcome: str) -> bool:
        return await record_outcome(self.pool, partner, referral_id, outcome)


async def record_outcome(
    pool: asyncpg.Pool, partner: str, referral_id: str, outcome: str, on: date | None = None
) -> bool:
    """What the partner reports of a referral in its feed (False: no such referral), counted once (on the day it
    is reported, unless `on` says otherwise)."""
    async with pool.acquire() as conn, conn.transaction():
        member_id = await conn.fetchval(
            f"""select coalesce(member_id::text, '') from {S}.referral_feed
                where partner = $1 and referral_id = $2 and kind = 'referral' limit 1""",
            partner,
            referral_id,
        )
        if member_id is None:
            return False
        await conn.execute(
            f"insert into {S}.referral_outcomes (referral_id, partner, outcome) values ($1, $2, $3)"
            " on conflict do nothing",
            referral_id,
            partner,
            outcome,
        )
        await count_entry(conn, partner, referral_id, outcome, member_id or None, on)
    return True


# The pipeline's counters (issue #13): each referral id counts once per kind of entry (referral, revocation)
# and once per outcome the partner reports — a distinct count kept by its first-seen row — in the nation and
# in the referred member's province, district and group (a pawn customer in the nation only); each also on the
# day it was counted (#15: the pipeline as of a date).
_COUNT_SQL = f"""
    with first as (
        insert into {S}.referral_firsts (partner, referral_id, kind) values ($1, $2, $3)
        on conflict do nothing returning partner
    ), places as (
        select l.level, l.code
        from first
        left join {S}.referral_members m on m.member_id = $4::uuid
        cross join lateral (values ('national', ''), ('province', m.province_code), ('district', m.district_code),
                                   ('group', m.group_id::text)) as l(level, code)
        where l.code is not null
    ), daily as (
        insert into {S}.referral_counts_daily as d (partner, level, code, kind, day, n)
        select $1, level, code, $3, $5, 1 from places
        on conflict (partner, level, code, kind, day) do update set n = d.n + 1
    )
    insert into {S}.referral_counts as c (partner, level, code, kind, n)
    select $1, level, code, $3, 1 from places
    on conflict (partner, level, code, kind) do update set n = c.n + 1"""


async def count_entry(
    conn: asyncpg.Connection, partner: str, referral_id: str, kind: str, member_id: Any, on: date | None = None
) -> None:
    """Count a feed entry or an outcome in the pipeline, once per referral id and kind, on the business day `on`
    (default: today in Thailand)."""
    member = None if member_id is None else str(member_id)
    await conn.execute(_COUNT_SQL, partner, referral_id, kind, member, on or today_in_thailand())


async def pipeline_counts(
    conn: asyncpg.Connection | asyncpg.Pool, partner: str, level: str, code: str | None, as_of: date | None = None
) -> tuple[dict[str, int], dict[str, int]]:
    """Referrals and revocations by kind, and referrals by the outcome the partner reported, for an area:
    a handful of counter rows; as of a past day, the area's day counters up to it (kinds × days rows)."""
    area = (partner, level, "" if level == "national" else code or "")
    if as_of is None or as_of >= today_in_thailand():
        rows = await conn.fetch(
            f"select kind, n from {S}.referral_counts where partner = $1 and level = $2 and code = $3", *area
        )
    else:
        rows = await conn.fetch(
            f"""select kind, sum(n)::bigint as n from {S}.referral_counts_daily
                where partner = $1 and level = $2 and code = $3 and day <= $4 group by kind""",
            *area,
            as_of,
        )
    kinds = {r["kind"]: int(r["n"]) for r in rows if r["kind"] in ("referral", "revocation")}
    outcomes = {r["kind"]: int(r["n"]) for r in rows if r["kind"] not in ("referral", "revocation")}
    return kinds, outcomes


def _day(event: RecordedEvent) -> date:
    """An event's business day in Thailand (its occurred_at carries the Bangkok offset)."""
    return event.occurred_at.astimezone(BANGKOK).date()


async def pawn_tickets(
    conn: asyncpg.Connection | asyncpg.Pool, customer_refs: Sequence[str]
) -> dict[str, tuple[referrals.PawnTicketRecord, ...]]:
    """The projected tickets (with their renewals) of these customers."""
    renewals: dict[Any, list[referrals.Renewal]] = {}
    for r in await conn.fetch(
        f"""select r.ticket_id, r.paid_on, r.due_by from {S}.referral_pawn_renewals r
            join {S}.referral_pawn_tickets t using (ticket_id)
            where t.customer_ref = any($1::text[]) order by r.ticket_id, r.stream_version""",
        list(customer_refs),
    ):
        renewals.setdefault(r["ticket_id"], []).append(referrals.Renewal(r["paid_on"], r["due_by"]))
    found: dict[str, list[referrals.PawnTicketRecord]] = {}
    for t in await conn.fetch(
        f"select * from {S}.referral_pawn_tickets where customer_ref = any($1::text[]) order by pledged_on, ticket_id",
        list(customer_refs),
    ):
        found.setdefault(t["customer_ref"], []).append(
            referrals.PawnTicketRecord(
                branch_code=t["branch_code"],
                principal_satang=t["principal_satang"],
                pledged_on=t["pledged_on"],
                maturity_date=t["maturity_date"],
                renewals=tuple(renewals.get(t["ticket_id"], ())),
                redeemed_on=t["redeemed_on"],
                forfeited_on=t["forfeited_on"],
                paid_out=t["paid_out"],
            )
        )
    return {ref: tuple(tickets) for ref, tickets in found.items()}


class _Clients:
    """Clients for other services, opened when first needed (a member-only page never asks lending)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.stack = contextlib.AsyncExitStack()
        self.opened: dict[str, httpx.AsyncClient] = {}

    async def __aenter__(self) -> _Clients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()

    async def get(self, name: str) -> httpx.AsyncClient:
        if name not in self.opened:
            self.opened[name] = await self.stack.enter_async_context(self.platform.service_client(name))
        return self.opened[name]
