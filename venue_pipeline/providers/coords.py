"""Coordinates as the providers document them on the wire: plain decimals, never Python's exponent form."""

from __future__ import annotations

DECIMALS = 7  # about 1 cm; more than any provider resolves


def decimal_coord(value: float) -> str:
    """A latitude or longitude as a plain decimal: -1e-05 -> '-0.00001', 52.6293 -> '52.6293', -0.0 -> '0'.

    str(float) switches to exponent notation below 1e-4 (venues on the Greenwich meridian), which
    HERE's `{decimal},{decimal}` and the other providers' decimal coordinate parameters do not accept.
    """
    text = f"{float(value):.{DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def lat_lng(lat: float, lng: float) -> str:
    """'lat,lng' (HERE `at`, `in=circle:`; Foursquare `ll`)."""
    return f"{decimal_coord(lat)},{decimal_coord(lng)}"


def lon_lat(lat: float, lng: float) -> str:
    """'lon,lat' (Geoapify `filter=circle:`, `bias=proximity:`): longitude first."""
    return f"{decimal_coord(lng)},{decimal_coord(lat)}"
