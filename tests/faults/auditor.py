"""The auditor: after a trial's faults and the retries that settle every unknown command, the platform must
hold exactly what the client was told — each acknowledged command applied once, each refused one not at
all — in the ledger's streams and books, reporting's balances and statistics, lending's loans and the
campaign's counters. Every command's amount carries its own satang, so the group journal shows how many
times each was applied. Read models are polled until they agree (they are eventually consistent) and
count as mismatched only if they never do."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.faults.workload import (
    SETUP_DAY,
    SETUP_SAJJA,
    SETUP_SPECIAL,
    Client,
    Command,
    Setup,
    baht,
    satang,
)

ACCOUNT_CODE = {"sajja": "2010", "special": "2020"}


@dataclass
class Audit:
    lost: int = 0
    doubled: int = 0
    mismatched: int = 0
    stuck: int = 0
    findings: list[str] = field(default_factory=list)

    def note(self, kind: str, text: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        self.findings.append(f"{kind}: {text}")


async def eventually_equal(read: Any, expected: Any, timeout: float) -> tuple[bool, Any]:
    """Poll `read` (async, returning the figures) until it equals `expected` or the time is up."""
    deadline = time.monotonic() + timeout
    seen: Any = None
    while True:
        try:
            seen = await read()
        except Exception as exc:  # an answer that is not JSON, a connection reset: keep asking
            seen = f"{type(exc).__name__}: {exc}"
        if seen == expected:
            return True, seen
        if time.monotonic() > deadline:
            return False, seen
        await asyncio.sleep(0.3)


def _entry_key(entry: dict[str, Any]) -> list[tuple[str, ...]]:
    """What identifies a journal entry's money movement: (kind, member, date, account, amount)."""
    keys = []
    for line in entry["lines"]:
        if entry["event_type"] == "ledger.SavingsDeposited" and line["account"] in ("2010", "2020"):
            if line["credit"] != "0.00":
                keys.append(("deposit", str(entry["member_id"]), entry["on"], line["account"], line["credit"]))
        elif entry["event_type"] == "ledger.SavingsWithdrawn" and line["account"] in ("2010", "2020"):
            if line["debit"] != "0.00":
                keys.append(("withdrawal", str(entry["member_id"]), entry["on"], line["account"], line["debit"]))
        elif line["account"] == "1100" and line["debit"] != "0.00":
            keys.append(("payout", "", entry["on"], "1100", line["debit"]))
    return keys


