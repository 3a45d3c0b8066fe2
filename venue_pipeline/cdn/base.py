"""One interface for image stores, so the pipeline uploads the same way to ImageKit or a folder."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from venue_pipeline.core.errors import CdnError, ErrorType

# Folders a-zA-Z0-9_- and a file name a-zA-Z0-9._- : what cdn_path produces and ImageKit keeps verbatim.
_SEGMENT_RE = re.compile(r"^[a-zA-Z0-9_.-]+$")
MAX_PATH_LEN = 512


@dataclass(frozen=True, slots=True)
class StoredImage:
    """Where a stored image lives: public url, CDN path, byte size and the CDN's file id (None locally)."""

    url: str
    path: str
    size: int
    file_id: str | None = None


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


def tags_from_path(path: str) -> tuple[str, ...]:
    """Default tags (provider prefix of the file name, venue folder) for stores that support tagging."""
    folder, _, name = path.rpartition("/")
    provider = name.rsplit("-", 1)[0] if "-" in name else ""
    venue = folder.rpartition("/")[2]
    return tuple(t for t in (provider, venue) if t)


class ImageStore(ABC):
    """An image CDN: put() to a deterministic path overwrites, never duplicates."""

    name: ClassVar[str]

    @abstractmethod
    async def put(
        self, path: str, data: bytes, content_type: str, *, tags: Sequence[str] | None = None
    ) -> StoredImage:
        """Stores data at path, replacing whatever was there; tags are a hint stores may ignore."""

    @abstractmethod
    async def exists(self, path: str) -> bool:
        """Whether a file is stored at path."""

    @abstractmethod
    def url_for(self, path: str) -> str:
        """The public URL of path (no secret in it)."""
