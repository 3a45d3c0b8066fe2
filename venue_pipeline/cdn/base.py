"""What every image store shares: the path rule that keeps a CDN path inside the store, and default tags.

The ImageStore port itself is core.ports.ImageStore; local.py and imagekit.py implement it."""

from __future__ import annotations

import re

from venue_pipeline.core.errors import CdnError, ErrorType

# Folders a-zA-Z0-9_- and a file name a-zA-Z0-9._- : what cdn_path produces and ImageKit keeps verbatim.
_SEGMENT_RE = re.compile(r"^[a-zA-Z0-9_.-]+$")
MAX_PATH_LEN = 512


def check_path(path: str) -> str:
    """Accepts only '/seg/.../file.ext' with safe segments, so no path can escape a store's root."""
    if not isinstance(path, str) or not path.startswith("/") or len(path) > MAX_PATH_LEN:
        raise CdnError(
            ErrorType.BAD_REQUEST, f"CDN path must be absolute and at most {MAX_PATH_LEN} chars: {path!r}"
        )
    segments = path[1:].split("/")
    for segment in segments:
        if segment in ("", ".", "..") or not _SEGMENT_RE.match(segment):
            raise CdnError(ErrorType.BAD_REQUEST, f"unsafe CDN path {path!r} (segment {segment!r})")
    if "." not in segments[-1].strip("."):
        raise CdnError(ErrorType.BAD_REQUEST, f"CDN path {path!r} has no file extension")
    return path


def check_folder(folder: str) -> str:
    """Accepts only '/seg/...' folders with safe segments (no trailing slash), like the folders of check_path."""
    if not isinstance(folder, str) or not folder.startswith("/") or len(folder) > MAX_PATH_LEN:
        raise CdnError(ErrorType.BAD_REQUEST, f"CDN folder must be absolute: {folder!r}")
    for segment in folder[1:].split("/"):
        if segment in ("", ".", "..") or not _SEGMENT_RE.match(segment):
            raise CdnError(ErrorType.BAD_REQUEST, f"unsafe CDN folder {folder!r} (segment {segment!r})")
    return folder


def tags_from_path(path: str) -> tuple[str, ...]:
    """Default tags (provider prefix of the file name, venue folder) for stores that support tagging."""
    folder, _, name = path.rpartition("/")
    provider = name.rsplit("-", 1)[0] if "-" in name else ""
    venue = folder.rpartition("/")[2]
    return tuple(t for t in (provider, venue) if t)
