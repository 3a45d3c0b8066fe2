"""The staleness rule: 30 days with images, 7 without, new provider IDs at once, force always."""

from datetime import datetime, timedelta, timezone

from venue_pipeline.core.staleness import due_providers

NOW = datetime(2026, 11, 21, tzinfo=timezone.utc)
IDS = {"here": NOW - timedelta(days=100), "google_places": NOW - timedelta(days=100)}


def test_never_checked_venues_are_due_for_every_provider() -> None:
    assert due_providers(None, False, IDS, NOW) == ["google_places", "here"]


def test_venues_with_images_wait_30_days_and_without_7() -> None:
    assert due_providers(NOW - timedelta(days=29), True, IDS, NOW) == []
    assert due_providers(NOW - timedelta(days=30), True, IDS, NOW) == ["google_places", "here"]
    assert due_providers(NOW - timedelta(days=6), False, IDS, NOW) == []
    assert due_providers(NOW - timedelta(days=7), False, IDS, NOW) == ["google_places", "here"]


def test_an_id_matched_after_the_last_check_is_due_at_once() -> None:
    ids = {**IDS, "foursquare": NOW - timedelta(hours=1)}
    assert due_providers(NOW - timedelta(days=1), True, ids, NOW) == ["foursquare"]


def test_force_overrides_freshness() -> None:
    assert due_providers(NOW - timedelta(days=1), True, IDS, NOW, force=True) == ["google_places", "here"]
