"""The auth service under /auth/v1: OAuth2 client credentials for partner systems, the published keys,
dashboard sign-in (session cookie + CSRF token), and users and clients for the department."""

from __future__ import annotations

import base64
import math
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import parse_qs

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from libs.auth.access import PUBLIC, SESSION_COOKIE, Anywhere, Nationwide, Rule, access, principal_of
from libs.auth.passwords import PasswordWork, PasswordWorkBusy
from libs.auth.principal import PARTNER_SCOPES, Role
from libs.auth.throttle import Throttle, ThrottlePolicy
from libs.auth.tokens import InvalidToken, KeyRing, Verifier
from libs.events.http import Problem
from libs.events.settings import Settings
from services.auth import store

CSRF_COOKIE = "sajja_csrf"
SIGNED_IN = Rule(scope="", area=Anywhere())
ADMIN = Rule(scope="auth:admin", area=Nationwide())


class StrictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignInRequest(StrictRequest):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"username": "officer-2701", "password": "a-long-passphrase-2569"}]},
    )

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class NewUserRequest(StrictRequest):
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    province_code: str | None = Field(default=None, pattern=r"^[0-9]{2}$")
    district_code: str | None = Field(default=None, pattern=r"^[0-9]{4}$")
    group_id: uuid.UUID | None = None
    password: str = Field(min_length=12, max_length=200, description="At least 12 characters")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "username": "officer-2702",
                    "display_name": "เจ้าหน้าที่อำเภอคลองหาด",
                    "role": "district_officer",
                    "province_code": "27",
                    "district_code": "2702",
                    "password": "a-long-passphrase-2569",
                }
            ]
        },
    )


class NewPasswordRequest(StrictRequest):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"password": "a-new-passphrase-2569"}]})

    password: str = Field(min_length=12, max_length=200, description="At least 12 characters")


class ChangePasswordRequest(StrictRequest):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"current_password": "a-long-passphrase-2569", "new_password": "a-new-passphrase-2569"}]
        },
    )

    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=12, max_length=200, description="At least 12 characters")


USERNAME = Annotated[str, PathParam(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")]
CLIENT_ID = Annotated[str, PathParam(pattern=r"^[a-z][a-z0-9-]{1,39}$")]


class NewClientRequest(StrictRequest):
    client_id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")
    partner: str = Field(pattern=r"^[a-z][a-z0-9-]{1,39}$")
    scopes: list[str] = Field(min_length=1, max_length=5, description=f"Any of {', '.join(sorted(PARTNER_SCOPES))}")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"client_id": "gsb-prod", "partner": "gsb", "scopes": ["referrals"]}]},
    )


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    # RFC 6749 §5.2: token errors have their own shape, which OAuth2 client libraries read.
    headers = {"WWW-Authenticate": 'Basic realm="sajja"'} if status == 401 else {}
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def _throttled(wait: float) -> Problem:
    seconds = max(1, math.ceil(wait))
    return Problem(
        429,
        "Too many attempts",
        f"too many sign-in attempts: try again in {seconds} s",
        "rate-limit",
        headers={"Retry-After": str(seconds)},
    )


def _busy() -> Problem:
    """The password work's bounded pool is full (sign-ins, new users and secrets share it): try again soon."""
    return Problem(
        503, "Busy", "too many password checks at once: try again in a moment", "busy", headers={"Retry-After": "1"}
    )


def throttle_from(settings: Settings) -> Throttle:
    return Throttle(
        ThrottlePolicy(
            attempts_per_address_per_minute=settings.sign_in_attempts_per_minute,
            free_failures_per_address=settings.sign_in_free_failures,
            max_backoff_seconds=settings.sign_in_max_backoff_seconds,
            failures_per_username=settings.sign_in_failures_per_username,
            username_slow_seconds=settings.sign_in_username_slow_seconds,
        )
    )


