"""Asset checks on invariants the original system broke: IDs that are addresses, twin images, keys in URLs."""

import dagster as dg

from venue_pipeline.defs.assets import image_failure_report
from venue_pipeline.defs.resources import ReportPolicy, VenueStore
from venue_pipeline.store import images
from venue_pipeline.store import provider_ids as id_store
from venue_pipeline.store.reports import latest_snapshot


@dg.asset_check(asset="provider_ids", description="No stored provider ID is empty or an address string.")
def provider_ids_are_real_ids(venue_store: VenueStore) -> dg.AssetCheckResult:
    """An address stored as an ID broke every later lookup in the original system; catch it at once."""
    with venue_store.session() as session:
        rows = id_store.invalid_matched_ids(session, limit=20)
        total = id_store.matched_count(session)
    return dg.AssetCheckResult(
        passed=not rows,
        metadata={
            "matched_ids": total,
            "bad_ids": len(rows),
            "examples": dg.MetadataValue.json([{"venue_id": v, "provider": p, "place_id": i} for v, p, i in rows]),
        },
    )


def _image_check_results(venue_store: VenueStore) -> dict[str, tuple[int, list]]:
    """Counts (and a few examples, at most 20 of each) of each image invariant's violations."""
    with venue_store.session() as session:
        twins = images.duplicate_photo_keys(session, limit=20)
        paths = images.duplicate_cdn_paths(session, limit=20)
        secrets = images.images_with_secrets(session, limit=20)
        no_status = images.images_without_status(session, limit=20)
    return {
        "duplicate_photo_keys": (len(twins), [list(map(str, r)) for r in twins]),
        "duplicate_cdn_paths": (len(paths), [list(map(str, r)) for r in paths]),
        "urls_with_secrets": (len(secrets), [{"image_id": i, "provider": p} for i, p in secrets]),
        "images_without_status": (len(no_status), no_status),
    }


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec("no_duplicate_images", asset="uploaded_images",
                          description="No two rows share (venue, provider, photo key) or a CDN path."),
        dg.AssetCheckSpec("no_secret_in_stored_urls", asset="uploaded_images",
                          description="No stored reference, CDN URL or error message carries a key or signature."),
        dg.AssetCheckSpec("every_image_has_a_status", asset="uploaded_images",
                          description="Every image row is pending, uploaded, failed or permanently_failed."),
    ]
)
def image_invariants(venue_store: VenueStore):  # type: ignore[no-untyped-def]
    """The original system duplicated entries, overwrote files and stored keys in URLs; these catch all three."""
    found = _image_check_results(venue_store)
    twins, paths = found["duplicate_photo_keys"], found["duplicate_cdn_paths"]
    yield dg.AssetCheckResult(
        check_name="no_duplicate_images",
        passed=twins[0] == 0 and paths[0] == 0,
        metadata={
            "duplicate_photo_keys": twins[0],
            "duplicate_cdn_paths": paths[0],
            "examples": dg.MetadataValue.json({"photo_keys": twins[1], "cdn_paths": paths[1]}),
        },
    )
    secrets = found["urls_with_secrets"]
    yield dg.AssetCheckResult(
        check_name="no_secret_in_stored_urls",
        passed=secrets[0] == 0,
        metadata={"rows_with_secrets": secrets[0], "examples": dg.MetadataValue.json(secrets[1])},
    )
    missing = found["images_without_status"]
    yield dg.AssetCheckResult(
        check_name="every_image_has_a_status",
        passed=missing[0] == 0,
        metadata={"rows_without_status": missing[0], "examples": dg.MetadataValue.json(missing[1])},
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec("transient_failures_recover", asset=image_failure_report,
                          description="Transient failures older than 24 hours stay under the threshold."),
        dg.AssetCheckSpec("permanent_failure_rate", asset=image_failure_report,
                          description="Permanent failure rate: WARN, then ERROR past the thresholds."),
    ]
)
def report_alerts(venue_store: VenueStore, report_policy: ReportPolicy):  # type: ignore[no-untyped-def]
    """Transient failures that never clear mean retries are not working; a rising permanent rate means
    a provider or the CDN changed under us."""
    with venue_store.session() as session:
        snapshot = latest_snapshot(session) or {}
    stale = int(snapshot.get("transient_failures_older_than_24h", 0))
    yield dg.AssetCheckResult(
        check_name="transient_failures_recover",
        passed=stale <= report_policy.max_transient_older_than_24h,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"transient_older_than_24h": stale, "threshold": report_policy.max_transient_older_than_24h},
    )
    rate = float(snapshot.get("permanent_failure_rate_pct", 0.0))
    error = rate >= report_policy.permanent_rate_error_pct
    warn = rate >= report_policy.permanent_rate_warn_pct
    yield dg.AssetCheckResult(
        check_name="permanent_failure_rate",
        passed=not warn,
        severity=dg.AssetCheckSeverity.ERROR if error else dg.AssetCheckSeverity.WARN,
        metadata={
            "permanent_failure_rate_pct": rate,
            "warn_at_pct": report_policy.permanent_rate_warn_pct,
            "error_at_pct": report_policy.permanent_rate_error_pct,
            "level": "ERROR" if error else "WARN" if warn else "OK",
        },
    )
