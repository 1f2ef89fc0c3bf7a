"""Campaign ids come from persistent evidence and are reused through the registry."""

from __future__ import annotations

from distillguard.detectors.campaigns import assign_campaign_ids, new_campaign_id


def test_new_clusters_get_ids_from_their_smallest_member() -> None:
    assigned = assign_campaign_ids({"cl-1": ["b", "a", "c"]}, [])
    assert assigned == {"cl-1": new_campaign_id("a")}
    # Same members, different cluster id and order: same campaign id.
    assert assign_campaign_ids({"cl-9": ["c", "a", "b"]}, []) == {"cl-9": new_campaign_id("a")}


def test_registered_campaign_is_reused_when_members_overlap() -> None:
    registry = [("camp-old", "a"), ("camp-old", "b"), ("camp-other", "z")]
    # The campaign grew new accounts and lost "a": still the same campaign.
    assigned = assign_campaign_ids({"cl-2": ["b", "n1", "n2"], "cl-3": ["q", "r"]}, registry)
    assert assigned["cl-2"] == "camp-old"
    assert assigned["cl-3"] == new_campaign_id("q")


def test_most_overlap_wins_when_a_cluster_spans_two_campaigns() -> None:
    registry = [("camp-a", "a1"), ("camp-b", "b1"), ("camp-b", "b2")]
    assert assign_campaign_ids({"cl": ["a1", "b1", "b2"]}, registry) == {"cl": "camp-b"}
