"""Loads a planned province into a running platform through its public HTTP APIs only.

The loader walks the demo year month by month, because the platform refuses what a month-end close
has sealed: each month it enrols that month's new members, posts the members' ledger commands,
the loans (application, maker-checker approvals, the payout saga), the repayments and the pawn
tickets, then — for a month that has ended — waits until the group's books hold every repayment,
closes the month in each group and runs the lending day close at the month's end. Within a phase,
requests for different members, loans and tickets run concurrently.

Every POST carries an idempotency key derived from the seed, the scale and the demo's last month,
so a second run (after a crash, say) replays the stored answers and posts nothing twice.

Answers are sorted three ways: transient ones (connection errors, 5xx, a 409 for a concurrent change,
a 504 from a read still waiting on a projection) are retried with back-off; business refusals (a 409
problem+json) are counted and the run goes on; anything else stops the run with `DemoAborted`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any, Protocol

import httpx

from libs.events.money import format_baht, parse_baht
from sajja_cli.demo.generator import (
    CONSENT,
    PROVINCE_CODE,
    GovernanceItem,
    GroupPlan,
    LoanPlan,
    MemberOp,
    MemberPlan,
    PawnAction,
    Province,
    TicketPlan,
    month_end,
)
from sajja_cli.demo.history import History, history_file
from sajja_cli.demo.identities import Identities, IdentityError

MAX_ATTEMPTS = 8
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
# Patience with the ledger's inbox (payouts and repayments are posted one at a time): give up only
# when nothing has moved for this long.
STALL_SECONDS = 300.0
PAWN_PATHS = {"renewal": "renewals", "redemption": "redemptions", "forfeiture": "forfeitures"}
CAMPAIGN_USER = "cdd-sakaeo"  # the provincial community-development office
DEPARTMENT_USER = "cdd-department"  # the department: products, day closes, and the loader's reads
PARTNER_USER = "gsb-referrals"


class DemoAborted(Exception):
    """An answer the loader cannot explain: the run stops here."""


class Progress(Protocol):
    def start(self, total: int) -> None: ...

    def phase(self, description: str, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class _Quiet:
    def start(self, total: int) -> None:
        pass

    def phase(self, description: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


@dataclass
class Summary:
    """What the run did, from the platform's own answers (money in satang)."""

    counts: Counter[str] = field(default_factory=Counter)
    money: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)
    refusal_examples: list[str] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0  # answers 429: the actor waited and asked again
    seconds: float = 0.0
    # Where the time went: seconds and requests by phase (the months' phases added up).
    phase_seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    phase_requests: Counter[str] = field(default_factory=Counter)
    # The platform's own figures at the end: statistics, portfolio and campaign progress for the province.
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


Job = Callable[[], Coroutine[Any, Any, None]]


