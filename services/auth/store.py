"""Users and partner clients (argon2 hashes, computed off the event loop), sessions recorded server-side,
and the revocation list every service's guard reads."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from libs.auth.passwords import HASHER, PasswordWork
from libs.auth.principal import PARTNER_SCOPES, Principal, check_user_area, user_scopes
from libs.auth.revocations import hashed, subject_key

S = '"auth"'


class SignInRefused(Exception):
    """Wrong username or password, or a user who is not active: the same answer for each."""


def user_principal(row: asyncpg.Record, csrf: str | None = None, session_id: str | None = None) -> Principal:
    return Principal(
        subject=row["username"],
        kind="user",
        scopes=user_scopes(row["role"]),
        role=row["role"],
        province_code=row["province_code"],
        district_code=row["district_code"],
        group_id=str(row["group_id"]) if row["group_id"] else None,
        csrf=csrf,
        session_id=session_id,
        generation=row["generation"],
    )


async def sign_in(pool: asyncpg.Pool, work: PasswordWork, username: str, password: str) -> asyncpg.Record:
    """The user's row when the password is right. An unknown or inactive user costs the same hashing. Raises
    PasswordWorkBusy, before reading anything, when the password pool is full."""
    with work.slot():
        row = await pool.fetchrow(f"select * from {S}.users where username = $1 and active", username)
        if not await work.verify(row["password_hash"] if row is not None else None, password, in_slot=True):
            raise SignInRefused
    assert row is not None
    return row


async def open_session(pool: asyncpg.Pool, row: asyncpg.Record, lifetime_seconds: int) -> tuple[str, datetime]:
    session_id = secrets.token_urlsafe(24)
    expires = datetime.now(UTC) + timedelta(seconds=lifetime_seconds)
    await pool.execute(
        f"insert into {S}.sessions (session_id, username, generation, expires_at) values ($1, $2, $3, $4)",
        session_id,
        row["username"],
        row["generation"],
        expires,
    )
    return session_id, expires


async def end_session(pool: asyncpg.Pool, session_id: str) -> bool:
    """Sign-out: the session is revoked everywhere. False when it had ended already (or never was)."""
    async with pool.acquire() as conn, conn.transaction():
        expires = await conn.fetchval(
            f"""update {S}.sessions set ended_at = now(), ended_why = 'signed out'
                where session_id = $1 and ended_at is null returning expires_at""",
            session_id,
        )
        if expires is None:
            return False
        await conn.execute(
            f"insert into {S}.revocations (session_hash, expires_at) values ($1, $2)", hashed(session_id), expires
        )
    return True


async def _withdraw(conn: asyncpg.Connection, kind: str, subject: str, generation: int) -> None:
    await conn.execute(
        f"insert into {S}.revocations (subject_hash, generation) values ($1, $2)",
        subject_key(kind, subject),
        generation,
    )


async def set_user_active(pool: asyncpg.Pool, actor: str, username: str, active: bool) -> bool:
    """Deactivating ends all of the user's sessions at once; reactivating lets them sign in again."""
    async with pool.acquire() as conn, conn.transaction():
        generation = await conn.fetchval(
            f"""update {S}.users set active = $2, generation = generation + (not $2)::int
                where username = $1 returning generation""",
            username,
            active,
        )
        if generation is None:
            return False
        if not active:
            await _end_all_sessions(conn, username, "deactivated")
            await _withdraw(conn, "user", username, generation)
        action = "user activated" if active else "user deactivated"
        await conn.execute(
            f"insert into {S}.admin_log (actor, action, subject) values ($1, $2, $3)", actor, action, username
        )
    return True


async def set_password(pool: asyncpg.Pool, work: PasswordWork, actor: str, username: str, password: str) -> bool:
    """A new password (reset by the department, or changed by the user): every session of the user ends."""
    password_hash = await work.hash(password)
    async with pool.acquire() as conn, conn.transaction():
        generation = await conn.fetchval(
            f"""update {S}.users set password_hash = $2, generation = generation + 1
                where username = $1 returning generation""",
            username,
            password_hash,
        )
        if generation is None:
            return False
        await _end_all_sessions(conn, username, "password reset")
        await _withdraw(conn, "user", username, generation)
        await conn.execute(
            f"insert into {S}.admin_log (actor, action, subject) values ($1, 'password set', $2)", actor, username
        )
    return True


async def _end_all_sessions(conn: asyncpg.Connection, username: str, why: str) -> None:
    await conn.execute(
        f"update {S}.sessions set ended_at = now(), ended_why = $2 where username = $1 and ended_at is null",
        username,
        why,
    )


