"""Signed tokens (JWT, ES256): issued by the auth service with its private keys, verified by every
service with the public keys it publishes as a JWKS — no call back per request.

Keys come only from the environment (SAJJA_AUTH_SIGNING_KEYS: PEM private keys, newest first). The first
signs; all are published, so rotating is: put a new key first, wait out the longest token lifetime,
then drop the old one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from libs.auth.principal import Principal

ISSUER = "sajja-auth"
AUDIENCE = "sajja"
ALGORITHM = "ES256"


class InvalidToken(Exception):
    """Missing, expired, tampered with, or signed by a key nobody publishes."""


def new_signing_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _kid(public: ec.EllipticCurvePublicKey) -> str:
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        private = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
            raise ValueError("signing keys must be EC P-256 private keys (PEM)")
        return cls(_kid(private.public_key()), private)

    def jwk(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        return body | {"kid": self.kid, "use": "sig", "alg": ALGORITHM}


def claims_of(principal: Principal) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "sub": principal.subject,
        "kind": principal.kind,
        "scope": " ".join(sorted(principal.scopes)),
    }
    for name, value in (
        ("role", principal.role),
        ("prov", principal.province_code),
        ("dist", principal.district_code),
        ("grp", principal.group_id),
        ("partner", principal.partner),
        ("csrf", principal.csrf),
        ("sid", principal.session_id),
    ):
        if value is not None:
            claims[name] = value
    if principal.generation:
        claims["gen"] = principal.generation
    return claims


def principal_of(claims: dict[str, Any]) -> Principal:
    kind = claims.get("kind")
    if kind not in ("user", "partner", "service") or not isinstance(claims.get("sub"), str):
        raise InvalidToken("the token names no user or partner")
    return Principal(
        subject=claims["sub"],
        kind=kind,
        scopes=frozenset(str(claims.get("scope", "")).split()),
        role=claims.get("role"),
        province_code=claims.get("prov"),
        district_code=claims.get("dist"),
        group_id=claims.get("grp"),
        partner=claims.get("partner"),
        csrf=claims.get("csrf"),
        session_id=claims.get("sid") if isinstance(claims.get("sid"), str) else None,
        generation=claims["gen"] if isinstance(claims.get("gen"), int) else 0,
    )


class KeyRing:
    """The auth service's keys: the first signs, every one is published."""

    def __init__(self, pems: Sequence[str]) -> None:
        if not pems:
            raise ValueError("no signing keys: set SAJJA_AUTH_SIGNING_KEYS (make run creates development ones)")
        self.keys = [SigningKey.from_pem(p) for p in pems]

    def issue(self, principal: Principal, lifetime_seconds: int, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims = claims_of(principal) | {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime_seconds,
            "jti": secrets.token_urlsafe(12),
        }
        key = self.keys[0]
        return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.keys]}


VERIFIED_KEPT = 10_000  # verified tokens kept per key set


class Verifier:
    """Checks tokens against a JWKS (the auth service's, fetched and cached by the caller)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.keys = {k["kid"]: jwt.PyJWK(k, algorithm=ALGORITHM) for k in jwks.get("keys", []) if "kid" in k}
        # Tokens already verified, until they expire: a caller's every request need not check the signature
        # again. Per key set (a rotation makes a new Verifier); revocation is checked by the caller each time.
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def knows(self, token: str) -> bool:
        if token in self._verified:
            return True
        try:
            return jwt.get_unverified_header(token).get("kid") in self.keys
        except jwt.PyJWTError:
            return True  # malformed: refetching keys would not help

    def verify(self, token: str) -> Principal:
        kept = self._verified.get(token)
        if kept is not None:
            if kept[1] > time.time():
                self._verified.move_to_end(token)
                return kept[0]
            del self._verified[token]
        principal, expires = self._verify(token)
        self._verified[token] = (principal, expires)
        if len(self._verified) > VERIFIED_KEPT:
            self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self.keys.get(kid or "")
            if key is None:
                raise InvalidToken("the token is signed by an unknown key")
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is not valid") from exc
        return principal_of(claims), float(claims["exp"])
