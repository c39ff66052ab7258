"""Group hierarchy rules (ARCHITECTURE.md section 5), pure so tests can use them directly."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def inactive_groups(parents: Mapping[int, int | None], active_members: Mapping[int, Iterable[int]]) -> set[int]:
    """Groups with no active direct member and no descendant (at any depth) that has one.

    `active_members[g]` holds g's *active* direct members. Walking up from each group that has
    one marks it and all its ancestors active; the walk stops at an already-active group, so
    it is linear overall and terminates on cycles."""
    active: set[int] = set()
    for group in parents:
        if not active_members.get(group):
            continue
        node: int | None = group
        while node is not None and node in parents and node not in active:
            active.add(node)
            node = parents[node]
    return set(parents) - active


def find_cycles(parents: Mapping[int, int | None]) -> list[list[int]]:
    """Every parent_group_id cycle once, each rotated to start at its smallest id."""
    walk_of: dict[int, int] = {}
    cycles = []
    for start in parents:
        path = []
        node: int | None = start
        while node is not None and node in parents and node not in walk_of:
            walk_of[node] = start
            path.append(node)
            node = parents[node]
        if node is not None and walk_of.get(node) == start and node in path:
            cycle = path[path.index(node) :]
            lowest = cycle.index(min(cycle))
            cycles.append(cycle[lowest:] + cycle[:lowest])
    return sorted(cycles)
