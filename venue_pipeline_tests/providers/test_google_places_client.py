"""Google Places client: New and legacy requests, stable photo keys, keys only in built requests, errors."""

from __future__ import annotations

import json

import pytest
from provider_fakes import SECRET, json_response, run

from venue_pipeline.core.errors import ErrorType, ProviderError
from venue_pipeline.core.ports import PhotoRef
from venue_pipeline.providers.google_places import GooglePlacesClient

PID = "ChIJN1t_tDeuEmsRUsoyG83frY4"
NEW_PLACE = {
    "id": PID,
    "displayName": {"text": "The Crown", "languageCode": "en"},
    "formattedAddress": "12 High St, London SW1A 1AA, UK",
    "location": {"latitude": 51.5072, "longitude": -0.1276},
    "types": ["bar", "pub", "point_of_interest", "establishment"],
    "addressComponents": [
        {"longText": "12", "shortText": "12", "types": ["street_number"]},
        {"longText": "High Street", "shortText": "High St", "types": ["route"]},
        {"longText": "London", "shortText": "London", "types": ["postal_town"]},
        {"longText": "SW1A 1AA", "shortText": "SW1A 1AA", "types": ["postal_code"]},
    ],
}
ADDRESS_PLACE = {"id": "EiIxMiBIaWdo", "displayName": {"text": "12 High St"}, "types": ["street_address"]}


def new_photos(suffix: str) -> dict:
    """A details answer whose photo names rotate with `suffix`, as Google's do between calls."""
    return {
        "id": PID,
        "photos": [
            {"name": f"places/{PID}/photos/AAA{suffix}", "widthPx": 4032, "heightPx": 3024, "authorAttributions": [{"displayName": "Ann", "uri": "https://maps.google.com/maps/contrib/1", "photoUri": "//lh3.googleusercontent.com/a"}]},
            {"name": f"places/{PID}/photos/BBB{suffix}", "widthPx": 4032, "heightPx": 3024, "authorAttributions": [{"displayName": "Ann", "uri": "https://maps.google.com/maps/contrib/1"}]},
            {"name": f"places/{PID}/photos/CCC{suffix}", "widthPx": 800, "heightPx": 600, "authorAttributions": []},
            {"name": "not-a-photo-name"},
        ],
    }


def test_new_text_search_request_and_parse(make_client, ledger):
    client, rec = make_client(GooglePlacesClient, json_response({"places": [NEW_PLACE, ADDRESS_PLACE, {"displayName": {"text": "no id"}}]}))
    crown, addr = run(client.search("The Crown", 51.5, -0.12, radius_m=300))
    assert crown.place_id == PID and crown.name == "The Crown"
    assert (crown.lat, crown.lng) == (51.5072, -0.1276)
    assert (crown.house_number, crown.street, crown.postcode, crown.city) == ("12", "High Street", "SW1A 1AA", "London")
    assert crown.result_type == "place" and "pub" in crown.categories
    assert addr.result_type == "street_address" and addr.lat is None
    req = rec.last
    assert req.method == "POST" and str(req.url) == "https://places.googleapis.com/v1/places:searchText"
    assert req.headers["X-Goog-Api-Key"] == SECRET
    assert req.headers["X-Goog-FieldMask"] == "places.id,places.displayName,places.formattedAddress,places.location,places.types,places.addressComponents"
    body = json.loads(req.content)
    assert body == {"textQuery": "The Crown", "pageSize": 10, "locationBias": {"circle": {"center": {"latitude": 51.5, "longitude": -0.12}, "radius": 300.0}}}
    (call,) = ledger.calls
    assert (call.endpoint, call.cost, call.status_code) == ("text_search", 0.032, 200)


def test_new_geocode_without_near_has_no_bias_and_empty_answer(make_client):
    client, rec = make_client(GooglePlacesClient, json_response({}))
    assert run(client.geocode("12 High St, London")) == []
    assert json.loads(rec.last.content) == {"textQuery": "12 High St, London", "pageSize": 10}


def test_new_photos_have_stable_keys_and_no_secret(make_client):
    client, rec = make_client(GooglePlacesClient, json_response(new_photos("-1")), json_response(new_photos("-2")))
    first = run(client.photos(PID))
    second = run(client.photos(PID))
    assert rec.last.url.path == f"/v1/places/{PID}" and rec.last.headers["X-Goog-FieldMask"] == "id,photos"
    assert [p.reference for p in first] == [f"places/{PID}/photos/AAA-1", f"places/{PID}/photos/BBB-1", f"places/{PID}/photos/CCC-1"]
    assert [p.photo_key for p in first] == [p.photo_key for p in second]  # names rotated, keys did not
    assert len({p.photo_key for p in first}) == 3  # same author and size still gives distinct keys
    assert first[0].attribution == "Ann" and first[2].attribution is None
    assert (first[0].width, first[0].height) == (4032, 3024)
    assert all(SECRET not in p.reference and "key=" not in p.reference for p in first)


