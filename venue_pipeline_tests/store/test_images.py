"""store/images.py: discovery under gallery caps, upload tasks and outcomes, and the queries the checks and
the retry sensor ask (due failures, duplicates, secrets, statuses), the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from venue_pipeline.core.gallery import ImageTask, UploadOutcome
from venue_pipeline.core.ports import PhotoRef
from venue_pipeline.core.quality import quality_score
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.store import images
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import UploadAttemptRow, VenueImageRow
from venue_pipeline.store.venues import list_venues, upsert_venues
from venue_pipeline_tests.store.factories import NOW, add_image, refs, venue_input


def _one_venue(s) -> int:  # type: ignore[no-untyped-def]
    upsert_venues(s, [venue_input("1")])
    return list_venues(s)[0].id


def test_rediscovery_updates_rows_and_never_adds_twins(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        vid = _one_venue(s)
        first = images.save_discovered(s, vid, "foursquare", "fsq1", refs(4), quality_score)
    with session_scope(any_db_url) as s:
        again = images.save_discovered(s, vid, "foursquare", "fsq1", refs(4, size=(800, 600)), quality_score)
        total = s.scalar(select(func.count(VenueImageRow.id)))
    assert first.new == 4 and again.new == 0 and again.updated == 4 and total == 4


def test_gallery_caps_hold_over_the_stored_gallery(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        vid = _one_venue(s)
        for round_ in range(3):
            batch = [PhotoRef("foursquare", f"r{round_}-{i}", "ref", 1200, 900) for i in range(8)]
            images.save_discovered(s, vid, "foursquare", "fsq1", batch, quality_score, max_per_provider=10)
        assert s.scalar(select(func.count(VenueImageRow.id))) == 10


def test_per_venue_cap_holds_after_three_rediscoveries_with_new_photos(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        vid = _one_venue(s)
        for round_ in range(3):
            for provider in ("foursquare", "google_places", "here"):
                batch = [PhotoRef(provider, f"{round_}-{i}", "ref", 1200 + i, 900) for i in range(4)]
                images.save_discovered(s, vid, provider, "pid", batch, quality_score, max_per_venue=25)
        rows = list(s.scalars(select(VenueImageRow).where(VenueImageRow.venue_id == vid)))
    assert len(rows) == 25
    assert max(sum(1 for r in rows if r.provider == p) for p in ("foursquare", "google_places", "here")) <= 10
    assert sorted(r.position for r in rows) == list(range(1, 26))


def test_outcomes_write_attempts_and_statuses(any_db_url: str) -> None:
    now = datetime.now(timezone.utc)
    with session_scope(any_db_url) as s:
        vid = _one_venue(s)
        images.save_discovered(s, vid, "foursquare", "fsq1", refs(3), quality_score)
    with session_scope(any_db_url) as s:
        tasks = images.upload_tasks(s, city_slug="exeter")
        assert len(tasks) == 3 and all(isinstance(t, ImageTask) for t in tasks)
        a, b, c = tasks
        images.apply_outcome(s, UploadOutcome(a.image_id, "foursquare", True, now, 5, "file:///x", "/venues/x/a.jpg"), run_id="r1")
        images.apply_outcome(s, UploadOutcome(b.image_id, "foursquare", False, now, 5, error_type="service_unavailable", status_code=503, message="503"), run_id="r1")
        images.apply_outcome(s, UploadOutcome(c.image_id, "foursquare", False, now, 5, error_type="not_found", status_code=404, message="gone"), run_id="r1")
    with session_scope(any_db_url) as s:
        rows = {r.id: r for r in s.scalars(select(VenueImageRow))}
        assert rows[a.image_id].status == ImageStatus.UPLOADED and rows[a.image_id].cdn_path == "/venues/x/a.jpg"
        assert rows[b.image_id].status == ImageStatus.FAILED and rows[b.image_id].error_class == "transient"
        assert rows[b.image_id].next_retry_at is not None and rows[b.image_id].next_retry_at > now
        assert rows[c.image_id].status == ImageStatus.PERMANENTLY_FAILED and rows[c.image_id].status_code == 404
        assert s.scalar(select(func.count(UploadAttemptRow.id))) == 3
        # a failed retry never downgrades an image another run already uploaded
        late = UploadOutcome(a.image_id, "foursquare", False, now, 5, error_type="bad_gateway", status_code=502)
        assert images.apply_outcome(s, late, run_id="r2") is None
        assert s.get(VenueImageRow, a.image_id).status == ImageStatus.UPLOADED
        due = images.upload_tasks(s, statuses=(ImageStatus.FAILED,), due_before=now + timedelta(days=1))
        assert [t.image_id for t in due] == [b.image_id]


def test_reopen_makes_retired_images_failed_and_due(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        vid = _one_venue(s)
        retired = add_image(s, vid, "gone", ImageStatus.PERMANENTLY_FAILED, error_type="not_found").id
        add_image(s, vid, "ok", ImageStatus.UPLOADED, position=1)
        assert images.reopen(s, venue_ids=[vid]) == 1
    with session_scope(any_db_url) as s:
        row = s.get(VenueImageRow, retired)
        assert (row.status, row.attempts) == (ImageStatus.FAILED, 0)
        assert images.due_failure_count(s) == 1
        assert images.reopen(s, venue_ids=[vid]) == 0


def test_due_failure_count_counts_failed_images_whose_retry_time_has_come(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        vid = _one_venue(s)
        add_image(s, vid, "due", ImageStatus.FAILED, error_type="bad_gateway", next_retry_at=NOW - timedelta(minutes=1))
        add_image(s, vid, "unset", ImageStatus.FAILED, error_type="bad_gateway", next_retry_at=None)
        add_image(s, vid, "later", ImageStatus.FAILED, error_type="bad_gateway", next_retry_at=NOW + timedelta(hours=1))
        add_image(s, vid, "retired", ImageStatus.PERMANENTLY_FAILED, error_type="not_found")
        add_image(s, vid, "pending", ImageStatus.PENDING)
    with session_scope(any_db_url) as s:
        assert images.due_failure_count(s, now=NOW) == 2
        assert images.due_failure_count(s, now=NOW + timedelta(hours=2)) == 3
        assert images.due_failure_count(s) == 2  # default: now


def test_no_duplicates_on_a_store_whose_constraints_forbid_them(any_db_url: str) -> None:
    """(venue, provider, photo key) and CDN paths are unique in the schema; the checks' queries stay empty."""
    with session_scope(any_db_url) as s:
        vid = _one_venue(s)
        add_image(s, vid, "a", ImageStatus.UPLOADED, cdn_path="/venues/x/a.jpg")
        add_image(s, vid, "a", ImageStatus.UPLOADED, provider="here", cdn_path="/venues/x/b.jpg")
        add_image(s, vid, "c", ImageStatus.PENDING)
        add_image(s, vid, "d", ImageStatus.PENDING)  # two NULL CDN paths are not a duplicate
        assert images.duplicate_photo_keys(s) == []
        assert images.duplicate_cdn_paths(s) == []


