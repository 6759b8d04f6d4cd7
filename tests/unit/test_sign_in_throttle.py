"""Sign-in throttling slows the guesser and never locks the owner out; the revocation list ends sessions
and withdrawn subjects' tokens. Both pure (clock and fetch passed in)."""

from __future__ import annotations

from typing import Any

import pytest

from libs.auth.principal import Principal
from libs.auth.revocations import Revocations, RevocationUnavailable, hashed, subject_key
from libs.auth.throttle import Throttle, ThrottlePolicy

POLICY = ThrottlePolicy(
    attempts_per_address_per_minute=30,
    free_failures_per_address=3,
    max_backoff_seconds=300,
    failures_per_username=10,
    username_window_seconds=900,
    username_slow_seconds=5,
)


def test_failures_from_one_address_back_off_exponentially_up_to_a_ceiling() -> None:
    throttle = Throttle(POLICY)
    now = 1000.0
    for _ in range(3):
        assert throttle.admit("10.0.0.9", "admin", now) is None
        throttle.failed("10.0.0.9", "admin", now)
    # The free failures are spent: each further one doubles the wait.
    waits = []
    for _ in range(12):
        wait = throttle.admit("10.0.0.9", "admin", now)
        assert wait is not None and wait > 0
        waits.append(wait)
        now += wait
        assert throttle.admit("10.0.0.9", "admin", now) is None
        throttle.failed("10.0.0.9", "admin", now)
    assert waits[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(waits) == 300.0


def test_the_owner_from_another_address_is_not_locked_out() -> None:
    throttle = Throttle(POLICY)
    now = 0.0
    for _ in range(9):  # under the username's threshold, from an attacker's address, as fast as allowed
        now += throttle.admit("203.0.113.7", "admin", now) or 0.0
        assert throttle.admit("203.0.113.7", "admin", now) is None
        throttle.failed("203.0.113.7", "admin", now)
    assert throttle.admit("203.0.113.7", "admin", now) is not None  # the attacker waits
    assert throttle.admit("10.1.1.1", "admin", now) is None  # the owner signs in at once


def test_many_addresses_guessing_one_name_are_slowed_not_locked() -> None:
    throttle = Throttle(POLICY)
    now = 0.0
    for i in range(10):
        assert throttle.admit(f"198.51.100.{i}", "admin", now) is None
        throttle.failed(f"198.51.100.{i}", "admin", now)
        now += 0.1
    # Every address, the owner's too, now waits a few seconds for that name: never minutes.
    wait = throttle.admit("10.1.1.1", "admin", now)
    assert wait is not None and 0 < wait <= 5
    assert throttle.admit("10.1.1.1", "admin", now + wait) is None
    # Other names are not held back.
    assert throttle.admit("198.51.100.200", "somchai", now) is None


def test_known_and_unknown_names_are_throttled_alike() -> None:
    """The throttle never looks the name up, so its answers cannot tell who has an account."""
    a, b = Throttle(POLICY), Throttle(POLICY)
    answers_a, answers_b = [], []
    for i in range(20):
        for throttle, name, answers in ((a, "admin", answers_a), (b, "no-such-user-xyz", answers_b)):
            wait = throttle.admit("192.0.2.1", name, float(i))
            answers.append(wait)
            if wait is None:
                throttle.failed("192.0.2.1", name, float(i))
    assert answers_a == answers_b


def test_a_burst_from_one_address_is_capped_per_minute() -> None:
    throttle = Throttle(POLICY)
    admitted = [throttle.admit("192.0.2.2", f"user-{i}", 5.0) for i in range(40)]
    assert admitted[:30] == [None] * 30 and all(w is not None for w in admitted[30:])
    assert throttle.admit("192.0.2.2", "user-x", 65.1) is None  # the minute has passed


def test_memory_stays_bounded() -> None:
    throttle = Throttle(ThrottlePolicy(max_tracked=100))
    for i in range(1000):
        throttle.failed(f"10.0.{i // 256}.{i % 256}", f"u{i}", 0.0)
    assert len(throttle._addresses) <= 100 and len(throttle._usernames) <= 100


def _user(subject: str = "somchai", session_id: str | None = "s-1", generation: int = 0) -> Principal:
    return Principal(subject=subject, kind="user", session_id=session_id, generation=generation)


async def test_revocations_end_sessions_and_earlier_generations() -> None:
    served: list[dict[str, Any]] = [
        {"last": 2, "sessions": [{"sid": hashed("s-1"), "expires_at": 4e9}], "subjects": []},
        {"last": 3, "sessions": [], "subjects": [{"subject": subject_key("partner", "gsb-prod"), "generation": 1}]},
    ]
    asked: list[int] = []

    async def fetch(after: int) -> dict[str, Any]:
        asked.append(after)
        return served.pop(0) if served else {"last": after, "sessions": [], "subjects": []}

    revocations = Revocations(fetch, refresh_seconds=60)
    assert await revocations.check(_user()) == "the session has ended; sign in again"
    assert await revocations.check(_user(session_id="s-2")) is None
    await revocations.refresh(force=True)
    assert asked == [0, 2]  # only what is newer than what is held
    old = Principal(subject="gsb-prod", kind="partner", generation=0)
    new = Principal(subject="gsb-prod", kind="partner", generation=1)
    assert revocations.revokes(old) is not None and revocations.revokes(new) is None
    # The same name as a user is another subject.
    assert revocations.revokes(_user("gsb-prod", None)) is None


async def test_a_list_never_loaded_fails_closed_and_a_stale_one_keeps_serving() -> None:
    calls = 0

    async def failing(after: int) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise OSError("auth is down")
        return {"last": 1, "sessions": [{"sid": hashed("s-1"), "expires_at": 4e9}], "subjects": []}

    async def down(after: int) -> dict[str, Any]:
        raise OSError("auth is down")

    with pytest.raises(RevocationUnavailable):
        await Revocations(down).check(_user())
    held = Revocations(failing, refresh_seconds=0.0)
    assert await held.check(_user()) is not None
    assert await held.check(_user()) is not None  # the refresh failed; the list held still refuses s-1
