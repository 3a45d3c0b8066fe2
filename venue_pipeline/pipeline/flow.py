"""The pipelined city flow: provider IDs, photo discovery and uploads of one city run at the same time, each venue
going on to the next stage as soon as the previous one stored it, so no provider's photos wait for another
provider's stage to finish (issue 14; docs/architecture.md, "The city flow")."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from venue_pipeline.pipeline.discovery import DiscoverySummary, run_discovery
from venue_pipeline.pipeline.handoff import Handoff
from venue_pipeline.pipeline.ids import IdsSummary, run_provider_ids
from venue_pipeline.pipeline.upload_worker import run_uploads_in_worker, uses_process
from venue_pipeline.pipeline.uploads import UploadSummary, run_uploads
from venue_pipeline.services import Settings


@dataclass
class CityFlow:
    """The three stage summaries of one pipelined city run, each as its own stage would have reported it."""

    ids: IdsSummary
    discovery: DiscoverySummary
    uploads: UploadSummary


def run_city_flow(
    settings: Settings,
    city: str,
    *,
    ids: Mapping[str, Any] | None = None,
    discovery: Mapping[str, Any] | None = None,
    uploads: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    now: datetime | None = None,
    upload_worker: str = "auto",
) -> CityFlow:
    """Runs the three city stages concurrently, each in its own thread and event loop with its own services (its
    calls, cost and duration stay its own; the providers' rates and quotas are shared through the venue database):
    a venue's photos are listed once the ID stage stored its decisions (consensus needs every provider's answer,
    so the gate is per venue) and its images start uploading once its listings are stored. `ids`, `discovery`
    and `uploads` are each stage's keyword options. A stage that fails ends the hand-over: the stages after it
    finish what they were given, and the flow then raises the first failure. `upload_worker` (auto, thread,
    process; pipeline/upload_worker.py) runs the uploads in a process of their own, so they do not share the
    interpreter lock with the other two stages: `auto` does when the providers are reached over the network."""
    uploader = run_uploads_in_worker if uses_process(settings, upload_worker) else run_uploads
    found, listed = Handoff(), Handoff()
    out: dict[str, Any] = {}
    failures: list[BaseException] = []

    def stage(name: str, run: Callable[..., Any], options: Mapping[str, Any], hands_to: Handoff) -> Callable[[], None]:
        def go() -> None:
            try:
                out[name] = run(settings, city, run_id=run_id, now=now, **options)
            except BaseException as exc:  # raised again in the caller's thread
                failures.append(exc)
            finally:
                hands_to.close()

        return go

    done = Handoff()  # the upload stage hands nothing on
    plan = [
        ("ids", run_provider_ids, {**(ids or {}), "on_stored": found.put}, found),
        ("discovery", run_discovery, {**(discovery or {}), "venues_from": found, "on_stored": listed.put}, listed),
        ("uploads", uploader, {**(uploads or {}), "venues_from": listed}, done),
    ]
    threads = [
        threading.Thread(target=stage(name, run, options, hands_to), name=f"city-flow-{name}", daemon=True)
        for name, run, options, hands_to in plan
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return CityFlow(out["ids"], out["discovery"], out["uploads"])
