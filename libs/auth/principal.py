"""Who is calling, what they may do, and where: roles, scopes and areas. Pure.

Operations users have a role and an area: a group's committee its group, a district officer its
district, a province officer its province; the department and auditors work everywhere (auditors only
read). Partner clients (a bank, the pawnshop office) act only for themselves, through their scopes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["committee", "district_officer", "province_officer", "department", "auditor"]
ROLES: tuple[Role, ...] = ("committee", "district_officer", "province_officer", "department", "auditor")

READS = frozenset({"ledger:read", "lending:read", "campaign:read", "reporting:read"})
ROLE_SCOPES: dict[str, frozenset[str]] = {
    # The committee runs its group's loans: it approves (maker-checker among its members) and pays out.
    "committee": READS | {"ledger:write", "lending:write", "lending:approve"},
    "district_officer": READS
    | {"ledger:write", "lending:write", "lending:approve", "campaign:report", "reporting:write"},
    "province_officer": READS | {"campaign:report", "campaign:award", "reporting:write", "audit:read"},
    "department": READS
    | {
        "ledger:write",
        "lending:write",
        "lending:approve",
        "lending:admin",
        "campaign:report",
        "campaign:award",
        "campaign:admin",
        "reporting:write",
        "referrals:admin",
        "pawn:read",
        "audit:read",
        "auth:admin",
        "ops:read",
        "ops:admin",
    },
    "auditor": READS | {"pawn:read", "audit:read", "referrals:read-all", "ops:read"},
}
# What a partner client may be given: its own referral feed, or the pawnshop office's transactions.
PARTNER_SCOPES = frozenset({"referrals", "pawn:read", "pawn:write"})
# What one service reads of another when it composes an answer (a group summary, a partner's contact), and
# what services alone may read: members' names by id from the ledger's register (ledger:names), for the rows of
# a list whose area the calling service has checked already. No user role or partner holds it.
SERVICE_SCOPES = READS | {"referrals:admin", "pawn:read", "ops:read", "ledger:names"}
NATIONWIDE = frozenset({"department", "auditor"})


@dataclass(frozen=True)
class Place:
    """Where a record belongs: its province and district, and its group when it has one."""

    province_code: str
    district_code: str | None = None
    group_id: str | None = None


@dataclass(frozen=True)
class Principal:
    subject: str
    kind: Literal["user", "partner", "service"]
    scopes: frozenset[str] = field(default_factory=frozenset)
    role: str | None = None
    province_code: str | None = None
    district_code: str | None = None
    group_id: str | None = None
    partner: str | None = None
    # Sessions (cookies) carry the CSRF token their unsafe requests must echo in a header.
    csrf: str | None = None
    # A dashboard session's id (revoked by signing out), and the generation of the user's or client's
    # access the token was issued under (deactivation, a password reset or a rotated secret raise it).
    session_id: str | None = None
    generation: int = 0

    @property
    def nationwide(self) -> bool:
        return (self.kind == "user" and self.role in NATIONWIDE) or self.kind == "service"

    def covers(self, place: Place) -> bool:
        """Whether the caller's area includes the place."""
        if self.nationwide:
            return True
        if self.kind != "user":
            return False
        if self.role == "province_officer":
            return place.province_code == self.province_code
        if self.role == "district_officer":
            return place.district_code is not None and place.district_code == self.district_code
        if self.role == "committee":
            return place.group_id is not None and place.group_id == self.group_id
        return False

    def covers_area(self, level: str, code: str | None) -> bool:
        """Whether an area named by level and code (national, a province, a district) is within the caller's."""
        if self.nationwide:
            return True
        if self.kind != "user" or level == "national" or not code:
            return False
        if level == "province":
            return self.role == "province_officer" and code == self.province_code
        if level == "district":
            if self.role == "province_officer":
                return code[:2] == self.province_code
            return self.role == "district_officer" and code == self.district_code
        return False


def user_scopes(role: str) -> frozenset[str]:
    if role not in ROLE_SCOPES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    return ROLE_SCOPES[role]


def check_user_area(
    role: str, province_code: str | None, district_code: str | None, group_id: str | None
) -> str | None:
    """What is wrong with a user's area for the role, or None."""
    needs = {
        "committee": ("group_id", group_id),
        "district_officer": ("district_code", district_code),
        "province_officer": ("province_code", province_code),
    }
    if role in needs and not needs[role][1]:
        return f"a {role} needs {needs[role][0]}"
    if role == "district_officer" and district_code and province_code and district_code[:2] != province_code:
        return f"district {district_code} is not in province {province_code}"
    return None
