"""Google's SKU per call (issue 15): the field masks the code sends are the ones docs/providers.md prices."""

from __future__ import annotations

import inspect
from pathlib import Path

from venue_pipeline.providers import google_places as g

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"


def test_the_documented_masks_are_the_masks_sent() -> None:
    table = DOC.read_text().split("## Google SKUs per call", 1)[1]
    assert g.NEW_PHOTOS_FIELD_MASK == "id,photos" and "`id,photos` | Place Details Essentials (IDs Only)" in table
    search_fields = [f.removeprefix("places.") for f in g.NEW_SEARCH_FIELD_MASK.split(",")]
    assert f"`places.{','.join(search_fields)}` | Text Search Pro" in table
    assert f"`fields={g.LEGACY_FIND_FIELDS}` | Find Place" in table


def test_every_google_request_names_its_sku_in_the_code() -> None:
    for method in (g.GooglePlacesClient.geocode, g.GooglePlacesClient._new_text_search,
                   g.GooglePlacesClient.search, g.GooglePlacesClient.photos, g.GooglePlacesClient.photo_request):
        source = inspect.getsource(method)
        requests = source.count("self._call(") + source.count("httpx.Request(")
        assert requests and source.count("SKU:") >= requests, method.__name__
