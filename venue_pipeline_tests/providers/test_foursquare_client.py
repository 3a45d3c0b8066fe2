"""Foursquare client: both APIs' auth and fields, photo refs and sized URLs, error bodies."""

from __future__ import annotations

import httpx
import pytest
from provider_fakes import SECRET, json_response, run

from venue_pipeline.core.errors import ErrorType, ProviderError
from venue_pipeline.core.ports import PhotoRef
from venue_pipeline.providers.foursquare import FoursquareClient, photo_size

NEW_RESULT = {
    "fsq_place_id": "5a187743ccad6b307315e6fe",
    "name": "The Crown",
    "latitude": 51.5072,
    "longitude": -0.1276,
    "categories": [{"fsq_category_id": "4bf58dd8d48988d11b941735", "name": "Pub"}],
    "location": {"address": "12 High Street", "locality": "London", "postcode": "SW1A 1AA", "formatted_address": "12 High Street, London SW1A 1AA"},
    "distance": 12,
}
V3_RESULT = {
    "fsq_id": "4b0588f1f964a520dfd322e3",
    "name": "Joe's Pizza",
    "geocodes": {"main": {"latitude": 40.7306, "longitude": -73.9894}},
    "location": {"address": "7 Carmine St", "locality": "New York"},
}
PHOTOS = [
    {"id": "5163c0d5e4b0a3d0e5b1b6b4", "created_at": "2013-04-09T07:28:21.000Z", "prefix": "https://fastly.4sqi.net/img/general/", "suffix": "/1049719_PiLE1kZ.jpg", "width": 1440, "height": 1920, "classifications": ["outdoor"]},
    {"id": "photo-2", "prefix": "https://fastly.4sqi.net/img/general/", "suffix": "/2_b.jpg"},
    {"id": "broken", "prefix": "https://fastly.4sqi.net/img/general/"},
]


def test_places_api_search_request_and_parse(make_client):
    client, rec = make_client(FoursquareClient, json_response({"results": [NEW_RESULT, {"name": "no id"}]}))
    (place,) = run(client.search("The Crown", 51.5, -0.12, radius_m=150))
    assert place.place_id == "5a187743ccad6b307315e6fe"
    assert (place.lat, place.lng, place.city, place.postcode) == (51.5072, -0.1276, "London", "SW1A 1AA")
    assert (place.house_number, place.street) == ("12", "High Street")
    assert place.categories == ("Pub",)
    req = rec.last
    assert str(req.url).startswith("https://places-api.foursquare.com/places/search?")
    assert req.headers["Authorization"] == f"Bearer {SECRET}"
    assert req.headers["X-Places-Api-Version"] == "2025-06-17"
    assert req.url.params["ll"] == "51.5,-0.12" and req.url.params["radius"] == "150"
    assert req.url.params["query"] == "The Crown" and req.url.params["limit"] == "10"
    assert SECRET not in str(req.url)


def test_v3_api_uses_raw_key_and_geocodes_main(make_client):
    client, rec = make_client(FoursquareClient, json_response({"results": [V3_RESULT]}), options={"api": "v3"})
    (place,) = run(client.geocode("Joe's Pizza, 7 Carmine St", near=(40.73, -73.99)))
    assert place.place_id == "4b0588f1f964a520dfd322e3" and (place.lat, place.lng) == (40.7306, -73.9894)
    assert place.postcode is None and place.categories == ()
    assert str(rec.last.url).startswith("https://api.foursquare.com/v3/places/search?")
    assert rec.last.headers["Authorization"] == SECRET
    assert "X-Places-Api-Version" not in rec.last.headers


@pytest.mark.parametrize("wrap", [False, True])
def test_photos_list_or_results_wrapper(make_client, wrap):
    body = {"results": PHOTOS} if wrap else PHOTOS
    client, rec = make_client(FoursquareClient, json_response(body))
    photos = run(client.photos("5a187743ccad6b307315e6fe"))
    assert rec.last.url.path == "/places/5a187743ccad6b307315e6fe/photos"
    assert rec.last.url.params["limit"] == "10" and rec.last.url.params["sort"] == "popular"
    assert [p.photo_key for p in photos] == ["5163c0d5e4b0a3d0e5b1b6b4", "photo-2"]
    first = photos[0]
    assert first.reference == "https://fastly.4sqi.net/img/general/original/1049719_PiLE1kZ.jpg"
    assert (first.width, first.height, first.attribution) == (1440, 1920, "Foursquare")


