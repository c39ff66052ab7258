"""Help desk: agents, agent_details, admin_groups and roles, with per-agent and per-group state
advanced one day at a time."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from zluri_feedgen.files import ArrayFiles, SmallFiles, write_json
from zluri_feedgen.hierarchy import find_cycles, inactive_groups
from zluri_feedgen.mess import Mess
from zluri_feedgen.values import encode_json, how_many, midnight, mix64, seed_salt, ts_helpdesk

# Id ranges deliberately away from the real sample's 690xxxxxxxx.
AGENT_ID_BASE = 71_100_000_000
GROUP_ID_BASE = 71_300_000_000
ROLE_ID_BASE = 71_400_000_000
PHANTOM_AGENT_ID_BASE = 71_900_000_000
AGENTS_PER_FILE = 10_000

FIRST_NAMES = (
    "Ada",
    "Bram",
    "Chiara",
    "Dev",
    "Elif",
    "Femi",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kavya",
    "Lior",
    "Mina",
    "Nils",
    "Olu",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tove",
    "Uma",
    "Viktor",
    "Wren",
    "Xiu",
    "Yara",
    "Zeno",
)
LAST_NAMES = (
    "Abara",
    "Berg",
    "Castell",
    "Dunmore",
    "Eklund",
    "Farrow",
    "Gallo",
    "Hale",
    "Iyer",
    "Jansen",
    "Kowal",
    "Lindqvist",
    "Mbeki",
    "Novak",
    "Okafor",
    "Pereira",
    "Quist",
    "Rahman",
    "Sato",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weiss",
    "Yilmaz",
    "Zubiri",
)
_TITLES = (
    "IT Support",
    "Service Desk Analyst",
    "Systems Engineer",
    "Network Engineer",
    "IT Manager",
    "Security Analyst",
    "Procurement Specialist",
    None,
)
_ZONES = ("Eastern Time (US & Canada)", "Pacific Time (US & Canada)", "London", "Chennai", "Berlin", "Tokyo")
_AREAS = (
    "Service Desk",
    "Network",
    "Endpoint",
    "Identity",
    "Procurement",
    "Security",
    "Cloud",
    "Facilities",
    "Onboarding",
    "Field Support",
    "Data Platform",
    "Change Board",
)
_ROLES = (
    ("Owner", "Full control of the account, billing included.", 1),
    ("Admin", "Configures the help desk and manages agents.", 1),
    ("Supervisor", "Manages groups and reassigns tickets.", 1),
    ("Agent", "Works tickets in assigned groups.", 1),
    ("Asset Manager", "Maintains the asset inventory.", 1),
    ("Change Approver", "Approves change requests.", 1),
    ("Collaborator", "Comments on tickets when invited.", 3),
    ("Reporter", "Reads dashboards and reports.", 3),
)
_BAD_AGENT_IDS = ("not-a-number", "71x00", "N/A")
_HELPDESK_YEARS = 5 * 365 * 86400  # agents and groups were created within 5 years before the feed


def agent_id(a: int) -> int:
    return AGENT_ID_BASE + 13 * a + 7


def group_id(g: int) -> int:
    return GROUP_ID_BASE + 11 * g + 5


def role_id(r: int) -> int:
    return ROLE_ID_BASE + 3 * r + 1


class Helpdesk:
    """Per-agent and per-group state, advanced one day at a time by `rng` events."""

    def __init__(self, rng: random.Random, seed: int, agents: int, groups: int, depth: int, mess: Mess, start: date):
        self.rng, self.mess, self.n, self.g = rng, mess, agents, groups
        self.salt = seed_salt(seed, "helpdesk")
        self.start = start
        self.listed = bytearray(b"\1" * agents)
        self.detailed = bytearray(b"\1" * agents)
        self.deactivated = bytearray(agents)
        self.seen = bytearray(agents)
        self.changed_on = [0] * agents  # day number of the last change, 0 = before the feed
        self.group_changed_on = [0] * groups
        # Agent 0 is always active (it anchors the deep chain and the self-loop); agent 1 is
        # always listed but deactivated (the only member of the 2-cycle). Events skip both.
        if agents >= 2:
            self.deactivated[1] = 1
        movable = list(range(2, agents))
        self.movable = movable

        count = how_many(mess.details_only, len(movable))
        details_only = rng.sample(movable, count)
        for a in details_only:
            self.listed[a] = 0
        rest = [a for a in movable if self.listed[a]]
        for a in rng.sample(rest, how_many(mess.list_only, len(rest))):
            self.detailed[a] = 0
        for a in rng.sample(rest, how_many(mess.agent_deactivate, len(rest))):
            self.deactivated[a] = 1
        self.roles = [tuple(sorted(rng.sample(range(len(_ROLES)), rng.choice((1, 1, 2, 3))))) for _ in range(agents)]

        # Hierarchy: chain 0..depth-1, a random forest after it (parent index < own index keeps
        # it acyclic under moves), then the deliberate cycles.
        cyclic = mess.cycles and groups >= 4
        plain = groups - 3 if cyclic else groups
        self.chain = min(depth, plain)
        self.parent: list[int | None] = [None] * groups
        for j in range(1, plain):
            if j < self.chain:
                self.parent[j] = j - 1
            else:
                self.parent[j] = None if rng.random() < 0.1 else rng.randrange(j)
        self.tree = list(range(self.chain, plain))
        self.cycle_groups: list[int] = []
        if cyclic:
            pair_a, pair_b, loop = groups - 3, groups - 2, groups - 1
            self.parent[pair_a], self.parent[pair_b], self.parent[loop] = pair_b, pair_a, loop
            self.cycle_groups = [pair_a, pair_b, loop]
            if len(self.tree) >= 2:  # a subtree hanging off a cycle: the recursion must still stop
                self.parent[self.tree[-1]] = pair_a

        # Memberships: the chain holds only the anchor at its deepest level, so the whole chain
        # is active through it alone; a fifth of the forest stays empty (inactive groups).
        self.members: list[set[int]] = [set() for _ in range(groups)]
        self.members[self.chain - 1].add(0)
        if cyclic:
            self.members[groups - 1].add(0)
            if agents >= 2:
                self.members[groups - 3].add(1)
        # groups under the 2-cycle stay empty, so the cycle is inactive and must still terminate
        self.joinable = [g for g in self.tree if rng.random() >= 0.2 and self.parent[g] not in self.cycle_groups]
        if self.joinable:
            for a in movable:
                for g in rng.sample(self.joinable, min(len(self.joinable), rng.choice((0, 1, 1, 1, 2, 2, 3)))):
                    self.members[g].add(a)
        self.previous_pairs: set[int] = set()

    # -- day transitions ---------------------------------------------------------------------

    def advance(self, day: int) -> None:
        rng, mess = self.rng, self.mess
        touched: set[int] = set()

        def pick(candidates: list[int], rate: float, at_least: int = 1) -> list[int]:
            chosen = rng.sample(candidates, how_many(rate, len(candidates), at_least))
            touched.update(chosen)
            for a in chosen:
                self.changed_on[a] = day
            return chosen

        listed_now = [a for a in self.movable if self.listed[a]]
        for j, a in enumerate(pick(listed_now, mess.agent_leave, at_least=2)):
            self.listed[a] = 0
            # the first leaver keeps agent_details and the second does not, so both cases exist
            self.detailed[a] = 1 if j == 0 or (j > 1 and rng.random() < mess.leaver_keeps_details) else 0
        absent = [a for a in self.movable if not self.listed[a] and a not in touched]
        for a in pick(absent, mess.agent_return):
            self.listed[a] = self.detailed[a] = 1
            self.deactivated[a] = 0
        active = [a for a in self.movable if self.listed[a] and not self.deactivated[a] and a not in touched]
        for a in pick(active, mess.agent_deactivate):
            self.deactivated[a] = 1
        flagged = [a for a in self.movable if self.listed[a] and self.deactivated[a] and a not in touched]
        for a in pick(flagged, mess.agent_deactivate):
            self.deactivated[a] = 0
        multi_role = [a for a in self.movable if self.detailed[a] and len(self.roles[a]) > 1 and a not in touched]
        for a in pick(multi_role, mess.role_removal):
            kept = list(self.roles[a])
            kept.pop(rng.randrange(len(kept)))
            self.roles[a] = tuple(kept)

        movable_groups = [g for g in self.tree if g >= 2 and self.parent[g] not in self.cycle_groups]
        for g in rng.sample(movable_groups, how_many(mess.group_move, len(movable_groups))):
            current, new = self.parent[g], rng.randrange(g - 1)  # any earlier group but the current parent
            self.parent[g] = new + 1 if current is not None and new >= current else new
            self.group_changed_on[g] = day

        total = sum(len(m) for m in self.members)
        churn = how_many(mess.membership_churn, total) if self.joinable and len(self.movable) else 0
        for _ in range(churn):
            g = rng.choice(self.joinable)
            if self.members[g]:
                self.members[g].discard(rng.choice(sorted(self.members[g])))
            self.members[rng.choice(self.joinable)].add(rng.choice(self.movable))

    # -- records -----------------------------------------------------------------------------

    def _agent_base(self, a: int) -> dict:
        h = mix64(self.salt ^ mix64(a))
        h2 = mix64(h)
        first, last = FIRST_NAMES[h % len(FIRST_NAMES)], LAST_NAMES[(h >> 8) % len(LAST_NAMES)]
        start = midnight(self.start)
        created = start - _HELPDESK_YEARS + h2 % (_HELPDESK_YEARS - 90 * 86400)
        if self.changed_on[a]:
            updated = midnight(self.start + timedelta(days=self.changed_on[a] - 1)) + 3600 + (h2 >> 20) % 64800
        else:
            updated = created + (h2 >> 20) % (start - 86400 - created)
        contact = {
            "active": True,
            "email": f"{first}.{last}.{a}@corp.example".lower(),
            "job_title": _TITLES[(h >> 16) % len(_TITLES)],
            "language": "en",
            "last_login_at": ts_helpdesk(updated),
            "mobile": None,
            "name": f"{first} {last}",
            "phone": None,
            "time_zone": _ZONES[(h >> 24) % len(_ZONES)],
            "created_at": ts_helpdesk(created),
            "updated_at": ts_helpdesk(created + (h >> 32) % 86400),
        }
        return {
            "id": agent_id(a),
            "created_at": ts_helpdesk(created),
            "updated_at": ts_helpdesk(updated),
            "last_active_at": ts_helpdesk(updated),
            "contact": contact,
            "deactivated": bool(self.deactivated[a]),
            "type": "support_agent",
            "occasional": False,
            "ticket_scope": 1 + (h >> 40) % 3,
        }

    @staticmethod
    def _agent_record(base: dict) -> dict:
        return {
            **base,
            "available": False,
            "available_since": None,
            "focus_mode": True,
            "agent_operational_status": "available",
            "signature": None,
        }

    def _details_record(self, a: int, base: dict, group_ids: list[int]) -> dict:
        return {
            **base,
            "contact": {**base["contact"], "avatar": None},
            "role_ids": [role_id(r) for r in self.roles[a]],
            "group_ids": group_ids,
            "skill_ids": [],
            "scope": 1,
            "available": False,
            "focus_mode": True,
        }

    def _group_record(self, g: int, agent_ids: list[int]) -> dict:
        h = mix64(self.salt ^ 0x5EED ^ mix64(g))
        created = midnight(self.start) - _HELPDESK_YEARS + h % (365 * 86400)
        updated = created + (h >> 30) % (365 * 86400)
        if self.group_changed_on[g]:
            updated = midnight(self.start + timedelta(days=self.group_changed_on[g] - 1)) + 7200 + (h >> 40) % 3600
        area = _AREAS[g % len(_AREAS)]
        parent = self.parent[g]
        return {
            "id": group_id(g),
            "name": f"{area} {g // len(_AREAS) + 1}" if g >= len(_AREAS) else area,
            "description": f"Tickets routed to the {area.lower()} team",
            "escalate_to": None,
            "unassigned_for": None,
            "agent_ids": agent_ids,
            "parent_group_id": None if parent is None else group_id(parent),
            "created_at": ts_helpdesk(created),
            "updated_at": ts_helpdesk(updated),
            "type": "support_agent_group",
            "allow_agents_to_change_availability": False,
        }

    def write_day(self, day_dir: Path, day: int, day_truth: dict) -> None:
        rng, mess, n = self.rng, self.mess, self.n
        known = bytearray(a | b for a, b in zip(self.listed, self.detailed))
        for a in range(n):
            if known[a]:
                self.seen[a] = 1

        phantoms: dict[int, int] = {}
        for g in rng.sample(range(self.g), how_many(mess.unknown_member, self.g)):
            phantoms[g] = PHANTOM_AGENT_ID_BASE + rng.randrange(1_000_000)
        group_ids_of: list[list[int]] = [[] for _ in range(n)]
        groups_out = ArrayFiles(day_dir / "admin_groups", 1 << 62, wrapped=False)
        pairs: set[int] = set()
        for g in range(self.g):
            members = sorted(a for a in self.members[g] if known[a])
            for a in members:
                group_ids_of[a].append(group_id(g))
                pairs.add(g * n + a)
            ids = [agent_id(a) for a in members]
            if g in phantoms:
                ids = sorted(ids + [phantoms[g]])
            groups_out.write(self._group_record(g, ids))
        groups_out.close()

        agents_out = ArrayFiles(day_dir / "agents", AGENTS_PER_FILE, wrapped=False)
        details_out = SmallFiles(day_dir / "agent_details")
        for a in range(n):
            if known[a]:
                base = self._agent_base(a)
                if self.listed[a]:
                    agents_out.write(self._agent_record(base))
                if self.detailed[a]:
                    details_out.write(
                        f"{agent_id(a)}.json", encode_json(self._details_record(a, base, group_ids_of[a]))
                    )
        details_out.close()
        listed_now = [a for a in range(n) if self.listed[a]]
        duplicated = rng.sample(listed_now, how_many(mess.agent_duplicate, len(listed_now)))
        for a in duplicated:  # a re-sent page: identical copy, far from the original
            agents_out.write(self._agent_record(self._agent_base(a)))
        bad = how_many(mess.bad_agent, n)
        for j in range(bad):
            base = self._agent_base(j % n)
            record = {
                **self._agent_record(base),
                "id": _BAD_AGENT_IDS[j % len(_BAD_AGENT_IDS)],
                "contact": {**base["contact"], "email": f"broken.{j}@corp.example", "name": f"Broken Record {j}"},
            }
            agents_out.write(record)
        agents_out.close()
        details = details_out.count

        write_json(
            day_dir / "roles" / "1.json",
            [
                {
                    "id": role_id(r),
                    "name": name,
                    "description": text,
                    "default": r < 4,
                    "created_at": "2019-02-01T09:00:00Z",
                    "updated_at": "2024-01-15T12:00:00Z",
                    "agent_type": agent_type,
                }
                for r, (name, text, agent_type) in enumerate(_ROLES)
            ],
        )

        day_truth["records"].update(
            agents=agents_out.count, agent_details=details, admin_groups=self.g, roles=len(_ROLES)
        )
        if bad:
            day_truth["quarantined"]["agents"]["invalid_id"] = bad
        if phantoms:
            day_truth["quarantined"]["group_memberships"]["unknown_agent"] = len(phantoms)
        day_truth["duplicates"]["agents"] = len(duplicated)
        day_truth["memberships"] = {
            "valid": len(pairs),
            "unknown_agent": len(phantoms),
            "added": len(pairs - self.previous_pairs),
            "removed": len(self.previous_pairs - pairs),
        }
        self.previous_pairs = pairs

    # -- truth -------------------------------------------------------------------------------

    def status(self, a: int) -> str:
        return "active" if self.listed[a] and not self.deactivated[a] else "inactive"

    def agent_statuses(self) -> dict[int, str]:
        return {agent_id(a): self.status(a) for a in range(self.n) if self.seen[a]}

    def group_truth(self) -> tuple[dict[int, int | None], set[int]]:
        parents = {group_id(g): None if p is None else group_id(p) for g, p in enumerate(self.parent)}
        active_members = {
            group_id(g): {a for a in self.members[g] if self.listed[a] and not self.deactivated[a]}
            for g in range(self.g)
        }
        return parents, inactive_groups(parents, active_members)

    def final(self) -> dict:
        parents, inactive = self.group_truth()
        known = [self.listed[a] or self.detailed[a] for a in range(self.n)]
        return {
            "agents": {
                agent_id(a): {"status": self.status(a), "deactivated": bool(self.deactivated[a])}
                for a in range(self.n)
                if self.seen[a]
            },
            "groups": {
                gid: {"status": "inactive" if gid in inactive else "active", "parent_group_id": parent}
                for gid, parent in parents.items()
            },
            "memberships": sorted(
                [group_id(g), agent_id(a)] for g in range(self.g) for a in self.members[g] if known[a]
            ),
            "agent_roles": sorted(
                [agent_id(a), role_id(r)] for a in range(self.n) if self.detailed[a] for r in self.roles[a]
            ),
            "cycles": find_cycles(parents),
        }
