"""Users and partner clients: argon2 hashes, lock-out after repeated failed sign-ins."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from libs.auth.principal import PARTNER_SCOPES, Principal, check_user_area, user_scopes

S = '"auth"'
HASHER = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not tell who has an account.
_DECOY = HASHER.hash(secrets.token_urlsafe(16))


class SignInRefused(Exception):
    def __init__(self, locked_until: datetime | None = None) -> None:
        super().__init__("wrong username or password" if locked_until is None else "locked")
        self.locked_until = locked_until


@dataclass(frozen=True)
class Lockout:
    failures: int
    minutes: int


def _verify(stored: str, secret: str) -> bool:
    try:
        return HASHER.verify(stored, secret)
    except (VerificationError, InvalidHashError):
        return False


def user_principal(row: asyncpg.Record, csrf: str | None = None) -> Principal:
    return Principal(
        subject=row["username"],
        kind="user",
        scopes=user_scopes(row["role"]),
        role=row["role"],
        province_code=row["province_code"],
        district_code=row["district_code"],
        group_id=str(row["group_id"]) if row["group_id"] else None,
        csrf=csrf,
    )


async def sign_in(pool: asyncpg.Pool, username: str, password: str, lockout: Lockout) -> asyncpg.Record:
    """The user's row when the password is right; counts failures and locks the account after too many."""
    refused: SignInRefused | None = None
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(f"select * from {S}.users where username = $1 and active for update", username)
        now = datetime.now(UTC)
        if row is None:
            _verify(_DECOY, password)
            refused = SignInRefused()
        elif row["locked_until"] is not None and row["locked_until"] > now:
            refused = SignInRefused(row["locked_until"])
        elif _verify(row["password_hash"], password):
            await conn.execute(
                f"update {S}.users set failed_logins = 0, locked_until = null where username = $1", username
            )
        else:
            failures = row["failed_logins"] + 1
            locked = now + timedelta(minutes=lockout.minutes) if failures >= lockout.failures else None
            await conn.execute(
                f"update {S}.users set failed_logins = $2, locked_until = $3 where username = $1",
                username,
                0 if locked else failures,
                locked,
            )
            refused = SignInRefused(locked)
    # Raised after the commit: the failure count must stick.
    if refused is not None:
        raise refused
    assert row is not None
    return row


async def client_principal(pool: asyncpg.Pool, client_id: str, secret: str) -> Principal | None:
    row = await pool.fetchrow(f"select * from {S}.clients where client_id = $1 and active", client_id)
    if row is None:
        _verify(_DECOY, secret)
        return None
    if not _verify(row["secret_hash"], secret):
        return None
    return Principal(subject=client_id, kind="partner", scopes=frozenset(row["scopes"]), partner=row["partner"])


async def create_user(pool: asyncpg.Pool, actor: str, fields: dict[str, Any], password: str) -> None:
    problem = check_user_area(
        fields["role"], fields.get("province_code"), fields.get("district_code"), fields.get("group_id")
    )
    if problem:
        raise ValueError(problem)
    user_scopes(fields["role"])
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            f"""insert into {S}.users (username, display_name, password_hash, role, province_code, district_code,
                group_id, created_by) values ($1, $2, $3, $4, $5, $6, $7, $8)""",
            fields["username"],
            fields["display_name"],
            HASHER.hash(password),
            fields["role"],
            fields.get("province_code"),
            fields.get("district_code"),
            uuid.UUID(str(fields["group_id"])) if fields.get("group_id") else None,
            actor,
        )
        await conn.execute(
            f"insert into {S}.admin_log (actor, action, subject) values ($1, 'user created', $2)",
            actor,
            fields["username"],
        )


async def create_client(pool: asyncpg.Pool, actor: str, client_id: str, partner: str, scopes: list[str]) -> str:
    """Registers a partner client and returns its secret: shown once, kept only as a hash."""
    unknown = set(scopes) - PARTNER_SCOPES
    if unknown:
        raise ValueError(
            f"partners may hold only {', '.join(sorted(PARTNER_SCOPES))}, not {', '.join(sorted(unknown))}"
        )
    secret = secrets.token_urlsafe(32)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            f"insert into {S}.clients (client_id, secret_hash, partner, scopes, created_by)"
            " values ($1, $2, $3, $4, $5)",
            client_id,
            HASHER.hash(secret),
            partner,
            sorted(scopes),
            actor,
        )
        await conn.execute(
            f"insert into {S}.admin_log (actor, action, subject) values ($1, 'client created', $2)", actor, client_id
        )
    return secret


async def rotate_client_secret(pool: asyncpg.Pool, actor: str, client_id: str) -> str | None:
    secret = secrets.token_urlsafe(32)
    async with pool.acquire() as conn, conn.transaction():
        done = await conn.execute(
            f"update {S}.clients set secret_hash = $2 where client_id = $1", client_id, HASHER.hash(secret)
        )
        if done.endswith(" 0"):
            return None
        await conn.execute(
            f"insert into {S}.admin_log (actor, action, subject) values ($1, 'client secret rotated', $2)",
            actor,
            client_id,
        )
    return secret


DEVELOPMENT_USERS = (
    {"username": "admin", "display_name": "ผู้ดูแลระบบ (กรมฯ)", "role": "department"},
    {"username": "auditor", "display_name": "ผู้ตรวจสอบ", "role": "auditor"},
    {"username": "sakaeo", "display_name": "เจ้าหน้าที่จังหวัดสระแก้ว", "role": "province_officer", "province_code": "27"},
    {
        "username": "mueang-sakaeo",
        "display_name": "เจ้าหน้าที่อำเภอเมืองสระแก้ว",
        "role": "district_officer",
        "province_code": "27",
        "district_code": "2701",
    },
)
DEVELOPMENT_CLIENTS = (("gsb", "gsb", ["referrals"]), ("pawnshop", "pawnshop", ["pawn:read", "pawn:write"]))


async def create_development_credentials(pool: asyncpg.Pool) -> list[tuple[str, str, str]] | None:
    """On a fresh database: users for each role and the two partners' clients, with random secrets.
    Returns (kind, name, secret) to show once; None when any user exists already."""
    async with pool.acquire() as conn:
        if await conn.fetchval(f"select exists (select 1 from {S}.users)"):
            return None
    shown: list[tuple[str, str, str]] = []
    for user in DEVELOPMENT_USERS:
        password = secrets.token_urlsafe(12)
        await create_user(pool, "make-run", dict(user), password)
        shown.append((f"user ({user['role']})", str(user["username"]), password))
    for client_id, partner, scopes in DEVELOPMENT_CLIENTS:
        shown.append(("client", client_id, await create_client(pool, "make-run", client_id, partner, scopes)))
    return shown
