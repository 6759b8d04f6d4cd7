"""Import jobs: an uploaded file is checked, planned and written in bulk by the ledger's import worker.

A job is a row in `ledger.imports` (the upload with it, until done). The worker takes one job at a time under
a session advisory lock, so a job whose process died is taken up again by the next worker to look (an import
is idempotent: what was written stays, the rest follows). Reading the file and planning its events run in a
thread, never on the event loop. Events go in with COPY (EventStore.append_bulk: expected versions and the
relay's no-gap rule kept), a chunk of groups per transaction, with the members' register rows beside them. The
cyclic collector pauses while a job runs (see _cycles_uncollected)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg

from libs.auth.principal import Place, Principal
from libs.events.envelope import Actor, today_in_thailand
from libs.events.errors import ConcurrencyConflict
from libs.events.registry import REGISTRY
from libs.events.store import EventStore, PreparedEvent, StreamAppend
from services.ledger import domain
from services.ledger.onboarding import workbook
from services.ledger.onboarding.plan import (
    Existing,
    ExistingGroup,
    ExistingMember,
    Plan,
    RegisterRow,
    group_id_for,
    loan_id_for,
    loan_stream,
    national_id_hashes,
    opening_day_problems,
    plan_import,
)
from services.ledger.onboarding.rows import ImportFile, RowProblem

log = logging.getLogger("sajja.imports")

# Events per transaction: large enough for COPY to pay, small enough that progress moves.
CHUNK_EVENTS = 20_000
_JOB_LOCK = "hashtextextended('ledger.import:' || $1::text, 0)"
_MONTH_CLOSE_LOCK = "select pg_advisory_xact_lock_shared(hashtextextended('ledger.month-close:' || $1::text, 0))"


@dataclass(frozen=True)
class Scope:
    """Who asked, and where they work (the file's groups must lie there)."""

    subject: str
    kind: str
    role: str | None
    province_code: str | None
    district_code: str | None

    @classmethod
    def of(cls, principal: Principal) -> Scope:
        return cls(principal.subject, principal.kind, principal.role, principal.province_code, principal.district_code)

    def principal(self) -> Principal:
        return Principal(
            self.subject,
            self.kind,  # type: ignore[arg-type]
            role=self.role,
            province_code=self.province_code,
            district_code=self.district_code,
        )


async def submit(
    pool: asyncpg.Pool, scope: Scope, key: str, file_name: str, body: bytes, good_groups_only: bool
) -> tuple[uuid.UUID, bool]:
    """Queue a job (or find the one this key already queued); returns its id and whether it is new."""
    import_id = uuid.uuid4()
    row = await pool.fetchrow(
        """insert into ledger.imports (import_id, idempotency_key, requested_by, scope, file_name, file_sha256,
                                       good_groups_only, source)
           values ($1, $2, $3, $4::jsonb, $5, $6, $7, $8)
           on conflict (requested_by, idempotency_key) do nothing
           returning import_id""",
        import_id,
        key,
        scope.subject,
        json.dumps(asdict(scope)),
        file_name,
        hashlib.sha256(body).hexdigest(),
        good_groups_only,
        body,
    )
    if row is not None:
        await pool.execute("select pg_notify('ledger_imports', $1)", str(import_id))
        return import_id, True
    found = await pool.fetchval(
        "select import_id from ledger.imports where requested_by = $1 and idempotency_key = $2", scope.subject, key
    )
    return found, False


async def status(pool: asyncpg.Pool, import_id: uuid.UUID) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        """select import_id, requested_by, file_name, file_sha256, good_groups_only, status, events_total,
                  events_done, result::text as result, report is not null as has_report, created_at, finished_at
           from ledger.imports where import_id = $1""",
        import_id,
    )
    if row is None:
        return None
    answer = dict(row)
    answer["result"] = json.loads(row["result"]) if row["result"] else None
    return answer


