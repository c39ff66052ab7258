"""How dirty a generated feed is: the share of each kind of defect per day."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Mess:
    """How dirty the feed is. Shares are per day and per eligible population; any share > 0
    yields at least one case, so even tiny feeds exercise every path."""

    agent_leave: float = 0.03  # listed agents dropped from `agents` on a later day
    leaver_keeps_details: float = 0.5  # of those, still present in agent_details
    agent_return: float = 0.3  # absent agents listed again on a later day
    agent_deactivate: float = 0.02  # listed agents flagged deactivated=true (later days: also back)
    details_only: float = 0.02  # agents only in agent_details on day 1
    list_only: float = 0.02  # agents only in agents (no agent_details file) on day 1
    bad_agent: float = 0.01  # extra agent records whose id is not a number
    agent_duplicate: float = 0.005  # agents listed twice on the same day
    group_move: float = 0.05  # groups moved under another parent on a later day
    membership_churn: float = 0.02  # memberships removed (and as many added) on a later day
    unknown_member: float = 0.05  # groups listing an agent id that exists nowhere
    role_removal: float = 0.03  # agents losing one role on a later day
    cycles: bool = True  # a self-parent group and a 2-cycle (needs groups >= 4)
    txn_duplicate: float = 0.01  # same id twice in one day, the later updatedTime must win
    txn_update: float = 0.02  # re-sent next day with a newer updatedTime and another amount
    txn_stale: float = 0.005  # an older version re-sent next day (older updatedTime)
    txn_repeat: float = 0.01  # re-sent next day unchanged
    txn_bad: float = 0.005  # quarantine cases: missing id, bad amount/currency/time
    fx_mismatch: float = 0.003  # feed's USD amount off the ECB conversion by 3-15 %
    malformed_file: bool = True  # one truncated transactions file on day 2 (day 1 if days=1)

    @classmethod
    def clean(cls) -> Mess:
        return cls(**{name: type(value)() for name, value in asdict(cls()).items()})  # 0.0 / False
