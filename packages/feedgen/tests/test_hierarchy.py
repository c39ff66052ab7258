"""Group rules on hand-built hierarchies: activity flows up from members, cycles terminate."""

from zluri_feedgen import find_cycles, inactive_groups


def test_inactive_groups_on_hand_built_hierarchies():
    chain = {1: None, 2: 1, 3: 2, 4: 3, 5: 4}
    assert inactive_groups(chain, {5: {100}}) == set()  # only the deepest has an active member
    assert inactive_groups(chain, {3: {100}}) == {4, 5}  # activity flows up, never down

    tree = {1: None, 2: 1, 3: 1}  # leaf 3 has only inactive members (not listed as active)
    assert inactive_groups(tree, {2: {100}, 3: set()}) == {3}

    two_cycle = {10: 11, 11: 10}
    assert inactive_groups(two_cycle, {}) == {10, 11}  # terminates
    assert inactive_groups({**two_cycle, 12: 10}, {12: {100}}) == set()  # a descendant lights the cycle

    assert inactive_groups({7: 7}, {}) == {7}
    assert inactive_groups({7: 7}, {7: {100}}) == set()
    assert inactive_groups({1: 999}, {1: {100}}) == set()  # parent outside the feed is ignored


def test_find_cycles_reports_each_cycle_once_from_its_smallest_id():
    parents = {1: None, 2: 1, 5: 4, 4: 6, 6: 5, 7: 7, 8: 7, 9: 8}
    assert find_cycles(parents) == [[4, 6, 5], [7]]
    assert find_cycles({1: None, 2: 1}) == []