async def report(pool: asyncpg.Pool, import_id: uuid.UUID) -> bytes | None:
    return await pool.fetchval("select report from ledger.imports where import_id = $1", import_id)  # type: ignore[no-any-return]


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextlib.contextmanager
def _cycles_uncollected() -> Iterator[None]:
    """No cyclic garbage collection while a job runs. Reading, planning and writing a file make millions of
    objects that live until the job ends, and each time the heap grew by a quarter the collector walked all of
    it: those walks took more than half the job's CPU (a province: 5.4 of 8 s of reading, planning and
    preparing, and most of what the event loop spent writing), and each held the process's event loop. The rows
    are not garbage; reference counting frees what is, and the collector runs again once the job is done.
    Process-wide, counted (jobs side by side), and left as it was found."""
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


class ImportWorker:
    """Runs queued jobs, one at a time per process; wakes on NOTIFY, and looks every few seconds."""

    def __init__(self, pool: asyncpg.Pool, store: EventStore, hash_key: str, chunk_events: int = CHUNK_EVENTS):
        self.pool = pool
        self.store = store
        # Loans carried over are lending's: written to its store beside the ledger's side (one database).
        self.lending_store = EventStore("lending")
        self.hash_key = hash_key
        self.chunk_events = chunk_events
        self._wake = asyncio.Event()

    def __repr__(self) -> str:
        return "ImportWorker"

    async def run(self) -> None:
        listener = await self.pool.acquire()

        def wake(*_: object) -> None:
            self._wake.set()

        try:
            await listener.add_listener("ledger_imports", wake)
            while True:
                while await self.run_one():
                    pass
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=5.0)
        finally:
            with contextlib.suppress(Exception):
                await listener.remove_listener("ledger_imports", wake)
            await self.pool.release(listener)

    async def run_one(self) -> bool:
        """Take one waiting job (queued, or importing with nobody holding it) and run it; False if none."""
        waiting = await self.pool.fetch(
            "select import_id from ledger.imports where status in ('queued', 'importing') order by created_at"
        )
        for row in waiting:
            async with self.pool.acquire() as holder:
                if not await holder.fetchval(f"select pg_try_advisory_lock({_JOB_LOCK})", str(row["import_id"])):
                    continue  # another worker runs it
                try:
                    await self._run(row["import_id"])
                finally:
                    await holder.execute(f"select pg_advisory_unlock({_JOB_LOCK})", str(row["import_id"]))
                return True
        return False

    async def _run(self, import_id: uuid.UUID) -> None:
        job = await self.pool.fetchrow(
            "select status, scope::text as scope, file_name, good_groups_only, source from ledger.imports"
            " where import_id = $1",
            import_id,
        )
        if job is None or job["status"] not in ("queued", "importing") or job["source"] is None:
            return
        await self.pool.execute("update ledger.imports set status = 'importing' where import_id = $1", import_id)
        scope = Scope(**json.loads(job["scope"]))
        try:
            outcome = await self.execute(import_id, job["file_name"], job["source"], scope, job["good_groups_only"])
        except Exception as exc:  # the job says what went wrong; the worker goes on to the next
            log.exception("import %s failed", import_id)
            outcome = Outcome("failed", {"error": f"{type(exc).__name__}: {exc}"}, None)
        await self.pool.execute(
            """update ledger.imports set status = $2, result = $3::jsonb, report = $4, source = null,
                      finished_at = now() where import_id = $1""",
            import_id,
            outcome.status,
            json.dumps(outcome.result),
            outcome.report,
        )

    async def execute(
        self, import_id: uuid.UUID, file_name: str, source: bytes, scope: Scope, good_groups_only: bool
    ) -> Outcome:
        with _cycles_uncollected():
            return await self._execute(import_id, file_name, source, scope, good_groups_only)

    async def _execute(
        self, import_id: uuid.UUID, file_name: str, source: bytes, scope: Scope, good_groups_only: bool
    ) -> Outcome:
        started = time.monotonic()
        today = today_in_thailand()
        suffix = Path(file_name).suffix.lower() or ".xlsx"
        with tempfile.TemporaryDirectory(prefix="sajja-import-") as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(source)
            found = await asyncio.to_thread(workbook.read_file, path, today=today)
            found = replace(found, name=file_name)
            found.problems += [_located(p) for p in opening_day_problems(found)]
            found.problems += _outside_scope(found, scope.principal())
            plan: Plan | None = None
            if _accepts(found, good_groups_only):
                chosen = _good_groups(found) if good_groups_only else found
                existing = await self._existing(chosen)
                hashes = await asyncio.to_thread(national_id_hashes, chosen, self.hash_key)
                actor = Actor(kind="user", id=scope.subject)
                plan = await asyncio.to_thread(plan_import, chosen, existing, hashes, actor)
                found.problems += [_located(p) for p in plan.problems]
                if plan.problems and good_groups_only:
                    chosen = _good_groups(found)
                    plan = await asyncio.to_thread(plan_import, chosen, existing, hashes, actor)
                    found.problems += [q for q in map(_located, plan.problems) if q not in found.problems]
            summary = _summary(found, plan)
            if plan is None or not _accepts(found, good_groups_only) or plan.problems:
                report_bytes = await asyncio.to_thread(_report, found, path)
                return Outcome("refused", summary | {"seconds": round(time.monotonic() - started, 3)}, report_bytes)
            written, positions = await self._write(import_id, plan)
            refused_rows = await asyncio.to_thread(_report, found, path) if found.problems else None
        seconds = time.monotonic() - started
        summary |= {
            "events_written": written,
            "seconds": round(seconds, 3),
            "events_per_second": round(written / seconds) if seconds else None,
            # Reads that must show the import: ?after=ledger:N (and lending:M for its loans).
            "position": positions or None,
        }
        return Outcome("imported", summary, refused_rows)

    async def _existing(self, found: ImportFile) -> Existing:
        group_ids = [group_id_for(g) for g in found.groups]
        groups: dict[uuid.UUID, ExistingGroup] = {}
        async with self.pool.acquire() as conn:
            known = await conn.fetch(
                "select distinct stream_id from ledger.events where stream_id = any($1::text[])",
                [domain.group_stream(g) for g in group_ids],
            )
            for row in known:
                group_id = uuid.UUID(row["stream_id"].removeprefix("group-"))
                group = domain.group_from_events(
                    (REGISTRY.parse_event(e), e.stream_version)
                    for e in await self.store.read_stream(conn, row["stream_id"])
                )
                if group is not None:
                    groups[group_id] = ExistingGroup(group.version, group.closed_through)
            enrolled = await conn.fetch(
                "select member_id, group_id, national_id_hash from ledger.member_register where group_id = any($1)",
                list(groups),
            )
            streams: dict[str, list[Any]] = {}
            for first in range(0, len(enrolled), 1000):  # a thousand members' streams a round trip
                batch = [domain.member_stream(r["member_id"]) for r in enrolled[first : first + 1000]]
                streams |= await self.store.read_streams(conn, batch)
            members = await asyncio.to_thread(_fold_members, enrolled, streams)  # CPU: off the event loop
            by_code = {g.group_code: group_id_for(g) for g in found.groups}
            loan_streams = [
                loan_stream(loan_id_for(by_code[loan.group_code], loan.contract_no))
                for loan in found.loans
                if loan.group_code in by_code
            ]
            held = await conn.fetch(
                "select distinct stream_id from lending.events where stream_id = any($1::text[])", loan_streams
            )
        opened = frozenset(uuid.UUID(r["stream_id"].removeprefix("loan-")) for r in held)
        return Existing(groups, members, opened)

    async def _write(self, import_id: uuid.UUID, plan: Plan) -> tuple[int, dict[str, int]]:
        """The plan's appends in chunks (never splitting a stream), each chunk with its register rows in one
        transaction; progress after each. Returns the events written and the highest position written in each
        store (for reads with ?after=ledger:N,lending:M)."""
        register = {domain.member_stream(r.member_id): r for r in plan.register}
        await self.pool.execute(
            "update ledger.imports set events_total = $2 where import_id = $1", import_id, plan.events
        )
        # Each loan carried over goes in with its borrower's ledger events (one transaction: the receivable in the
        # books and the loan in lending, or neither); any left (their ledger side already in) with the last chunk.
        loans_of: dict[str, list[StreamAppend]] = {}
        for loan in plan.lending_appends:
            borrower = domain.member_stream(loan.events[0].payload.member_id)  # type: ignore[attr-defined]
            loans_of.setdefault(borrower, []).append(loan)
        chunks = _chunks(plan.appends, self.chunk_events) or [[]]
        work: list[tuple[list[StreamAppend], list[StreamAppend]]] = []
        for n, chunk in enumerate(chunks):
            lending_chunk = [loan for a in chunk for loan in loans_of.pop(a.stream_id, [])]
            if n == len(chunks) - 1:
                lending_chunk += [loan for loans in loans_of.values() for loan in loans]
            work.append((chunk, lending_chunk))

        written = 0
        positions: dict[str, int] = {}
        for chunk, lending_chunk in work:
            # Prepared (numbered, serialised: CPU) in a thread. Preparing the next chunk while one was written
            # gained nothing here: the GIL is the bound, and the COPY's own encoding waited on it.
            prepared = await asyncio.to_thread(self.store.prepare, chunk)
            prepared_loans = await asyncio.to_thread(self.lending_store.prepare, lending_chunk)
            written += await self._write_chunk(import_id, chunk, prepared, prepared_loans, register, positions)
        return written, positions

    async def _write_chunk(
        self,
        import_id: uuid.UUID,
        chunk: list[StreamAppend],
        prepared: list[PreparedEvent],
        prepared_loans: list[PreparedEvent],
        register: dict[str, RegisterRow],
        positions: dict[str, int],
    ) -> int:
        """One chunk's events, the loans carried over with them and their members' register rows, in one
        transaction; returns the events written, and raises each store's highest position in `positions`."""
        rows = [register[a.stream_id] for a in chunk if a.stream_id in register]
        groups = sorted({str(r.group_id) for r in rows})
        async with self.pool.acquire() as conn, conn.transaction():
            for group in groups:  # no month-end close of these groups while their members come in
                await conn.execute(_MONTH_CLOSE_LOCK, group)
            try:
                appended = await self.store.append_bulk(conn, prepared)
                if prepared_loans:
                    opened = await self.lending_store.append_bulk(conn, prepared_loans)
                    positions["lending"] = max(positions.get("lending", 0), opened.last_position)
            except ConcurrencyConflict as exc:
                raise ImportConflict(
                    f"{exc.stream_id} changed while this file was being imported; import the file again"
                    " (what is already in stays, only the rest is added)"
                ) from None
            await conn.copy_records_to_table(
                "member_register",
                schema_name="ledger",
                columns=[
                    "member_id",
                    "group_id",
                    "national_id_hash",
                    "national_id",
                    "full_name",
                    "phone",
                    "no_registration_status",
                    "joined_on",
                ],
                records=[
                    (
                        r.member_id,
                        r.group_id,
                        r.national_id_hash,
                        r.national_id,
                        r.full_name,
                        r.phone,
                        r.no_registration_status,
                        r.joined_on,
                    )
                    for r in rows
                ],
            )
            await conn.execute(
                "update ledger.imports set events_done = events_done + $2 where import_id = $1",
                import_id,
                len(prepared) + len(prepared_loans),
            )
        await self.store.notify(self.pool)
        if prepared_loans:
            await self.lending_store.notify(self.pool)
        if prepared:
            positions["ledger"] = max(positions.get("ledger", 0), appended.last_position)
        return len(prepared) + len(prepared_loans)


