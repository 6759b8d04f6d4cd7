"""Password and secret hashing (argon2id) off the event loop, in a small bounded pool.

One argon2 verification costs about 150 ms of CPU and 64 MiB. Run on the event loop, a hundred failed
sign-ins froze every route of the process for seconds. Here the work runs in worker threads (argon2's C
code releases the GIL), at most `workers` at a time, with at most `queue` more waiting: past that the
caller is told to come back shortly (503) instead of adding to a queue an attacker could grow forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher()


class PasswordWorkBusy(Exception):
    """Too many hashes are running or waiting: ask again in a moment."""


def verify_sync(stored: str, secret: str) -> bool:
    try:
        return HASHER.verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False


def _yield_to_the_event_loop() -> None:
    """Worker threads (and the lanes argon2 starts from them) run at a lower priority: when the CPU is
    short, requests are served first and sign-ins wait (Linux sets niceness per thread)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class PasswordWork:
    def __init__(self, workers: int = 1, queue: int = 16) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="argon2", initializer=_yield_to_the_event_loop
        )
        # Running plus waiting: the bound on what the pool will hold.
        self._slots = workers + queue
        self._held = 0
        # Verified against when a user or client does not exist, so timing does not tell who has an account.
        self._decoy = HASHER.hash(secrets.token_urlsafe(16))

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """A place in the pool, taken before the work's own preparation (a sign-in's lookup of its user) and
        used by `verify(..., in_slot=True)`: what the pool would refuse is refused before it costs anything
        else, so a flood of sign-ins never queues the platform's requests behind it on the database pool."""
        if self._held >= self._slots:
            raise PasswordWorkBusy
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1

    async def _run(self, fn: object, *args: str, in_slot: bool = False) -> object:
        with contextlib.nullcontext() if in_slot else self.slot():
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)  # type: ignore[arg-type]

    async def verify(self, stored: str | None, secret: str, *, in_slot: bool = False) -> bool:
        """Whether `secret` matches `stored`; with no stored hash, the same work against a decoy, then False.
        `in_slot`: the caller holds a `slot()` already."""
        matched = await self._run(verify_sync, stored or self._decoy, secret, in_slot=in_slot)
        return bool(matched) and stored is not None

    async def hash(self, secret: str) -> str:
        return str(await self._run(HASHER.hash, secret))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
