"""HERE client: geocode/discover parsing, lookup images, request shapes, error bodies."""

from __future__ import annotations

import pytest
from provider_fakes import SECRET, json_response, run

from venue_pipeline.core.errors import ErrorType, ProviderError
from venue_pipeline.core.ports import PhotoRef
from venue_pipeline.providers.here import HereClient

VANILLE = {
    "title": "Vanille Noire",
    "id": "here:pds:place:250jx7ps-8f300d0f8ec60e31fb76a3d22f00f18f",
    "language": "en",
    "resultType": "place",
    "address": {
        "label": "Vanille Noire, 13 Rue Caisserie, 13002 Marseille, France",
        "countryCode": "FRA",
        "city": "Marseille",
        "district": "2nd Arrondissement",
        "street": "Rue Caisserie",
        "postalCode": "13002",
        "houseNumber": "13",
    },
    "position": {"lat": 43.2972, "lng": 5.36871},
    "access": [{"lat": 43.29723, "lng": 5.36866}],
    "categories": [
        {"id": "600-6300-0064", "name": "Food/Beverage Specialty Store"},
        {"id": "100-1000-0000", "name": "Restaurant", "primary": True},
    ],
}
HOUSE = {
    "title": "13 Rue Caisserie, 13002 Marseille, France",
    "id": "here:af:streetsection:abc:CggIBCD",
    "resultType": "houseNumber",
    "address": {"label": "13 Rue Caisserie, 13002 Marseille, France"},
    "position": {"lat": 43.2971, "lng": 5.3686},
}


def test_discover_parses_places_and_keeps_result_types(make_client):
    client, rec = make_client(HereClient, json_response({"items": [VANILLE, HOUSE, {"title": "no id"}]}))
    places = run(client.search("Vanille Noire", 43.2972, 5.3687, radius_m=300))
    assert [p.place_id for p in places] == [VANILLE["id"], HOUSE["id"]]
    vn, house = places
    assert vn.name == "Vanille Noire" and (vn.lat, vn.lng) == (43.2972, 5.36871)
    assert (vn.house_number, vn.street, vn.postcode, vn.city) == ("13", "Rue Caisserie", "13002", "Marseille")
    assert vn.categories[0] == "Restaurant"  # primary category first
    assert vn.result_type == "place" and house.result_type == "houseNumber"
    assert all(p.place_id != p.address for p in places)  # never a label as an ID
    req = rec.last
    assert req.url.host == "discover.search.hereapi.com" and req.url.path == "/v1/discover"
    assert req.url.params["q"] == "Vanille Noire"
    assert req.url.params["in"] == "circle:43.2972,5.3687;r=300"
    assert req.url.params["limit"] == "10" and req.url.params["apiKey"] == SECRET


def test_geocode_tolerates_missing_optional_fields(make_client):
    minimal = {"id": "here:pds:place:276u0vhj-b0bace6448ae4b0fbc1d5e323998a7d2", "title": "Flughafen Frankfurt-Hahn"}
    client, rec = make_client(HereClient, json_response({"items": [minimal]}))
    (place,) = run(client.geocode("Flughafen Frankfurt-Hahn", near=(49.95, 7.26)))
    assert place.lat is None and place.address is None and place.categories == () and place.result_type is None
    assert rec.last.url.host == "geocode.search.hereapi.com"
    assert rec.last.url.params["at"] == "49.95,7.26" and rec.last.url.params["q"] == "Flughafen Frankfurt-Hahn"


def test_empty_items_and_blank_queries(make_client):
    client, rec = make_client(HereClient, json_response({"items": []}))
    assert run(client.geocode("somewhere")) == []
    assert run(client.search("   ", 1.0, 2.0)) == []
    assert len(rec.requests) == 1  # the blank search cost nothing


def test_here_lists_no_photos_and_makes_no_call(make_client):
    """HERE Geocoding & Search v7 has no photos ("we do not support photos of locations", HERE developer FAQ)."""
    client, rec = make_client(HereClient, json_response(VANILLE))
    assert HereClient.supports_photos is False and HereClient.photo_hosts == frozenset()
    assert run(client.photos(VANILLE["id"])) == []
    assert rec.requests == []


def test_an_old_here_image_row_is_refused_permanently(make_client):
    """A HERE image stored before HERE lost its photos is retired, not retried forever."""
    client, _ = make_client(HereClient, json_response(VANILLE))
    with pytest.raises(ProviderError) as info:
        client.photo_request(PhotoRef("here", "k", "https://download.vcdn.data.here.com/p/d/places2/a.jpg"))
    assert info.value.error_type is ErrorType.BAD_REQUEST and info.value.error_class.value == "permanent"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, {"error": "Unauthorized", "error_description": "apiKey invalid. apiKey not found."}, ErrorType.AUTH_ERROR),
        (400, {"status": 400, "title": "Illegal input for parameter 'in'", "correlationId": "x"}, ErrorType.BAD_REQUEST),
        (404, {"status": 404, "title": "Not found"}, ErrorType.NOT_FOUND),
        (403, {"status": 403, "title": "Forbidden"}, ErrorType.FORBIDDEN),
    ],
)
def test_error_bodies(make_client, status, body, expected):
    client, _ = make_client(HereClient, json_response(body, status))
    with pytest.raises(ProviderError) as info:
        run(client.search("Vanille", 52.5, 13.4))
    assert info.value.error_type is expected
    assert SECRET not in str(info.value)
    assert (body.get("error_description") or body.get("title")) in info.value.message


def test_429_retry_after_then_success(make_client, ledger):
    client, rec = make_client(
        HereClient,
        json_response({"status": 429, "title": "Too Many Requests"}, 429, {"Retry-After": "0"}),
        json_response({"items": [VANILLE]}),
    )
    assert len(run(client.search("Vanille", 43.3, 5.37))) == 1
    assert [c.status_code for c in ledger.calls] == [429, 200]
    assert [c.endpoint for c in ledger.calls] == ["discover", "discover"]


def test_items_must_be_an_object(make_client):
    client, _ = make_client(HereClient, json_response([1, 2, 3]))
    with pytest.raises(ProviderError) as info:
        run(client.geocode("x"))
    assert info.value.error_type is ErrorType.MALFORMED_RESPONSE


def test_missing_key_is_a_permanent_error_without_request(make_client):
    client, rec = make_client(HereClient, json_response({"items": []}), api_key=None)
    with pytest.raises(ProviderError) as info:
        run(client.geocode("x"))
    assert info.value.error_type is ErrorType.MISSING_API_KEY
    assert rec.requests == []