def _fold_members(
    enrolled: list[asyncpg.Record], streams: dict[str, list[Any]]
) -> dict[tuple[uuid.UUID, str], ExistingMember]:
    """What the store holds of each enrolled member: version, balances, transactions and loans recorded."""
    members: dict[tuple[uuid.UUID, str], ExistingMember] = {}
    for row in enrolled:
        events = streams.get(domain.member_stream(row["member_id"]), [])
        member = domain.member_from_events((REGISTRY.parse_event(e), e.stream_version) for e in events)
        if member is None:
            continue
        transactions = frozenset(
            uuid.UUID(e.payload["transaction_id"]) for e in events if "transaction_id" in e.payload
        )
        loans = frozenset(
            uuid.UUID(e.payload["loan_id"]) for e in events if e.event_type == "ledger.OpeningLoanRecorded"
        )
        members[(row["group_id"], row["national_id_hash"])] = ExistingMember(
            member.member_id, member.version, dict(member.balances), transactions, loans
        )
    return members


class ImportConflict(Exception):
    """A stream moved on while the import wrote it: the job fails, and the same file can be imported again."""


@dataclass(frozen=True)
class Outcome:
    status: str
    result: dict[str, Any]
    report: bytes | None


def _chunks(appends: list[StreamAppend], size: int) -> list[list[StreamAppend]]:
    chunks: list[list[StreamAppend]] = [[]]
    count = 0
    for a in appends:
        if count >= size:
            chunks.append([])
            count = 0
        chunks[-1].append(a)
        count += len(a.events)
    return [c for c in chunks if c]


