"""Who acts in the demo, signed in as the platform requires (#7): each district's officers (a group's
treasurer enters, its chair and secretary approve: maker-checker tells them apart), the department, GSB's
and the pawnshop office's partner clients. The loader's own client must be signed in as a department user,
who creates the others; their passwords derive from a secret, so a re-run signs in as the same users.

Nearly every request is a treasurer's (enrolments, deposits, repayments), and the platform limits each
user's requests a minute: one treasurer for a district's ~17 groups answered 429 eleven thousand times in a
run. A district has a treasurer for every GROUPS_PER_TREASURER of its groups; its chair and secretary, who
only approve loans, serve all of them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from typing import Any

import httpx

from sajja_cli.demo.generator import PROVINCE_CODE, Province

DEPARTMENT = "demo-department"
OFFICER_ROLES = ("treasurer", "chair", "secretary")
GROUPS_PER_TREASURER = 4
PROVISIONING = 4  # users made and signed in at a time
PARTNERS = {"gsb": ("demo-gsb", ["referrals"]), "pawnshop": ("demo-pawnshop", ["pawn:read", "pawn:write"])}
# Partner tokens live 15 minutes: renewed well before.
RENEW_SECONDS = 600


class IdentityError(Exception):
    pass


class Identities:
    def __init__(self, client: httpx.AsyncClient, province: Province, secret: str) -> None:
        self.client = client
        self.province = province
        self.secret = secret.encode()
        self.headers: dict[str, dict[str, str]] = {}
        # Sign-ins answer with a session cookie: a client of their own keeps them out of the department's jar
        # (the loader goes on with its own session meanwhile: the history import runs while officers are made).
        self.sign_in: httpx.AsyncClient | None = None
        self.district_of_group = {g.number: g.district_code for g in province.groups}
        # Group → its treasurer's account: d2701-treasurer-1 for a district's first GROUPS_PER_TREASURER groups.
        self.treasurer_of_group: dict[int, str] = {}
        in_district: dict[str, int] = {}
        for g in sorted(province.groups, key=lambda g: g.number):
            n = in_district.get(g.district_code, 0)
            in_district[g.district_code] = n + 1
            self.treasurer_of_group[g.number] = f"d{g.district_code}-treasurer-{n // GROUPS_PER_TREASURER + 1}"
        self._renewing: asyncio.Task[None] | None = None

    def __call__(self, user: str) -> dict[str, str]:
        """The headers for the loader's name of an actor (see loader.py: officers, cdd-*, pawn-*, gsb)."""
        return self.headers[self.account(user)]

    def account(self, user: str) -> str:
        if user.startswith("pawn-"):
            return "pawnshop"
        if user.startswith("gsb"):
            return "gsb"
        if user.startswith("sk") and "-" in user:  # a group's officer: sk001-treasurer
            number, role = user[2:].split("-", 1)
            if role == OFFICER_ROLES[0]:
                return self.treasurer_of_group[int(number)]
            return f"d{self.district_of_group[int(number)]}-{role}"
        if user.startswith("cdd-") and user[4:].isdigit():  # a district office: its first treasurer-officer
            return f"d{user[4:]}-{OFFICER_ROLES[0]}-1"
        return DEPARTMENT

    def password(self, username: str) -> str:
        return hmac.new(self.secret, username.encode(), hashlib.sha256).hexdigest()[:32]

    async def provision(self) -> None:
        if self.sign_in is None:
            # The loader's own connections (its transport: a test's in-process one too), a cookie jar of its own.
            transport = self.client._transport  # noqa: SLF001 - httpx offers no public accessor
            self.sign_in = httpx.AsyncClient(
                base_url=self.client.base_url, timeout=self.client.timeout, transport=transport
            )
        districts = sorted({g.district_code for g in self.province.groups})
        users: list[dict[str, Any]] = [
            {"username": DEPARTMENT, "display_name": "กรมการพัฒนาชุมชน (ข้อมูลสาธิต)", "role": "department"}
        ]
        officers = sorted(set(self.treasurer_of_group.values()))
        officers += [f"d{district}-{role}" for district in districts for role in OFFICER_ROLES[1:]]
        for username in officers:
            district, role = username[1:5], username[6:]
            users.append(
                {
                    "username": username,
                    "display_name": f"เจ้าหน้าที่อำเภอ {district} ({role})",
                    "role": "district_officer",
                    "province_code": PROVINCE_CODE,
                    "district_code": district,
                }
            )
        # A few at a time: the platform hashes passwords one by one with a short queue, and answers the rest 503
        # (asked again a second later, each such answer counting against the department's requests a minute).
        slots = asyncio.Semaphore(PROVISIONING)

        async def one(user: dict[str, Any]) -> None:
            async with slots:
                await self._user(user)

        await asyncio.gather(*(one(u) for u in users))
        await self._partners()
        self._renewing = asyncio.create_task(self._renew())

    async def close(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
        # self.sign_in is not closed: its transport is the loader's client's, which closes it.

    async def _user(self, user: dict[str, Any]) -> None:
        username = user["username"]
        password = self.password(username)
        while True:
            made = await self.client.post(
                "/auth/v1/users", json=user | {"password": password}, headers={"Idempotency-Key": f"user:{username}"}
            )
            if made.status_code not in (429, 503):
                break
            # The platform's password work is bounded (users, sign-ins and secrets share it), and so are the
            # department's requests a minute (its import's progress is read meanwhile): wait our turn.
            await asyncio.sleep(float(made.headers.get("retry-after", "1")))
        if made.status_code not in (201, 409):
            raise IdentityError(f"creating user {username}: {made.status_code} {made.text[:200]}")
        # The session token doubles as a bearer token, which needs no CSRF header.
        while True:
            assert self.sign_in is not None
            signed = await self.sign_in.post("/auth/v1/sessions", json={"username": username, "password": password})
            if signed.status_code not in (429, 503):
                break
            # Sign-ins are throttled per address: the demo signs in many officers from one.
            await asyncio.sleep(float(signed.headers.get("retry-after", "1")))
        if signed.status_code != 201:
            raise IdentityError(f"signing in as {username}: {signed.status_code} {signed.text[:200]}")
        self.headers[username] = {"Authorization": f"Bearer {signed.cookies['sajja_session']}"}

    async def _partners(self) -> None:
        for partner, (client_id, scopes) in PARTNERS.items():
            made = await self.client.post(
                "/auth/v1/clients",
                json={"client_id": client_id, "partner": partner, "scopes": scopes},
                headers={"Idempotency-Key": f"client:{client_id}"},
            )
            if made.status_code == 409:  # made by an earlier run: its secret was shown once, so renew it
                made = await self.client.post(
                    f"/auth/v1/clients/{client_id}/secrets", json={}, headers={"Idempotency-Key": f"rotate:{client_id}"}
                )
            if made.status_code != 201:
                raise IdentityError(f"client {client_id}: {made.status_code} {made.text[:200]}")
            secret = made.json()["client_secret"]
            token = await self.client.post(
                "/auth/v1/token",
                content=f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}".encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": ""},
            )
            if token.status_code != 200:
                raise IdentityError(f"token for {client_id}: {token.status_code} {token.text[:200]}")
            self.headers[partner] = {"Authorization": f"Bearer {token.json()['access_token']}"}

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            await self._partners()
