"""Sign-in throttling: slow the guesser, never lock out the owner. Pure (the clock is passed in).

Two limits, both answered with 429 and the seconds to wait, and both applied the same way to usernames
that exist and to those that do not (so the answers tell nobody who has an account):

- **per address**: every attempt counts against a per-minute budget, and failures from one address
  back it off exponentially (1 s, 2 s, 4 s … up to a ceiling) once a few free ones are spent;
- **per username**, across all addresses: after many failures in a window, attempts on that name are
  slowed to one every few seconds. The owner waits seconds at most; an attacker spread over many
  addresses gets a dozen guesses a minute, which a passphrase outlasts.

Nothing is locked: the account's owner, from their own address, signs in as soon as they are asked to.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TypeVar

WINDOW_SECONDS = 60.0
T = TypeVar("T", "_Address", "_Username")


@dataclass(frozen=True)
class ThrottlePolicy:
    attempts_per_address_per_minute: int = 60
    free_failures_per_address: int = 3
    max_backoff_seconds: float = 300.0
    # Failures on one username (from anywhere) within the window before it is slowed.
    failures_per_username: int = 10
    username_window_seconds: float = 900.0
    username_slow_seconds: float = 5.0
    # Failures are forgotten after this long without another one.
    forget_after_seconds: float = 900.0
    # Memory stays bounded whatever the number of addresses and names tried.
    max_tracked: int = 100_000


@dataclass
class _Address:
    attempts: deque[float] = field(default_factory=deque)
    failures: int = 0
    last_failure: float = 0.0


@dataclass
class _Username:
    failures: deque[float] = field(default_factory=deque)
    last_attempt: float = 0.0


class Throttle:
    def __init__(self, policy: ThrottlePolicy) -> None:
        self.policy = policy
        self._addresses: OrderedDict[str, _Address] = OrderedDict()
        self._usernames: OrderedDict[str, _Username] = OrderedDict()

    def admit(self, address: str, username: str, now: float) -> float | None:
        """None to go ahead (the attempt is counted), or the seconds to wait before asking again."""
        p = self.policy
        at = self._entry(self._addresses, address, _Address)
        while at.attempts and at.attempts[0] <= now - WINDOW_SECONDS:
            at.attempts.popleft()
        if at.failures and now - at.last_failure > p.forget_after_seconds:
            at.failures = 0
        waits: list[float] = []
        if len(at.attempts) >= p.attempts_per_address_per_minute:
            waits.append(at.attempts[0] + WINDOW_SECONDS - now)
        if at.failures >= p.free_failures_per_address:
            backoff = min(2.0 ** (at.failures - p.free_failures_per_address), p.max_backoff_seconds)
            waits.append(at.last_failure + backoff - now)
        name = self._entry(self._usernames, username.casefold(), _Username)
        while name.failures and name.failures[0] <= now - p.username_window_seconds:
            name.failures.popleft()
        if len(name.failures) >= p.failures_per_username:
            waits.append(name.last_attempt + p.username_slow_seconds - now)
        wait = max(waits, default=0.0)
        if wait > 0:
            return wait
        at.attempts.append(now)
        name.last_attempt = now
        return None

    def failed(self, address: str, username: str, now: float) -> None:
        at = self._entry(self._addresses, address, _Address)
        at.failures += 1
        at.last_failure = now
        self._entry(self._usernames, username.casefold(), _Username).failures.append(now)

    def succeeded(self, address: str, username: str) -> None:
        """A right password from this address: its own back-off ends (the username's count stands,
        since other addresses may still be guessing it)."""
        at = self._addresses.get(address)
        if at is not None:
            at.failures = 0

    def _entry(self, table: OrderedDict[str, T], key: str, make: type[T]) -> T:
        entry = table.get(key)
        if entry is None:
            entry = make()
            table[key] = entry
            if len(table) > self.policy.max_tracked:
                table.popitem(last=False)  # the least recently seen
        else:
            table.move_to_end(key)
        return entry
