"""HERE Geocoding & Search v7 held to its documentation: the request we build, the parse of the documented
example, every documented error form (fixtures/here/*.json, each with its SOURCE)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from contract_support import error_response, json_response, load_fixture, run
from provider_fakes import SECRET

from venue_pipeline.core.errors import ErrorClass, ErrorType, ProviderError
from venue_pipeline.providers.here import HereClient

ENDPOINTS = ("geocode", "discover")  # lookup is not called: HERE v7 has no photos, so no lookup per venue


def fixture(endpoint: str) -> dict[str, Any]:
    return load_fixture("here", endpoint)


def call(client: HereClient, endpoint: str, *, near: tuple[float, float] | None = (43.2972, 5.36871)) -> Any:
    """Our client's call of one endpoint (geocode with a `near` point, discover in a 250 m circle)."""
    if endpoint == "geocode":
        return client.geocode("5 Rue Daunou, 75000 Paris, France", near=near)
    lat, lng = near or (43.2972, 5.36871)
    return client.search("Vanille Noire", lat, lng, radius_m=250)


def place_dict(place: Any) -> dict[str, Any]:
    return {
        "place_id": place.place_id, "name": place.name, "lat": place.lat, "lng": place.lng, "address": place.address,
        "house_number": place.house_number, "street": place.street, "postcode": place.postcode, "city": place.city,
        "categories": list(place.categories), "result_type": place.result_type,
    }


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_fixture_names_its_source(endpoint):
    fx = fixture(endpoint)
    assert fx["SOURCE"]["url"].startswith("https://") and fx["SOURCE"]["note"]
    assert fx["request"]["auth"] == {"in": "query", "name": "apiKey"}
    assert all(e["note"] for e in fx["errors"])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_request_follows_the_documented_form(make_client, endpoint):
    fx = fixture(endpoint)
    doc = fx["request"]
    client, rec = make_client(HereClient, json_response({"items": []}))
    run(call(client, endpoint))
    req = rec.last
    assert (req.method, req.url.scheme, req.url.host, req.url.path) == (doc["method"], "https", doc["host"], doc["path"])
    params = req.url.params
    keys = [k for k, _ in params.multi_items()]
    assert len(keys) == len(set(keys)), "HERE answers a repeated parameter with 400"
    assert set(keys) <= set(doc["documented_params"])
    assert set(doc["params"]) <= set(keys)  # q and apiKey, as in the documented example
    assert params["apiKey"] == SECRET and "authorization" not in req.headers  # the apiKey query form
    assert 1 <= int(params["limit"]) <= 100
    if endpoint == "geocode":
        assert params["at"] == "43.2972,5.36871"  # {latitude},{longitude}
    else:
        assert "at" not in params  # exactly one of at / in
        assert params["in"] == "circle:43.2972,5.36871;r=250"  # circle:{lat},{lng};r={integer metres}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    ("lat", "lng", "at"),
    [
        (51.47787, -0.00001, "51.47787,-0.00001"),  # the Greenwich meridian: no 1e-05 exponent form
        (0.00005, -0.00000004, "0.00005,0"),  # rounded to 7 places (about 1 cm); never "-0"
        (52.629297, 1.300907, "52.629297,1.300907"),
    ],
)
def test_coordinates_are_plain_decimals(make_client, endpoint, lat, lng, at):
    """The documented type is `{decimal},{decimal}`; Python's str(1e-05) is not one."""
    client, rec = make_client(HereClient, json_response({"items": []}))
    run(call(client, endpoint, near=(lat, lng)))
    params = rec.last.url.params
    sent = params["at"] if endpoint == "geocode" else params["in"]
    assert sent == (at if endpoint == "geocode" else f"circle:{at};r=250")
    assert "e" not in sent.replace("circle", "")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_documented_response_parses_into_place(make_client, endpoint):
    fx = fixture(endpoint)
    client, _ = make_client(HereClient, json_response(fx["response"]["body"], fx["response"]["status"]))
    (place,) = run(call(client, endpoint))
    assert place.provider == "here"
    assert place_dict(place) == fx["response"]["expected_place"]
    assert place.place_id.startswith("here:") and place.place_id != place.address  # an ID, never a label


def _error_cases() -> list[Any]:
    return [
        pytest.param(endpoint, err, id=f"{endpoint}-{err['status']}-{i}")
        for endpoint in ENDPOINTS
        for i, err in enumerate(fixture(endpoint)["errors"])
    ]


@pytest.mark.parametrize(("endpoint", "err"), _error_cases())
def test_documented_error_forms(make_client, ledger, endpoint, err):
    client, rec = make_client(HereClient, error_response(err))
    with pytest.raises(ProviderError) as info:
        run(call(client, endpoint))
    exc = info.value
    assert exc.error_type is ErrorType(err["error_type"])
    assert exc.error_class is ErrorClass(err["error_class"])
    assert exc.status_code == err["status"]
    human = err["body"].get("error_description") or err["body"].get("title")
    assert human in exc.message
    assert SECRET not in str(exc)
    # transient errors were retried (MAX_ATTEMPTS), permanent ones were not
    attempts = len(rec.requests)
    assert attempts == (3 if exc.error_class is ErrorClass.TRANSIENT else 1)
    assert {c.status_code for c in ledger.calls} == {err["status"]} and all(c.cost == 0 for c in ledger.calls)


def test_429_gateway_form_then_success_is_one_logical_call(make_client, ledger):
    body = fixture("discover")["response"]["body"]
    limited = next(e for e in fixture("discover")["errors"] if e["status"] == 429)
    client, rec = make_client(
        HereClient,
        json_response(limited["body"], 429, {"Retry-After": "0"}),
        json_response(body),
    )
    (place,) = run(client.search("Vanille Noire", 43.2972, 5.36871))
    assert place.name == "Vanille Noire" and len(rec.requests) == 2
    assert [c.status_code for c in ledger.calls] == [429, 200]


def test_error_body_that_is_not_json_is_still_classified(make_client):
    """HERE's gateway can answer with an HTML page (503 from a load balancer): status decides."""
    page = httpx.Response(503, content=b"<html><body>Service Unavailable</body></html>", headers={"content-type": "text/html"})
    client, _ = make_client(HereClient, page)
    with pytest.raises(ProviderError) as info:
        run(client.geocode("x"))
    assert info.value.error_type is ErrorType.SERVICE_UNAVAILABLE and "non-JSON" in info.value.message