def _accepts(found: ImportFile, good_groups_only: bool) -> bool:
    """No problem at all; or, asked for the good groups alone, no problem with the file as a whole."""
    if not found.problems:
        return True
    return good_groups_only and all(p.group_code is not None for p in found.problems)


def _good_groups(found: ImportFile) -> ImportFile:
    bad = found.groups_with_problems
    return ImportFile(
        found.name,
        [g for g in found.groups if g.group_code not in bad],
        [m for m in found.members if m.group_code not in bad],
        [d for d in found.deposits if d.group_code not in bad],
        list(found.problems),
        [loan for loan in found.loans if loan.group_code not in bad],
    )


def _located(problem: RowProblem) -> RowProblem:
    """A problem found after reading (plan.py names sheets and columns by key), as the file's report shows it."""
    if problem.sheet not in ("groups", "members", "deposits"):
        return problem
    key = problem.sheet
    field = workbook.heading(key, problem.field) if problem.field else None  # type: ignore[arg-type]
    return replace(problem, sheet=workbook.sheet_name(key), field=field)  # type: ignore[arg-type]


def _outside_scope(found: ImportFile, principal: Principal) -> list[RowProblem]:
    return [
        RowProblem(
            found.name,
            workbook.sheet_name("groups"),
            g.sheet_row,
            workbook.heading("groups", "district_code"),
            "กลุ่มนี้ไม่อยู่ในพื้นที่ของคุณ",
            "this group is not in your area",
            g.group_code,
        )
        for g in found.groups
        if not principal.covers(Place(g.province_code, g.district_code))
    ]


