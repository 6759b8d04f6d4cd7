"""A few trials of the seeded fault campaign (`make faults` runs many): `sajja run` as a real process, commands
sent concurrently while the runner and the database are SIGKILLed, the broker restarted empty and paused,
and records delivered again. Nothing acknowledged is lost, nothing is applied twice, every read model and the
books agree, and every unknown command settles with its key. Then the auditor is shown a lost and a doubled
command, to prove it would have seen them."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tests.faults.auditor import audit
from tests.faults.campaign import Options, Trial, run_campaign
from tests.faults.workload import Answer, Client, Command, baht

pytestmark = pytest.mark.slow

# Every fault at least once over the two trials (their moments and durations come from the seed).
SCHEDULE = (("kill-runner", "redeliver", "broker-pause"), ("kill-database", "broker-restart-empty"))


async def test_seeded_faults_lose_and_double_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("SAJJA_FAULTS_SEED", "20"))
    options = Options(seed=seed, trials=2, commands=16, window=3.0, schedule=SCHEDULE, workdir=tmp_path, parallel=2)
    checked: list[tuple[int, int, int]] = []

    async def auditor_sees_a_lost_and_a_doubled_command(trial: Trial, client: Client) -> None:
        deposit = next(c for c in trial.commands if c.kind == "deposit" and c.applied)
        # Lost: the client was told yes (201) for a deposit the platform never received.
        never_sent = Command(
            999, "deposit", deposit.path, deposit.body | {"amount": baht(deposit.amount + 1)}, "never-sent"
        )
        never_sent.member, never_sent.group, never_sent.account = deposit.member, deposit.group, deposit.account
        never_sent.amount, never_sent.on = deposit.amount + 1, deposit.on
        never_sent.answers.append(Answer(201, {"position": {"ledger": 0}}))
        # Doubled: the same deposit sent again under a new key (a client that retried without its key).
        again = await client.send(Command(998, "deposit", deposit.path, deposit.body, "a-new-key"))
        assert again.status == 201, again
        found = await audit(client, trial._setup, [*trial.commands, never_sent], timeout=1)
        checked.append((found.lost, found.doubled, found.mismatched))

    def prepare(trial: Trial) -> None:
        if trial.number == options.trials:
            trial.after_audit = auditor_sees_a_lost_and_a_doubled_command

    out = io.StringIO()
    results = await run_campaign(options, out=out, prepare=prepare)

    report = out.getvalue() + "".join(f"\n{r.number}: {r.error} {r.faults} {r.findings}" for r in results)
    assert all(r.clean for r in results), report
    struck = {line.split(": ")[0].split()[-1] for r in results for line in r.faults}
    assert struck == {kind for kinds in SCHEDULE for kind in kinds}, report
    assert all("failed" not in line for r in results for line in r.faults), report
    assert sum(r.commands for r in results) >= 32 and sum(r.acknowledged for r in results) > 0, report
    # The auditor saw the fabricated acknowledgement as lost and the repeated deposit as doubled (and the
    # balances that moved with it as mismatched).
    assert len(checked) == 1 and checked[0][0] == 1 and checked[0][1] >= 1 and checked[0][2] >= 1, checked
