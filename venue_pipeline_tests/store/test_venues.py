"""store/venues.py: imports keyed by (source, external id), reads, the staleness queries and the new-venue scan."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.store import venues
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import VenueRow
from venue_pipeline.store.venues import list_venues, upsert_venues
from venue_pipeline_tests.store.factories import NOW, add_image, venue_input


def test_reimport_updates_instead_of_duplicating(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        first = upsert_venues(s, [venue_input("1"), venue_input("2", name="Red Lion"), venue_input("3", lat=None)])
    assert (first.inserted, first.updated) == (3, 0)
    with session_scope(any_db_url) as s:
        again = upsert_venues(
            s, [venue_input("1", name="The Anchor Inn"), venue_input("2", name="Red Lion"), venue_input("3", lat=None)]
        )
    assert (again.inserted, again.updated, again.unchanged) == (0, 1, 2)
    with session_scope(any_db_url) as s:
        found = list_venues(s)
        assert s.scalar(select(func.count(VenueRow.id))) == 3
        flagged = s.scalar(select(VenueRow).where(VenueRow.external_id == "3"))
        assert flagged.needs_geocoding and flagged.lat is None
    assert [v.name for v in found][0] == "The Anchor Inn"


def test_reimport_without_coordinates_keeps_known_ones(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [venue_input("1", lat=51.5)])
    with session_scope(any_db_url) as s:
        upsert_venues(s, [venue_input("1", lat=None)])
    with session_scope(any_db_url) as s:
        assert list_venues(s)[0].lat == 51.5


def test_reads_by_city_ids_and_one_id(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [venue_input("1"), venue_input("2", city="Bath"), venue_input("3", city="Bath")])
        ids = [v.id for v in list_venues(s)]
        assert [v.id for v in list_venues(s, city_slug="bath")] == ids[1:]
        assert [v.id for v in list_venues(s, venue_ids=[ids[2]])] == [ids[2]]
        assert venues.get_venue(s, ids[0]).name == "Anchor Inn"
        assert venues.get_venue(s, max(ids) + 1) is None
        assert venues.cities(s) == [("bath", "Bath", 2), ("exeter", "Exeter", 1)]


def test_geocoded_coordinates_are_kept_apart_from_imported_ones(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [venue_input("1", lat=None)])
        vid = list_venues(s)[0].id
        venues.set_coordinates(s, vid, 50.7, -3.5)
    with session_scope(any_db_url) as s:
        assert (list_venues(s)[0].lat, list_venues(s)[0].lng) == (50.7, -3.5)
        assert list_venues(s, as_imported=True)[0].lat is None


def test_new_venue_scan_pages_by_id(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [venue_input(str(i), city=c) for i, c in enumerate(["Bath", "York", "Bath", "Leeds"])])
        ids = [v.id for v in list_venues(s)]
        assert venues.venues_after(s, 0, 2) == [(ids[0], "bath"), (ids[1], "york")]
        assert venues.venues_after(s, ids[1], 10) == [(ids[2], "bath"), (ids[3], "leeds")]
        assert venues.venues_after(s, ids[3], 10) == []
        assert venues.count_venues_after(s, 0) == 4
        assert venues.count_venues_after(s, ids[1]) == 2
        assert venues.count_venues_after(s, ids[3]) == 0


def test_stale_venues_follow_the_staleness_rule(any_db_url: str) -> None:
    """Never checked: stale. With an uploaded image: stale after 30 days. Without: stale after 7 days."""
    with session_scope(any_db_url) as s:
        upsert_venues(s, [venue_input(str(i), city=c) for i, c in enumerate(["Bath"] * 5 + ["York", "Leeds"])])
        v = [x.id for x in list_venues(s)]
        checked = {
            v[0]: None,                       # bath: never checked -> stale
            v[1]: NOW - timedelta(days=10),   # bath: images, 10 days -> fresh
            v[2]: NOW - timedelta(days=31),   # bath: images, 31 days -> stale
            v[3]: NOW - timedelta(days=8),    # bath: no images, 8 days -> stale
            v[4]: NOW - timedelta(days=6),    # bath: no images, 6 days -> fresh
            v[5]: NOW - timedelta(days=40),   # york: no images -> stale
            v[6]: NOW,                        # leeds: fresh
        }
        for vid, when in checked.items():
            s.execute(update(VenueRow).where(VenueRow.id == vid).values(images_checked_at=when))
        add_image(s, v[1], "a", ImageStatus.UPLOADED)
        add_image(s, v[2], "b", ImageStatus.UPLOADED)
        add_image(s, v[4], "c", ImageStatus.FAILED)  # a failed image is not an image: 7-day rule
    with session_scope(any_db_url) as s:
        assert venues.stale_cities(s, NOW, limit=5) == [("bath", 3), ("york", 1)]
        assert venues.stale_cities(s, NOW, limit=1) == [("bath", 3)]
        # never checked first, then the oldest check
        assert venues.stale_venue_ids(s, "bath", NOW, limit=10) == [v[0], v[2], v[3]]
        assert venues.stale_venue_ids(s, "bath", NOW, limit=2) == [v[0], v[2]]
        assert venues.stale_venue_ids(s, "leeds", NOW, limit=10) == []
        # thirty days earlier only the never-checked bath venue and york (then 10 days, no images) were stale
        assert venues.stale_cities(s, NOW - timedelta(days=30), limit=5) == [("bath", 1), ("york", 1)]


def test_images_checked_clock_and_uploaded_flag(any_db_url: str) -> None:
    with session_scope(any_db_url) as s:
        upsert_venues(s, [venue_input("1"), venue_input("2")])
        a, b = (x.id for x in list_venues(s))
        venues.mark_images_checked(s, [a], when=NOW)
        add_image(s, a, "p", ImageStatus.UPLOADED)
        add_image(s, b, "q", ImageStatus.PENDING)
    with session_scope(any_db_url) as s:
        out = venues.images_checked(s, [a, b])
    assert out[a] == (NOW, True)
    assert out[b] == (None, False)


def test_two_imports_of_one_file_at_once_insert_each_venue_once(any_db_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Both read "no such venue" and then inserted it: on PostgreSQL the second died on the unique key (found by
    CI running two demo imports at once). The import write lock makes the second wait and then update nothing."""
    import threading

    real_assign = venues._assign_slugs
    both_read = threading.Barrier(2)

    def assign_after_both_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            both_read.wait(timeout=2)  # with the lock the other import never gets here while this one holds it
        except threading.BrokenBarrierError:
            pass
        return real_assign(*args, **kwargs)

    monkeypatch.setattr(venues, "_assign_slugs", assign_after_both_read)
    batch = [venue_input(str(i), name=f"Venue {i}") for i in range(20)]
    results: list[object] = []

    def import_once() -> None:
        try:
            with session_scope(any_db_url) as s:
                results.append(upsert_venues(s, batch, now=NOW))
        except Exception as exc:  # noqa: BLE001 - the failure is the finding
            results.append(exc)

    threads = [threading.Thread(target=import_once) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.inserted for r in results) == [0, 20]  # type: ignore[attr-defined]
    with session_scope(any_db_url) as s:
        assert s.scalar(select(func.count(VenueRow.id))) == 20