def test_photo_requests_carry_the_key_only_when_built(make_client):
    client, _ = make_client(GooglePlacesClient, json_response({}))
    new = PhotoRef("google_places", "k", f"places/{PID}/photos/AAA", 4032, 3024)
    req = client.photo_request(new, max_px=1600)
    assert req.url.host == "places.googleapis.com" and req.url.path == f"/v1/places/{PID}/photos/AAA/media"
    assert req.url.params["maxWidthPx"] == "1600" and req.url.params["key"] == SECRET
    assert client.photo_request(new, max_px=9999).url.params["maxWidthPx"] == "4800"
    legacy = PhotoRef("google_places", "k", "Aap_uEA7vb0DDYVJWEaX3O-AtYp77AaswQKSGtDaimt3gt7QCNpdjp1BkdM6acJ96xTec3tsV_ZJNL_JP-lqsVxydG3nh739RE_hepOOL05tfJh2_ranjMadb3VoBYFvF0ma6S24qZ6QJUuV6sSRrhCskSBP5C1myCzsebztMfGvm7ij3gZT")
    req = client.photo_request(legacy, max_px=3000)
    assert str(req.url).startswith("https://maps.googleapis.com/maps/api/place/photo?")
    assert req.url.params["maxwidth"] == "1600" and req.url.params["photo_reference"] == legacy.reference
    assert req.url.params["key"] == SECRET
    with pytest.raises(ProviderError):
        client.photo_request(PhotoRef("google_places", "k", "places/x/../../evil"))


def test_legacy_nearby_search_and_details_photos(make_client, ledger):
    nearby = {
        "html_attributions": [],
        "results": [{"place_id": PID, "name": "The Crown", "geometry": {"location": {"lat": 51.5072, "lng": -0.1276}}, "vicinity": "12 High St, London", "types": ["bar", "establishment"]}],
        "status": "OK",
    }
    details = {
        "html_attributions": [],
        "result": {"photos": [
            {"height": 3024, "width": 4032, "html_attributions": ['<a href="https://maps.google.com/maps/contrib/1">Ann</a>'], "photo_reference": "REF-ONE"},
            {"height": 600, "width": 800, "html_attributions": [], "photo_reference": "REF-TWO"},
        ]},
        "status": "OK",
    }
    client, rec = make_client(GooglePlacesClient, json_response(nearby), json_response(details), options={"api": "legacy"})
    (place,) = run(client.search("The Crown", 51.5, -0.12, radius_m=100))
    assert place.place_id == PID and place.address == "12 High St, London" and place.result_type == "place"
    params = rec.last.url.params
    assert rec.last.url.path == "/maps/api/place/nearbysearch/json"
    assert (params["location"], params["radius"], params["keyword"], params["key"]) == ("51.5,-0.12", "100", "The Crown", SECRET)
    photos = run(client.photos(PID))
    assert rec.last.url.params["fields"] == "photos" and rec.last.url.params["place_id"] == PID
    assert [p.reference for p in photos] == ["REF-ONE", "REF-TWO"]
    assert photos[0].attribution == '<a href="https://maps.google.com/maps/contrib/1">Ann</a>'
    assert [c.endpoint for c in ledger.calls] == ["nearby_search", "details"]
    assert ledger.total_cost() == pytest.approx(0.032 + 0.017)


def test_legacy_find_place_geocode(make_client):
    body = {"candidates": [{"place_id": PID, "name": "The Crown", "formatted_address": "12 High St", "geometry": {"location": {"lat": 1, "lng": 2}}}], "status": "OK"}
    client, rec = make_client(GooglePlacesClient, json_response(body), options={"api": "legacy"})
    (place,) = run(client.geocode("The Crown, 12 High St", near=(51.5, -0.12)))
    assert place.place_id == PID and place.result_type is None
    assert rec.last.url.params["locationbias"] == "circle:5000@51.5,-0.12"
    assert rec.last.url.params["inputtype"] == "textquery"


def test_zero_results_is_an_empty_answer(make_client, ledger):
    client, _ = make_client(GooglePlacesClient, json_response({"html_attributions": [], "results": [], "status": "ZERO_RESULTS"}), options={"api": "legacy"})
    assert run(client.search("Nowhere", 1.0, 2.0)) == []
    assert ledger.calls[0].error_type is None


