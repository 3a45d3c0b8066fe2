"""Turns stage summaries into Dagster metadata: numbers the UI plots, tables and markdown it renders."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import dagster as dg
from PIL import Image

from venue_pipeline.core.consensus import STATUSES as CONSENSUS_STATUSES
from venue_pipeline.core.report import TABLES, retry_configs_markdown, summary_numbers
from venue_pipeline.pipeline import (
    DiscoverySummary,
    IdsSummary,
    RetrySummary,
    StageSummary,
    UploadSummary,
)
from venue_pipeline.services import PROVIDERS, Settings


def _cell(value: Any) -> str | int | float | bool:
    if value is None:
        return ""
    return value if isinstance(value, (str, int, float, bool)) else str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> dg.TableMetadataValue:
    """A table the UI renders inline (sortable columns), from dict rows."""
    columns = list(columns or (rows[0].keys() if rows else ["none"]))
    kinds = {}
    for c in columns:
        values = [r.get(c) for r in rows if r.get(c) is not None]
        if values and all(isinstance(v, bool) for v in values):
            kinds[c] = "bool"
        elif values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            kinds[c] = "int"
        elif values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            kinds[c] = "float"
        else:
            kinds[c] = "string"
    schema = dg.TableSchema(columns=[dg.TableColumn(c, kinds[c]) for c in columns])
    records = [
        dg.TableRecord({c: (_cell(r.get(c)) if kinds[c] != "string" else str(_cell(r.get(c)))) for c in columns})
        for r in rows
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def _per_provider(columns: Mapping[str, Mapping[str, Any]], providers: Iterable[str] = PROVIDERS) -> dg.TableMetadataValue:
    rows = [{"provider": p, **{name: values.get(p, 0) for name, values in columns.items()}} for p in providers]
    return table(rows)


def _run_numbers(s: StageSummary) -> dict[str, Any]:
    """Calls, cost and duration: every stage's summary carries them."""
    return {
        "calls": sum(s.calls.values()),
        "cost_usd": round(sum(s.cost.values()), 4),
        "duration_s": s.duration_s,
    }


class Count(NamedTuple):
    """One per-provider count of a stage: its column in the per_provider table and the metadata key of its
    total (either may be None: a total alone, or a column alone)."""

    values: Mapping[str, Any]
    column: str | None = None
    total: str | None = None


def stage_metadata(
    s: StageSummary, numbers: Mapping[str, Any], counts: Sequence[Count], rest: Mapping[str, Any]
) -> dict[str, Any]:
    """Every stage's metadata in one shape: its own numbers, the totals of its per-provider counts, calls, cost
    and duration (plotted across materializations), the per_provider table, then its own tables and notes."""
    return {
        **numbers,
        **{c.total: sum(c.values.values()) for c in counts if c.total},
        **_run_numbers(s),
        "per_provider": _per_provider({c.column: c.values for c in counts if c.column}),
        **rest,
    }


def _call_columns(s: StageSummary) -> list[Count]:
    return [Count(s.calls, "calls"), Count(s.cost, "cost_usd")]


def _landed(uploaded: Mapping[str, int], failed: Count, retired: Mapping[str, int]) -> list[Count]:
    """Where the images of an upload or retry run ended: uploaded, failed (as the stage names it), retired."""
    return [Count(uploaded, "uploaded", "uploaded"), failed, Count(retired, "permanently_failed", "permanently_failed")]


def _provider_notes(s: StageSummary) -> dg.MetadataValue:
    """Why any provider was disabled for the run."""
    return dg.MetadataValue.md("\n".join(f"- {reason}" for reason in s.disabled.values()) or "_all providers enabled_")


def _breakdown(errors: Mapping[str, int]) -> dg.TableMetadataValue:
    rows = []
    for key, count in sorted(errors.items(), key=lambda kv: -kv[1]):
        provider, _, error_type = key.partition("/")
        rows.append({"provider": provider, "error_type": error_type, "count": count})
    return table(rows, ["provider", "error_type", "count"])


def _consensus_table(counts: Mapping[str, int]) -> dg.TableMetadataValue:
    """One row per provider, one column per consensus status (core/consensus.py STATUSES)."""
    per: dict[str, dict[str, int]] = {}
    for key, n in counts.items():
        provider, _, status = key.partition("/")
        per.setdefault(provider, {})[status] = per.get(provider, {}).get(status, 0) + n
    return _per_provider({status: {p: c.get(status, 0) for p, c in per.items()} for status in CONSENSUS_STATUSES})


def limits_metadata(settings: Settings) -> dict[str, Any]:
    """The limits in force per provider: plan, pacing, daily quota, where calls go and what set each value.

    rate_per_second is the pacing used (the in-process sandbox runs 20x faster than configured); base_url is
    shown without userinfo or query; no key is read here.
    """
    limits = settings.provider_limits()
    paced = {p.name: p.rate_per_second for p in settings.provider_settings()}
    rows = [
        {
            "provider": name,
            "plan": conf.plan,
            "rate_per_second": round(paced[name], 3),
            "configured_rate": round(conf.rate_per_second, 3),
            "daily_quota": "none" if conf.daily_quota is None else str(conf.daily_quota),
            "base_url": settings.endpoint_in_force(name, conf),
            "set_by": f"rate: {conf.rate_source}; quota: {conf.quota_source}; url: {conf.base_url_source}",
        }
        for name, conf in limits.items()
    ]
    columns = ["provider", "plan", "rate_per_second", "configured_rate", "daily_quota", "base_url", "set_by"]
    return {"provider_limits": table(rows, columns)}


