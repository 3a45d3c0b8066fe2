"""The pipelined city flow (pipeline/flow.py): the same stored result as the three stages run in turn, and a
venue's photos uploaded while the ID stage is still deciding other venues."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import select

from venue_pipeline.cli import import_file
from venue_pipeline.demo import limited_demo_csv
from venue_pipeline.pipeline import run_discovery, run_provider_ids, run_uploads
from venue_pipeline.pipeline.flow import run_city_flow
from venue_pipeline.services import Settings
from venue_pipeline.store.db import session_scope, upgrade
from venue_pipeline.store.schema import ProviderIdRow, VenueImageRow


def _settings(db_url: str, tmp_path, name: str) -> Settings:
    return Settings(db_url=db_url, sandbox_faults="none", image_dir=str(tmp_path / name))


def _stored(db_url: str) -> tuple[Counter, Counter]:
    """(provider, status) of every ID row, (provider, status) of every image row."""
    with session_scope(db_url) as s:
        ids = Counter(s.execute(select(ProviderIdRow.provider, ProviderIdRow.status)).all())
        images = Counter(s.execute(select(VenueImageRow.provider, VenueImageRow.status)).all())
    return ids, images


def test_the_flow_stores_what_the_stages_in_turn_store(city_db, tmp_path) -> None:
    flow = run_city_flow(_settings(city_db, tmp_path, "flow_images"), "exeter")
    other = f"sqlite:///{tmp_path / 'in_turn.db'}"
    upgrade(other)
    import_file(other, limited_demo_csv(8, tmp_path / "subset2.csv"), "open_pubs", quiet=True)
    in_turn = _settings(other, tmp_path, "in_turn_images")
    ids = run_provider_ids(in_turn, "exeter")
    discovery = run_discovery(in_turn, "exeter")
    uploads = run_uploads(in_turn, "exeter")
    assert _stored(city_db) == _stored(other)
    assert flow.ids.matched == ids.matched and flow.ids.calls == ids.calls
    assert flow.discovery.discovered == discovery.discovered and flow.discovery.calls == discovery.calls
    assert flow.discovery.due_venues == discovery.due_venues == 8
    assert flow.uploads.uploaded == uploads.uploaded and sum(flow.uploads.uploaded.values()) > 0
    again = run_city_flow(_settings(city_db, tmp_path, "flow_images"), "exeter")  # nothing due, nothing new
    assert again.discovery.listings == 0 and again.uploads.attempted == 0 and _stored(city_db) == _stored(other)


def test_a_venues_photos_are_uploaded_while_the_id_stage_works_on(city_db, tmp_path, monkeypatch) -> None:
    """Before, no photo was listed until every venue of the city had every provider's answer."""
    import venue_pipeline.core.ids as core_ids
    import venue_pipeline.pipeline.flow as flow_module
    from venue_pipeline.pipeline.transfers import OutcomeLog

    real_settle, real_ids, real_log = core_ids._Run.settle, flow_module.run_provider_ids, OutcomeLog.__call__
    settled: list[int] = []
    ids_ended: list[float] = []
    uploaded: list[float] = []

    def slow_settle(self, venue, records):  # type: ignore[no-untyped-def]
        if settled:  # every venue after the first takes 0.3 s more (the ID stage's own thread only)
            time.sleep(0.3)
        settled.append(venue.id)
        return real_settle(self, venue, records)

    def timed_ids(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return real_ids(*args, **kwargs)
        finally:
            ids_ended.append(time.monotonic())

    def timed_log(self, outcome):  # type: ignore[no-untyped-def]
        uploaded.append(time.monotonic())
        return real_log(self, outcome)

    monkeypatch.setattr(core_ids._Run, "settle", slow_settle)
    monkeypatch.setattr(flow_module, "run_provider_ids", timed_ids)
    monkeypatch.setattr(OutcomeLog, "__call__", timed_log)
    flow = run_city_flow(_settings(city_db, tmp_path, "images"), "exeter")
    assert len(settled) == 8 and sum(flow.uploads.uploaded.values()) == len(uploaded) > 0
    assert min(uploaded) < ids_ended[0] - 1.0  # the first venue's photos, well before the last venue's IDs


def test_a_failing_stage_ends_the_flow_after_the_others_finish_what_they_had(city_db, tmp_path, monkeypatch) -> None:
    import venue_pipeline.core.ids as core_ids

    real_settle = core_ids._Run.settle
    settled: list[int] = []

    def settle_then_fail(self, venue, records):  # type: ignore[no-untyped-def]
        if len(settled) == 3:
            raise RuntimeError("provider IDs failed")
        settled.append(venue.id)
        return real_settle(self, venue, records)

    monkeypatch.setattr(core_ids._Run, "settle", settle_then_fail)
    with pytest.raises(RuntimeError, match="provider IDs failed"):
        run_city_flow(_settings(city_db, tmp_path, "images"), "exeter")
    with session_scope(city_db) as s:
        listed = set(s.scalars(select(VenueImageRow.venue_id)).all())
    assert listed and listed <= set(settled)  # only venues whose IDs were stored went on


def test_one_providers_photos_do_not_wait_for_the_venues_slower_listing(city_db, tmp_path, monkeypatch) -> None:
    """Before, a venue's listings were stored together once every provider answered, so Google's photos of a
    venue waited for its Foursquare listing."""
    import asyncio

    from venue_pipeline.pipeline.transfers import OutcomeLog
    from venue_pipeline.providers.foursquare import FoursquareClient

    real_photos, real_log = FoursquareClient.photos, OutcomeLog.__call__
    listed: list[float] = []
    uploaded: dict[str, list[float]] = {"google_places": [], "foursquare": []}

    async def slow_photos(self, place_id):  # type: ignore[no-untyped-def]
        await asyncio.sleep(2.0)
        try:
            return await real_photos(self, place_id)
        finally:
            listed.append(time.monotonic())

    def timed_log(self, outcome):  # type: ignore[no-untyped-def]
        uploaded[outcome.provider].append(time.monotonic())
        return real_log(self, outcome)

    monkeypatch.setattr(FoursquareClient, "photos", slow_photos)
    monkeypatch.setattr(OutcomeLog, "__call__", timed_log)
    flow = run_city_flow(_settings(city_db, tmp_path, "images"), "exeter")
    assert flow.uploads.uploaded.get("google_places", 0) == len(uploaded["google_places"]) > 0
    assert flow.uploads.uploaded.get("foursquare", 0) == len(uploaded["foursquare"]) > 0
    assert min(uploaded["google_places"]) < min(listed) - 1.0  # Google's photos went ahead
    assert flow.discovery.due_venues == 8 and _stored(city_db)[1]  # and every venue was listed and stored
