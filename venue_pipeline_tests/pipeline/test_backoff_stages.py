"""The city stages on an explicit clock (issue 15): backed-off listings and cooling searches make no call."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from venue_pipeline.core.backoff import THIN_GALLERY
from venue_pipeline.core.importer import VenueInput
from venue_pipeline.core.statuses import IdStatus
from venue_pipeline.pipeline import run_discovery, run_provider_ids, run_uploads
from venue_pipeline.services import Settings
from venue_pipeline.store import images as images_db
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import ProviderIdRow, VenueRow
from venue_pipeline.store.venues import upsert_venues

T = datetime(2027, 3, 1, 6, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)
PHOTO_PROVIDERS = ("foursquare", "google_places")


def _settings(db_url: str, tmp_path) -> Settings:
    return Settings(db_url=db_url, sandbox_faults="none", image_dir=str(tmp_path / "images"))


def _rows(db_url: str) -> dict[tuple[int, str], ProviderIdRow]:
    with session_scope(db_url) as s:
        rows = list(s.scalars(select(ProviderIdRow).where(ProviderIdRow.venue_id.in_(select(VenueRow.id).where(VenueRow.city_slug == "exeter")))))
        s.expunge_all()
    return {(r.venue_id, r.provider): r for r in rows}


def _galleries(db_url: str, keys: set[tuple[int, str]]) -> dict[int, images_db.GalleryCounts]:
    with session_scope(db_url) as s:
        found = images_db.gallery_counts(s, sorted({v for v, _ in keys}))
    return {v: found.get(v, images_db.GalleryCounts()) for v, _ in keys}


def test_listings_that_brought_nothing_new_back_off_while_the_venue_is_due(city_db, tmp_path) -> None:
    settings = _settings(city_db, tmp_path)
    run_provider_ids(settings, "exeter", now=T)
    first = run_discovery(settings, "exeter", now=T)
    run_uploads(settings, "exeter")
    listed = {k for k, r in _rows(city_db).items() if r.listed_at is not None}
    assert listed and {p for _, p in listed} <= set(PHOTO_PROVIDERS)  # HERE and Geoapify are never listed
    assert all(_rows(city_db)[k].listed_at == T for k in listed)
    assert sum(first.calls.get(p, 0) for p in PHOTO_PROVIDERS) >= len(listed)

    # 31 days on: every gallery is stale; a listing that brought new photos waits 30 days, so it is due; an empty
    # one 60 (14 for a thin gallery); one whose provider's share of the gallery is full 240
    rows, galleries = _rows(city_db), _galleries(city_db, listed)
    empty = {k for k in listed if rows[k].listing_streak == 1}
    full = {k for k in listed if galleries[k[0]].full(k[1])}
    held = full | {k for k in empty if galleries[k[0]].uploaded >= THIN_GALLERY}
    again = run_discovery(settings, "exeter", now=T + 31 * DAY)
    assert again.due_venues == 8 and again.backed_off == len(held) and sum(again.new.values()) == 0
    assert sum(again.calls.values()) == len(listed) - len(held)
    rows = _rows(city_db)
    assert all(rows[k].listed_at == T + 31 * DAY and rows[k].listing_streak >= 1 for k in listed - held)
    assert all(rows[k].listed_at == T for k in held)
    assert len(listed - held) > len(held)  # most first listings brought photos

    # 62 days on: the venues are stale again, but an empty listing waits 60 days (a thin gallery 14): those
    # listed at T+31 are held unless thin, those held at T+31 (listed empty at T) are due again, full ones are not
    galleries = _galleries(city_db, listed)
    thin = {k for k in listed - held if galleries[k[0]].uploaded < THIN_GALLERY}
    due = thin | (held - full)
    third = run_discovery(settings, "exeter", now=T + 62 * DAY)
    assert {p: n for p, n in third.calls.items() if n} == dict(Counter(p for _, p in due))  # one call per pair
    assert third.backed_off == len(listed) - len(due) > 0
    rows = _rows(city_db)
    assert listed - held - thin and all(rows[k].listed_at == T + 31 * DAY for k in listed - held - thin)  # not asked
    assert all(rows[k].listed_at == T + 62 * DAY for k in due)
    with session_scope(city_db) as s:  # still counted as checked: the schedule does not ask for them tomorrow
        checked = set(s.scalars(select(VenueRow.images_checked_at).where(VenueRow.city_slug == "exeter")))
    assert checked == {T + 62 * DAY}


def test_rejected_searches_cool_down_exponentially_and_a_changed_venue_is_searched_at_once(city_db, tmp_path) -> None:
    settings = _settings(city_db, tmp_path)
    run_provider_ids(settings, "exeter", now=T)
    rejected = {k for k, r in _rows(city_db).items() if r.status in (IdStatus.NO_MATCH, IdStatus.AMBIGUOUS)}
    assert rejected and all(_rows(city_db)[k].searches == 1 for k in rejected)
    assert run_provider_ids(settings, "exeter", now=T + 29 * DAY).calls == {}  # cooling down: 30 days

    second = run_provider_ids(settings, "exeter", now=T + 30 * DAY)
    assert second.skipped_cooldown == 0 and sum(second.calls.values()) >= len(rejected)
    rows = _rows(city_db)
    still = {k for k in rejected if rows[k].status != IdStatus.MATCHED}
    assert all(rows[k].searches == 2 and rows[k].next_search_at == T + 90 * DAY for k in still)
    assert run_provider_ids(settings, "exeter", now=T + 89 * DAY).calls == {}  # 60 days now, not 30

    venue_id, provider = sorted(still)[0]
    with session_scope(city_db) as s:
        row = s.get(VenueRow, venue_id)
        item = VenueInput(row.source, row.external_id, row.name + " Inn", row.address, row.postcode, row.city_name,
                          row.city_slug, row.country, row.lat, row.lng, False)
        result = upsert_venues(s, [item], now=T + 40 * DAY)  # a re-import renames it
    assert result.updated == 1
    third = run_provider_ids(settings, "exeter", now=T + 41 * DAY)
    asked = Counter(p for v, p in still if v == venue_id)
    assert set(third.calls) == set(asked) and third.skipped_cooldown == len(still) - len(asked)
    rows = _rows(city_db)
    assert rows[(venue_id, provider)].matched_at == T + 41 * DAY
    assert rows[(venue_id, provider)].status == IdStatus.MATCHED or rows[(venue_id, provider)].searches == 1
