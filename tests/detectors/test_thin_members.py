"""A member with only a request or two is compared with its cluster on what so few requests
can show: it cannot have rotated through a proxy pool, so that part of the cluster's
harvesting is not held against it; everything else still is."""

from __future__ import annotations

from distillguard.detectors.account.proxy_rotation import ceiling as proxy_ceiling
from distillguard.scan.scoring import member_consistency

# An agentic hydra as on the tiny benchmark: rotating proxies (mean proxy score 0.7),
# maximised outputs, fresh sign-ups; behaviour 0.46, content 0.16, harvest 0.75.
HYDRA = {"cluster_mean_behaviour": 0.46, "cluster_mean_content": 0.16}
HYDRA_HARVEST = {"cluster_mean_harvest": 0.75, "cluster_mean_proxy": 0.7}


def test_a_two_request_script_tied_member_harvesting_like_its_hydra_inherits_in_full() -> None:
    # 32k max_tokens and a day-old sign-up; its two requests left through two prefixes,
    # which the proxy score cannot count yet.
    thin = member_consistency(0.225, 0.0, **HYDRA, harvest=0.45, **HYDRA_HARVEST, events=2)
    assert thin == 1.0


def test_without_its_request_count_the_member_is_judged_as_before() -> None:
    held = member_consistency(0.225, 0.0, **HYDRA, harvest=0.45, cluster_mean_harvest=0.75)
    assert 0.7 < held < 0.8


def test_a_thin_member_that_harvests_nothing_still_inherits_nothing() -> None:
    # a phone on the hydra's residential range: no big limits, an old account
    assert member_consistency(0.05, 0.0, **HYDRA, harvest=0.1, **HYDRA_HARVEST, events=2) < 0.3


def test_from_eight_requests_rotation_is_expected_in_full() -> None:
    assert proxy_ceiling(1) == proxy_ceiling(2) == 0.0
    assert proxy_ceiling(5) == 0.5
    assert proxy_ceiling(8) == proxy_ceiling(100) == 1.0
    heavy = member_consistency(0.225, 0.0, **HYDRA, harvest=0.45, **HYDRA_HARVEST, events=40)
    assert heavy == member_consistency(0.225, 0.0, **HYDRA, harvest=0.45, cluster_mean_harvest=0.75)
