"""A projector's batches: the next is fetched and decoded while the one before is in its transaction, but they are
applied one at a time, in order, and a failed one stops everything after it."""

from __future__ import annotations

import asyncio

import pytest

from libs.events.projector import BatchPipeline


def test_batches_apply_one_at_a_time_in_order_while_the_caller_goes_on() -> None:
    async def scenario() -> tuple[list[str], int]:
        log: list[str] = []
        running = 0
        most = 0

        async def apply(n: int) -> None:
            nonlocal running, most
            running += 1
            most = max(most, running)
            log.append(f"start {n}")
            await asyncio.sleep(0.01 * (3 - n % 3))  # later batches would finish first if run side by side
            log.append(f"end {n}")
            running -= 1

        pipeline = BatchPipeline()
        for n in range(6):
            await pipeline.then(apply(n))
            log.append(f"decoding after {n}")  # the caller's own work, while batch n is in flight
        await pipeline.finish()
        return log, most

    log, most = asyncio.run(scenario())
    assert most == 1
    assert [e for e in log if e.startswith("end")] == [f"end {n}" for n in range(6)]
    # The caller ran on while a batch was in flight: batch n's end comes after the caller's work that followed it.
    assert log.index("decoding after 0") < log.index("end 0")


def test_a_failed_batch_fails_the_next_step_and_nothing_after_it_runs() -> None:
    async def scenario() -> list[int]:
        applied: list[int] = []

        async def apply(n: int) -> None:
            await asyncio.sleep(0)
            if n == 1:
                raise RuntimeError("batch 1 failed")
            applied.append(n)

        pipeline = BatchPipeline()
        await pipeline.then(apply(0))
        await pipeline.then(apply(1))
        with pytest.raises(RuntimeError, match="batch 1 failed"):
            await pipeline.then(apply(2))
        await pipeline.close()
        return applied

    assert asyncio.run(scenario()) == [0]


def test_closing_cancels_the_batch_in_flight_and_waits_for_it() -> None:
    async def scenario() -> tuple[bool, bool]:
        started = asyncio.Event()
        cleaned = False

        async def apply() -> None:
            nonlocal cleaned
            started.set()
            try:
                await asyncio.sleep(10)
            finally:
                cleaned = True  # a transaction's rollback

        pipeline = BatchPipeline()
        await pipeline.then(apply())
        await started.wait()
        await pipeline.close()
        return cleaned, pipeline._in_flight is None  # noqa: SLF001

    assert asyncio.run(scenario()) == (True, True)
