"""The city stages end to end on the sandbox: quotas across restarts, missing keys, dry runs, idempotence."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from venue_pipeline.cli import import_file
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.pipeline import run_discovery, run_provider_ids, run_uploads
from venue_pipeline.services import Settings
from venue_pipeline.store.db import dispose_engines, session_scope
from venue_pipeline.store.schema import ApiCallRow, ProviderIdRow, VenueImageRow, VenueRow


def _settings(db_url: str, tmp_path, **kw) -> Settings:
    return Settings(db_url=db_url, sandbox_faults="none", image_dir=str(tmp_path / "images"), **kw)


def test_foursquare_quota_holds_across_runs_and_a_restart(city_db, tmp_path) -> None:
    settings = _settings(city_db, tmp_path, providers=("foursquare",), quotas={"foursquare": 5})
    with session_scope(city_db) as s:
        exeter = list(s.scalars(select(VenueRow.id).where(VenueRow.city_slug == "exeter")))
    # Exeter's venues without a city: the daily quota alone decides (a city run would take only its share of it,
    # the other two cities waiting: test_quota_shares.py)
    first = run_provider_ids(settings, None, venue_ids=exeter)
    decided = sum(first.matched.values()) + sum(first.no_match.values()) + sum(first.ambiguous.values())
    deferred = first.deferred.get("foursquare", 0)
    # one search per venue, a second (500 m) one for a venue nothing near matched: 5 calls decide 3-5 venues
    assert first.calls == {"foursquare": 5} and 3 <= decided <= 5 and decided + deferred == 8 and not first.errors
    dispose_engines()  # a restart: new engines, new ledger, nothing cached in memory
    second = run_provider_ids(settings, None, venue_ids=exeter)
    assert second.calls == {} and second.deferred == {"foursquare": deferred} and not second.errors
    with session_scope(city_db) as s:
        assert s.scalar(select(func.count(ApiCallRow.id)).where(ApiCallRow.provider == "foursquare")) == 5
        statuses = dict(s.execute(select(ProviderIdRow.status, func.count()).group_by(ProviderIdRow.status)).all())
    assert statuses.get("deferred") == deferred and "failed" not in statuses


def test_a_missing_api_key_disables_only_that_provider(city_db, tmp_path, caplog) -> None:
    keys = {"here": None, "geoapify": "k", "foursquare": "k", "google_places": "k"}
    settings = _settings(city_db, tmp_path, api_keys=keys, sandbox_fill_keys=False)
    summary = run_provider_ids(settings, "exeter")
    assert list(summary.disabled) == ["here"] and "HERE_API_KEY" in summary.disabled["here"]
    assert "here" not in summary.calls and set(summary.calls) == {"geoapify", "foursquare", "google_places"}
    assert sum(summary.matched.values()) > 0
    assert sum("HERE_API_KEY" in r.getMessage() for r in caplog.records) == 1
    from venue_pipeline.defs.metadata import ids_metadata

    note = ids_metadata(summary, {})["provider_notes"].value
    assert "HERE_API_KEY" in note  # the run's metadata says why HERE did nothing


def test_dry_run_reports_lookups_and_cost_without_calling_or_storing(city_db, tmp_path) -> None:
    summary = run_provider_ids(_settings(city_db, tmp_path), "exeter", dry_run=True)
    assert summary.would_ask == {"foursquare": 8, "geoapify": 8, "google_places": 8, "here": 8}
    assert summary.cost["google_places"] == pytest.approx(8 * 0.032)
    with session_scope(city_db) as s:
        assert s.scalar(select(func.count(ApiCallRow.id))) == 0
        assert s.scalar(select(func.count(ProviderIdRow.id))) == 0


def test_rerunning_a_processed_city_adds_no_row_and_uploads_nothing(city_db, tmp_path) -> None:
    settings = _settings(city_db, tmp_path)
    run_provider_ids(settings, "exeter")
    run_discovery(settings, "exeter")
    first = run_uploads(settings, "exeter")
    assert sum(first.uploaded.values()) > 0
    with session_scope(city_db) as s:
        rows = s.scalar(select(func.count(VenueImageRow.id)))
    run_provider_ids(settings, "exeter")
    again = run_discovery(settings, "exeter")
    second = run_uploads(settings, "exeter")
    assert sum(again.new.values()) == 0 and second.attempted == 0
    with session_scope(city_db) as s:
        assert s.scalar(select(func.count(VenueImageRow.id))) == rows


def test_no_stored_google_reference_carries_a_key(city_db, tmp_path) -> None:
    for api in ("new", "legacy"):
        settings = _settings(city_db, tmp_path, providers=("google_places",), google_api=api)
        run_provider_ids(settings, "exeter")
        run_discovery(settings, "exeter", force=True)
        run_uploads(settings, "exeter")
    with session_scope(city_db) as s:
        rows = s.execute(select(VenueImageRow.reference, VenueImageRow.cdn_url, VenueImageRow.error_message)).all()
    assert rows
    for row in rows:
        for text in filter(None, row):
            assert "sandbox-key" not in text and "key=" not in text.lower()


def test_google_photos_of_equal_width_become_distinct_cdn_files(city_db, tmp_path) -> None:
    settings = _settings(city_db, tmp_path, providers=("google_places",))
    run_provider_ids(settings, "exeter")
    run_discovery(settings, "exeter")
    run_uploads(settings, "exeter")
    with session_scope(city_db) as s:
        rows = s.execute(
            select(VenueImageRow.venue_id, VenueImageRow.width, VenueImageRow.cdn_path).where(
                VenueImageRow.status == "uploaded"
            )
        ).all()
    same_width: dict[tuple[int, int], list[str]] = {}
    for venue_id, width, path in rows:
        same_width.setdefault((venue_id, width), []).append(path)
    groups = [paths for paths in same_width.values() if len(paths) > 1]
    assert groups, "the sandbox should give some venue two Google photos of one width"
    for paths in groups:
        assert len(set(paths)) == len(paths)
        assert all((tmp_path / "images" / p.lstrip("/")).exists() for p in paths)


def test_every_image_ends_in_a_classified_status_under_heavy_faults(city_db, tmp_path) -> None:
    settings = _settings(city_db, tmp_path)
    settings.sandbox_faults = "heavy"
    run_provider_ids(settings, "exeter")
    run_discovery(settings, "exeter")
    summary = run_uploads(settings, "exeter")
    with session_scope(city_db) as s:
        rows = s.execute(select(VenueImageRow.status, VenueImageRow.error_type, VenueImageRow.error_class)).all()
    statuses = [r[0] for r in rows]
    assert "pending" not in statuses and "failed" in statuses and "uploaded" in statuses
    for status, error_type, error_class in rows:
        if status in ("failed", "permanently_failed"):
            assert error_type and error_class in ("transient", "permanent", "ambiguous")
    assert sum(summary.uploaded.values()) == statuses.count("uploaded")
    assert sum(summary.failed.values()) == statuses.count("failed")
    assert sum(summary.retired.values()) == statuses.count("permanently_failed")


def test_geocoding_a_venue_does_not_move_the_sandbox_world(db_url, tmp_path, monkeypatch) -> None:
    from venue_pipeline.services import build_world_sandbox
    from venue_pipeline.store.venues import list_venues

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dh"))
    monkeypatch.setenv("VENUE_PIPELINE_HOME", str(tmp_path))
    import_file(db_url, limited_demo_csv(200, tmp_path / "all.csv"), "open_pubs", quiet=True)
    settings = _settings(db_url, tmp_path, providers=("geoapify",))
    with session_scope(db_url) as s:
        missing = [v.id for v in list_venues(s) if not v.has_coordinates]
    assert missing
    before = {v: build_world_sandbox(settings).world.truth("geoapify", v) for v in missing}
    summary = run_provider_ids(settings, None, venue_ids=missing)
    assert summary.geocoded == len(missing)
    with session_scope(db_url) as s:
        assert all(v.has_coordinates for v in list_venues(s, venue_ids=missing))
        matched = {r.venue_id: r.place_id for r in s.scalars(select(ProviderIdRow)) if r.status == "matched"}
    world = build_world_sandbox(settings).world
    assert {v: world.truth("geoapify", v) for v in missing} == before
    assert all(matched[v] == before[v] for v in missing if v in matched)


def test_here_keeps_its_ids_but_is_never_asked_for_photos(city_db, tmp_path) -> None:
    """HERE Geocoding & Search v7 has no photos: discovery makes no HERE call and stores no HERE image."""
    from venue_pipeline.services import shared_sandbox

    settings = _settings(city_db, tmp_path)
    ids = run_provider_ids(settings, "exeter")
    assert ids.matched.get("here", 0) > 0
    sandbox = shared_sandbox(settings)
    sandbox.reset_counters()
    run_discovery(settings, "exeter")
    assert sandbox.calls_to("lookup.search.hereapi.com") == 0
    assert not any(h.endswith("hereapi.com") for h, _ in sandbox.calls)
    with session_scope(city_db) as s:
        assert s.scalar(select(func.count(VenueImageRow.id)).where(VenueImageRow.provider == "here")) == 0
        assert s.scalar(select(func.count(ApiCallRow.id)).where(ApiCallRow.endpoint == "lookup")) == 0


def test_ids_and_listings_are_stored_as_each_venue_completes(city_db, tmp_path, monkeypatch) -> None:
    """A stage that dies part-way keeps what it already decided: IDs and listings are saved venue by venue."""
    import venue_pipeline.core.ids as core_ids

    settings = _settings(city_db, tmp_path, providers=("here",))
    real_settle = core_ids._Run.settle
    settled: list[int] = []

    class Killed(BaseException):
        """Stands for the process dying: nothing catches it."""

    def settle_then_die(self, venue, records):  # type: ignore[no-untyped-def]
        if len(settled) == 3:
            raise Killed("killed mid-stage")
        settled.append(venue.id)
        return real_settle(self, venue, records)

    monkeypatch.setattr(core_ids._Run, "settle", settle_then_die)
    with pytest.raises(Killed):
        run_provider_ids(settings, "exeter")
    with session_scope(city_db) as s:
        stored = set(s.scalars(select(ProviderIdRow.venue_id)).all())
    assert stored == set(settled) and len(stored) == 3


def test_google_photo_downloads_keep_to_the_daily_quota(city_db, tmp_path) -> None:
    """Google bills each Place Photo request under its daily quota; downloads used to be recorded but never checked
    against it (found by the production-topology test: 33 Google calls on a quota of 28)."""
    free = _settings(city_db, tmp_path, providers=("google_places",))
    with session_scope(city_db) as s:
        exeter = list(s.scalars(select(VenueRow.id).where(VenueRow.city_slug == "exeter")))
    run_provider_ids(free, None, venue_ids=exeter)
    run_discovery(free, None, venue_ids=exeter)
    with session_scope(city_db) as s:
        used = s.scalar(select(func.count(ApiCallRow.id)).where(ApiCallRow.provider == "google_places"))
        waiting = s.scalar(select(func.count(VenueImageRow.id)).where(VenueImageRow.provider == "google_places"))
    assert waiting > 3
    capped = _settings(city_db, tmp_path, providers=("google_places",), quotas={"google_places": used + 3})
    run_uploads(capped, None, venue_ids=exeter)
    with session_scope(city_db) as s:
        calls = s.scalar(select(func.count(ApiCallRow.id)).where(ApiCallRow.provider == "google_places"))
        statuses = dict(
            s.execute(
                select(VenueImageRow.status, func.count()).where(VenueImageRow.provider == "google_places")
                .group_by(VenueImageRow.status)
            ).all()
        )
        deferred = set(s.scalars(select(VenueImageRow.error_type).where(VenueImageRow.status == "failed")))
    assert calls == used + 3
    assert statuses.get("uploaded") == 3 and statuses.get("failed") == waiting - 3
    assert deferred == {"quota_exhausted"}  # transient: retried from the stored reference when the quota resets
