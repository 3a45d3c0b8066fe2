"""A photo that leads off the provider's photo hosts, is too big or is not an image: refused, never fetched, retired."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from venue_pipeline.cdn.local import LocalImageStore
from venue_pipeline.core.gallery import ImageTask, UploadOutcome
from venue_pipeline.core.ports import PhotoRef
from venue_pipeline.core.statuses import ImageStatus
from venue_pipeline.core.upload import upload_one
from venue_pipeline.core.venue import Venue
from venue_pipeline.providers.google_places import GooglePlacesClient
from venue_pipeline.providers.memory_ledger import MemoryLedger
from venue_pipeline.providers.registry import build_clients, default_settings
from venue_pipeline.sandbox.app import Sandbox, build_sandbox
from venue_pipeline.sandbox.faults import FaultConfig, FaultRates
from venue_pipeline.store import images
from venue_pipeline.store.db import session_scope
from venue_pipeline.store.schema import UploadAttemptRow, VenueImageRow, VenueRow

PROVIDER = "google_places"
OFFLIST_HOST = "images.example-cdn.net"  # where the sandbox's offlist_redirect fault points


def venues() -> list[Venue]:
    return [
        Venue(i, f"The Swan {i}", f"the-swan-{i}-lavenham", "lavenham", "Lavenham", f"{i} Water Street", "CO10 9RW", "United Kingdom", 52.107 + i * 0.002, 0.795)
        for i in range(1, 6)
    ]


class HostGuard(httpx.AsyncBaseTransport):
    """Lets requests through only to the provider's photo hosts; any other host is a test failure."""

    def __init__(self, inner: httpx.AsyncBaseTransport, allowed: frozenset[str]) -> None:
        self.inner = inner
        self.allowed = allowed
        self.hosts: list[str] = []
        self.violations: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.hosts.append(host)
        if host not in self.allowed:
            # upload_one turns any exception into an outcome, so the violation is also kept for the assert
            self.violations.append(host)
            raise AssertionError(f"request to a host outside the photo hosts: {host}")
        return await self.inner.handle_async_request(request)


@dataclass
class Attempt:
    outcome: UploadOutcome
    task: ImageTask
    guard: HostGuard
    ledger: MemoryLedger
    sandbox: Sandbox


def discover_and_upload(
    rates: FaultRates | None, kind: str, api: str, db_url: str, cdn_root: Path, *, keep: int = 1
) -> Attempt:
    """Discovery with the real client, `keep` photos stored like the pipeline stores them, one upload attempt."""
    faults = FaultConfig.none(7)
    if rates is not None:
        faults = faults.with_rates(PROVIDER, kind, rates)
    sandbox = build_sandbox(venues(), seed=7, faults=faults, coverage={PROVIDER: 1.0})
    venue, place_id = next(
        (v, pid)
        for v in venues()
        if (pid := sandbox.world.truth(PROVIDER, v.id)) and len(sandbox.world.place(PROVIDER, pid).photos) >= keep
    )
    guard = HostGuard(sandbox.transport(), GooglePlacesClient.photo_hosts)
    ledger = MemoryLedger()
    settings = replace(default_settings(PROVIDER, api_key="sandbox-google-key"), options={"api": api})

    async def run() -> tuple[list[PhotoRef], UploadOutcome, ImageTask]:
        async with httpx.AsyncClient(transport=guard) as http:
            clients, disabled = build_clients([settings], http, ledger)
            assert disabled == {}
            client = clients[PROVIDER]
            refs = await client.photos(place_id)
            assert len(refs) >= keep, "the venue's place has photos in the sandbox world"
            task = store_discovery(db_url, venue, place_id, refs[:keep])[0]
            outcome = await upload_one(task, client, http, LocalImageStore(cdn_root), ledger=ledger)
            return refs, outcome, task

    refs, outcome, task = asyncio.run(run())
    assert (task.photo_key, task.reference) in {(r.photo_key, r.reference) for r in refs[:keep]}
    return Attempt(outcome, task, guard, ledger, sandbox)


