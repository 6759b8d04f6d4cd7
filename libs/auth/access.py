"""Access control on every route: each route names its rule, and one guard enforces it before the route
runs — who the caller is (a bearer token, or a dashboard session cookie with its CSRF header), whether
their scopes allow the route, and whether the record or area it touches lies in their area.

A route without a rule is refused (fail closed), and the access-matrix test fails on it, so a new route
cannot ship open by accident.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import asyncpg
import httpx
from fastapi import Request
from fastapi.routing import APIRoute
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from libs.auth.principal import Place, Principal
from libs.auth.revocations import Revocations, RevocationUnavailable
from libs.auth.tokens import InvalidToken, Verifier
from libs.events.http import Problem

log = logging.getLogger("sajja.access")

SESSION_COOKIE = "sajja_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
F = TypeVar("F", bound=Callable[..., Any])


class AreaCheck(Protocol):
    async def check(self, request: Request, principal: Principal) -> None:
        """Raise Problem 403 (or 404) unless the request's record or area is within the caller's."""


@dataclass(frozen=True)
class Rule:
    """What a route needs: a scope (None: open to anyone), and where the caller must be entitled."""

    scope: str | None
    area: AreaCheck | None = None
    # A rule may also let partners in by their own name (their referral feed).
    partner: PartnerCheck | None = None

    @property
    def public(self) -> bool:
        return self.scope is None


def access(rule: Rule) -> Callable[[F], F]:
    """Name a route's rule: put it under the route's decorator."""

    def mark(endpoint: F) -> F:
        endpoint.__sajja_access__ = rule  # type: ignore[attr-defined]
        return endpoint

    return mark


def rule_of(endpoint: Callable[..., Any]) -> Rule | None:
    return getattr(endpoint, "__sajja_access__", None)


PUBLIC = Rule(scope=None)


def api_routes(routes: Sequence[Any]) -> Iterator[APIRoute]:
    """Every API route of an app or router, through included routers (FastAPI keeps those nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (inner := getattr(route, "original_router", None)) is not None:
            yield from api_routes(inner.routes)


def routes_without_rules(routes: Sequence[Any]) -> list[str]:
    return [f"{sorted(r.methods or ())} {r.path}" for r in api_routes(routes) if rule_of(r.endpoint) is None]


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail, "forbidden")


# --- where a request's record lies ---------------------------------------------------------------


class Nationwide:
    """Only callers who work everywhere (the department, auditors): national settings and operations."""

    async def check(self, request: Request, principal: Principal) -> None:
        if not principal.nationwide:
            raise forbidden("only the department (or an auditor, to read) may use this")


class Anywhere:
    """The scope is enough: shared definitions every area uses (loan products, campaigns)."""

    async def check(self, request: Request, principal: Principal) -> None:
        return None


PlaceResolver = Callable[[Request], Awaitable[Place | None]]


class PlaceOf:
    """The record named by the request (a group, member, loan …) must lie in the caller's area."""

    def __init__(self, resolve: PlaceResolver, what: str) -> None:
        self.resolve = resolve
        self.what = what

    async def check(self, request: Request, principal: Principal) -> None:
        place = await self.resolve(request)
        if place is None:
            # Unknown here (or not projected yet): those who may see everything get the route's own
            # answer (its 404, or its wait for a projection); others learn nothing of it.
            if principal.nationwide:
                return
            raise forbidden(f"this {self.what} is not in your area")
        if not principal.covers(place):
            raise forbidden(f"this {self.what} is not in your area")


class AreaQuery:
    """An area named in the query (level and code; a group by its id), e.g. statistics and exports."""

    def __init__(
        self,
        group_place: Callable[[str], Awaitable[Place | None]] | None = None,
        level: str = "level",
        code: str = "code",
        default_level: str = "national",
    ) -> None:
        self.group_place = group_place
        self.level, self.code, self.default_level = level, code, default_level

    async def check(self, request: Request, principal: Principal) -> None:
        level = request.query_params.get(self.level, self.default_level)
        code = request.query_params.get(self.code)
        if principal.nationwide:
            return
        if level == "group" and code and self.group_place is not None:
            place = await self.group_place(code)
            if place is not None and principal.covers(place):
                return
            raise forbidden("this group is not in your area")
        if not principal.covers_area(level, code):
            raise forbidden(f"{level} {code or ''} is not in your area".replace("  ", " "))


