"""Who counts with a swarm's members when a silent account's window purity is judged.

A swarm of two-request accounts leaves nearly half of them with nothing of its kind: counted
against the members, they made the swarm's own window look half pure. Those sharing the
members' values count with the members; a class repeating exercises that share one of the
swarm's values counts as the day's newcomers.
"""

from __future__ import annotations

import pytest

from distillguard.detectors.cohort import shares_window_values, silent_window_purity


def test_a_half_silent_swarm_window_is_pure_for_an_account_sharing_its_values_not_for_others() -> None:
    # 100 members, 90 silent accounts of which 85 share the members' values, 5 ordinary newcomers
    assert silent_window_purity(100, 90, 85, shares_values=True) == pytest.approx(185 / 190)
    assert silent_window_purity(100, 90, 85, shares_values=False) == pytest.approx(100 / 190)
    # a day with hundreds of untied newcomers stays impure even for a tied account
    assert silent_window_purity(100, 900, 85, shares_values=True) < 0.2


def test_a_class_sharing_one_of_the_swarms_values_is_the_days_newcomers() -> None:
    # silent, one shared value: counts with the members
    assert shares_window_values(1, asked_its_kind=False)
    # asked the cohort's kind and is no member (it repeated others' items): a class, whatever it shares
    assert not shares_window_values(1, asked_its_kind=True)
    assert not shares_window_values(2, asked_its_kind=True)
    # nothing shared: never counted with the members
    assert not shares_window_values(0, asked_its_kind=False)
