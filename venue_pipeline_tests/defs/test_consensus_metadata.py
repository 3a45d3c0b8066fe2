"""The provider_ids asset shows cross-provider consensus per provider and status, and a few samples."""

from __future__ import annotations

from venue_pipeline.defs.metadata import ids_metadata
from venue_pipeline.pipeline import IdsSummary, merge


def test_consensus_counts_render_as_a_per_provider_table() -> None:
    one = IdsSummary(
        venues=3,
        consensus={"here/agreed": 2, "geoapify/agreed": 2, "google_places/contradicted": 1},
        consensus_samples=["venue 7 'The Old Fire Station' at google_places: contradicted, 210 m from ..."],
    )
    two = IdsSummary(venues=2, consensus={"here/agreed": 1, "foursquare/rescued": 1})
    summary = merge([one, two])  # a backfill run of two cities adds the counts up
    meta = ids_metadata(summary, {})
    assert meta["consensus_rejected"] == 1 and meta["consensus_rescued"] == 1
    rows = {r.data["provider"]: r.data for r in meta["consensus"].records}
    assert rows["here"]["agreed"] == 3 and rows["google_places"]["contradicted"] == 1
    assert rows["foursquare"]["rescued"] == 1 and rows["foursquare"]["no_consensus"] == 0
    assert "The Old Fire Station" in meta["consensus_samples"].value