def store_discovery(db_url: str, venue: Venue, place_id: str, refs: list[PhotoRef]) -> list[ImageTask]:
    """The venue and its discovered photos as rows; the upload tasks read back in gallery order."""
    now = datetime.now(timezone.utc)
    with session_scope(db_url) as session:
        session.add(
            VenueRow(
                id=venue.id,
                source="csv",
                external_id=str(venue.id),
                name=venue.name,
                slug=venue.slug,
                address=venue.address,
                postcode=venue.postcode,
                city_slug=venue.city_slug,
                city_name=venue.city_name,
                country=venue.country,
                lat=venue.lat,
                lng=venue.lng,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        counts = images.save_discovered(session, venue.id, PROVIDER, place_id, refs, lambda w, h: 1.0, now=now)
        assert counts.new == len(refs)
        tasks = images.upload_tasks(session, venue_ids=[venue.id])
    assert len(tasks) == len(refs)
    return tasks


def record(db_url: str, outcome: UploadOutcome) -> tuple[str | None, VenueImageRow, list[UploadAttemptRow]]:
    with session_scope(db_url) as session:
        status = images.apply_outcome(session, outcome, run_id="run-hosts-1")
    with session_scope(db_url) as session:
        row = session.get(VenueImageRow, outcome.image_id)
        attempts = list(session.scalars(select(UploadAttemptRow).where(UploadAttemptRow.image_id == outcome.image_id)))
        session.expunge_all()
    return status, row, attempts


def assert_retired(db_url: str, attempt: Attempt, error_type: str) -> None:
    """The failure is stored as permanent, with its attempt row, so no later run spends a call on it."""
    status, row, attempts = record(db_url, attempt.outcome)
    assert status == ImageStatus.PERMANENTLY_FAILED
    assert (row.status, row.error_type, row.error_class, row.attempts) == (ImageStatus.PERMANENTLY_FAILED, error_type, "permanent", 1)
    assert row.next_retry_at is None and row.cdn_url is None
    assert "sandbox-google-key" not in (row.error_message or "")
    (logged,) = attempts
    assert (logged.outcome, logged.error_type, logged.run_id, logged.is_retry) == ("failed", error_type, "run-hosts-1", False)
    assert logged.message == attempt.outcome.message
    with session_scope(db_url) as session:
        assert images.upload_tasks(session, statuses=("pending", "failed"), due_before=datetime.now(timezone.utc)) == []


@pytest.mark.parametrize("api", ["new", "legacy"])
def test_redirect_off_the_photo_hosts_is_refused_without_contacting_it(api: str, sqlite_url: str, tmp_path: Path) -> None:
    attempt = discover_and_upload(FaultRates(offlist_redirect=1.0), "photo_media", api, sqlite_url, tmp_path / "cdn")

    outcome = attempt.outcome
    assert not outcome.ok and outcome.error_type == "disallowed_host"
    assert OFFLIST_HOST in (outcome.message or "") and "sandbox-google-key" not in (outcome.message or "")
    assert attempt.sandbox.faults_injected[(PROVIDER, "photo_media", "offlist_redirect")] == 1
    # the media endpoint was asked (and answered the redirect); the off-list host never was
    media_host = "places.googleapis.com" if api == "new" else "maps.googleapis.com"
    assert attempt.guard.hosts[-1] == media_host
    assert OFFLIST_HOST not in attempt.guard.hosts and attempt.guard.violations == []
    assert set(attempt.guard.hosts) <= GooglePlacesClient.photo_hosts
    assert not any((tmp_path / "cdn").rglob("*.*"))
    (photo_call,) = [c for c in attempt.ledger.calls if c.endpoint == "photo"]
    assert (photo_call.error_type, photo_call.cost) == ("disallowed_host", 0.0)
    assert_retired(sqlite_url, attempt, "disallowed_host")


@pytest.mark.parametrize(
    ("rates", "error_type"),
    [(FaultRates(oversized=1.0), "file_too_large"), (FaultRates(non_image=1.0), "invalid_image")],
    ids=["oversized", "non_image"],
)
def test_photo_host_answers_that_are_not_a_usable_image_are_retired(
    rates: FaultRates, error_type: str, sqlite_url: str, tmp_path: Path
) -> None:
    attempt = discover_and_upload(rates, "photo_download", "new", sqlite_url, tmp_path / "cdn")

    outcome = attempt.outcome
    assert not outcome.ok and outcome.error_type == error_type
    assert "sandbox-google-key" not in (outcome.message or "")
    assert attempt.sandbox.calls_to("lh3.googleusercontent.com", "photo_download") == 1
    assert attempt.guard.violations == [] and set(attempt.guard.hosts) <= GooglePlacesClient.photo_hosts
    assert not any((tmp_path / "cdn").rglob("*.*"))
    assert_retired(sqlite_url, attempt, error_type)


def test_without_faults_the_same_flow_uploads_through_the_photo_hosts(sqlite_url: str, tmp_path: Path) -> None:
    """The control: the guard and the flow above do succeed when the provider behaves."""
    attempt = discover_and_upload(None, "photo_media", "new", sqlite_url, tmp_path / "cdn")

    outcome = attempt.outcome
    assert outcome.ok, outcome.message
    assert attempt.guard.hosts[-2:] == ["places.googleapis.com", "lh3.googleusercontent.com"]
    assert attempt.guard.violations == []
    stored = LocalImageStore(tmp_path / "cdn").file_for(outcome.cdn_path or "")
    assert stored.is_file() and stored.stat().st_size > 0
    status, row, attempts = record(sqlite_url, outcome)
    assert status == ImageStatus.UPLOADED and row.status == ImageStatus.UPLOADED and row.cdn_path == outcome.cdn_path
    assert [a.outcome for a in attempts] == ["uploaded"]


def test_a_retired_image_leaves_the_gallery_order(sqlite_url: str, tmp_path: Path) -> None:
    """renumber_positions' rule (retired images have no position) must hold right after the failure is recorded."""
    attempt = discover_and_upload(FaultRates(offlist_redirect=1.0), "photo_media", "new", sqlite_url, tmp_path / "cdn", keep=2)
    status, retired, _ = record(sqlite_url, attempt.outcome)
    assert status == ImageStatus.PERMANENTLY_FAILED
    with session_scope(sqlite_url) as session:
        positions = {
            r.id: r.position for r in session.scalars(select(VenueImageRow).where(VenueImageRow.venue_id == attempt.task.venue_id))
        }
    assert positions.pop(retired.id) is None
    assert list(positions.values()) == [1]
