"""The seeded fault campaign (`make faults SEED=… TRIALS=…`, or `python -m tests.faults.campaign`).

Each trial starts `sajja run` as a real process on a fresh data directory, sets up groups, members and a
loan product, then sends concurrent commands — deposits, withdrawals, loans through application, approval
and the payout saga, month closes; some sent twice at once — while the nemesis strikes at seeded moments
(SIGKILL of the runner or the database, the broker restarted empty or paused, records delivered again).
Then the platform is brought up cleanly, every command that got no answer is retried with its key and
body until it settles, loan chains are finished and their sagas awaited, and the auditor checks each
command against the ledger, the books, reporting, lending and the campaign's counters.

A trial's figures: commands sent; acknowledged, refused and unknown when the faults stopped (loan steps sent
after them count by their answer); in_doubt_applied (unknown ones whose retry replayed a stored answer: the
fault had cut off the answer to a committed command); lost (told yes, not applied), doubled (applied twice),
mismatched (a read model or the books disagree, or something applied though refused), stuck (never settled,
or a saga that never ended). The seed decides the set-up, the commands, their moments and the faults'
moments, kinds and lengths; what the processes make of them still depends on timing."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tests.faults.auditor import audit
from tests.faults.nemesis import Nemesis
from tests.faults.runner import Runner
from tests.faults.workload import ACKNOWLEDGED, REFUSED, UNKNOWN, Client, Command, Setup, next_step, plan, set_up

COLUMNS = (
    "trials",
    "commands",
    "acknowledged",
    "refused",
    "unknown",
    "in_doubt_applied",
    "lost",
    "doubled",
    "mismatched",
    "stuck",
)


@dataclass
class TrialResult:
    number: int
    seed: str
    commands: int = 0
    acknowledged: int = 0
    refused: int = 0
    unknown: int = 0
    # Unknown commands whose settling retry was the stored first answer: applied before the fault cut it off.
    in_doubt_applied: int = 0
    lost: int = 0
    doubled: int = 0
    mismatched: int = 0
    stuck: int = 0
    seconds: float = 0.0
    faults: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds spent in each phase
    answers: Counter[str] = field(default_factory=Counter)  # "kind status" of every answer, for --verbose
    findings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def clean(self) -> bool:
        return self.error is None and not (self.lost or self.doubled or self.mismatched or self.stuck)


@dataclass
class Options:
    seed: int = 1
    trials: int = 5
    commands: int = 30
    groups: int = 2
    members: int = 3
    concurrency: int = 8
    window: float = 8.0  # seconds over which commands start
    faults: tuple[int, int] = (1, 3)  # how many faults a trial (seeded within these bounds)
    # Or the faults each trial deals, by name (cycled over the trials), at seeded moments.
    schedule: tuple[tuple[str, ...], ...] = ()
    workdir: Path | None = None
    keep: bool = False  # keep every trial's data directory, not only failing ones
    verbose: bool = False  # each trial's faults as they struck, and where its time went
    parallel: int = 1  # trials at a time, each with its own platform
    only: int | None = None  # run just this trial of the seed (to look again at one that found something)


class Trial:
    def __init__(self, options: Options, number: int, workdir: Path) -> None:
        self.options = options
        self.number = number
        self.seed = f"{options.seed}:{number}"
        # One generator per concern, so what the seed decides does not hang on timing: the set-up and the
        # commands; the faults' moments, kinds and lengths; which loan steps are sent twice.
        self.rng = random.Random(f"{self.seed}:plan")
        self.nemesis_rng = random.Random(f"{self.seed}:nemesis")
        self.data_dir = workdir / f"trial-{number:04d}"
        self.runner = Runner(self.data_dir, workdir / f"trial-{number:04d}.log")
        self.commands: list[Command] = []
        self.key_prefix = f"faults-{options.seed}-{number}"
        self._setup = Setup([], {}, "")
        # Called after the audit while the platform still runs (the tests use it to prove the auditor can fail).
        self.after_audit: Callable[[Trial, Client], Awaitable[None]] | None = None

    def _next_index(self) -> int:
        return len(self.commands)

    async def _send(self, client: Client, command: Command) -> None:
        if command.twin:
            answers = await asyncio.gather(client.send(command), client.send(command))
            # An acknowledged answer counts over a concurrent twin's refusal ("in progress"), whatever the order.
            command.answers.extend(sorted(answers, key=lambda a: a.outcome == ACKNOWLEDGED))
        else:
            command.answers.append(await client.send(command))

    async def _chain(self, client: Client, command: Command) -> None:
        """Send a command; after an acknowledged loan step, its next one."""
        await self._send(client, command)
        while command.answers[-1].outcome == ACKNOWLEDGED and command.kind != "loan-disburse":
            step = next_step(command, self._next_index(), self.key_prefix)
            if step is None:
                return
            if command.kind == "loan-apply":
                command.loan = step.loan
            step.twin = random.Random(f"{self.seed}:twin:{step.index}").random() < 0.15
            self.commands.append(step)
            await self._send(client, step)
            command = step

    async def chaos(self, client: Client) -> list[str]:
        """The commands at their seeded moments, with the nemesis striking meanwhile."""
        planned = plan(self.rng, self._setup, self.options.commands, self.key_prefix)
        self.commands.extend(planned)
        offsets = [self.rng.uniform(0, self.options.window) for _ in planned]
        low, high = self.options.faults
        kinds = self.options.schedule[(self.number - 1) % len(self.options.schedule)] if self.options.schedule else None
        count = self.nemesis_rng.randint(low, high)
        nemesis = Nemesis.planned(self.runner, self.nemesis_rng, self.options.window, count, kinds)
        nemesis.inflight = lambda: client.inflight
        gate = asyncio.Semaphore(self.options.concurrency)
        started = time.monotonic()

        async def one(command: Command, offset: float) -> None:
            await asyncio.sleep(offset)
            async with gate:
                await self._chain(client, command)

        await asyncio.gather(nemesis.run(started), *(one(c, o) for c, o in zip(planned, offsets, strict=True)))
        for command in self.commands:
            command.chaos_outcome = (
                (command.final.outcome if command.final else UNKNOWN) if command.answers else UNKNOWN
            )
        return nemesis.log

    async def recover(self) -> None:
        """Bring the platform up cleanly: a broker resumed, a database that died means a runner restart."""
        runner = self.runner
        runner.resume_broker()
        if not runner.alive() or not runner.database_alive() or runner.broker() is None:
            runner.kill()
            await runner.start()
        elif not await runner.ready(30):
            runner.kill()
            await runner.start()

    async def settle(self, client: Client) -> None:
        """Retry each unknown command with its key and body until it answers; finish loan chains; await sagas."""
        deadline = time.monotonic() + 120
        while True:
            pending = [c for c in self.commands if c.final is None]
            if not pending or time.monotonic() > deadline:
                break
            for command in pending:
                command.answers.append(await client.send(command))
            if any(c.final is None for c in pending):
                await asyncio.sleep(0.5)
        # Chains cut short by a fault go on from their last acknowledged step.
        for command in list(self.commands):
            if command.chain >= 0 and command.applied and command.kind != "loan-disburse":
                successor = any(c.chain == command.chain and _after(c.kind, command.kind) for c in self.commands)
                if not successor:
                    await self._chain_after(client, command)
        # Every payout saga ends within 90 s of the platform's recovery, or is stuck (the auditor says which).
        sagas_end = time.monotonic() + 90
        for command in self.commands:
            if command.kind == "loan-disburse" and command.applied:
                while time.monotonic() < sagas_end:
                    loan = await client.get(f"/lending/v1/loans/{command.loan}", timeout=20, wait=10)
                    if loan.status_code == 200 and loan.json()["status"] != "disbursing":
                        break

    async def _chain_after(self, client: Client, done: Command) -> None:
        step = next_step(done, self._next_index(), self.key_prefix)
        if step is None:
            return
        if done.kind == "loan-apply":
            done.loan = step.loan
        self.commands.append(step)
        for _ in range(240):
            step.answers.append(await client.send(step))
            if step.final is not None:
                break
            await asyncio.sleep(0.5)
        step.chaos_outcome = step.final.outcome if step.final else UNKNOWN  # sent after the faults
        if step.applied:
            await self._chain_after(client, step)

    async def run(self) -> TrialResult:
        result = TrialResult(self.number, self.seed)
        began = time.monotonic()
        client: Client | None = None
        mark = began

        def phase(name: str) -> None:
            nonlocal mark
            now = time.monotonic()
            result.phases[name] = round(now - mark, 1)
            mark = now

        try:
            await self.runner.start()
            phase("start")
            client = Client(self.runner.url, self.runner.signing_key(), timeout=10)
            self._setup = await set_up(client, self.rng, self.options.groups, self.options.members)
            phase("setup")
            result.faults = await self.chaos(client)
            phase("chaos")
            await self.recover()
            phase("recover")
            await self.settle(client)
            phase("settle")
            found = await audit(client, self._setup, self.commands)
            phase("audit")
            if self.after_audit is not None:
                await self.after_audit(self, client)
            result.lost, result.doubled, result.mismatched, result.stuck = (
                found.lost,
                found.doubled,
                found.mismatched,
                found.stuck,
            )
            result.findings = found.findings
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        finally:
            if client is not None:
                await client.close()
            self.runner.stop()
            phase("stop")
        result.commands = len(self.commands)
        result.answers = Counter(f"{c.kind} {a.status or a.error}" for c in self.commands for a in c.answers)
        chaos = Counter(c.chaos_outcome for c in self.commands)
        result.acknowledged = chaos[ACKNOWLEDGED]
        result.refused = chaos[REFUSED]
        result.unknown = chaos[UNKNOWN]
        result.in_doubt_applied = sum(
            1 for c in self.commands if c.chaos_outcome == UNKNOWN and c.final is not None and c.final.replayed
        )
        result.seconds = time.monotonic() - began
        if result.clean and not self.options.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.runner.log_path.unlink()
        return result


def _after(kind: str, than: str) -> bool:
    order = ("loan-apply", "loan-approve", "loan-disburse")
    return kind in order and than in order and order.index(kind) == order.index(than) + 1


def progress_line(r: TrialResult) -> str:
    state = "ok" if r.clean else ("ERROR " + (r.error or "") if r.error else "FOUND")
    return (
        f"trial {r.number:4d} seed {r.seed:>9} {r.seconds:5.1f}s  commands {r.commands:3d} "
        f"ack {r.acknowledged:3d} refused {r.refused:3d} unknown {r.unknown:3d} (applied {r.in_doubt_applied})  "
        f"lost {r.lost} doubled {r.doubled} mismatched {r.mismatched} stuck {r.stuck}  {state}  "
        f"[{'; '.join(f.split(': ')[0].strip() for f in r.faults)}]"
    )


def summary(results: list[TrialResult]) -> dict[str, int]:
    totals = {name: sum(getattr(r, name) for r in results) for name in COLUMNS[1:]}
    return {"trials": len(results)} | totals | {"errors": sum(1 for r in results if r.error)}


def table(totals: dict[str, int]) -> str:
    names = list(totals)
    widths = [max(len(n), len(str(totals[n]))) for n in names]
    head = "  ".join(n.rjust(w) for n, w in zip(names, widths, strict=True))
    row = "  ".join(str(totals[n]).rjust(w) for n, w in zip(names, widths, strict=True))
    return f"{head}\n{row}"


async def run_campaign(
    options: Options, out: TextIO = sys.stdout, prepare: Callable[[Trial], None] | None = None
) -> list[TrialResult]:
    """Run the trials (`options.parallel` at a time, each its own platform), printing a line as each ends and
    then the totals; `prepare` may set a trial's hooks."""
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="sajja-faults-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[TrialResult] = []
    report = workdir / "findings.txt"
    gate = asyncio.Semaphore(max(1, options.parallel))

    async def one(number: int) -> None:
        async with gate:
            trial = Trial(options, number, workdir)
            if prepare is not None:
                prepare(trial)
            result = await trial.run()
        results.append(result)
        print(progress_line(result), file=out, flush=True)
        if options.verbose:
            details = [
                *result.faults,
                " ".join(f"{k} {v}s" for k, v in result.phases.items()),
                ", ".join(f"{k}: {n}" for k, n in sorted(result.answers.items())),
            ]
            print("".join(f"      {line}\n" for line in details), end="", file=out, flush=True)
        if not result.clean:
            with report.open("a") as f:
                f.write(f"== trial {result.number} (seed {result.seed}) error={result.error}\n")
                f.write("faults:\n" + "".join(f"  {line}\n" for line in result.faults))
                f.write("findings:\n" + "".join(f"  {line}\n" for line in result.findings) + "\n")

    numbers = [options.only] if options.only else range(1, options.trials + 1)
    try:
        await asyncio.gather(*(one(n) for n in numbers))
    except asyncio.CancelledError:
        print(table(summary(sorted(results, key=lambda r: r.number))), file=out, flush=True)  # so far
        raise
    results.sort(key=lambda r: r.number)
    print(table(summary(results)), file=out, flush=True)
    if any(not r.clean for r in results):
        print(f"details: {report} (data directories of failing trials kept in {workdir})", file=out, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--commands", type=int, default=30, help="planned commands a trial (loan chains add steps)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--window", type=float, default=8.0, help="seconds over which a trial's commands start")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep every trial's data directory")
    parser.add_argument("--parallel", type=int, default=1, help="trials at a time (each its own platform)")
    parser.add_argument("--only", type=int, default=None, help="run only this trial of the seed")
    parser.add_argument("--verbose", action="store_true", help="faults as they struck, and each phase's seconds")
    args = parser.parse_args(argv)
    options = Options(
        seed=args.seed,
        trials=args.trials,
        commands=args.commands,
        concurrency=args.concurrency,
        window=args.window,
        workdir=args.workdir,
        keep=args.keep,
        verbose=args.verbose,
        parallel=args.parallel,
        only=args.only,
    )
    try:
        results = asyncio.run(_until_stopped(run_campaign(options)))
    except asyncio.CancelledError:
        print("stopped: the trials that ended are above", file=sys.stderr)
        return 130
    return 0 if all(r.clean for r in results) else 1


async def _until_stopped(work: Coroutine[Any, Any, list[TrialResult]]) -> list[TrialResult]:
    """Run the campaign; Ctrl-C or SIGTERM (a background `make`'s shell ignores SIGINT) stops it, and each
    trial's clean-up stops its runner and servers."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    return await task


if __name__ == "__main__":
    sys.exit(main())
