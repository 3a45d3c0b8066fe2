"""CDN paths are stable per photo, distinct across photos, and survive ImageKit's character rules."""

from __future__ import annotations

import re

import pytest

from venue_pipeline.core.cdn_paths import cdn_path, extension_for, safe_slug

IMAGEKIT_SAFE = re.compile(r"^(/[a-zA-Z0-9_-]+)+/[a-zA-Z0-9.-]+$")


def test_same_photo_always_gets_the_same_path() -> None:
    first = cdn_path("the-anchor-colchester", "google_places", "places/ChIJ123/photos/AUc7tXW")
    again = cdn_path("the-anchor-colchester", "google_places", "places/ChIJ123/photos/AUc7tXW")
    assert first == again
    assert re.fullmatch(r"/venues/the-anchor-colchester/google-places-[0-9a-f]{16}\.jpg", first)


def test_two_google_photos_of_equal_width_get_two_paths() -> None:
    # The original hashed only maxwidth for Google URLs, so these two overwrote each other.
    photos = [("AUc7tXW-first-photo", 1600), ("AUc7tXW-second-photo", 1600)]
    paths = {cdn_path("the-anchor", "google_places", key) for key, _width in photos}
    assert len(paths) == 2


def test_provider_is_part_of_the_identity() -> None:
    assert cdn_path("v", "here", "abc") != cdn_path("v", "foursquare", "abc")


def test_paths_use_only_imagekit_safe_characters() -> None:
    path = cdn_path("Café Ünïcode & Bar!!", "Google Places", "key with spaces/and?query=1", ext="image/png")
    assert IMAGEKIT_SAFE.match(path), path
    assert path.startswith("/venues/cafe-unicode-bar/google-places-") and path.endswith(".png")


def test_folder_root_is_configurable_and_validated() -> None:
    assert cdn_path("v", "here", "k", folder_root="/prod/venues/").startswith("/prod/venues/v/here-")
    with pytest.raises(ValueError):
        cdn_path("v", "here", "k", folder_root="/venues/../etc")


def test_safe_slug() -> None:
    assert safe_slug("The Anchor, Colchester") == "the-anchor-colchester"
    assert safe_slug("--a--b--") == "a-b"
    cjk = safe_slug("日本酒バー")
    assert re.fullmatch(r"v-[0-9a-f]{12}", cjk) and cjk != safe_slug("居酒屋")
    with pytest.raises(ValueError):
        safe_slug("  ")


def test_missing_photo_key_is_refused() -> None:
    with pytest.raises(ValueError):
        cdn_path("v", "here", "")


@pytest.mark.parametrize(
    ("value", "ext"),
    [
        ("JPEG", "jpg"),
        ("image/jpeg", "jpg"),
        ("image/png; charset=binary", "png"),
        ("WEBP", "webp"),
        ("image/gif", "gif"),
        ("jpg", "jpg"),
        ("image/svg+xml", "jpg"),
        (None, "jpg"),
    ],
)
def test_extension_for(value: str | None, ext: str) -> None:
    assert extension_for(value) == ext
