"""Deterministic, ImageKit-safe CDN paths: one photo, one path; two photos, two paths."""

from __future__ import annotations

import hashlib
import re
import unicodedata

# ImageKit keeps fileName chars a-zA-Z0-9.- and folder chars a-zA-Z0-9/_- (others become "_"),
# so paths built only from these survive the upload unchanged and overwrite-by-path dedupe holds.
_FOLDER_ROOT_RE = re.compile(r"^(/[a-zA-Z0-9_-]+)+$")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_NOT_NAME = re.compile(r"[^a-z0-9]+")
_MAX_SLUG = 80
_HASH_CHARS = 16

EXTENSIONS: dict[str, str] = {
    "jpeg": "jpg",
    "jpg": "jpg",
    "pjpeg": "jpg",
    "png": "png",
    "webp": "webp",
    "gif": "gif",
}


def safe_slug(slug: str) -> str:
    """The venue slug as a folder name: ASCII-folded, lower-case, [a-z0-9-] only, never empty."""
    if slug is None or not str(slug).strip():
        raise ValueError("a venue slug is required for a CDN path")
    folded = unicodedata.normalize("NFKD", str(slug)).encode("ascii", "ignore").decode("ascii")
    cleaned = _NOT_SLUG.sub("-", folded.lower()).strip("-")[:_MAX_SLUG].strip("-")
    if cleaned:
        return cleaned
    # A slug with no ASCII at all (e.g. only CJK) still needs a stable, distinct folder.
    return "v-" + hashlib.sha1(str(slug).encode("utf-8")).hexdigest()[:12]


def _safe_provider(provider: str) -> str:
    """Provider name as a fileName prefix: [a-z0-9-] only ("google_places" becomes "google-places")."""
    cleaned = _NOT_NAME.sub("-", provider.strip().lower()).strip("-")
    if not cleaned:
        raise ValueError(f"provider name {provider!r} has no usable characters")
    return cleaned


def extension_for(format_or_content_type: str | None) -> str:
    """File extension for a Pillow format ("JPEG") or a content type ("image/png; q=1"); jpg when unknown."""
    if not format_or_content_type:
        return "jpg"
    value = format_or_content_type.split(";")[0].strip().lower()
    if "/" in value:
        value = value.split("/", 1)[1]
    value = value.removeprefix("x-").lstrip(".")
    return EXTENSIONS.get(value, "jpg")


def photo_hash(provider: str, photo_key: str) -> str:
    """sha1 of provider|photo_key, shortened: the stable identity of one provider photo in file names."""
    if not photo_key:
        raise ValueError("a photo key is required for a CDN path")
    return hashlib.sha1(f"{provider}|{photo_key}".encode()).hexdigest()[:_HASH_CHARS]


def venue_folder(venue_slug: str, folder_root: str = "/venues") -> str:
    """/venues/{safe_slug}: the one folder every photo of a venue is stored in (no trailing slash)."""
    root = "/" + folder_root.strip("/")
    if not _FOLDER_ROOT_RE.match(root):
        raise ValueError(f"folder_root {folder_root!r} must use only a-zA-Z0-9/_- characters")
    return f"{root}/{safe_slug(venue_slug)}"


def photo_stem(provider: str, photo_key: str) -> str:
    """{provider}-{sha1(provider|photo_key)[:16]}: a photo's file name without its extension, which only the
    downloaded bytes decide (so a file already stored is found by its stem, whatever its format)."""
    return f"{_safe_provider(provider)}-{photo_hash(provider, photo_key)}"


def split_name(path: str) -> tuple[str, str, str]:
    """(folder, stem, extension) of a stored path: '/venues/a/here-0123.jpg' -> ('/venues/a', 'here-0123', 'jpg')."""
    folder, _, name = path.rpartition("/")
    stem, dot, ext = name.rpartition(".")
    return (folder, stem, ext) if dot else (folder, name, "")


def cdn_path(
    venue_slug: str,
    provider: str,
    photo_key: str,
    ext: str = "jpg",
    folder_root: str = "/venues",
) -> str:
    """/venues/{safe_slug}/{provider}-{sha1(provider|photo_key)[:16]}.{ext}: same photo, same path, always."""
    return f"{venue_folder(venue_slug, folder_root)}/{photo_stem(provider, photo_key)}.{extension_for(ext)}"
