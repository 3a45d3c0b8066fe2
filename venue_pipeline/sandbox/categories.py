"""Kinds of place in the sandbox world and how each provider names them (HERE, Foursquare, Geoapify, Google codes)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CategoryCodes:
    """How each provider names one kind of place."""

    here_id: str
    here_name: str
    fsq_id: int
    fsq_name: str
    geoapify: tuple[str, ...]
    google_types: tuple[str, ...]
    google_primary: str


CATEGORIES: dict[str, CategoryCodes] = {
    "pub": CategoryCodes("200-2000-0011", "Bar or Pub", 13018, "Pub", ("catering", "catering.pub"), ("bar", "food", "point_of_interest", "establishment"), "pub"),
    "bar": CategoryCodes("200-2000-0011", "Bar or Pub", 13003, "Bar", ("catering", "catering.bar"), ("bar", "point_of_interest", "establishment"), "bar"),
    "cafe": CategoryCodes("100-1100-0010", "Coffee Shop", 13034, "Café", ("catering", "catering.cafe"), ("cafe", "food", "point_of_interest", "establishment"), "cafe"),
    "hotel": CategoryCodes("500-5000-0053", "Hotel", 19014, "Hotel", ("accommodation", "accommodation.hotel"), ("lodging", "point_of_interest", "establishment"), "hotel"),
    "restaurant": CategoryCodes("100-1000-0000", "Restaurant", 13065, "Restaurant", ("catering", "catering.fast_food", "catering.fast_food.fish_and_chips"), ("restaurant", "meal_takeaway", "food", "point_of_interest", "establishment"), "fish_and_chips_restaurant"),
    "parking": CategoryCodes("800-8500-0000", "Parking", 19020, "Parking", ("parking", "parking.cars"), ("parking", "point_of_interest", "establishment"), "parking"),
    "shop": CategoryCodes("600-6300-0066", "Grocery", 17142, "Convenience Store", ("commercial", "commercial.convenience"), ("convenience_store", "store", "point_of_interest", "establishment"), "convenience_store"),
    "address": CategoryCodes("", "", 0, "", ("building",), ("premise",), "premise"),
}


def category_matches(category_of_place: str, category: str) -> bool:
    """Whether a place of one kind answers a Geoapify category filter ("catering" matches "catering.pub")."""
    codes = CATEGORIES[category_of_place].geoapify
    return any(c == category or c.startswith(category + ".") for c in codes)
