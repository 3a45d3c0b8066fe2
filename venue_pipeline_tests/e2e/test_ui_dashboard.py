"""The operators' dashboard in a real browser: Dagster webserver + daemon over a demo state of 528 venues,
driven in headless Chromium. Screenshots go to artifacts/ui/; any page error or missing table fails."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import e2e_support as PROC
import pytest


def _load(name: str, path: Path) -> ModuleType:
    """A script from scripts/, which is no package."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


UI = _load("venue_ui_screenshot", PROC.PROJECT_ROOT / "scripts" / "ui_screenshot.py")
PROJECT_ROOT = PROC.PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = PROJECT_ROOT / "artifacts" / "ui"
LOCATION = "venue_pipeline.definitions"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _enabled() -> str | None:
    if os.environ.get("VENUE_BROWSER_TESTS") == "0":
        return "VENUE_BROWSER_TESTS=0"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)"
    if not (os.environ.get("CI") or os.environ.get("VENUE_BROWSER_TESTS") == "1"):
        return "browser test runs in CI or with VENUE_BROWSER_TESTS=1"
    return None


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A full demo state (528 venues, default faults) served by `dagster dev` (webserver + daemon)."""
    reason = _enabled()
    if reason:
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("ui_state")
    dagster_home = home / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        **os.environ,
        "VENUE_PIPELINE_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "VENUE_DB_URL": f"sqlite:///{home / 'venues.db'}",
        "PATH": f"{Path(PROC.venv_bin('dagster')).parent}:{os.environ.get('PATH', '')}",
    }
    demo_log = home / "demo.log"
    demo = PROC.start_process_group([PROC.venv_bin("venue-pipeline"), "demo"], env, demo_log)
    try:
        assert demo.wait(timeout=900) == 0, PROC.log_tail(demo_log)
    finally:
        PROC.stop_process_group(demo)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(demo_log, ARTIFACTS / "demo_first_run.log")
    port = PROC.free_port()
    log = home / "dagster_dev.log"
    server = PROC.start_process_group(
        [PROC.venv_bin("dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)], env, log
    )
    try:
        PROC.wait_for_http(f"http://127.0.0.1:{port}/server_info", 180, server, log)
        yield f"http://127.0.0.1:{port}", home
    finally:
        PROC.stop_process_group(server)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, ARTIFACTS / "dagster_dev.log")


@pytest.fixture(scope="module")
def browser(dashboard):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=UI.CHROMIUM_ARGS)
        context = chromium.new_context(viewport={"width": 1600, "height": 1100})
        context.add_init_script("localStorage.setItem('communityNux', '1')")
        try:
            yield context
        finally:
            chromium.close()


def _open(context, url: str, texts: list[str], shot: str, scroll_to: str | None = None):  # type: ignore[no-untyped-def]
    """Open a page, wait for every text, fail on page errors, save a screenshot."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url, wait_until="networkidle", timeout=90_000)
    for text in texts:
        page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=90_000)
    page.wait_for_function("() => !document.body.innerText.includes('Loading...')", timeout=90_000)
    if scroll_to:
        page.get_by_text(scroll_to, exact=False).first.scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / shot))
    assert not errors, f"page errors on {url}: {errors}"
    return page


def test_asset_graph_shows_the_pipeline(dashboard, browser) -> None:
    base, _ = dashboard
    page = _open(browser, f"{base}/asset-groups",
                 ["provider_ids", "discovered_photos", "uploaded_images", "image_retries", "image_fail"],
                 "01_asset_graph.png")
    page.close()


def test_failure_report_shows_its_tables(dashboard, browser) -> None:
    base, _ = dashboard
    page = _open(browser, f"{base}/assets/image_failure_report?view=events",
                 ["total_images", "failures_by_provider_and_type", "partial_failure_venues", "coverage_by_city"],
                 "02_report_numbers.png")
    body = page.inner_text("body")
    for expected in ("error_type", "google_places", "priority", "exeter", "norwich", "nottingham", "retry_one_venue"):
        assert expected in body, f"report page lacks {expected!r}"
    page.get_by_text("failures_by_provider_and_type").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "03_report_tables.png"))
    page.get_by_text("coverage_by_city").first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "04_report_coverage.png"))
    page.close()


def test_a_city_run_shows_its_metadata_and_gallery(dashboard, browser) -> None:
    base, _ = dashboard
    page = _open(browser, f"{base}/assets/uploaded_images?view=events",
                 ["materialized in run", "per_provider", "failure_breakdown", "failed_images", "gallery"],
                 "05_run_metadata.png", scroll_to="per_provider")
    body = page.inner_text("body")
    assert "uploaded" in body and "permanently_failed" in body
    show = page.get_by_text("Show Markdown")
    show.last.click()  # the gallery is the last markdown entry
    dialog = page.get_by_role("dialog")
    dialog.wait_for(state="visible", timeout=30_000)
    images = dialog.locator("img")
    images.first.wait_for(state="visible", timeout=30_000)
    assert images.count() >= 1
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "06_gallery.png"))
    page.close()


def test_retry_job_launchpad_documents_every_field(dashboard, browser) -> None:
    base, _ = dashboard
    page = _open(browser, f"{base}/locations/{LOCATION}/jobs/retry_job/playground",
                 ["image_retries", "venue_ids", "image_ids", "reopen_permanent"], "07_retry_launchpad.png")
    page.close()


def test_demo_state_meets_its_targets_and_a_second_demo_adds_nothing(dashboard) -> None:
    """make demo: ≥ 500 venues, ≥ 60 % with an uploaded image, ≥ 90 % of the venues whose photos the
    sandbox world holds; running it again adds no venue_images row."""
    from sqlalchemy import func, select

    from venue_pipeline.services import Settings, build_world_sandbox
    from venue_pipeline.store.db import session_scope
    from venue_pipeline.store.schema import VenueImageRow, VenueRow

    _, home = dashboard
    url = f"sqlite:///{home / 'venues.db'}"
    with session_scope(url) as s:
        venues = s.scalar(select(func.count(VenueRow.id)))
        with_image = set(s.scalars(select(VenueImageRow.venue_id).where(VenueImageRow.status == "uploaded")))
        rows_before = s.scalar(select(func.count(VenueImageRow.id)))
    world = build_world_sandbox(Settings(db_url=url)).world
    known = {
        vid
        for vid in range(1, venues + 1)
        for provider in ("here", "foursquare", "google_places")
        if (pid := world.truth(provider, vid)) and world.place(provider, pid).photos
    }
    assert venues >= 500
    assert len(with_image) >= 0.6 * venues
    assert len(with_image & known) >= 0.9 * len(known)

    env = {**os.environ, "VENUE_PIPELINE_HOME": str(home), "DAGSTER_HOME": str(home / "dagster_home"),
           "VENUE_DB_URL": url}
    log = home / "demo_again.log"
    again = PROC.start_process_group([PROC.venv_bin("venue-pipeline"), "demo"], env, log)
    try:
        assert again.wait(timeout=900) == 0, PROC.log_tail(log)
    finally:
        PROC.stop_process_group(again)
    with session_scope(url) as s:
        assert s.scalar(select(func.count(VenueImageRow.id))) == rows_before
    shutil.copy(log, ARTIFACTS / "demo_second_run.log")