class AreaFromRequest:
    """An area the route reads from its path or query (e.g. a district in the path, a province asked for)."""

    def __init__(self, resolve: Callable[[dict[str, str]], tuple[str, str | None]]) -> None:
        self.resolve = resolve

    async def check(self, request: Request, principal: Principal) -> None:
        params = {**request.query_params, **{k: str(v) for k, v in request.path_params.items()}}
        level, code = self.resolve(params)
        if not principal.covers_area(level, code):
            raise forbidden(f"{level} {code or ''} is not in your area".replace("  ", " ").strip())


class BodyArea:
    """An area named in the JSON body (e.g. a new group's district, a report's level and code)."""

    def __init__(self, resolve: Callable[[dict[str, Any]], Awaitable[Place | tuple[str, str | None] | None]]) -> None:
        self.resolve = resolve

    async def check(self, request: Request, principal: Principal) -> None:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return  # the route's own validation answers 422
        if not isinstance(body, dict):
            return
        found = await self.resolve(body)
        if found is None:
            return  # incomplete or unknown: validation or the command refuses it
        if isinstance(found, Place):
            if not principal.covers(found):
                raise forbidden("that is not in your area")
        elif not principal.covers_area(*found):
            raise forbidden(f"{found[0]} {found[1] or ''} is not in your area".strip())


class PartnerCheck:
    """A partner acts only under its own name (the path or query parameter `param`), with its scope."""

    def __init__(
        self, param: str = "partner", partner_scope: str = "referrals", staff_scope: str | None = None
    ) -> None:
        self.param = param
        self.partner_scope = partner_scope
        # Staff who may act on any partner's behalf with this scope (e.g. an auditor reading a feed).
        self.staff_scope = staff_scope

    def allows(self, request: Request, principal: Principal) -> bool | None:
        """True/False for partners; None when the caller is staff and the rule's own scope decides."""
        named = request.path_params.get(self.param) or request.query_params.get(self.param)
        if principal.kind == "partner":
            return (
                self.partner_scope in principal.scopes and principal.partner is not None and principal.partner == named
            )
        return None


def place_from_query_param(param: str, resolve: Callable[[str], Awaitable[Place | None]]) -> PlaceResolver:
    async def resolver(request: Request) -> Place | None:
        value = request.path_params.get(param) or request.query_params.get(param)
        return await resolve(str(value)) if value else None

    return resolver


async def stream_place(pool: asyncpg.Pool, schema: str, stream_id: str) -> Place | None:
    """A record's place from its stream's first event: the area every event carries, and the group."""
    row = await pool.fetchrow(
        f"select area, payload ->> 'group_id' as group_id from \"{schema}\".events"
        " where stream_id = $1 and stream_version = 1",
        stream_id,
    )
    if row is None or row["area"] is None:
        return None
    area = json.loads(row["area"]) if isinstance(row["area"], str) else row["area"]
    return Place(area["province_code"], area["district_code"], row["group_id"])


def record_in(pool: asyncpg.Pool, schema: str, stream_prefix: str, param: str, what: str) -> PlaceOf:
    """The record whose id is the path parameter `param`, found as the stream `<prefix>-<id>`."""

    # A stream's first event never changes (the store is append-only; erasure touches only the free-text
    # registers), so a place once read is kept: a command on a member then asks the database nothing to check
    # where the member is. Bounded; a record not found is not kept (it may be written a moment later).
    places: OrderedDict[str, Place] = OrderedDict()

    async def resolve(value: str) -> Place | None:
        place = places.get(value)
        if place is not None:
            places.move_to_end(value)
            return place
        place = await stream_place(pool, schema, f"{stream_prefix}-{value}")
        if place is not None:
            places[value] = place
            if len(places) > PLACES_KEPT:
                places.popitem(last=False)
        return place

    return PlaceOf(place_from_query_param(param, resolve), what)


PLACES_KEPT = 50_000  # places kept per kind of record (a few hundred bytes each)


def uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


# --- the guard ---------------------------------------------------------------------------------------


