"""Geoapify client: json and geojson geocoding shapes, Places v2 GeoJSON, lon/lat order, errors."""

from __future__ import annotations

import pytest
from provider_fakes import SECRET, json_response, run

from venue_pipeline.core.errors import ErrorType, ProviderError
from venue_pipeline.providers.geoapify import GeoapifyClient

PID = "51bfa6ca4f698d5ec059a6ec4eab8dbe4740f00102f901a67918020000000092030e52656e746f6e205374616469756d"
GEOCODE_JSON = {
    "results": [
        {
            "datasource": {"sourcename": "openstreetmap"},
            "name": "The Crown",
            "housenumber": "12",
            "street": "High Street",
            "postcode": "SW1A 1AA",
            "city": "London",
            "lon": -0.1276,
            "lat": 51.5072,
            "formatted": "The Crown, 12 High Street, London SW1A 1AA, United Kingdom",
            "result_type": "amenity",
            "rank": {"confidence": 0.9},
            "place_id": PID,
            "bbox": {"lon1": -0.128, "lat1": 51.507, "lon2": -0.127, "lat2": 51.508},
        },
        {"formatted": "no id here", "lat": 1, "lon": 2},
    ],
    "query": {"text": "The Crown, London"},
}
GEOCODE_GEOJSON = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {"street": "High Street", "formatted": "High Street, London", "result_type": "street", "place_id": "5abc", "lat": 51.5, "lon": -0.12},
            "geometry": {"type": "Point", "coordinates": [-0.12, 51.5]},
        }
    ],
    "query": {"text": "High Street"},
}
PLACES = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {
                "name": "The Crown",
                "street": "High Street",
                "housenumber": "12",
                "city": "London",
                "formatted": "The Crown, 12 High Street, London",
                "categories": ["catering", "catering.pub"],
                "datasource": {"sourcename": "openstreetmap", "raw": {"amenity": "pub"}},
                "distance": 14,
                "place_id": "51aa",
            },
            "geometry": {"type": "Point", "coordinates": [-0.1275, 51.5073]},
        },
        {"type": "Feature", "properties": {"name": "Nameless"}, "geometry": None},
    ],
}


def test_geocode_json_format_and_request(make_client):
    client, rec = make_client(GeoapifyClient, json_response(GEOCODE_JSON))
    (place,) = run(client.geocode("The Crown, London", near=(51.5, -0.12)))
    assert place.place_id == PID and place.place_id != place.address
    assert (place.name, place.lat, place.lng) == ("The Crown", 51.5072, -0.1276)
    assert (place.house_number, place.street, place.postcode, place.city) == ("12", "High Street", "SW1A 1AA", "London")
    assert place.result_type == "amenity"
    params = rec.last.url.params
    assert rec.last.url.path == "/v1/geocode/search"
    assert params["format"] == "json" and params["text"] == "The Crown, London"
    assert params["bias"] == "proximity:-0.12,51.5"  # lon,lat
    assert params["apiKey"] == SECRET


def test_geocode_geojson_shape_is_parsed_too(make_client):
    client, _ = make_client(GeoapifyClient, json_response(GEOCODE_GEOJSON))
    (street,) = run(client.geocode("High Street"))
    assert street.result_type == "street" and street.name == "" and street.place_id == "5abc"


def test_places_v2_search(make_client):
    client, rec = make_client(GeoapifyClient, json_response(PLACES))
    (place,) = run(client.search("The Crown", 51.5072, -0.1276, radius_m=200))
    assert place.place_id == "51aa" and place.name == "The Crown"
    assert (place.lat, place.lng) == (51.5073, -0.1275)  # from the GeoJSON Point
    assert place.categories == ("catering", "catering.pub") and place.result_type == "amenity"
    params = rec.last.url.params
    assert rec.last.url.path == "/v2/places"
    assert params["categories"] == "catering.pub,catering.bar,catering.restaurant,catering.cafe"
    assert params["filter"] == "circle:-0.1276,51.5072,200"
    assert params["bias"] == "proximity:-0.1276,51.5072"
    assert params["name"] == "The Crown" and params["limit"] == "20"
    assert client.supports_photos is False and run(client.photos("51aa")) == []


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, {"statusCode": 400, "error": "Bad Request", "message": "Invalid Place ID"}, ErrorType.BAD_REQUEST),
        (401, {"statusCode": 401, "error": "Unauthorized", "message": "Invalid apiKey"}, ErrorType.AUTH_ERROR),
        (500, {"statusCode": 500, "error": "Internal Server Error", "message": "Request failed, please try again later"}, ErrorType.SERVER_ERROR),
    ],
)
def test_error_bodies(make_client, status, body, expected):
    client, _ = make_client(GeoapifyClient, json_response(body, status))
    with pytest.raises(ProviderError) as info:
        run(client.geocode("x"))
    assert info.value.error_type is expected and body["message"] in info.value.message
    assert SECRET not in str(info.value)
