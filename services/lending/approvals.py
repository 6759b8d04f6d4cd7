"""Applications waiting for a checker (maker-checker): what the loan_portfolio projection keeps of each loan
application until it is fully approved or rejected, and who of the officers may still check it. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from libs.events.envelope import RecordedEvent

APPLICATION_EVENTS = frozenset(
    {"lending.LoanApplied", "lending.LoanApproved", "lending.LoanRejected", "lending.LoanClosed"}
)


@dataclass
class Application:
    """A row of loan_applications: an application still waiting for one or more approvals."""

    loan_id: str
    group_id: str
    member_id: str
    province_code: str
    district_code: str
    product_id: str
    programme_id: str | None
    principal_satang: int
    term_months: int
    applied_on: date
    entered_by: str
    approvals_required: int
    approved_by: list[str] = field(default_factory=list)

    def may_check(self, who: str) -> bool:
        """Whether `who` may approve it now: not its maker, and not one who approved it already."""
        return who != self.entered_by and who not in self.approved_by


def application_step(waiting: dict[str, Application | None], event: RecordedEvent) -> bool:
    """Apply one lending event to the applications it names. `waiting` holds what is known of the event's loan
    (None: it waits no longer). Returns whether anything changed."""
    p, t = event.payload, event.event_type
    loan_id = str(p.get("loan_id", ""))
    if t == "lending.LoanApplied":
        if waiting.get(loan_id) is not None:
            return False
        area = event.area
        waiting[loan_id] = Application(
            loan_id,
            str(p["group_id"]),
            str(p["member_id"]),
            area.province_code if area else "",
            area.district_code if area else "",
            str(p.get("product_id") or p.get("programme_id") or ""),
            p.get("programme_id"),
            int(p["principal_satang"]),
            int(p.get("term_months", 0)),
            date.fromisoformat(str(p["applied_on"])),
            str(p.get("entered_by", "")),
            int((p.get("terms") or {}).get("approvals_required", 1)),
        )
        return True
    application = waiting.get(loan_id)
    if application is None:
        return False
    if t == "lending.LoanApproved" and not p["fully_approved"]:
        if p["approved_by"] in application.approved_by:
            return False
        application.approved_by.append(str(p["approved_by"]))
        return True
    if t in ("lending.LoanApproved", "lending.LoanRejected", "lending.LoanClosed"):
        waiting[loan_id] = None
        return True
    return False
