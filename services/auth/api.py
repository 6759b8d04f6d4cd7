"""The auth service under /auth/v1: OAuth2 client credentials for partner systems, the published keys,
dashboard sign-in (session cookie + CSRF token), and users and clients for the department."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

import asyncpg
from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from libs.auth.access import PUBLIC, SESSION_COOKIE, Anywhere, Nationwide, Rule, access, principal_of
from libs.auth.principal import PARTNER_SCOPES, Role
from libs.auth.tokens import KeyRing
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
    province_code: str | None = Field(default=None, pattern=r"^\d{2}$")
    district_code: str | None = Field(default=None, pattern=r"^\d{4}$")
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


def build_router(pool: asyncpg.Pool, settings: Settings, keys: KeyRing) -> APIRouter:
    router = APIRouter(prefix="/auth/v1", tags=["auth"])
    lockout = store.Lockout(settings.login_lockout_failures, settings.login_lockout_minutes)

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
        principal = await store.client_principal(pool, client_id, secret) if client_id and secret else None
        if principal is None:
            return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
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
    async def sign_in(body: SignInRequest) -> JSONResponse:
        try:
            row = await store.sign_in(pool, body.username, body.password, lockout)
        except store.SignInRefused as refused:
            if refused.locked_until is not None:
                raise Problem(
                    423,
                    "Locked",
                    f"too many failed sign-ins: try again after {refused.locked_until.isoformat(timespec='minutes')}",
                    "locked",
                ) from refused
            raise Problem(401, "Unauthorized", "wrong username or password", "unauthenticated") from refused
        csrf = secrets.token_urlsafe(24)
        principal = store.user_principal(row, csrf)
        expires = datetime.now(UTC) + timedelta(seconds=settings.session_seconds)
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

    @router.delete("/sessions", status_code=204, summary="Sign out: the session cookie is cleared")
    @access(PUBLIC)
    async def sign_out() -> Response:
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response

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
            await store.create_user(pool, actor.subject if actor else "?", fields, body.password)
        except ValueError as exc:
            raise Problem(422, "Invalid request", str(exc), "validation") from exc
        except asyncpg.UniqueViolationError as exc:
            raise Problem(409, "Conflict", f"user {body.username} exists", "conflict") from exc
        return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in fields.items()}

    @router.get("/users", summary="Operations users (no password hashes)")
    @access(ADMIN)
    async def users() -> dict[str, Any]:
        rows = await pool.fetch(
            "select username, display_name, role, province_code, district_code, group_id::text, active,"
            ' locked_until from "auth".users order by username'
        )
        return {"items": [dict(r) for r in rows]}

    @router.post("/clients", status_code=201, summary="Register a partner client: its secret is shown once")
    @access(ADMIN)
    async def new_client(body: NewClientRequest, request: Request) -> dict[str, Any]:
        actor = principal_of(request)
        try:
            secret = await store.create_client(
                pool, actor.subject if actor else "?", body.client_id, body.partner, body.scopes
            )
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
        "/clients/{client_id}/secrets", status_code=201, summary="Rotate a client's secret: the old one stops working"
    )
    @access(ADMIN)
    async def rotate(
        client_id: Annotated[str, PathParam(pattern=r"^[a-z][a-z0-9-]{1,39}$")], request: Request
    ) -> dict[str, Any]:
        actor = principal_of(request)
        secret = await store.rotate_client_secret(pool, actor.subject if actor else "?", client_id)
        if secret is None:
            raise Problem(404, "Not found", f"no client {client_id}", "not-found")
        return {"client_id": client_id, "client_secret": secret}

    return router
