"""The venue store behaves the same on SQLite and PostgreSQL: imports, dedupe, outcomes, migrations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, inspect, select, text

from venue_pipeline.core.gallery import ImageTask, UploadOutcome
from venue_pipeline.core.importer import VenueInput
from venue_pipeline.core.ports import PhotoRef
from venue_pipeline.core.quality import quality_score
from venue_pipeline.store import images, provider_ids
from venue_pipeline.store.db import current_revision, get_engine, head_revision, session_scope, upgrade
from venue_pipeline.store.schema import UploadAttemptRow, VenueImageRow, VenueRow
from venue_pipeline.store.venues import list_venues, upsert_venues


def _venue(ext: str, name: str = "Anchor Inn", lat: float | None = 52.0, city: str = "Exeter") -> VenueInput:
    return VenueInput(
        source="open_pubs",
        external_id=ext,
        name=name,
        address="1 High Street, EXETER",
        postcode="EX1 1AA",
        city_name=city,
        city_slug=city.lower(),
        country="United Kingdom",
        lat=lat,
        lng=None if lat is None else -3.5,
        needs_geocoding=lat is None,
    )


def test_schema_is_at_head_and_upgrade_is_idempotent(any_db_url: str) -> None:
    assert current_revision(any_db_url) == head_revision()
    assert upgrade(any_db_url) == head_revision()
    tables = set(inspect(get_engine(any_db_url)).get_table_names())
    assert {"venues", "provider_ids", "venue_images", "upload_attempts", "api_calls", "failure_reports"} <= tables


def test_reimport_updates_instead_of_duplicating(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        first = upsert_venues(s, [_venue("1"), _venue("2", name="Red Lion"), _venue("3", lat=None)])
    assert (first.inserted, first.updated) == (3, 0)
    with session_scope(any_db_url) as s:
        again = upsert_venues(s, [_venue("1", name="The Anchor Inn"), _venue("2", name="Red Lion"), _venue("3", lat=None)])
    assert (again.inserted, again.updated, again.unchanged) == (0, 1, 2)
    with session_scope(any_db_url) as s:
        venues = list_venues(s)
        assert s.scalar(select(func.count(VenueRow.id))) == 3
        flagged = s.scalar(select(VenueRow).where(VenueRow.external_id == "3"))
        assert flagged.needs_geocoding and flagged.lat is None
    assert [v.name for v in venues][0] == "The Anchor Inn"


def test_reimport_without_coordinates_keeps_known_ones(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [_venue("1", lat=51.5)])
    with session_scope(any_db_url) as s:
        upsert_venues(s, [_venue("1", lat=None)])
    with session_scope(any_db_url) as s:
        assert list_venues(s)[0].lat == 51.5


def _refs(n: int, provider: str = "foursquare", size: tuple[int, int] = (1600, 1200)) -> list[PhotoRef]:
    return [PhotoRef(provider, f"p{i}", f"https://fastly.4sqi.net/img/general/{{size}}/p{i}.jpg", *size) for i in range(n)]


def test_rediscovery_updates_rows_and_never_adds_twins(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [_venue("1")])
        vid = list_venues(s)[0].id
        first = images.save_discovered(s, vid, "foursquare", "fsq1", _refs(4), quality_score)
    with session_scope(any_db_url) as s:
        again = images.save_discovered(s, vid, "foursquare", "fsq1", _refs(4, size=(800, 600)), quality_score)
        total = s.scalar(select(func.count(VenueImageRow.id)))
    assert first.new == 4 and again.new == 0 and again.updated == 4 and total == 4


def test_gallery_caps_hold_over_the_stored_gallery(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [_venue("1")])
        vid = list_venues(s)[0].id
        for round_ in range(3):
            refs = [PhotoRef("foursquare", f"r{round_}-{i}", "ref", 1200, 900) for i in range(8)]
            images.save_discovered(s, vid, "foursquare", "fsq1", refs, quality_score, max_per_provider=10)
        assert s.scalar(select(func.count(VenueImageRow.id))) == 10


def test_outcomes_write_attempts_and_statuses(any_db_url: str) -> None:
    now = datetime.now(timezone.utc)
    with session_scope(any_db_url) as s:
        upsert_venues(s, [_venue("1")])
        vid = list_venues(s)[0].id
        images.save_discovered(s, vid, "foursquare", "fsq1", _refs(3), quality_score)
    with session_scope(any_db_url) as s:
        tasks = images.upload_tasks(s, city_slug="exeter")
        assert len(tasks) == 3 and all(isinstance(t, ImageTask) for t in tasks)
        a, b, c = tasks
        images.apply_outcome(s, UploadOutcome(a.image_id, "foursquare", True, now, 5, "file:///x", "/venues/x/a.jpg"), run_id="r1")
        images.apply_outcome(s, UploadOutcome(b.image_id, "foursquare", False, now, 5, error_type="service_unavailable", status_code=503, message="503"), run_id="r1")
        images.apply_outcome(s, UploadOutcome(c.image_id, "foursquare", False, now, 5, error_type="not_found", status_code=404, message="gone"), run_id="r1")
    with session_scope(any_db_url) as s:
        rows = {r.id: r for r in s.scalars(select(VenueImageRow))}
        assert rows[a.image_id].status == "uploaded" and rows[a.image_id].cdn_path == "/venues/x/a.jpg"
        assert rows[b.image_id].status == "failed" and rows[b.image_id].error_class == "transient"
        assert rows[b.image_id].next_retry_at is not None and rows[b.image_id].next_retry_at > now
        assert rows[c.image_id].status == "permanently_failed" and rows[c.image_id].status_code == 404
        assert s.scalar(select(func.count(UploadAttemptRow.id))) == 3
        # a failed retry never downgrades an image another run already uploaded
        late = UploadOutcome(a.image_id, "foursquare", False, now, 5, error_type="bad_gateway", status_code=502)
        assert images.apply_outcome(s, late, run_id="r2") is None
        assert s.get(VenueImageRow, a.image_id).status == "uploaded"
        due = images.upload_tasks(s, statuses=("failed",), due_before=now + timedelta(days=1))
        assert [t.image_id for t in due] == [b.image_id]


def test_a_matched_id_is_never_replaced_by_a_rejection(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [_venue("1")])
        vid = list_venues(s)[0].id
        provider_ids.save(s, [provider_ids.IdRecord(vid, "here", "matched", "search", "here:pds:place:abc", 0.93)])
        provider_ids.save(s, [provider_ids.IdRecord(vid, "here", "no_match", "search", None, 0.2)])
        assert provider_ids.matched_ids(s, [vid]) == {vid: {"here": "here:pds:place:abc"}}


@pytest.mark.parametrize("bad", ["postgresql://u@h/db", "postgres://u@h/db"])
def test_bare_postgres_urls_use_psycopg2(bad: str) -> None:
    from venue_pipeline.store.db import normalize_url

    assert normalize_url(bad).startswith("postgresql+psycopg2://")


def test_per_venue_cap_holds_after_three_rediscoveries_with_new_photos(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [_venue("1")])
        vid = list_venues(s)[0].id
        for round_ in range(3):
            for provider in ("foursquare", "google_places", "here"):
                refs = [PhotoRef(provider, f"{round_}-{i}", "ref", 1200 + i, 900) for i in range(4)]
                images.save_discovered(s, vid, provider, "pid", refs, quality_score, max_per_venue=25)
        rows = list(s.scalars(select(VenueImageRow).where(VenueImageRow.venue_id == vid)))
    assert len(rows) == 25
    assert max(sum(1 for r in rows if r.provider == p) for p in ("foursquare", "google_places", "here")) <= 10
    assert sorted(r.position for r in rows) == list(range(1, 26))


def test_an_existing_database_is_upgraded_in_place_keeping_its_rows(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    assert upgrade(url, "0001") == "0001"
    with session_scope(url) as s:  # a row written by the first schema version, in its own columns
        s.execute(
            text(
                "INSERT INTO venues (source, external_id, name, slug, city_slug, city_name, needs_geocoding, "
                "created_at, updated_at) VALUES ('csv', '1', 'Old Pub', 'old-pub', 'bath', 'Bath', false, "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    assert upgrade(url) == head_revision()
    with session_scope(url) as s:
        venues = list_venues(s)
    assert [v.name for v in venues] == ["Old Pub"]