@pytest.mark.parametrize(
    ("status", "expected", "retried"),
    [
        ("OVER_QUERY_LIMIT", ErrorType.RATE_LIMITED, True),
        ("REQUEST_DENIED", ErrorType.AUTH_ERROR, False),
        ("INVALID_REQUEST", ErrorType.BAD_REQUEST, False),
        ("UNKNOWN_ERROR", ErrorType.SERVICE_UNAVAILABLE, True),  # "trying again may be successful"
        ("NOT_FOUND", ErrorType.NOT_FOUND, False),
    ],
)
def test_legacy_200_statuses_are_errors(make_client, ledger, status, expected, retried):
    body = {"error_message": "API keys with referer restrictions cannot be used with this API.", "html_attributions": [], "results": [], "status": status}
    client, rec = make_client(GooglePlacesClient, json_response(body), options={"api": "legacy"})
    with pytest.raises(ProviderError) as info:
        run(client.photos(PID))
    assert info.value.error_type is expected and info.value.status_code == 200
    assert status in info.value.message and "referer restrictions" in info.value.message
    assert len(rec.requests) == (3 if retried else 1)
    assert all(c.error_type == expected.value and c.cost == 0.0 for c in ledger.calls)


@pytest.mark.parametrize(
    ("code", "status", "reason", "expected"),
    [
        (429, "RESOURCE_EXHAUSTED", None, ErrorType.RATE_LIMITED),
        (403, "PERMISSION_DENIED", "API_KEY_HTTP_REFERRER_BLOCKED", ErrorType.AUTH_ERROR),
        (403, "PERMISSION_DENIED", "API_KEY_SERVICE_BLOCKED", ErrorType.AUTH_ERROR),
        (403, "PERMISSION_DENIED", "API_KEY_IP_ADDRESS_BLOCKED", ErrorType.AUTH_ERROR),
        (403, "PERMISSION_DENIED", "SERVICE_DISABLED", ErrorType.AUTH_ERROR),
        (403, "PERMISSION_DENIED", "BILLING_DISABLED", ErrorType.AUTH_ERROR),
        (403, "PERMISSION_DENIED", None, ErrorType.FORBIDDEN),  # about the resource, not the key
        (403, "PERMISSION_DENIED", "API_KEY_INVALID", ErrorType.AUTH_ERROR),
        (400, "INVALID_ARGUMENT", "API_KEY_INVALID", ErrorType.AUTH_ERROR),
        (401, "UNAUTHENTICATED", None, ErrorType.AUTH_ERROR),
        (400, "INVALID_ARGUMENT", None, ErrorType.BAD_REQUEST),
    ],
)
def test_new_error_json(make_client, code, status, reason, expected):
    details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}] if reason else []
    body = {"error": {"code": code, "message": f"Request denied ({status}).", "status": status, "details": details}}
    client, _ = make_client(GooglePlacesClient, json_response(body, code, {"Retry-After": "0"}))
    with pytest.raises(ProviderError) as info:
        run(client.search("x", 1.0, 2.0))
    assert info.value.error_type is expected and info.value.status_code == code
    assert f"Request denied ({status})" in info.value.message
    assert SECRET not in str(info.value)


def test_quota_is_enforced_for_google_too(make_client, ledger):
    client, rec = make_client(GooglePlacesClient, json_response({"places": []}), daily_quota=1)
    run(client.search("x", 1.0, 2.0))
    with pytest.raises(ProviderError) as info:
        run(client.photos(PID))
    assert info.value.error_type is ErrorType.QUOTA_EXHAUSTED
    assert len(rec.requests) == 1 and len(ledger.calls) == 1


def test_unknown_error_is_transient_and_retried_until_it_clears(make_client, ledger):
    """Legacy UNKNOWN_ERROR: "server-side error; trying again may be successful"."""
    flaky = json_response({"html_attributions": [], "results": [], "status": "UNKNOWN_ERROR"})
    good = json_response({"html_attributions": [], "results": [], "status": "ZERO_RESULTS"})
    client, rec = make_client(GooglePlacesClient, flaky, good, options={"api": "legacy"})
    assert run(client.search("The Crown", 51.5, -0.12)) == []
    assert len(rec.requests) == 2
    assert [c.error_type for c in ledger.calls] == ["service_unavailable", None]
    from venue_pipeline.core.errors import ErrorClass, classify

    assert classify(ledger.calls[0].error_type) is ErrorClass.TRANSIENT


@pytest.mark.parametrize(("api", "method"), [("new", "search"), ("new", "geocode"), ("legacy", "search"), ("legacy", "geocode")])
def test_dry_run_cost_names_the_endpoint_the_client_calls(make_client, ledger, api, method):
    from dataclasses import replace

    from venue_pipeline.providers.registry import ask_cost, ask_endpoint, default_settings

    empty = {"places": []} if api == "new" else {"candidates": [], "results": [], "status": "ZERO_RESULTS"}
    client, _ = make_client(GooglePlacesClient, json_response(empty), options={"api": api})
    if method == "search":
        run(client.search("The Crown", 51.5, -0.12))
    else:
        run(client.geocode("The Crown, 12 High St, London"))
    (call,) = ledger.calls
    settings = replace(default_settings("google_places"), options={"api": api})
    assert ask_endpoint(settings, method) == call.endpoint
    assert ask_cost(settings, method) == client.cost(call.endpoint) == call.cost
    if (api, method) == ("legacy", "geocode"):
        assert call.endpoint == "find_place" and ask_cost(settings, method) == 0.017