class KeySource:
    """The auth service's published keys, fetched when first needed and again when a token names a key
    not seen yet (a rotation), at most every few seconds."""

    def __init__(self, fetch: Callable[[], Awaitable[dict[str, Any]]], refetch_after_seconds: float = 5.0) -> None:
        self.fetch = fetch
        self.refetch_after = refetch_after_seconds
        self.verifier: Verifier | None = None
        self.fetched_at = 0.0

    async def verifier_for(self, token: str) -> Verifier:
        stale = self.verifier is None or (
            not self.verifier.knows(token) and time.monotonic() - self.fetched_at > self.refetch_after
        )
        if stale:
            try:
                self.verifier = Verifier(await self.fetch())
                self.fetched_at = time.monotonic()
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                if self.verifier is None:
                    log.warning("cannot fetch the auth service's keys: %s", exc)
                    raise Problem(503, "Unavailable", "tokens cannot be checked right now; retry shortly") from exc
        assert self.verifier is not None
        return self.verifier


class Guard:
    def __init__(self, keys: KeySource, requests_per_minute: int, revocations: Revocations) -> None:
        self.keys = keys
        self.revocations = revocations
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.limit = RateLimitItemPerMinute(requests_per_minute)

    async def authenticate(self, request: Request) -> Principal:
        header = request.headers.get("authorization", "")
        from_cookie = False
        if header[:7].lower() == "bearer ":
            token = header[7:].strip()
        elif token := request.cookies.get(SESSION_COOKIE, ""):
            from_cookie = True
        else:
            raise Problem(401, "Unauthorized", "sign in, or send a bearer token", "unauthenticated")
        try:
            principal = (await self.keys.verifier_for(token)).verify(token)
        except InvalidToken as exc:
            raise Problem(401, "Unauthorized", str(exc), "unauthenticated") from exc
        try:
            revoked = await self.revocations.check(principal)
        except RevocationUnavailable as exc:
            log.warning("cannot read the auth service's revocation list: %s", exc)
            raise Problem(
                503, "Unavailable", "tokens cannot be checked right now; retry shortly", headers={"Retry-After": "2"}
            ) from exc
        if revoked is not None:
            raise Problem(401, "Unauthorized", revoked, "unauthenticated")
        if from_cookie and request.method not in SAFE_METHODS:
            # A session cookie rides along with any request the browser makes: the page must prove itself.
            if not principal.csrf or request.headers.get(CSRF_HEADER) != principal.csrf:
                raise forbidden("the CSRF token is missing or wrong")
        return principal

    async def __call__(self, request: Request) -> None:
        route = request.scope.get("route")
        rule = rule_of(route.endpoint) if route is not None and hasattr(route, "endpoint") else None
        if rule is None:
            log.error("no access rule for %s %s: refused", request.method, request.url.path)
            raise forbidden("this route has no access rule")
        address = f"ip:{request.client.host if request.client else '-'}"
        if rule.public:
            # Open to anyone, so limited by where the request comes from.
            await self._count(address)
            await _read_after(request)
            return
        try:
            principal = await self.authenticate(request)
        except Problem as problem:
            if problem.status == 401:
                await self._count(address)
            raise
        if principal.kind != "service":  # the platform's own calls between services are not throttled
            await self._count(f"{principal.kind}:{principal.subject}")
        request.state.principal = principal
        # ?after=: wait (bounded) for the read models before anything reads them, an area check included.
        await _read_after(request)
        if rule.partner is not None:
            partner_allowed = rule.partner.allows(request, principal)
            if partner_allowed is True:
                return
            if partner_allowed is False:
                raise forbidden("a partner may use only its own feed")
            if rule.partner.staff_scope and rule.partner.staff_scope in principal.scopes and principal.nationwide:
                return
        if rule.scope and rule.scope not in principal.scopes:  # "" is "any signed-in caller"
            raise forbidden(f"this needs the scope {rule.scope}")
        if rule.area is not None:
            await rule.area.check(request, principal)

    async def _count(self, who: str) -> None:
        if not await self.limiter.hit(self.limit, who):
            reset_at, _ = await self.limiter.get_window_stats(self.limit, who)
            raise Problem(
                429,
                "Too many requests",
                "slow down: the rate limit for this client is reached",
                "rate-limit",
                headers={"Retry-After": str(max(1, int(reset_at - time.time()) + 1))},
            )


async def _read_after(request: Request) -> None:
    """The service's read-your-writes wait (libs/events/read_after.py), where its app has one."""
    wait = getattr(request.app.state, "read_after", None)
    if wait is not None:
        await wait(request)


def principal_of(request: Request) -> Principal | None:
    return getattr(request.state, "principal", None)
