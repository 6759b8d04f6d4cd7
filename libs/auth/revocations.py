"""Ending tokens before they expire: signed-out sessions, and every token of a user or partner client
whose access was withdrawn (deactivated, password reset, secret rotated).

Tokens stay self-contained (each service verifies a signature, no call per request), so each process
keeps the auth service's revocation list in memory and brings it up to date at most every
`refresh_seconds`, asking only for what is newer than what it holds. The auth service's own process is
refreshed at once after each revocation, so a sign-out ends the session there before the answer leaves;
another replica follows within `refresh_seconds`.

The list names sessions and subjects only by hashes: it may be served to any service without a token.
- a session (`sid` claim) is revoked when it is signed out;
- a subject (`kind:subject`) has a generation: tokens carry the generation they were issued under
  (`gen` claim), and any below the subject's current one are refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from libs.auth.principal import Principal

log = logging.getLogger("sajja.revocations")

# What `fetch(after)` returns: {"last": seq, "sessions": [{"sid": hash, "expires_at": epoch}],
# "subjects": [{"subject": hash, "generation": n}]}
RevocationFetch = Callable[[int], Awaitable[dict[str, Any]]]


def hashed(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def subject_key(kind: str, subject: str) -> str:
    return hashed(f"{kind}:{subject}")


class RevocationUnavailable(Exception):
    """The list was never loaded and cannot be now: tokens cannot be checked."""


class Revocations:
    def __init__(self, fetch: RevocationFetch, refresh_seconds: float = 2.0) -> None:
        self.fetch = fetch
        self.refresh_seconds = refresh_seconds
        self.sessions: dict[str, float] = {}
        self.generations: dict[str, int] = {}
        self.last = 0
        self.loaded = False
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def revokes(self, principal: Principal, now: float | None = None) -> str | None:
        """Why the principal's token no longer counts, or None. Pure over the list held."""
        if principal.kind == "service":
            return None  # services' own tokens are minted in-process, minutes long, and not revocable
        if principal.session_id is not None:
            expires = self.sessions.get(hashed(principal.session_id))
            if expires is not None:
                return "the session has ended; sign in again"
        current = self.generations.get(subject_key(principal.kind, principal.subject))
        if current is not None and principal.generation < current:
            return "this token has been revoked; sign in or ask for a new token"
        return None

    def absorb(self, body: dict[str, Any], now: float | None = None) -> None:
        now = time.time() if now is None else now
        for row in body.get("sessions", []):
            self.sessions[row["sid"]] = float(row["expires_at"])
        for row in body.get("subjects", []):
            key = row["subject"]
            self.generations[key] = max(self.generations.get(key, 0), int(row["generation"]))
        self.last = max(self.last, int(body.get("last", self.last)))
        # An expired session's token is refused by its signature's expiry anyway.
        for sid in [s for s, expires in self.sessions.items() if expires < now]:
            del self.sessions[sid]

    async def check(self, principal: Principal) -> str | None:
        if principal.kind != "service":
            await self.refresh()
        return self.revokes(principal)

    async def refresh(self, force: bool = False) -> None:
        """Bring the list up to date when it is older than refresh_seconds (or now, when forced). Only the
        first load is waited for by everyone; later, requests that find a refresh under way use the list
        as it is."""
        if not force and self.loaded and time.monotonic() - self._fetched_at < self.refresh_seconds:
            return
        if self._lock.locked() and self.loaded and not force:
            return
        async with self._lock:
            if not force and self.loaded and time.monotonic() - self._fetched_at < self.refresh_seconds:
                return
            try:
                while True:
                    body = await self.fetch(self.last)
                    before = self.last
                    self.absorb(body)
                    if not body.get("more") or self.last == before:
                        break
                self.loaded = True
                self._fetched_at = time.monotonic()
            except Exception as exc:
                if not self.loaded:
                    raise RevocationUnavailable(str(exc)) from exc
                # Keep the list held; try again after the interval rather than on every request.
                self._fetched_at = time.monotonic()
                log.warning("the revocation list could not be refreshed (%s); using the one held", exc)