def test_images_with_secrets_finds_keys_in_any_stored_url_or_message(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        vid = _one_venue(s)
        clean = add_image(s, vid, "clean", reference="places/abc/photos/xyz").id
        in_ref = add_image(s, vid, "ref", reference="https://maps.example/photo?maxwidth=400&key=AIza").id
        in_cdn = add_image(s, vid, "cdn", ImageStatus.UPLOADED, cdn_url="https://ik.imagekit.io/x.jpg?Signature=AB",
                           provider="here").id
        add_image(s, vid, "msg", ImageStatus.FAILED, error_type="forbidden")
        s.get(VenueImageRow, clean).error_message = "403 for https://x/y?sig=123"
        s.flush()
        found = images.images_with_secrets(s)
        assert sorted(found) == sorted([(clean, "foursquare"), (in_ref, "foursquare"), (in_cdn, "here")])
        assert len(images.images_with_secrets(s, limit=1)) == 1
        assert images.images_with_secrets(s, markers=("nothing=",)) == []


def test_images_without_status_lists_rows_outside_image_status(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        vid = _one_venue(s)
        for status in ImageStatus:
            add_image(s, vid, f"p-{status}", status)
        odd = add_image(s, vid, "odd", "queued").id
        assert images.images_without_status(s) == [odd]


def test_venue_gallery_is_in_position_order_with_retired_images_last(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        vid = _one_venue(s)
        retired = add_image(s, vid, "r", ImageStatus.PERMANENTLY_FAILED, position=None).id
        second = add_image(s, vid, "b", ImageStatus.UPLOADED, position=2).id
        first = add_image(s, vid, "a", ImageStatus.PENDING, position=1).id
        assert [r.id for r in images.venue_gallery(s, vid)] == [first, second, retired]
        assert images.venue_gallery(s, vid + 1) == []


def test_gallery_counts_say_how_thin_or_full_a_gallery_is(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        vid = _one_venue(s)
        for i in range(images.MAX_PER_PROVIDER):
            add_image(s, vid, f"g{i}", ImageStatus.UPLOADED if i < 2 else ImageStatus.PENDING, provider="google_places")
        add_image(s, vid, "f0", ImageStatus.UPLOADED)
        add_image(s, vid, "f1", ImageStatus.PERMANENTLY_FAILED)
        s.flush()
        counts = images.gallery_counts(s, [vid, vid + 1])
    assert set(counts) == {vid}  # a venue without images has no entry
    got = counts[vid]
    assert (got.uploaded, got.live, got.live_by_provider) == (3, 11, {"google_places": 10, "foursquare": 1})
    assert got.full("google_places") and not got.full("foursquare")  # a retired image frees its place
    assert images.GalleryCounts(live=images.MAX_PER_VENUE).full("foursquare")