class Loader:
    def __init__(
        self,
        client: httpx.AsyncClient,
        province: Province,
        *,
        concurrency: int = 24,
        progress: Progress | None = None,
        settle_timeout: float = 120.0,
        identify: Callable[[str], dict[str, str]] | None = None,
        secret: str | None = None,
        history_by_import: bool = True,
    ) -> None:
        self.client = client
        # History (the groups, their founding members and savings brought forward, the ended months' deposits)
        # through the onboarding import; the rest through the API. Off: everything through the API.
        self.history: History | None = history_file(province) if history_by_import else None
        self.history_done = False
        self.secret = secret
        # The headers that say who acts: each group's officers, the district and provincial offices,
        # the pawnshop office's branches and GSB act as themselves (maker-checker compares them).
        self.identify = identify
        self.identities: Identities | None = None
        self.plan = province
        self.progress: Progress = progress or _Quiet()
        self.settle_timeout = settle_timeout
        self.slots = asyncio.Semaphore(concurrency)
        # Reads that wait server-side (a payout saga, a projection catching up) hold a slot of their own,
        # so they do not starve the writes.
        self.waiting_slots = asyncio.Semaphore(max(8, concurrency))
        scale = province.scale
        self.ns = f"demo{province.seed}-{province.months[-1]:%Y%m}-{scale.groups}x{scale.members}x{scale.months}"
        self.summary = Summary()
        self.groups = {g.number: g for g in province.groups}
        self.members = {m.number: m for m in province.members}
        self.group_ids: dict[int, str] = {}
        self.member_ids: dict[int, str] = {}
        self.positions: dict[int, int] = {}  # member → the latest ledger position of their stream we saw
        self.lending_saw: dict[int, int] = {}  # member → the position lending is known to have applied
        self.loan_ids: dict[str, str] = {}
        self.active_loans: set[str] = set()
        # Group → events its ledger stream should hold by now: the registration, each month close, and
        # the ledger's answer to each payout request and repayment (posted through its inbox).
        self.group_events: Counter[int] = Counter()
        self.last_repaid: int | None = None  # the group of the repayment that completed last
        self._ledger_checked_at = self._ledger_moved_at = time.monotonic()
        self._ledger_published = -1
        # Group → loans receivable by the platform's answers (payouts less principal repaid).
        self.receivable: Counter[int] = Counter()
        self.tickets: dict[int, str] = {}
        self.ticket_plans = {t.number: t for t in province.tickets}
        self.member_numbers: dict[str, int] = {}
        self._index()

    def _index(self) -> None:
        plan = self.plan
        self.enrolments: dict[int, list[MemberPlan]] = defaultdict(list)
        for m in plan.members:
            self.enrolments[plan.month_index(m.joined_on)].append(m)
        self.opening: dict[int, list[MemberOp]] = defaultdict(list)
        # Each month's commands that only add money, and those that pay cash out (a member's come after
        # their deposits of the month in date order, so splitting them keeps each member's order).
        self.deposits: dict[int, dict[int, list[MemberOp]]] = defaultdict(lambda: defaultdict(list))
        self.payouts: dict[int, dict[int, list[MemberOp]]] = defaultdict(lambda: defaultdict(list))
        for op in plan.member_ops:
            if op.on < plan.months[0]:
                self.opening[op.member].append(op)
            elif op.kind in ("deposit", "raise"):
                self.deposits[plan.month_index(op.on)][op.member].append(op)
            else:
                self.payouts[plan.month_index(op.on)][op.member].append(op)
        self.loans: dict[int, list[LoanPlan]] = defaultdict(list)
        self.payments: dict[int, dict[str, LoanPlan]] = defaultdict(dict)
        for loan in plan.loans:
            self.loans[plan.month_index(loan.applied_on)].append(loan)
            for p in loan.payments:
                index = plan.month_index(p.paid_on)
                self.payments[index][loan.key] = loan
        self.pawn: dict[int, dict[int, list[PawnAction | None]]] = defaultdict(lambda: defaultdict(list))
        for t in plan.tickets:
            # None stands for the pledge itself.
            self.pawn[plan.month_index(t.pledged_on)][t.number].append(None)
            for action in t.actions:
                self.pawn[plan.month_index(action.on)][t.number].append(action)

    def total_work(self) -> int:
        """Everything the progress bar counts: one unit per planned command (and per close)."""
        plan = self.plan
        loans = sum(_loan_units(loan) for loan in plan.loans)
        pawn = sum(1 + len(t.actions) for t in plan.tickets)
        closes = len(plan.closed_months) * (len(plan.groups) + 2)
        consents = sum(1 for m in plan.members if m.consents)
        return (
            len(plan.groups)
            + len(plan.members)
            + len(plan.member_ops)
            + loans
            + sum(len(loan.payments) for loan in plan.loans)
            + pawn
            + closes
            + consents
            + len(plan.governance)
            + len(plan.campaign.reporting_districts)
            + 7  # products, campaign, today's day close, settling, referrals, province report, figures
        )

    # --- HTTP -------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        body: dict[str, Any] | None = None,
        key: str | None = None,
        user: str = DEPARTMENT_USER,
        params: dict[str, Any] | None = None,
        expect: frozenset[int] = frozenset(),
        waits: bool = False,
    ) -> httpx.Response | None:
        """The answer to one request, retrying what is transient. None when the platform refused it
        (a 409 with a problem: counted, not fatal); a status in `expect` is returned to the caller."""
        assert self.identify is not None, "run() signs the actors in first"
        headers = dict(self.identify(user))  # a copy: the key below is this request's alone
        if key is not None:
            headers["Idempotency-Key"] = f"{self.ns}:{key}"
        reason = ""
        attempt, limited_since = 0, None
        while attempt < MAX_ATTEMPTS:
            attempt += 1
            slots = self.waiting_slots if waits else self.slots
            try:
                async with slots:
                    response = await self.client.request(method, path, json=body, params=params, headers=headers)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                self.summary.requests += 1
                status = response.status_code
                if status < 300 or status in expect:
                    return response
                problem = _problem(response)
                if status == 429:
                    # The platform's per-client rate limit: the actor slows down; it is no failure.
                    limited_since = limited_since or time.monotonic()
                    if time.monotonic() - limited_since > STALL_SECONDS:
                        raise DemoAborted(f"{what}: {method} {path} rate-limited for {STALL_SECONDS:g} s")
                    self.summary.rate_limited += 1
                    attempt -= 1
                    await asyncio.sleep(random.uniform(1.0, 3.0))
                    continue
                if status in TRANSIENT_STATUSES or (
                    status == 409 and problem is not None and str(problem.get("type", "")).endswith(":concurrency")
                ):
                    reason = f"{status} {problem.get('detail') if problem else response.text[:200]}"
                elif status == 409 and problem is not None:
                    self._refused(what, str(problem.get("detail", "")))
                    return None
                else:
                    detail = problem.get("detail") if problem else response.text[:300]
                    raise DemoAborted(f"{what}: {method} {path} answered {status}: {detail}")
            if attempt < MAX_ATTEMPTS:
                self.summary.retries += 1
                await asyncio.sleep(min(10.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.0))
        raise DemoAborted(f"{what}: {method} {path} still failing after {MAX_ATTEMPTS} attempts ({reason})")

    async def _post(
        self, path: str, body: dict[str, Any], key: str, what: str, *, user: str = DEPARTMENT_USER
    ) -> dict[str, Any] | None:
        response = await self._request("POST", path, what, body=body, key=key, user=user)
        return None if response is None else dict(response.json())

    async def _get(
        self,
        path: str,
        what: str,
        params: dict[str, Any] | None = None,
        *,
        waits: bool = False,
        user: str = DEPARTMENT_USER,
    ) -> dict[str, Any]:
        response = await self._request("GET", path, what, params=params, waits=waits, user=user)
        assert response is not None  # a GET is never a refusal
        return dict(response.json())

    def _refused(self, what: str, detail: str) -> None:
        self.summary.refusals[what] += 1
        if len(self.summary.refusal_examples) < 20:
            self.summary.refusal_examples.append(f"{what}: {detail}")

    def _saw(self, member: int, body: dict[str, Any]) -> None:
        position = body.get("position", {}).get("ledger")
        if position is not None:
            self.positions[member] = max(self.positions.get(member, 0), int(position))

    def _advance(self, n: int = 1) -> None:
        self.progress.advance(n)

    async def _phase(self, description: str, jobs: Sequence[Job], units: int | None = None) -> None:
        self.progress.phase(description, len(jobs) if units is None else units)
        if not jobs:
            return
        kind = description.split(" ", 1)[1] if description[:4].isdigit() else description
        started, requests = time.monotonic(), self.summary.requests
        async with asyncio.TaskGroup() as tasks:
            for job in jobs:
                tasks.create_task(job())
        self.summary.phase_seconds[kind] += time.monotonic() - started
        self.summary.phase_requests[kind] += self.summary.requests - requests

    # --- the run ----------------------------------------------------------------------------

    async def run(self) -> Summary:
        started = time.monotonic()
        self.progress.start(self.total_work())
        try:
            if self.identify is None:
                # Everyone the demo acts as, signed in by the client's own (department) user (each user a
                # password hash and a sign-in: a minute for the province's), while the history import runs as
                # that user, which needs none of them.
                secret = self.secret or self.ns
                self.identities = Identities(self.client, self.plan, secret)
                provisioning = asyncio.create_task(self.identities.provision())
                try:
                    await self._wait_until_ready()
                    await self._history()
                finally:
                    try:
                        await provisioning
                    except IdentityError as exc:
                        raise DemoAborted(f"{exc} (is the demo signed in as a department user?)") from None
                self.client.cookies.clear()
                self.identify = self.identities
            await self._run()
        except* DemoAborted as group:
            # One failing job cancels the rest of its phase; report the first reason plainly.
            raise _first(group) from None
        finally:
            self.summary.seconds = time.monotonic() - started
            if self.identities is not None:
                await self.identities.close()
        return self.summary

    async def _history(self) -> None:
        if self.history is not None and not self.history_done:
            units = self.history.groups + len(self.history.rows) + len(self.history.ops)
            await self._phase("history through the import", [self._import_history], units)
            self.history_done = True

    async def _run(self) -> None:
        plan = self.plan
        await self._wait_until_ready()
        await self._history()
        await self._phase("products and campaign", [self._products, self._campaign])
        await self._phase("groups", [partial(self._register, g) for g in plan.groups if g.number not in self.group_ids])
        closed = set(plan.closed_months)
        for index, month in enumerate(plan.months):
            await self._month(index, month)
            await self._month_payouts(index, month)
            if index == 0:  # the lead month's deposits came with the balances brought forward: it closes first
                await self._close(plan.lead_month)
            # Closing beside the next month's deposits was tried: the ledger posts lending's requests
            # one at a time on the same event loop, and beside 24 deposits in flight it slowed to about
            # one a second, so the close waited longer than the deposits it overlapped.
            if month in closed:
                await self._close(month)
        await self._phase("day close today", [partial(self._close_day, plan.today)])
        await self._phase("governance items", [partial(self._governance, x) for x in plan.governance])
        await self._phase("waiting for the read models", [self._settle])
        await self._phase("partner referrals", [self._referrals])
        districts = plan.campaign.reporting_districts
        await self._phase("campaign reports", [partial(self._district_report, d) for d in districts])
        await self._phase("province report and figures", [self._province_report, self._figures])

    async def _month(self, index: int, month: date) -> None:
        """The month's new members and the commands that only add money: deposits and raises."""
        plan, label = self.plan, f"{month:%Y-%m}"
        joining = [m for m in self.enrolments.get(index, []) if m.number not in self.member_ids]
        await self._phase(f"{label} members joining", [partial(self._enrol, m) for m in joining])
        if index == 0:
            opening = [o for o in map(self._not_imported, self.opening.values()) if o]
            units = sum(len(ops) for ops in opening)
            await self._phase(
                f"{label} balances brought forward", [partial(self._member_ops, o) for o in opening], units
            )
        ops = [o for o in map(self._not_imported, self.deposits.get(index, {}).values()) if o]
        units = sum(len(o) for o in ops)
        await self._phase(f"{label} deposits and raises", [partial(self._member_ops, o) for o in ops], units)
        if index == 0:
            consenting = [m for m in plan.members if m.consents]
            await self._phase(f"{label} consents", [partial(self._consent, m) for m in consenting])

    def _not_imported(self, ops: list[MemberOp]) -> list[MemberOp]:
        if self.history is None:
            return ops
        return [op for op in ops if (op.member, op.seq) not in self.history.ops]

    async def _month_payouts(self, index: int, month: date) -> None:
        """What takes cash out of a group (withdrawals, exits, loans), repayments and pawn tickets."""
        plan, label = self.plan, f"{month:%Y-%m}"
        ops = self.payouts.get(index, {}).values()
        units = sum(len(o) for o in ops)
        await self._phase(f"{label} withdrawals and exits", [partial(self._member_ops, o) for o in ops], units)
        loans = self.loans.get(index, [])
        units = sum(_loan_units(loan) for loan in loans)
        await self._phase(f"{label} loans", [partial(self._loan, loan) for loan in loans], units)
        repaying = self.payments.get(index, {}).values()
        units = sum(1 for loan in repaying for p in loan.payments if plan.month_index(p.paid_on) == index)
        await self._phase(f"{label} repayments", [partial(self._repay, loan, index) for loan in repaying], units)
        pawn = self.pawn.get(index, {})
        units = sum(len(a) for a in pawn.values())
        await self._phase(f"{label} pawn tickets", [partial(self._pawn, t, a) for t, a in pawn.items()], units)

    async def _close(self, month: date) -> None:
        """Close an ended month: once the ledger has posted its repayments, in every group, then the
        lending day close at its end."""
        label = f"{month:%Y-%m}"
        await self._phase(f"{label} waiting for the ledger's postings", [self._postings_drained])
        await self._phase(f"{label} month-end closes", [partial(self._close_month, g, month) for g in self.plan.groups])
        await self._phase(f"{label} day close", [partial(self._close_day, month_end(month))])

    async def _wait_until_ready(self) -> None:
        """The platform answers and its projectors hold their partitions (a fresh start takes seconds)."""
        deadline = time.monotonic() + 90
        while True:
            try:
                response = await self.client.get("/readyz")
                if response.status_code == 200:
                    return
                reason = f"/readyz answered {response.status_code}"
            except httpx.TransportError as exc:
                reason = f"nothing answers ({type(exc).__name__}); is the platform running (make run)?"
            if time.monotonic() > deadline:
                raise DemoAborted(f"the platform at {self.client.base_url} is not ready: {reason}")
            await asyncio.sleep(1)

    # --- set-up -----------------------------------------------------------------------------

    async def _products(self) -> None:
        for product in self.plan.products:
            body = product.request()
            response = await self._request(
                "POST",
                "/lending/v1/products",
                "loan product",
                body=body,
                key=product.product_id,
                expect=frozenset({409}),
            )
            assert response is not None
            if response.status_code == 409:
                # Defined by an earlier demo (another seed or scale): fine if its terms are these.
                shown = await self._get(f"/lending/v1/products/{product.product_id}", "loan product")
                if (shown["interest_method"], shown["max_term_months"], shown["guarantors_required"]) != (
                    "flat",
                    product.max_term,
                    product.guarantors,
                ):
                    raise DemoAborted(f"product {product.product_id} exists with other terms: {shown}")
        self._advance()

    async def _campaign(self) -> None:
        campaign = self.plan.campaign
        response = await self._request(
            "POST",
            "/campaign/v1/campaigns",
            "campaign",
            body=campaign.definition(),
            key="campaign",
            user=CAMPAIGN_USER,
            expect=frozenset({409}),
        )
        assert response is not None
        if response.status_code == 409:
            shown = await self._get(f"/campaign/v1/campaigns/{campaign.campaign_id}", "campaign")
            if (shown["starts_on"], shown["ends_on"]) != (campaign.starts_on.isoformat(), campaign.ends_on.isoformat()):
                raise DemoAborted(f"campaign {campaign.campaign_id} exists with another window: {shown}")
        self._advance()

    async def _import_history(self) -> None:
        """The history file through POST /ledger/v1/imports (the same key on a re-run: the same job), followed to
        its end; then the ids of what it brought in, as if the loader had made them through the API."""
        history = self.history
        assert history is not None
        started = await self.client.post(
            "/ledger/v1/imports",
            params={"file_name": "sa-kaeo-history.zip"},
            content=history.file,
            headers={"Idempotency-Key": f"{self.ns}:history", "Content-Type": "application/octet-stream"},
            timeout=300,
        )
        if started.status_code not in (200, 202):
            raise DemoAborted(f"the history import: {started.status_code} {started.text[:300]}")
        job = started.json()
        done = 0
        units = history.groups + len(history.rows) + len(history.ops)
        while job["status"] in ("queued", "importing"):
            await asyncio.sleep(0.5)
            answer = await self.client.get(job["links"]["self"])
            if answer.status_code != 200:
                raise DemoAborted(f"the history import: {answer.status_code} {answer.text[:300]}")
            job = answer.json()
            progress = job["progress"]
            if progress["events_total"]:
                now = units * progress["events_done"] // progress["events_total"]
                self._advance(now - done)
                done = now
        if job["status"] != "imported":
            problems = (job["result"] or {}).get("problems", [])[:3]
            raise DemoAborted(f"the history import was {job['status']}: {job['result'] and job['result'].get('error')}"
                              f" {problems}")  # fmt: skip
        answer = await self.client.get(job["links"]["self"], params={"ids": "true"})
        result = answer.json()["result"]
        self._advance(units - done)
        groups = {g.key: g.number for g in self.plan.groups}
        for code, group_id in result["ids"]["groups"].items():
            self.group_ids[groups[code]] = group_id
            self.group_events[groups[code]] = 2  # registered, onboarded
        by_row = {row: member for member, row in history.rows.items()}
        position = int((result.get("position") or {}).get("ledger", 0))
        for _code, row, member_id in result["ids"]["members"]:
            member = by_row[row]
            self.member_ids[member] = member_id
            self.member_numbers[member_id] = member
            self.positions[member] = max(self.positions.get(member, 0), position)
        counts = self.summary.counts
        counts["groups"] += len(result["ids"]["groups"])
        counts["members enrolled"] += len(result["ids"]["members"])
        counts["events imported"] += int(result.get("events_written") or 0)
        ops = {(op.member, op.seq): op for op in self.plan.member_ops}
        for key in history.ops:
            self._count(ops[key])

    async def _register(self, group: GroupPlan) -> None:
        body = await self._post("/ledger/v1/groups", group.request(), group.key, "group", user=group.officers[0])
        if body is None:
            raise DemoAborted(f"group {group.name} was refused")
        self.group_ids[group.number] = str(body["group_id"])
        self.group_events[group.number] = 1
        self.summary.counts["groups"] += 1
        self._advance()

    # --- members ----------------------------------------------------------------------------

    async def _enrol(self, member: MemberPlan) -> None:
        if member.number in self.member_ids:
            return  # brought in by the history import
        group = self.groups[member.group]
        body = await self._post(
            f"/ledger/v1/groups/{self.group_ids[member.group]}/members",
            member.request(),
            member.key,
            "enrolment",
            user=group.officers[0],
        )
        if body is not None:
            self.member_ids[member.number] = str(body["member_id"])
            self.member_numbers[str(body["member_id"])] = member.number
            self._saw(member.number, body)
            self.summary.counts["members enrolled"] += 1
        self._advance()

    async def _member_ops(self, ops: list[MemberOp]) -> None:
        """One member's commands of the month, in order (each is decided on the balance before it)."""
        for op in ops:
            if self.history is not None and (op.member, op.seq) in self.history.ops:
                continue  # brought in by the history import
            member_id = self.member_ids.get(op.member)
            if member_id is None:
                self.summary.counts["skipped: member not enrolled"] += 1
                self._advance()
                continue
            resource, request = op.request()
            user = self.groups[self.members[op.member].group].officers[0]
            key = f"{self.members[op.member].key}:{op.seq}"
            body = await self._post(f"/ledger/v1/members/{member_id}/{resource}", request, key, op.kind, user=user)
            if body is not None:
                self._saw(op.member, body)
                self._count(op)
            self._advance()

    def _count(self, op: MemberOp) -> None:
        counts, money = self.summary.counts, self.summary.money
        opening = op.on < self.plan.months[0]
        if op.kind == "deposit":
            what = f"{'opening ' if opening else ''}{op.account}"
            counts[f"{what} deposits"] += 1
            money[f"{what} deposited"] += op.amount
        elif op.kind == "withdrawal":
            counts["withdrawals"] += 1
            money["withdrawn"] += op.amount
        elif op.kind == "raise":
            counts["commitment raises"] += 1
        else:
            counts["members exited"] += 1
            money["paid out on exit"] += op.amount + op.special_paid_out

    async def _consent(self, member: MemberPlan) -> None:
        body = await self._post(
            f"/ledger/v1/members/{self.member_ids[member.number]}/consents",
            CONSENT | {"granted": True},
            f"{member.key}:consent",
            "consent",
            user=self.groups[member.group].officers[0],
        )
        if body is not None:
            self._saw(member.number, body)
            self.summary.counts["consents to gsb"] += 1
        self._advance()

    # --- group loans ------------------------------------------------------------------------

    async def _lending_knows(self, member: int) -> None:
        """Lending learns members from the ledger's topic: wait until it has applied the member's
        stream as far as we wrote it (savings included, which the loan limit is counted on)."""
        position = self.positions.get(member, 0)
        if self.lending_saw.get(member, -1) >= position:
            return
        await self._get(
            f"/lending/v1/members/{self.member_ids[member]}",
            "lending's view of a member",
            {"after": f"ledger:{position}"},
            waits=True,
            user=self.groups[self.members[member].group].officers[0],
        )
        self.lending_saw[member] = max(self.lending_saw.get(member, 0), position)

    async def _loan(self, loan: LoanPlan) -> None:
        group = self.groups[loan.group]
        maker, *checkers = group.officers
        people = (loan.member, *loan.guarantors)
        if any(p not in self.member_ids for p in people):
            self.summary.counts["skipped: member not enrolled"] += 1
            self._advance(_loan_units(loan))
            return
        for person in people:
            await self._lending_knows(person)
        request = loan.request(self.member_ids[loan.member], [self.member_ids[g] for g in loan.guarantors])
        applied = await self._post("/lending/v1/loans", request, loan.key, "loan application", user=maker)
        self._advance()
        if applied is None:
            self._advance(_loan_units(loan) - 1)
            return
        loan_id = str(applied["loan_id"])
        self.loan_ids[loan.key] = loan_id
        self.summary.counts["loans applied"] += 1
        url = f"/lending/v1/loans/{loan_id}"
        if loan.disbursed_on is None:
            reason = {"reason": loan.rejection_reason}
            if await self._post(f"{url}/rejections", reason, f"{loan.key}:rejection", "rejection", user=checkers[0]):
                self.summary.counts["loans rejected"] += 1
            self._advance()
            return
        for n, checker in enumerate(checkers[: loan.product.approvals], start=1):
            await self._post(f"{url}/approvals", {}, f"{loan.key}:approval:{n}", "approval", user=checker)
            self._advance()
        requested = await self._post(
            f"{url}/disbursements",
            {"disbursed_on": loan.disbursed_on.isoformat()},
            f"{loan.key}:disbursement",
            "disbursement",
            user=maker,
        )
        self._advance()
        if requested is None:
            return
        self.group_events[loan.group] += 1
        # The payout is a saga through the ledger's books: wait until the ledger has answered.
        deadline = time.monotonic() + STALL_SECONDS
        while (shown := await self._get(url, "loan", {"wait": 10}, waits=True, user=maker))["status"] == "disbursing":
            if time.monotonic() > deadline:
                break
        if shown["status"] == "active":
            self.active_loans.add(loan.key)
            self.receivable[loan.group] += loan.principal
            self.summary.counts["loans disbursed"] += 1
            self.summary.money["loans disbursed"] += loan.principal
        elif shown["status"] == "disbursing":
            raise DemoAborted(f"loan {loan_id}: the ledger has not answered its payout request in {STALL_SECONDS:g} s")
        else:
            self._refused("disbursement", str(shown.get("disbursement_failure")))

    async def _repay(self, loan: LoanPlan, index: int) -> None:
        plan = self.plan
        for payment in loan.payments:
            if plan.month_index(payment.paid_on) != index:
                continue
            if loan.key not in self.active_loans:
                self.summary.counts["skipped: loan not paid out"] += 1
                self._advance()
                continue
            body = {"amount": format_baht(payment.amount), "paid_on": payment.paid_on.isoformat()}
            answer = await self._post(
                f"/lending/v1/loans/{self.loan_ids[loan.key]}/repayments",
                body,
                f"{loan.key}:repayment:{payment.installment}",
                "repayment",
                user=self.groups[loan.group].officers[0],
            )
            self._advance()
            if answer is None:
                continue
            principal = parse_baht(answer["principal"])
            split = (principal, parse_baht(answer["interest"]), parse_baht(answer["penalty"]))
            if split != (payment.principal, payment.interest, payment.penalty):
                self.summary.counts["repayments split otherwise than planned"] += 1
                if len(self.summary.notes) < 10:
                    self.summary.notes.append(
                        f"repayment {loan.key}#{payment.installment}: planned {payment}, answered {answer}"
                    )
            self.receivable[loan.group] -= principal
            self.group_events[loan.group] += 1
            self.last_repaid = loan.group
            counts, money = self.summary.counts, self.summary.money
            counts["repayments"] += 1
            money["repaid"] += payment.amount
            money["repaid principal"] += split[0]
            money["repaid interest"] += split[1]
            money["penalties"] += split[2]

    # --- pawn tickets -----------------------------------------------------------------------

    async def _pawn(self, number: int, actions: list[PawnAction | None]) -> None:
        ticket = self.ticket_plans[number]
        user = f"pawn-{ticket.branch_code.lower()}"
        for action in actions:
            if action is None:
                await self._pledge(ticket, user)
            elif number in self.tickets:
                await self._pawn_action(ticket, action, user)
            self._advance()

    async def _pledge(self, ticket: TicketPlan, user: str) -> None:
        made = await self._post("/lending/v1/pawn/tickets", ticket.request(), ticket.key, "pawn ticket", user=user)
        if made is None:
            return
        self.tickets[ticket.number] = str(made["ticket_id"])
        self.summary.counts["pawn tickets"] += 1
        self.summary.money["pawn principal"] += ticket.principal
        if made["status"] == "awaiting_payout":
            # The bank's side confirms the transfer (PromptPay or an account) the same day.
            reference = f"PP{ticket.pledged_on:%Y%m%d}-{ticket.number:06d}"
            await self._post(
                f"/lending/v1/pawn/payouts/{made['instruction_id']}/callback",
                {"succeeded": True, "reference": reference, "on": ticket.pledged_on.isoformat()},
                f"{ticket.key}:payout",
                "pawn payout",
                user=user,
            )

    async def _pawn_action(self, ticket: TicketPlan, action: PawnAction, user: str) -> None:
        url = f"/lending/v1/pawn/tickets/{self.tickets[ticket.number]}"
        body: dict[str, Any]
        if action.kind == "sale":
            body = {"sold_on": action.on.isoformat(), "sale_price": format_baht(action.sale_price)}
            path = f"{url}/sales"
        else:
            body = {"on": action.on.isoformat()}
            path = f"{url}/{PAWN_PATHS[action.kind]}"
        answer = await self._post(
            path, body, f"{ticket.key}:{action.kind}:{action.on}", f"pawn {action.kind}", user=user
        )
        if answer is not None:
            self.summary.counts[f"pawn {action.kind}s"] += 1
            if "interest" in answer:
                self.summary.money["pawn interest"] += parse_baht(answer["interest"])

    # --- closes -----------------------------------------------------------------------------

    async def _postings_drained(self) -> None:
        """The ledger's inbox answers lending's requests one at a time, in order: once the repayment
        that completed last is posted, (nearly) all are, and each group's own check is then one read."""
        if self.last_repaid is not None:
            await self._until_posted(self.last_repaid)
        self._advance()

    async def _close_month(self, group: GroupPlan, month: date) -> None:
        group_id = self.group_ids[group.number]
        # A repayment dated in a month the ledger has closed is posted on the next open day instead:
        # close only once the group's books hold every payout and repayment so far.
        await self._until_posted(group.number)
        body = await self._post(
            f"/ledger/v1/groups/{group_id}/month-closes",
            {"month": f"{month:%Y-%m}"},
            f"{group.key}:close:{month:%Y-%m}",
            "month close",
            user=group.officers[1],
        )
        self._advance()
        if body is None:
            return
        self.summary.counts["month closes"] += 1
        self.group_events[group.number] += 1
        self.summary.counts["installments missed"] += int(body["members_missed"])
        for member_id, position in body.get("member_positions", {}).items():
            number = self.member_numbers.get(member_id)
            if number is not None:
                self.positions[number] = max(self.positions.get(number, 0), int(position["ledger"]))

    async def _until_posted(self, group: int) -> None:
        """Wait until the group's ledger stream holds every answer it owes (the group's version counts
        its events; reading it is cheap, unlike the books, which the ledger computes from every entry)."""
        wanted, seen = self.group_events[group], -1
        moved, delay = time.monotonic(), 0.5
        while True:
            officer = self.groups[group].officers[0]  # the treasurer: a few groups' each (the chair: a district's)
            shown = await self._get(f"/ledger/v1/groups/{self.group_ids[group]}", "group", user=officer)
            version = int(shown["version"])
            if version >= wanted:
                return
            if version != seen:
                seen, moved = version, time.monotonic()
            # The inbox answers in arrival order, for every group: this group's answer may sit behind
            # many others, so only a ledger that has stopped posting altogether is stuck.
            elif time.monotonic() - max(moved, await self._ledger_last_moved()) > STALL_SECONDS:
                raise DemoAborted(
                    f"group {self.group_ids[group]}: the ledger has posted {version - 1} of {wanted - 1} closes and"
                    f" lending requests, and has published nothing for {STALL_SECONDS:g} s"
                )
            await asyncio.sleep(delay)
            delay = min(3.0, delay * 1.5)

    async def _ledger_last_moved(self) -> float:
        """When the ledger last published an event (read from /readyz at most every five seconds)."""
        now = time.monotonic()
        if now - self._ledger_checked_at >= 5.0:
            self._ledger_checked_at = now
            services = (await self.client.get("/readyz")).json().get("services", {})
            checks = services.get("ledger", {}).get("checks", {})
            published = sum(int(v.get("published") or 0) for k, v in checks.items() if k.startswith("relay:"))
            if published != self._ledger_published:
                self._ledger_published, self._ledger_moved_at = published, now
        return self._ledger_moved_at

    async def _close_day(self, day: date) -> None:
        body = await self._post(
            "/lending/v1/day-closes", {"business_date": day.isoformat()}, f"day-close:{day}", "day close"
        )
        if body is not None:
            self.summary.counts["day closes"] += 1
            self.summary.counts["installments overdue"] += int(body["installments_overdue"])
        self._advance()

    # --- reporting, referrals, campaign ---------------------------------------------------

    async def _governance(self, item: GovernanceItem) -> None:
        group = self.groups[item.group]
        await self._post(
            f"/reporting/v1/groups/{self.group_ids[item.group]}/governance",
            {"item": item.item, "done": item.done, "recorded_on": item.recorded_on.isoformat()},
            f"{group.key}:governance:{item.item}",
            "governance item",
            user=group.officers[2],
        )
        self.summary.counts["governance items"] += 1
        self._advance()

    async def _settle(self) -> None:
        """Wait until relays have published everything and the projectors have gone quiet, so the
        referral feed and the figures read a complete history."""
        deadline = time.monotonic() + self.settle_timeout
        while True:
            response = await self.client.get("/readyz")
            checks = [c for s in response.json().get("services", {}).values() for c in s.get("checks", {}).items()]
            pending = sum(
                int(v.get("pending_events") or 0) for k, v in checks if k.startswith("relay:") and isinstance(v, dict)
            )
            busy = [
                k
                for k, v in checks
                if k.startswith("projector:") and isinstance(v, dict) and _recently(v.get("idle_seconds"))
            ]
            if pending == 0 and not busy:
                break
            if time.monotonic() > deadline:
                self.summary.notes.append(f"read models still busy after {self.settle_timeout:g} s: {busy[:3]}")
                break
            await asyncio.sleep(0.5)
        self._advance()

    async def _referrals(self) -> None:
        refreshed = await self._post(
            "/reporting/v1/partners/gsb/referrals/refresh",
            {"as_of": self.plan.today.isoformat()},
            f"referrals:{self.plan.today}",
            "referral refresh",
            user=CAMPAIGN_USER,
        )
        if refreshed is not None:
            self.summary.counts["referred to gsb (this run)"] += int(refreshed["referred"])
        referrals: list[str] = []
        after = 0
        while True:
            page = await self._get(
                "/reporting/v1/partners/gsb/referrals", "referral feed", {"after": after, "limit": 500}
            )
            items = page["items"]
            referrals += [i["referral_id"] for i in items if i["kind"] == "referral"]
            if len(items) < 500:
                break
            after = items[-1]["seq"]
        # GSB's answers for some of them, chosen by the seed.
        rng = random.Random(f"{self.plan.seed}:outcomes")
        outcomes = ("contacted", "approved", "loan_granted", "declined")
        for referral_id in sorted(referrals):
            outcome = rng.choices((None, *outcomes), weights=(40, 30, 12, 10, 8))[0]
            if outcome is None:
                continue
            if await self._post(
                "/reporting/v1/partners/gsb/outcomes",
                {"referral_id": referral_id, "outcome": outcome},
                f"outcome:{referral_id}",
                "referral outcome",
                user=PARTNER_USER,
            ):
                self.summary.counts["referral outcomes"] += 1
        self.summary.counts["referrals in the gsb feed"] = len(referrals)
        self._advance()

    async def _district_report(self, district: str) -> None:
        campaign = self.plan.campaign
        body = await self._post(
            f"/campaign/v1/campaigns/{campaign.campaign_id}/reports",
            {"level": "district", "code": district, "notes": campaign.notes.get(district, "")},
            f"report:{district}",
            "campaign report",
            user=f"cdd-{district}",
        )
        if body is not None:
            self.summary.counts["campaign reports"] += 1
            self.summary.counts["campaign reports late"] += int(bool(body.get("late")))
        self._advance()

    async def _province_report(self) -> None:
        campaign = self.plan.campaign
        body = await self._post(
            f"/campaign/v1/campaigns/{campaign.campaign_id}/reports",
            {"level": "province", "code": PROVINCE_CODE, "notes": "รวบรวมรายงานผลการส่งเสริมการออมระดับอำเภอ"},
            f"report:{PROVINCE_CODE}",
            "campaign report",
            user=CAMPAIGN_USER,
        )
        if body is not None:
            self.summary.counts["campaign reports"] += 1
            self.summary.counts["campaign reports late"] += int(bool(body.get("late")))
        self._advance()

    async def _figures(self) -> None:
        where = {"level": "province", "code": PROVINCE_CODE}
        figures = self.summary.figures
        figures["stats"] = await self._get("/reporting/v1/stats", "statistics", where)
        figures["portfolio"] = await self._get("/lending/v1/portfolio", "portfolio", where)
        figures["campaign"] = await self._get(
            f"/campaign/v1/campaigns/{self.plan.campaign.campaign_id}/progress", "campaign progress", where
        )
        self._advance()


def _first(group: BaseExceptionGroup[DemoAborted]) -> DemoAborted:
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


def _recently(idle_seconds: float | None) -> bool:
    """A projector that applied something within the last second is still catching up."""
    return idle_seconds is not None and idle_seconds < 1.0


def _loan_units(loan: LoanPlan) -> int:
    """Progress units of a loan: the application, each approval and the payout, or the rejection."""
    return 2 if loan.disbursed_on is None else 2 + loan.product.approvals


def _problem(response: httpx.Response) -> dict[str, Any] | None:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def load(
    client: httpx.AsyncClient,
    province: Province,
    *,
    concurrency: int = 24,
    progress: Progress | None = None,
    settle_timeout: float = 120.0,
    identify: Callable[[str], dict[str, str]] | None = None,
) -> Summary:
    """Load `province` through the platform's public APIs at `client`'s base URL."""
    loader = Loader(
        client, province, concurrency=concurrency, progress=progress, settle_timeout=settle_timeout, identify=identify
    )
    return await loader.run()
