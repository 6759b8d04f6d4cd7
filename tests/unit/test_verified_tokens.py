"""A token's signature is checked once per key set; the verified token is kept only until it expires."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from libs.auth import tokens
from libs.auth.principal import Principal
from libs.auth.tokens import InvalidToken, KeyRing, Verifier, new_signing_key_pem

ALICE = Principal(subject="alice", kind="user", scopes=frozenset({"ledger:read"}), role="department")


def counting_decode(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    decode = jwt.decode

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return decode(*args, **kwargs)

    monkeypatch.setattr(tokens.jwt, "decode", counted)
    return calls


def test_a_verified_token_is_not_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = KeyRing([new_signing_key_pem()])
    verifier = Verifier(ring.jwks())
    token = ring.issue(ALICE, 600)
    calls = counting_decode(monkeypatch)
    assert [verifier.verify(token) for _ in range(3)] == [ALICE] * 3
    assert len(calls) == 1 and verifier.knows(token)
    # Another key set (a rotation) checks it again.
    assert Verifier(ring.jwks()).verify(token) == ALICE and len(calls) == 2


def test_a_kept_token_is_refused_once_it_has_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    ring = KeyRing([new_signing_key_pem()])
    verifier = Verifier(ring.jwks())
    token = ring.issue(ALICE, 1)
    assert verifier.verify(token) == ALICE
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(token)


def test_a_bad_token_is_never_kept() -> None:
    ring = KeyRing([new_signing_key_pem()])
    verifier = Verifier(ring.jwks())
    forged = KeyRing([new_signing_key_pem()]).issue(ALICE, 600)
    for _ in range(2):
        with pytest.raises(InvalidToken):
            verifier.verify(forged)