async def audit(client: Client, setup: Setup, commands: list[Command], timeout: float = 60.0) -> Audit:
    result = Audit()
    for c in commands:
        if c.final is None:
            result.note("stuck", f"never settled by retries: {c.describe()}")

    # The books: how many times each command's money movement was posted.
    posted: Counter[tuple[str, ...]] = Counter()
    trials: dict[str, dict[str, Any]] = {}
    for group in setup.groups:
        cursor: dict[str, str] = {}
        while True:  # page by page (the journal is cursor-paginated)
            journal = await client.read(f"/ledger/v1/groups/{group}/journal", **cursor)
            for entry in journal["entries"]:
                posted.update(_entry_key(entry))
            if not journal.get("next"):
                break
            cursor = {"after": journal["next"]}
        trials[group] = await client.read(f"/ledger/v1/groups/{group}/trial-balance")
    expected_keys: set[tuple[str, ...]] = set()
    for member in setup.members:
        for account, amount in (("sajja", SETUP_SAJJA), ("special", SETUP_SPECIAL)):
            key = ("deposit", member, SETUP_DAY[account], ACCOUNT_CODE[account], baht(amount))
            expected_keys.add(key)
            if posted[key] != 1:
                result.note("mismatched", f"set-up deposit posted {posted[key]} times: {key}")

    # Loans: lending's status against the ledger's payouts.
    loans: dict[str, dict[str, Any]] = {}
    for c in commands:
        if c.kind == "loan-apply" and c.applied and c.final and c.final.body:
            loan_id = str(c.final.body.get("loan_id"))
            response = await client.get(f"/lending/v1/loans/{loan_id}")
            if response.status_code != 200:
                result.note(
                    "lost", f"acknowledged loan {loan_id} unknown to lending ({response.status_code}): {c.describe()}"
                )
                continue
            loans[loan_id] = response.json()
    paid: dict[str, int] = {}  # loan → principal, for loans lending shows paid out
    for c in commands:
        if c.kind != "loan-disburse":
            continue
        key = ("payout", "", c.on, "1100", baht(c.amount))
        expected_keys.add(key)
        loan = loans.get(c.loan, {})
        status = loan.get("status")
        times = posted[key]
        if times > 1:
            result.note("doubled", f"loan {c.loan} paid out {times} times (status {status}): {c.describe()}")
        elif status == "active" and times == 0:
            result.note("lost", f"loan {c.loan} active in lending, no payout in the books: {c.describe()}")
        elif status != "active" and times == 1:
            result.note("mismatched", f"loan {c.loan} paid out in the books, {status} in lending: {c.describe()}")
        elif status == "disbursing":
            result.note("stuck", f"loan {c.loan} still disbursing after the retries: {c.describe()}")
        if status == "active":
            paid[c.loan] = c.amount
        if not c.applied and status == "active":
            result.note("mismatched", f"loan {c.loan} paid out though its payout was refused: {c.describe()}")

    # Deposits and withdrawals: once if acknowledged, never if refused.
    balances = {m: {"sajja": SETUP_SAJJA, "special": SETUP_SPECIAL} for m in setup.members}
    for c in commands:
        if c.kind not in ("deposit", "withdrawal"):
            continue
        key = (c.kind, c.member, c.on, ACCOUNT_CODE[c.account], baht(c.amount))
        expected_keys.add(key)
        times = posted[key]
        if c.applied:
            balances[c.member][c.account] += c.amount if c.kind == "deposit" else -c.amount
            if times == 0:
                result.note("lost", f"acknowledged, not in the books: {c.describe()}")
        elif c.final is not None and times:
            result.note("mismatched", f"refused, yet posted {times} times: {c.describe()}")
        if times > 1:
            result.note("doubled", f"posted {times} times: {c.describe()}")
    for key, times in posted.items():
        if key not in expected_keys:
            result.note("mismatched", f"posted {times} times, asked by no command: {key}")

    # The same key again replays the first answer (a client that did not hear it retries).
    for c in commands:
        if not c.applied or c.final is None:
            continue
        replay = await client.send(c)
        if replay.status != c.final.status or replay.body != c.final.body:
            kind = "doubled" if replay.outcome == "acknowledged" else "mismatched"
            result.note(
                kind,
                f"replay answered {replay.status} {replay.body}, first {c.final.status} {c.final.body}: {c.describe()}",
            )

    # Month closes: at most one per month, its decision the members' record, no entry slipped in after it.
    closes: dict[tuple[str, str], Command] = {}
    for c in commands:
        if c.kind == "month-close" and c.applied:
            if (c.group, c.on) in closes:
                result.note("doubled", f"month {c.on} closed twice: {c.describe()}")
            closes.setdefault((c.group, c.on), c)
    for (group, month), close in closes.items():
        body = close.final.body if close.final else None
        if not body:
            continue
        position = body["position"]["ledger"]
        missed = {m["member_id"] for m in body.get("missed", [])}
        for c in commands:
            if c.group == group and c.kind in ("deposit", "withdrawal") and c.applied and c.on[:7] <= month:
                written = ((c.final.body if c.final else None) or {}).get("position", {}).get("ledger", 0)
                if written > position:
                    result.note(
                        "mismatched",
                        f"entry dated in closed {month} written after the close "
                        f"(position {written} > {position}): {c.describe()}",
                    )
        for member, member_group in setup.members.items():
            if member_group != group:
                continue
            record = await client.read(f"/ledger/v1/members/{member}")
            months = [m["month"] for m in record["installments"]["missed"]]
            if months.count(month) != (1 if member in missed else 0):
                result.note(
                    "mismatched",
                    f"member {member}: the close of {month} said missed={member in missed}, "
                    f"the member's record {months}",
                )

    # Each member's balances: the ledger's own stream, then reporting's read model.
    for member, expected in balances.items():
        want = {"sajja": baht(expected["sajja"]), "special": baht(expected["special"])}

        async def ledger_read(member: str = member) -> dict[str, str]:
            b = (await client.get(f"/ledger/v1/members/{member}")).json()["balances"]
            return {"sajja": b["sajja"], "special": b["special"]}

        async def reporting_read(member: str = member) -> dict[str, str]:
            b = (await client.get(f"/reporting/v1/members/{member}/balances")).json()
            return {"sajja": b["sajja"], "special": b["special"]}

        ok, seen = await eventually_equal(ledger_read, want, 5)
        if not ok:
            result.note("mismatched", f"ledger balances of {member}: {seen}, expected {want}")
        ok, seen = await eventually_equal(reporting_read, want, timeout)
        if not ok:
            result.note("mismatched", f"reporting balances of {member}: {seen}, expected {want}")

    # The books balance, reconcile, and hold what the commands moved.
    for group in setup.groups:
        members = [m for m, g in setup.members.items() if g == group]
        sajja = sum(balances[m]["sajja"] for m in members)
        special = sum(balances[m]["special"] for m in members)
        loans_out = sum(p for loan, p in paid.items() if loans[loan]["group_id"] == group)
        accounts = {a["code"]: satang(a["balance"]) for a in trials[group]["accounts"]}
        debits = sum(satang(a["debit"]) for a in trials[group]["accounts"])
        credits = sum(satang(a["credit"]) for a in trials[group]["accounts"])
        want_books = {"1010": sajja + special - loans_out, "1100": loans_out, "2010": -sajja, "2020": -special}
        got_books = {k: accounts.get(k, 0) for k in want_books}
        if debits != credits:
            result.note("mismatched", f"group {group}: trial balance debits {baht(debits)} ≠ credits {baht(credits)}")
        if got_books != want_books:
            result.note("mismatched", f"group {group}: books {got_books}, expected {want_books}")
        reconciliation = await client.read(f"/ledger/v1/groups/{group}/reconciliation")
        if not reconciliation.get("reconciled"):
            result.note("mismatched", f"group {group} does not reconcile: {reconciliation}")

        borrowers = len({loans[loan]["member_id"] for loan in paid if loans[loan]["group_id"] == group})
        want_stats = {
            "members": len(members),
            "sajja_savings": baht(sajja),
            "special_savings": baht(special),
            "borrowers": borrowers,
            "loans_outstanding": baht(loans_out),
        }

        async def stats_read(group: str = group, keys: tuple[str, ...] = tuple(want_stats)) -> dict[str, Any]:
            s = (await client.get("/reporting/v1/stats", level="group", code=group)).json()
            return {k: s.get(k) for k in keys}

        ok, seen = await eventually_equal(stats_read, want_stats, timeout)
        if not ok:
            result.note("mismatched", f"reporting statistics of group {group}: {seen}, expected {want_stats}")

    # The campaign's counters for the trial's district (every command is dated inside savings-50y's window).
    specials = [
        c for c in commands if c.kind == "deposit" and c.applied and c.account == "special" and c.amount >= 5000
    ]
    moved = sum(
        c.amount if c.kind == "deposit" else -c.amount
        for c in commands
        if c.applied and c.kind in ("deposit", "withdrawal")
    )
    count = len(setup.members)
    want_campaign = {
        "new_members": count,
        "special_deposits": count + len(specials),
        "special_deposit_amount": baht(count * SETUP_SPECIAL + sum(c.amount for c in specials)),
        "savings_added": baht(count * (SETUP_SAJJA + SETUP_SPECIAL) + moved),
    }

    async def campaign_read() -> dict[str, Any]:
        progress = await client.get(
            "/campaign/v1/campaigns/savings-50y/progress", level="district", code=setup.district
        )
        counters = progress.json()["counters"]
        return {k: counters.get(k) for k in want_campaign}

    ok, seen = await eventually_equal(campaign_read, want_campaign, timeout)
    if not ok:
        result.note("mismatched", f"campaign counters of {setup.district}: {seen}, expected {want_campaign}")
    return result
