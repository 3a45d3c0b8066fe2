"""The core's ports: what a provider client and an image store are and return, and where calls are recorded.

providers/ and cdn/ implement them; the core (and the stages) see only these, never a wire format."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol

import httpx


@dataclass(frozen=True, slots=True)
class Place:
    """A candidate place as a provider describes it (geocode or search result)."""

    provider: str
    place_id: str
    name: str
    lat: float | None
    lng: float | None
    address: str | None = None
    house_number: str | None = None
    street: str | None = None
    postcode: str | None = None
    city: str | None = None
    categories: tuple[str, ...] = ()
    result_type: str | None = None


@dataclass(frozen=True, slots=True)
class PhotoRef:
    """A provider photo: a stable key for dedupe and a reference that holds no secret."""

    provider: str
    photo_key: str
    reference: str
    width: int | None = None
    height: int | None = None
    attribution: str | None = None


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One provider or CDN call, as the api_calls ledger records it."""

    provider: str
    endpoint: str
    status_code: int | None
    error_type: str | None
    cost: float
    duration_ms: int
    called_at: datetime


class CallLedger(Protocol):
    """Where calls are recorded and daily usage is read from (the store, or memory in tests)."""

    def calls_today(self, provider: str) -> int: ...

    def record(self, call: ApiCall) -> None: ...


PHOTO_ENDPOINT = "photo"  # the ledger's endpoint kind (and cost key) of a photo download


class CallTurn(Protocol):
    """A call granted by a provider's limiter (quota reserved, pacing waited): `finish` records how it went."""

    def finish(self, call: ApiCall) -> None: ...


class ProviderClient(ABC):
    """One provider's API: geocode, search near a point, list photos, build a photo download, price a call."""

    name: ClassVar[str]
    supports_photos: ClassVar[bool] = False
    photo_hosts: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    async def geocode(
        self, query: str, *, near: tuple[float, float] | None = None, locality: str | None = None
    ) -> list[Place]:
        """Address (or 'name, address') to places with IDs and coordinates; `locality` ("Norwich, United
        Kingdom") names the town for providers whose search needs one when there is no `near` point."""

    @abstractmethod
    async def search(self, name: str, lat: float, lng: float, *, radius_m: int = 250) -> list[Place]:
        """Places named like `name` near a point: the candidates a matcher chooses from."""

    @abstractmethod
    async def photos(self, place_id: str) -> list[PhotoRef]:
        """The photos the provider holds for a place (empty for ID-only providers)."""

    @abstractmethod
    def photo_request(self, ref: PhotoRef, *, max_px: int = 1600) -> httpx.Request:
        """The download request for a photo; secrets are added here, at request time only."""

    @abstractmethod
    def cost(self, endpoint_kind: str) -> float:
        """The list price of one call of this kind (0 when free)."""

    async def photo_turn(self) -> CallTurn | None:
        """For a billed photo endpoint (Google's Place Photo), the turn its download must take under the provider's
        daily quota and rate, like any API call (raises QuotaExhausted when the quota is spent); None when free."""
        return None


@dataclass(frozen=True, slots=True)
class StoredImage:
    """Where a stored image lives: public url, CDN path, byte size and the CDN's file id (None locally); a
    folder listing also gives the pixel size when the store knows it cheaply (None otherwise)."""

    url: str
    path: str
    size: int
    file_id: str | None = None
    width: int | None = None
    height: int | None = None


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

    async def list_folder(self, folder: str) -> list[StoredImage]:
        """Every file stored directly in folder ('/venues/<slug>', no subfolders), in one listing. A store that
        cannot list raises NotImplementedError, and the stages then leave its folders as they are."""
        raise NotImplementedError(f"{type(self).__name__} cannot list a folder")

    async def delete(self, stored: StoredImage) -> None:
        """Removes a file a listing returned; a file already gone is not an error."""
        raise NotImplementedError(f"{type(self).__name__} cannot delete a file")