def build_router(
    pool: asyncpg.Pool,
    settings: Settings,
    keys: KeyRing,
    work: PasswordWork,
    after_revocation: Callable[[], Awaitable[None]],
) -> APIRouter:
    """`after_revocation` brings this process's revocation list up to date before a sign-out or a
    withdrawal answers, so the ended session is refused here at once."""
    router = APIRouter(prefix="/auth/v1", tags=["auth"])
    sign_ins = throttle_from(settings)
    token_requests = throttle_from(settings)
    verifier = Verifier(keys.jwks())

    def address(request: Request) -> str:
        return request.client.host if request.client else "-"

    @router.post("/token", summary="OAuth2 client credentials: a short-lived signed token for a partner system")
    @access(PUBLIC)
    async def token(request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        basic = request.headers.get("authorization", "")
        if basic[:6].lower() == "basic ":
            try:
                client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
            except ValueError:
                return _oauth_error(401, "invalid_client", "malformed Basic credentials")
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "only grant_type=client_credentials is offered")
        if not (client_id and secret):
            return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
        where, now = address(request), time.monotonic()
        if (wait := token_requests.admit(where, client_id, now)) is not None:
            seconds = str(max(1, math.ceil(wait)))
            answer = _oauth_error(429, "slow_down", f"too many token requests: try again in {seconds} s")
            answer.headers["Retry-After"] = seconds
            return answer
        try:
            principal = await store.client_principal(pool, work, client_id, secret)
        except PasswordWorkBusy:
            answer = _oauth_error(503, "temporarily_unavailable", "too many token requests at once: retry shortly")
            answer.headers["Retry-After"] = "1"
            return answer
        if principal is None:
            token_requests.failed(where, client_id, time.monotonic())
            return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
        token_requests.succeeded(where, client_id)
        wanted = set(form["scope"].split()) if form.get("scope") else set(principal.scopes)
        if not wanted <= principal.scopes:
            return _oauth_error(
                400, "invalid_scope", f"this client may ask only for {' '.join(sorted(principal.scopes))}"
            )
        granted = principal.__class__(**{**principal.__dict__, "scopes": frozenset(wanted)})
        body = {
            "access_token": keys.issue(granted, settings.access_token_seconds),
            "token_type": "Bearer",
            "expires_in": settings.access_token_seconds,
            "scope": " ".join(sorted(wanted)),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @router.get("/jwks.json", summary="The public keys tokens are signed with (JWKS): verify without calling back")
    @access(PUBLIC)
    async def jwks() -> JSONResponse:
        return JSONResponse(keys.jwks(), headers={"Cache-Control": "max-age=300"})

    @router.post("/sessions", status_code=201, summary="Sign in to the dashboard: a session cookie and a CSRF token")
    @access(PUBLIC)
    async def sign_in(body: SignInRequest, request: Request) -> JSONResponse:
        where, now = address(request), time.monotonic()
        if (wait := sign_ins.admit(where, body.username, now)) is not None:
            raise _throttled(wait)
        try:
            row = await store.sign_in(pool, work, body.username, body.password)
        except PasswordWorkBusy as busy:
            raise _busy() from busy
        except store.SignInRefused as refused:
            sign_ins.failed(where, body.username, time.monotonic())
            raise Problem(401, "Unauthorized", "wrong username or password", "unauthenticated") from refused
        sign_ins.succeeded(where, body.username)
        csrf = secrets.token_urlsafe(24)
        session_id, expires = await store.open_session(pool, row, settings.session_seconds)
        principal = store.user_principal(row, csrf, session_id)
        response = JSONResponse(
            {
                "username": row["username"],
                "display_name": row["display_name"],
                "role": row["role"],
                "province_code": row["province_code"],
                "district_code": row["district_code"],
                "group_id": str(row["group_id"]) if row["group_id"] else None,
                "csrf_token": csrf,
                "expires_at": expires.isoformat(timespec="seconds"),
            },
            status_code=201,
        )
        session = keys.issue(principal, settings.session_seconds)
        common: dict[str, Any] = {"max_age": settings.session_seconds, "secure": settings.secure_cookies, "path": "/"}
        response.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="strict", **common)
        # Readable by the page, which echoes it in the X-CSRF-Token header of every change it asks for.
        response.set_cookie(CSRF_COOKIE, csrf, httponly=False, samesite="strict", **common)
        return response

    @router.delete(
        "/sessions", status_code=204, summary="Sign out: the session ends everywhere, and its cookie is cleared"
    )
    @access(PUBLIC)
    async def sign_out(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE, "")
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            token = header[7:].strip()
        try:
            session_id = verifier.verify(token).session_id if token else None
        except InvalidToken:
            session_id = None  # expired or not ours: nothing to end, the cookie is cleared all the same
        if session_id is not None and await store.end_session(pool, session_id):
            await after_revocation()
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response

    @router.get(
        "/revocations",
        summary="Sessions and subjects whose tokens are refused before they expire (hashes only), after a position",
    )
    @access(PUBLIC)
    async def revocations(after: Annotated[int, Query(ge=0, le=2**62)] = 0) -> dict[str, Any]:
        return await store.revocations_since(pool, after)

    @router.post("/me/password", status_code=204, summary="Change one's own password: every session ends")
    @access(SIGNED_IN)
    async def change_password(body: ChangePasswordRequest, request: Request) -> Response:
        p = principal_of(request)
        assert p is not None
        if p.kind != "user":
            raise Problem(403, "Forbidden", "only operations users have passwords here", "forbidden")
        try:
            await store.sign_in(pool, work, p.subject, body.current_password)
            await store.set_password(pool, work, p.subject, p.subject, body.new_password)
        except PasswordWorkBusy as busy:
            raise _busy() from busy
        except store.SignInRefused as refused:
            raise Problem(403, "Forbidden", "the current password is wrong", "forbidden") from refused
        await after_revocation()
        return Response(status_code=204)

    @router.get("/me", summary="Who the caller is: role, area, scopes")
    @access(SIGNED_IN)
    async def me(request: Request) -> dict[str, Any]:
        p = principal_of(request)
        assert p is not None
        return {
            "subject": p.subject,
            "kind": p.kind,
            "role": p.role,
            "partner": p.partner,
            "province_code": p.province_code,
            "district_code": p.district_code,
            "group_id": p.group_id,
            "scopes": sorted(p.scopes),
        }

    @router.post("/users", status_code=201, summary="Create an operations user (the department)")
    @access(ADMIN)
    async def new_user(body: NewUserRequest, request: Request) -> dict[str, Any]:
        actor = principal_of(request)
        fields = body.model_dump(exclude={"password"})
        try:
            await store.create_user(pool, actor.subject if actor else "?", fields, body.password, work)
        except PasswordWorkBusy as busy:
            raise _busy() from busy
        except ValueError as exc:
            raise Problem(422, "Invalid request", str(exc), "validation") from exc
        except asyncpg.UniqueViolationError as exc:
            raise Problem(409, "Conflict", f"user {body.username} exists", "conflict") from exc
        return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in fields.items()}

    @router.get("/users", summary="Operations users (no password hashes)")
    @access(ADMIN)
    async def users() -> dict[str, Any]:
        rows = await pool.fetch(
            "select username, display_name, role, province_code, district_code, group_id::text, active"
            ' from "auth".users order by username'
        )
        return {"items": [dict(r) for r in rows]}

    @router.post("/clients", status_code=201, summary="Register a partner client: its secret is shown once")
    @access(ADMIN)
    async def new_client(body: NewClientRequest, request: Request) -> dict[str, Any]:
        actor = principal_of(request)
        try:
            secret = await store.create_client(
                pool, actor.subject if actor else "?", body.client_id, body.partner, body.scopes, work
            )
        except PasswordWorkBusy as busy:
            raise _busy() from busy
        except ValueError as exc:
            raise Problem(422, "Invalid request", str(exc), "validation") from exc
        except asyncpg.UniqueViolationError as exc:
            raise Problem(409, "Conflict", f"client {body.client_id} exists", "conflict") from exc
        return {
            "client_id": body.client_id,
            "partner": body.partner,
            "scopes": sorted(body.scopes),
            "client_secret": secret,
        }

    @router.post(
        "/clients/{client_id}/secrets",
        status_code=201,
        summary="Rotate a client's secret: the old one and every token issued under it stop working",
    )
    @access(ADMIN)
    async def rotate(client_id: CLIENT_ID, request: Request) -> dict[str, Any]:
        actor = principal_of(request)
        try:
            secret = await store.rotate_client_secret(pool, actor.subject if actor else "?", client_id, work)
        except PasswordWorkBusy as busy:
            raise _busy() from busy
        if secret is None:
            raise Problem(404, "Not found", f"no client {client_id}", "not-found")
        await after_revocation()
        return {"client_id": client_id, "client_secret": secret}

    @router.post(
        "/clients/{client_id}/deactivation", summary="Deactivate a partner client: its tokens stop working at once"
    )
    @access(ADMIN)
    async def deactivate_client(client_id: CLIENT_ID, request: Request) -> dict[str, Any]:
        return await _client_active(client_id, request, False)

    @router.post("/clients/{client_id}/activation", summary="Activate a partner client again (it asks for new tokens)")
    @access(ADMIN)
    async def activate_client(client_id: CLIENT_ID, request: Request) -> dict[str, Any]:
        return await _client_active(client_id, request, True)

    async def _client_active(client_id: str, request: Request, active: bool) -> dict[str, Any]:
        actor = principal_of(request)
        if not await store.set_client_active(pool, actor.subject if actor else "?", client_id, active):
            raise Problem(404, "Not found", f"no client {client_id}", "not-found")
        await after_revocation()
        return {"client_id": client_id, "active": active}

    @router.post("/users/{username}/deactivation", summary="Deactivate a user: every session of theirs ends at once")
    @access(ADMIN)
    async def deactivate_user(username: USERNAME, request: Request) -> dict[str, Any]:
        return await _user_active(username, request, False)

    @router.post("/users/{username}/activation", summary="Activate a user again (they sign in anew)")
    @access(ADMIN)
    async def activate_user(username: USERNAME, request: Request) -> dict[str, Any]:
        return await _user_active(username, request, True)

    async def _user_active(username: str, request: Request, active: bool) -> dict[str, Any]:
        actor = principal_of(request)
        if actor is not None and actor.subject == username and not active:
            raise Problem(409, "Conflict", "you cannot deactivate yourself", "conflict")
        if not await store.set_user_active(pool, actor.subject if actor else "?", username, active):
            raise Problem(404, "Not found", f"no user {username}", "not-found")
        await after_revocation()
        return {"username": username, "active": active}

    @router.post(
        "/users/{username}/password", status_code=204, summary="Reset a user's password: every session of theirs ends"
    )
    @access(ADMIN)
    async def reset_password(username: USERNAME, body: NewPasswordRequest, request: Request) -> Response:
        actor = principal_of(request)
        try:
            done = await store.set_password(pool, work, actor.subject if actor else "?", username, body.password)
        except PasswordWorkBusy as busy:
            raise _busy() from busy
        if not done:
            raise Problem(404, "Not found", f"no user {username}", "not-found")
        await after_revocation()
        return Response(status_code=204)

    return router
