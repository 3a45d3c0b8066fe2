"""A folder as the image CDN: the embedded default, written atomically so a crash never leaves half a file."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from venue_pipeline.cdn.base import check_folder, check_path
from venue_pipeline.core.errors import CdnError, ErrorType
from venue_pipeline.core.ports import ImageStore, StoredImage


class LocalImageStore(ImageStore):
    """Files under root at their CDN path; url is base_url + path, or a file:// URL."""

    name = "local"

    def __init__(self, root: Path, base_url: str | None = None) -> None:
        self.root = Path(root).resolve()
        self.base_url = base_url.rstrip("/") if base_url else None

    def file_for(self, path: str) -> Path:
        """The file a CDN path maps to; refuses anything (.., absolute tricks, symlinks) leaving root."""
        check_path(path)
        target = (self.root / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.root) or target == self.root:
            raise CdnError(ErrorType.BAD_REQUEST, f"CDN path {path!r} escapes the store root")
        return target

    def url_for(self, path: str) -> str:
        if self.base_url:
            check_path(path)
            return f"{self.base_url}{path}"
        return self.file_for(path).as_uri()

    def _write(self, target: Path, data: bytes) -> None:
        """tmp file in the same folder + os.replace: readers see the old file or the new one, never a mix."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def put(
        self, path: str, data: bytes, content_type: str, *, tags: Sequence[str] | None = None
    ) -> StoredImage:
        target = self.file_for(path)
        try:
            await asyncio.to_thread(self._write, target, data)
        except OSError as exc:
            raise CdnError(
                ErrorType.UNKNOWN_ERROR, f"writing {path}: {exc.strerror or exc}", target=self.name
            ) from exc
        return StoredImage(url=self.url_for(path), path=path, size=len(data), file_id=None)

    async def exists(self, path: str) -> bool:
        return self.file_for(path).is_file()

    def _list(self, folder: str) -> list[StoredImage]:
        directory = self.root / check_folder(folder).lstrip("/")
        if not directory.resolve().is_relative_to(self.root):
            raise CdnError(ErrorType.BAD_REQUEST, f"CDN folder {folder!r} escapes the store root", target=self.name)
        out: list[StoredImage] = []
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except FileNotFoundError:
            return out
        for entry in entries:
            # ".name.XXXX.tmp" is a put still writing (or one killed mid-write): never listed, never adopted
            if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                continue
            path = f"{folder}/{entry.name}"
            width, height = _pixel_size(entry.path)
            out.append(
                StoredImage(self.url_for(path), path, entry.stat().st_size, None, width=width, height=height)
            )
        return out

    async def list_folder(self, folder: str) -> list[StoredImage]:
        """One os.scandir of the folder; width and height from each image's header (None when unreadable)."""
        try:
            return await asyncio.to_thread(self._list, folder)
        except OSError as exc:
            raise CdnError(
                ErrorType.UNKNOWN_ERROR, f"listing {folder}: {exc.strerror or exc}", target=self.name
            ) from exc

    async def delete(self, stored: StoredImage) -> None:
        target = self.file_for(stored.path)
        try:
            await asyncio.to_thread(target.unlink, True)
        except OSError as exc:
            raise CdnError(
                ErrorType.UNKNOWN_ERROR, f"deleting {stored.path}: {exc.strerror or exc}", target=self.name
            ) from exc


def _pixel_size(file: str) -> tuple[int | None, int | None]:
    """Pillow reads only the header here (the pixels are decoded lazily, and never)."""
    try:
        with Image.open(file) as img:
            return img.width, img.height
    except (UnidentifiedImageError, OSError, ValueError):
        return None, None