def test_photo_request_sizes_never_exceed_the_original(make_client):
    client, _ = make_client(FoursquareClient, json_response([]))
    ref = PhotoRef("foursquare", "k", "https://fastly.4sqi.net/img/general/original/1_a.jpg", 1440, 1920)
    assert str(client.photo_request(ref, max_px=4000).url) == ref.reference
    assert str(client.photo_request(ref, max_px=800).url) == "https://fastly.4sqi.net/img/general/600x800/1_a.jpg"
    unknown = PhotoRef("foursquare", "k2", "https://fastly.4sqi.net/img/general/original/2_b.jpg")
    assert str(client.photo_request(unknown, max_px=800).url).endswith("/original/2_b.jpg")
    assert photo_size(100, 50, 1600) == "original"
    assert httpx.URL(str(client.photo_request(ref).url)).host in client.photo_hosts


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (401, "Invalid request token.", ErrorType.AUTH_ERROR),
        (403, "restricted", ErrorType.FORBIDDEN),
        (404, "invalid venue specified", ErrorType.NOT_FOUND),
        (400, "bad parameter", ErrorType.BAD_REQUEST),
    ],
)
def test_error_bodies(make_client, status, message, expected):
    client, _ = make_client(FoursquareClient, json_response({"message": message}, status))
    with pytest.raises(ProviderError) as info:
        run(client.photos("nope"))
    assert info.value.error_type is expected and message in info.value.message
    assert SECRET not in str(info.value)


def test_429_is_retried_then_gives_up(make_client, ledger):
    client, rec = make_client(FoursquareClient, json_response({"message": "rate limited"}, 429, {"Retry-After": "0"}))
    with pytest.raises(ProviderError) as info:
        run(client.search("x", 1.0, 2.0))
    assert info.value.error_type is ErrorType.RATE_LIMITED
    assert len(rec.requests) == 3 and len(ledger.calls) == 3


def test_photos_payload_of_the_wrong_shape_is_malformed(make_client):
    client, _ = make_client(FoursquareClient, json_response({"unexpected": True}))
    with pytest.raises(ProviderError) as info:
        run(client.photos("x"))
    assert info.value.error_type is ErrorType.MALFORMED_RESPONSE


# Foursquare Place Search (https://docs.foursquare.com/developer/reference/place-search): a location is
# given as `ll` (+ radius), `near` (a geocodable locality) or `ne`/`sw`; "If none of the following
# options are passed, Place Search defaults to geolocation using ip biasing", i.e. around our server.
ALEXANDRA_TAVERN = {
    "fsq_place_id": "4b5d1e2ff964a520a55829e3",
    "name": "Alexandra Tavern",
    "latitude": 52.63251,
    "longitude": 1.27541,
    "location": {"address": "16 Stafford Street", "locality": "Norwich", "postcode": "NR2 3BB"},
}


def test_geocode_without_coordinates_searches_near_the_locality_not_by_ip(make_client):
    client, rec = make_client(FoursquareClient, json_response({"results": [ALEXANDRA_TAVERN]}))
    (place,) = run(
        client.geocode("Alexandra Tavern, 16 Stafford Street, Norwich, NR2 3BB", locality="Norwich, United Kingdom")
    )
    assert place.city == "Norwich"
    params = rec.last.url.params
    assert params["near"] == "Norwich, United Kingdom"
    assert "ll" not in params and "radius" not in params
    assert params["query"].startswith("Alexandra Tavern")


def test_geocode_with_a_point_sends_ll_and_no_near(make_client):
    client, rec = make_client(FoursquareClient, json_response({"results": []}))
    run(client.geocode("Alexandra Tavern", near=(52.6325, 1.2754), locality="Norwich, United Kingdom"))
    assert rec.last.url.params["ll"] == "52.6325,1.2754" and "near" not in rec.last.url.params


@pytest.mark.parametrize(
    ("line", "house_number", "street"),
    [
        ("Oranienstraße 6", "6", "Oranienstraße"),
        ("Hauptstraße 12a", "12a", "Hauptstraße"),
        ("Kastanienallee 12-14", "12-14", "Kastanienallee"),
        ("Unter den Linden 77", "77", "Unter den Linden"),
        ("123 Main St", "123", "Main St"),
        ("12 High Street", "12", "High Street"),
        ("High Street", None, "High Street"),
    ],
)
def test_house_number_before_or_after_the_street(make_client, line, house_number, street):
    result = {**NEW_RESULT, "location": {"address": line, "locality": "Berlin"}}
    client, _ = make_client(FoursquareClient, json_response({"results": [result]}))
    (place,) = run(client.search("The Crown", 52.5, 13.4))
    assert (place.house_number, place.street) == (house_number, street)


def test_ll_near_the_greenwich_meridian_is_a_plain_decimal(make_client):
    """Foursquare documents `ll` as "latitude,longitude" decimals; str(-0.00001) would send "-1e-05"."""
    client, rec = make_client(FoursquareClient, json_response({"results": []}))
    run(client.search("The Cutty Sark", 51.48, -0.00001))
    assert rec.last.url.params["ll"] == "51.48,-0.00001"
