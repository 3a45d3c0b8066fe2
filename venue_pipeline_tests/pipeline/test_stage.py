"""The stage scaffold: typed summaries merged per kind, provider restriction, and the metadata each stage's
summary becomes (the same keys and per-provider columns as before the scaffold)."""

from __future__ import annotations

import pytest

from venue_pipeline.defs.metadata import (
    discovery_metadata,
    ids_metadata,
    retry_metadata,
    upload_metadata,
)
from venue_pipeline.pipeline import (
    DiscoverySummary,
    IdsSummary,
    RetrySummary,
    StageSummary,
    UploadSummary,
    merge,
)
from venue_pipeline.pipeline.stage import restrict_providers
from venue_pipeline.services import Settings


def test_merge_adds_up_common_and_own_fields_and_keeps_the_kind() -> None:
    one = UploadSummary(calls={"here": 2}, cost={"here": 0.5}, duration_s=1.0, attempted=3, uploaded={"here": 2},
                        failed={"here": 1}, thumbnails=[("/a", "u")], disabled={"here": "paused"})
    two = UploadSummary(calls={"here": 1, "foursquare": 4}, cost={"here": 0.25}, duration_s=2.5, attempted=1,
                        uploaded={"foursquare": 1}, thumbnails=[("/b", "v")])
    merged = merge([one, two])
    assert type(merged) is UploadSummary
    assert merged.calls == {"foursquare": 4, "here": 3} and merged.cost == {"here": 0.75}
    assert merged.duration_s == 3.5 and merged.attempted == 4
    assert merged.uploaded == {"foursquare": 1, "here": 2} and merged.failed == {"here": 1}
    assert merged.thumbnails == [("/a", "u"), ("/b", "v")] and merged.disabled == {"here": "paused"}
    with pytest.raises(ValueError):
        merge([])


def test_every_stage_summary_has_its_progress_line() -> None:
    assert "2 accepted" in IdsSummary(matched={"here": 2}).progress()
    assert "would make 3 lookups" in IdsSummary(dry_run=True, would_ask={"here": 3}, cost={"here": 0.1}).progress()
    assert "1 new" in DiscoverySummary(new={"here": 1}).progress()
    assert "1 permanently failed" in UploadSummary(retired={"here": 1}).progress()
    assert "4 due" in RetrySummary(due=4).progress()
    with pytest.raises(NotImplementedError):
        StageSummary().progress()


def test_restrict_providers_keeps_order_and_refuses_unknown_names() -> None:
    settings = Settings(db_url="sqlite://")
    assert restrict_providers(settings, ()) is settings
    assert restrict_providers(settings, ["foursquare", "here"]).providers == ("here", "foursquare")
    with pytest.raises(ValueError, match="unknown providers"):
        restrict_providers(settings, ["yelp"])


def _columns(table) -> list[str]:
    return [c.name for c in table.schema.columns]


def test_stage_metadata_keys_and_per_provider_columns_are_unchanged() -> None:
    common = {"calls", "cost_usd", "duration_s", "per_provider"}
    ids = ids_metadata(IdsSummary(), {"here": None})
    assert set(ids) == common | {
        "venues", "ids_total_before", "ids_total_after", "matches_accepted", "matches_rejected", "matches_ambiguous",
        "deferred_by_quota", "venues_geocoded", "skipped_in_cooldown", "dry_run", "errors", "provider_notes",
        "consensus_rejected", "consensus_rescued", "consensus", "consensus_samples",
    }
    assert _columns(ids["per_provider"]) == [
        "provider", "ids_before", "ids_after", "accepted", "rejected", "ambiguous", "deferred", "quota_share",
        "calls", "would_ask (dry run)", "cost_usd", "daily_quota",
    ]
    discovery = discovery_metadata(DiscoverySummary(deferred={"here": 2}))
    assert set(discovery) == common | {
        "venues", "venues_due", "photos_discovered", "photos_new", "photos_updated", "photos_over_cap",
        "deferred_by_quota", "errors", "provider_notes", "listings_backed_off",  # listings_backed_off: issue 15
    }
    assert discovery["deferred_by_quota"] == 2
    assert _columns(discovery["per_provider"]) == [  # deferred and quota_share: issue 17
        "provider", "discovered", "new", "updated", "deferred", "quota_share", "calls", "cost_usd",
    ]
    upload = upload_metadata(UploadSummary(failed={"here": 3}), Settings(db_url="sqlite://"))
    assert set(upload) == common | {
        "attempts", "images", "uploaded", "failed_will_retry", "permanently_failed", "skipped_provider_disabled",
        "failure_breakdown", "failed_images", "gallery",
    }
    assert upload["failed_will_retry"] == 3
    assert _columns(upload["per_provider"]) == [
        "provider", "uploaded", "failed", "permanently_failed", "calls", "cost_usd"
    ]
    retry = retry_metadata(RetrySummary(still_failed={"here": 1}, refresh_calls={"google_places": 2}))
    assert set(retry) == common | {
        "due", "attempted", "uploaded", "still_failed", "permanently_failed", "reopened", "references_refreshed",
        "reference_refresh_calls", "skipped_open_circuit", "failure_breakdown", "circuits",
    }
    assert retry["still_failed"] == 1 and retry["reference_refresh_calls"] == 2
    assert _columns(retry["per_provider"]) == [
        "provider", "uploaded", "still_failed", "permanently_failed", "refresh_calls", "skipped_open_circuit"
    ]