def ids_metadata(s: IdsSummary, quotas: Mapping[str, int | None]) -> dict[str, Any]:
    samples = "\n".join(f"- {line}" for line in s.consensus_samples) or "_no ID rejected or rescued by consensus_"
    return stage_metadata(
        s,
        {"venues": s.venues, "venues_geocoded": s.geocoded, "skipped_in_cooldown": s.skipped_cooldown},
        [
            Count(s.ids_before, "ids_before", "ids_total_before"),
            Count(s.ids_after, "ids_after", "ids_total_after"),
            Count(s.matched, "accepted", "matches_accepted"),
            Count(s.no_match, "rejected", "matches_rejected"),
            Count(s.ambiguous, "ambiguous", "matches_ambiguous"),
            Count(s.deferred, "deferred", "deferred_by_quota"),
            Count(s.quota_share, "quota_share"),
            Count(s.calls, "calls"),
            Count(s.would_ask, "would_ask (dry run)"),
            Count(s.cost, "cost_usd"),
            Count({p: "none" if q is None else q for p, q in quotas.items()}, "daily_quota"),
        ],
        {
            "dry_run": s.dry_run,
            "errors": _breakdown(s.errors),
            "provider_notes": _provider_notes(s),
            "consensus_rejected": sum(n for k, n in s.consensus.items() if k.endswith("/contradicted")),
            "consensus_rescued": sum(n for k, n in s.consensus.items() if k.endswith("/rescued")),
            "consensus": _consensus_table(s.consensus),
            "consensus_samples": dg.MetadataValue.md(samples),
        },
    )


def discovery_metadata(s: DiscoverySummary) -> dict[str, Any]:
    return stage_metadata(
        s,
        {"venues": s.venues, "venues_due": s.due_venues, "photos_over_cap": s.capped, "listings_backed_off": s.backed_off},
        [
            Count(s.discovered, "discovered", "photos_discovered"),
            Count(s.new, "new", "photos_new"),
            Count(s.updated, "updated", "photos_updated"),
            Count(s.deferred, "deferred", "deferred_by_quota"),
            Count(s.quota_share, "quota_share"),
            *_call_columns(s),
        ],
        {"errors": _breakdown(s.errors), "provider_notes": _provider_notes(s)},
    )


def _thumbnail(path: Path, size: int = 96) -> str | None:
    """A base64 JPEG data URI of a few KB, small enough for the event log."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((size, size))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=60)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def gallery_markdown(thumbnails: Sequence[tuple[str, str]], settings: Settings) -> str:
    """A small gallery of uploaded images (local store files become inline thumbnails)."""
    parts = []
    for cdn_path, url in thumbnails:
        if settings.image_store == "local":
            data_uri = _thumbnail(Path(settings.image_dir) / cdn_path.lstrip("/"))
            if data_uri:
                parts.append(f"![{cdn_path}]({data_uri})")
        elif url.startswith("https://"):
            parts.append(f"![{cdn_path}]({url}?tr=w-96)")
    return " ".join(parts) or "_no image uploaded in this run_"


def upload_metadata(s: UploadSummary, settings: Settings) -> dict[str, Any]:
    return stage_metadata(
        s,
        {"attempts": s.attempted, "images": s.images, "skipped_provider_disabled": s.skipped_disabled},
        [*_landed(s.uploaded, Count(s.failed, "failed", "failed_will_retry"), s.retired), *_call_columns(s)],
        {
            "failure_breakdown": _breakdown(s.failures),
            "failed_images": table(s.failed_images, ["image_id", "provider", "error_type", "status_code", "status"]),
            "gallery": dg.MetadataValue.md(gallery_markdown(s.thumbnails, settings)),
        },
    )


def report_metadata(report: Mapping[str, Any]) -> dict[str, Any]:
    """Numeric metadata (plotted across materializations) plus the report's tables and retry configs."""
    tables = {key: table(report.get(key, [])) for key, _title in TABLES}
    return {
        **summary_numbers(report),
        **tables,
        "retry_one_venue": dg.MetadataValue.md(retry_configs_markdown(report)),
    }


def retry_metadata(s: RetrySummary) -> dict[str, Any]:
    return stage_metadata(
        s,
        {"due": s.due, "attempted": s.attempted, "reopened": s.reopened, "references_refreshed": s.references_refreshed},
        [
            *_landed(s.uploaded, Count(s.still_failed, "still_failed", "still_failed"), s.retired),
            Count(s.refresh_calls, "refresh_calls", "reference_refresh_calls"),
            Count(s.skipped_open_circuit, "skipped_open_circuit", "skipped_open_circuit"),
        ],
        {
            "failure_breakdown": _breakdown(s.failures),
            "circuits": dg.MetadataValue.md(s.circuit_note or "_all circuits closed_"),
        },
    )