def _summary(found: ImportFile, plan: Plan | None) -> dict[str, Any]:
    refused_groups = sorted(found.groups_with_problems)
    summary: dict[str, Any] = {
        "rows": {
            "groups": len(found.groups),
            "members": len(found.members),
            "deposits": len(found.deposits),
            "loans": len(found.loans),
        },
        "problems": workbook.report_rows(found),
        "groups_refused": refused_groups,
    }
    if plan is not None:
        summary["new"] = {
            "groups": plan.groups,
            "members": plan.members,
            "opening_balances": plan.opening_balances,
            "deposits": plan.deposits,
            "loans": plan.loans,
            "events": plan.events,
        }
        # Which id each of the file's groups and members has (their codes and rows: no personal data), for a
        # client that goes on through the API (the demo).
        summary["ids"] = {
            "groups": {code: str(group_id) for code, group_id in plan.group_ids.items()},
            "members": [[code, row, str(member_id)] for code, row, member_id in plan.member_ids],
        }
        summary["already_imported"] = {
            "groups": plan.groups_already,
            "members": plan.members_already,
            "deposits": plan.deposits_already,
            "loans": plan.loans_already,
        }
    return summary


def _report(found: ImportFile, source: Path) -> bytes:
    out = source.with_name("report.xlsx")
    workbook.write_report(found, source, out)
    return out.read_bytes()