async def client_principal(pool: asyncpg.Pool, work: PasswordWork, client_id: str, secret: str) -> Principal | None:
    with work.slot():  # refused before the lookup when the pool is full, as a sign-in is
        row = await pool.fetchrow(f"select * from {S}.clients where client_id = $1 and active", client_id)
        if not await work.verify(row["secret_hash"] if row is not None else None, secret, in_slot=True):
            return None
    assert row is not None
    return Principal(
        subject=client_id,
        kind="partner",
        scopes=frozenset(row["scopes"]),
        partner=row["partner"],
        generation=row["generation"],
    )


async def set_client_active(pool: asyncpg.Pool, actor: str, client_id: str, active: bool) -> bool:
    """Deactivating a partner client ends the use of every token it holds, and it gets no new ones."""
    async with pool.acquire() as conn, conn.transaction():
        generation = await conn.fetchval(
            f"""update {S}.clients set active = $2, generation = generation + (not $2)::int
                where client_id = $1 returning generation""",
            client_id,
            active,
        )
        if generation is None:
            return False
        if not active:
            await _withdraw(conn, "partner", client_id, generation)
        action = "client activated" if active else "client deactivated"
        await conn.execute(
            f"insert into {S}.admin_log (actor, action, subject) values ($1, $2, $3)", actor, action, client_id
        )
    return True


async def revocations_since(pool: asyncpg.Pool, after: int, limit: int = 5_000) -> dict[str, Any]:
    """What the guards must refuse, newer than `after` (expired sessions left out: their tokens expire)."""
    rows = await pool.fetch(
        f"""select seq, session_hash, subject_hash, generation, extract(epoch from expires_at) as expires
            from {S}.revocations where seq > $1 and (expires_at is null or expires_at > now())
            order by seq limit $2""",
        after,
        limit,
    )
    last = rows[-1]["seq"] if rows else await pool.fetchval(f"select coalesce(max(seq), 0) from {S}.revocations")
    return {
        "last": max(last, after),
        "more": len(rows) == limit,
        "sessions": [{"sid": r["session_hash"], "expires_at": float(r["expires"])} for r in rows if r["session_hash"]],
        "subjects": [{"subject": r["subject_hash"], "generation": r["generation"]} for r in rows if r["subject_hash"]],
    }


async def _hash(work: PasswordWork | None, secret: str) -> str:
    return await work.hash(secret) if work is not None else await asyncio.to_thread(HASHER.hash, secret)


async def create_user(
    pool: asyncpg.Pool, actor: str, fields: dict[str, Any], password: str, work: PasswordWork | None = None
) -> None:
    problem = check_user_area(
        fields["role"], fields.get("province_code"), fields.get("district_code"), fields.get("group_id")
    )
    if problem:
        raise ValueError(problem)
    user_scopes(fields["role"])
    password_hash = await _hash(work, password)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            f"""insert into {S}.users (username, display_name, password_hash, role, province_code, district_code,
                group_id, created_by) values ($1, $2, $3, $4, $5, $6, $7, $8)""",
            fields["username"],
            fields["display_name"],
            password_hash,
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


async def create_client(
    pool: asyncpg.Pool,
    actor: str,
    client_id: str,
    partner: str,
    scopes: list[str],
    work: PasswordWork | None = None,
) -> str:
    """Registers a partner client and returns its secret: shown once, kept only as a hash."""
    unknown = set(scopes) - PARTNER_SCOPES
    if unknown:
        raise ValueError(
            f"partners may hold only {', '.join(sorted(PARTNER_SCOPES))}, not {', '.join(sorted(unknown))}"
        )
    secret = secrets.token_urlsafe(32)
    secret_hash = await _hash(work, secret)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            f"insert into {S}.clients (client_id, secret_hash, partner, scopes, created_by)"
            " values ($1, $2, $3, $4, $5)",
            client_id,
            secret_hash,
            partner,
            sorted(scopes),
            actor,
        )
        await conn.execute(
            f"insert into {S}.admin_log (actor, action, subject) values ($1, 'client created', $2)", actor, client_id
        )
    return secret


async def rotate_client_secret(
    pool: asyncpg.Pool, actor: str, client_id: str, work: PasswordWork | None = None
) -> str | None:
    """A new secret; the old one stops working, and so does every token issued under it (a secret is
    rotated because it may have leaked, and whoever held it may hold tokens too)."""
    secret = secrets.token_urlsafe(32)
    secret_hash = await _hash(work, secret)
    async with pool.acquire() as conn, conn.transaction():
        generation = await conn.fetchval(
            f"""update {S}.clients set secret_hash = $2, generation = generation + 1
                where client_id = $1 returning generation""",
            client_id,
            secret_hash,
        )
        if generation is None:
            return None
        await _withdraw(conn, "partner", client_id, generation)
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
