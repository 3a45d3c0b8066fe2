"""ImageKit's real upload API, with overwrite-by-path so a re-upload replaces rather than duplicates."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from venue_pipeline.cdn.base import check_folder, check_path, tags_from_path
from venue_pipeline.core.errors import CdnError, ErrorType, error_type_for_status
from venue_pipeline.core.ports import ApiCall, CallLedger, ImageStore, StoredImage

log = logging.getLogger(__name__)

UPLOAD_URL = "https://upload.imagekit.io/api/v1/files/upload"
# List & search assets (GET, `path` = one folder, `type`, `limit` at most 1000, `skip`) and Delete file
# (DELETE /v1/files/{fileId}, no body, 204 No Content):
# https://imagekit.io/docs/api-reference/digital-asset-management-dam/list-and-search-assets
# https://imagekit.io/docs/api-reference/digital-asset-management-dam/managing-assets/delete-file
LIST_FILES_URL = "https://api.imagekit.io/v1/files"
LIST_PAGE = 1000
MAX_TAGS_CHARS = 500
# ImageKit answers a wrong or disabled private key with 403 {"message": "Your account cannot be
# authenticated."} (official SDK test fixtures); that is about the account, not the file, so it is an
# auth error (every later call fails the same way), while other 403s stay forbidden.
ACCOUNT_ERROR_MESSAGES = ("cannot be authenticated", "private api key")


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait after a 429: ImageKit's X-RateLimit-Reset is in milliseconds, Retry-After in seconds."""
    reset_ms = response.headers.get("x-ratelimit-reset")
    if reset_ms:
        try:
            return max(float(reset_ms) / 1000.0, 0.0)
        except ValueError:
            pass
    retry_after = response.headers.get("retry-after")
    if retry_after:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            return None
    return None


def _clean_tags(tags: Sequence[str]) -> str:
    """Comma-joined tags as ImageKit takes them: no commas or % inside a tag, 500 chars in all."""
    cleaned: list[str] = []
    for tag in tags:
        tag = str(tag).replace(",", " ").replace("%", " ").strip()
        if tag and tag not in cleaned:
            cleaned.append(tag)
    joined = ",".join(cleaned)
    while len(joined) > MAX_TAGS_CHARS and cleaned:
        cleaned.pop()
        joined = ",".join(cleaned)
    return joined


class ImageKitStore(ImageStore):
    """Uploads with the private key (HTTP Basic, empty password) to deterministic paths under folder_root."""

    name = "imagekit"

    def __init__(
        self,
        private_key: str,
        url_endpoint: str,
        http: httpx.AsyncClient,
        *,
        folder_root: str = "/venues",
        ledger: CallLedger | None = None,
        max_concurrency: int = 8,
    ) -> None:
        if not private_key:
            raise CdnError(ErrorType.MISSING_API_KEY, "IMAGEKIT private key is not set", target=self.name)
        self._auth = httpx.BasicAuth(private_key, "")
        self._secret = private_key
        self.url_endpoint = url_endpoint.rstrip("/")
        self.http = http
        self.folder_root = "/" + folder_root.strip("/")
        self.ledger = ledger
        self._slots = asyncio.Semaphore(max(1, max_concurrency))

    def __repr__(self) -> str:  # never show the key
        return f"ImageKitStore(url_endpoint={self.url_endpoint!r}, folder_root={self.folder_root!r})"

    def _check(self, path: str) -> str:
        """Only paths inside folder_root: this store never writes over anything else in the account."""
        check_path(path)
        if self.folder_root != "/" and not path.startswith(self.folder_root + "/"):
            raise CdnError(
                ErrorType.BAD_REQUEST,
                f"path {path!r} is outside the store's folder {self.folder_root}",
                target=self.name,
            )
        return path

    def url_for(self, path: str) -> str:
        return f"{self.url_endpoint}{self._check(path)}"

    def _scrub(self, text: str) -> str:
        """Belt and braces: a body that echoes the key never carries it into a message."""
        return text.replace(self._secret, "***") if self._secret else text

    def _record(self, endpoint: str, status: int | None, error: ErrorType | None, started: float) -> None:
        if self.ledger is None:
            return
        self.ledger.record(
            ApiCall(
                provider=self.name,
                endpoint=endpoint,
                status_code=status,
                error_type=error.value if error else None,
                cost=0.0,
                duration_ms=int((time.monotonic() - started) * 1000),
                called_at=datetime.now(UTC),
            )
        )

    def _error_for(self, response: httpx.Response, what: str) -> CdnError:
        """The taxonomy error for a non-2xx answer, with ImageKit's own message when it sent one."""
        status = response.status_code
        message = ""
        try:
            body = response.json()
            if isinstance(body, dict) and body.get("message"):
                message = str(body["message"])
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            pass
        if not message:
            message = response.reason_phrase or "no message"
        error_type = error_type_for_status(status)
        if status == 403 and any(m in message.lower() for m in ACCOUNT_ERROR_MESSAGES):
            error_type = ErrorType.AUTH_ERROR
        return CdnError(
            error_type,
            self._scrub(f"{what} failed: {message}")[:500],
            status_code=status,
            target=self.name,
            retry_after=_retry_after(response) if status == 429 else None,
        )

    async def _send(
        self, endpoint: str, what: str, accept: Callable[[Any], bool] | None, **request: Any
    ) -> tuple[httpx.Response, Any]:
        """One ledgered call: transport failures and bodies that are not the JSON `accept` wants become CdnErrors
        (`accept` None: an answer without a body, such as Delete file's 204)."""
        started = time.monotonic()
        status: int | None = None
        error: ErrorType | None = None
        try:
            try:
                response = await self.http.request(auth=self._auth, **request)
            except httpx.TimeoutException as exc:
                error = ErrorType.NETWORK_TIMEOUT
                raise CdnError(error, f"{what} timed out ({type(exc).__name__})", target=self.name) from exc
            except httpx.TransportError as exc:
                error = ErrorType.NETWORK_ERROR
                raise CdnError(
                    error,
                    self._scrub(f"{what} transport error: {type(exc).__name__}: {exc}")[:500],
                    target=self.name,
                ) from exc
            status = response.status_code
            if not response.is_success:
                failure = self._error_for(response, what)
                error = failure.error_type
                raise failure
            if accept is None:
                return response, None
            try:
                body = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
                error = ErrorType.MALFORMED_RESPONSE
                kind = response.headers.get("content-type", "no content type").split(";")[0]
                raise CdnError(
                    error,
                    f"{what} answered HTTP {status} with a non-JSON body ({kind})",
                    status_code=status,
                    target=self.name,
                ) from exc
            if not accept(body):
                error = ErrorType.MALFORMED_RESPONSE
                raise CdnError(
                    error,
                    f"{what} answered HTTP {status} without the expected fields",
                    status_code=status,
                    target=self.name,
                )
            return response, body
        finally:
            self._record(endpoint, status, error, started)

    async def put(
        self, path: str, data: bytes, content_type: str, *, tags: Sequence[str] | None = None
    ) -> StoredImage:
        self._check(path)
        folder, _, file_name = path.rpartition("/")
        fields = {
            "fileName": file_name,
            "folder": folder or "/",
            "useUniqueFileName": "false",
            "overwriteFile": "true",
            "tags": _clean_tags(tags if tags is not None else tags_from_path(path)),
        }
        if not fields["tags"]:
            del fields["tags"]
        async with self._slots:
            _, body = await self._send(
                "upload",
                f"upload of {path}",
                lambda body: isinstance(body, dict) and bool(body.get("url")),
                method="POST",
                url=UPLOAD_URL,
                data=fields,
                files={"file": (file_name, data, content_type or "application/octet-stream")},
            )
        stored_path = str(body.get("filePath") or path)
        if stored_path != path:
            log.warning("ImageKit stored %s as %s", path, stored_path)
        size = body.get("size")
        return StoredImage(
            url=str(body["url"]),
            path=stored_path,
            size=int(size) if isinstance(size, (int, float)) else len(data),
            file_id=str(body["fileId"]) if body.get("fileId") else None,
        )

    async def exists(self, path: str) -> bool:
        """Asks the (rate-limited) List Files API for exactly this file name in exactly this folder."""
        self._check(path)
        folder, _, file_name = path.rpartition("/")
        async with self._slots:
            _, body = await self._send(
                "list_files",
                f"lookup of {path}",
                lambda body: isinstance(body, list),
                method="GET",
                url=LIST_FILES_URL,
                params={
                    "path": folder + "/",
                    "searchQuery": f'name = "{file_name}"',
                    "type": "file",
                    "limit": "10",
                },
            )
        return any(isinstance(item, dict) and item.get("filePath") == path for item in body)

    async def list_folder(self, folder: str) -> list[StoredImage]:
        """Every file directly in folder, from List & search assets: pages of LIST_PAGE until a short one, each
        file with its url, size, fileId and (images) width and height."""
        self._check(check_folder(folder) + "/any.jpg")  # a file of the folder must be inside folder_root
        out: list[StoredImage] = []
        skip = 0
        while True:
            async with self._slots:
                _, body = await self._send(
                    "list_files",
                    f"listing of {folder}/",
                    lambda body: isinstance(body, list),
                    method="GET",
                    url=LIST_FILES_URL,
                    params={
                        "path": folder + "/",
                        "type": "file",
                        "sort": "ASC_NAME",
                        "limit": str(LIST_PAGE),
                        "skip": str(skip),
                    },
                )
            for item in body:
                stored = _listed(item, folder)
                if stored is not None:
                    out.append(stored)
            if len(body) < LIST_PAGE:
                return out
            skip += LIST_PAGE

    async def delete(self, stored: StoredImage) -> None:
        """Delete file by its fileId (a listing's); 404, the file already gone, counts as deleted."""
        self._check(stored.path)
        if not stored.file_id:
            raise CdnError(ErrorType.BAD_REQUEST, f"no ImageKit fileId for {stored.path}", target=self.name)
        try:
            async with self._slots:
                await self._send(
                    "delete_file",
                    f"delete of {stored.path}",
                    None,
                    method="DELETE",
                    url=f"{LIST_FILES_URL}/{stored.file_id}",
                )
        except CdnError as exc:
            if exc.status_code != 404:
                raise


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _listed(item: Any, folder: str) -> StoredImage | None:
    """A List & search assets entry as a StoredImage; None for folders, other folders' files or odd entries."""
    if not isinstance(item, dict) or item.get("type", "file") != "file":
        return None
    path, url, file_id = item.get("filePath"), item.get("url"), item.get("fileId")
    if not (isinstance(path, str) and isinstance(url, str) and file_id) or path.rpartition("/")[0] != folder:
        return None
    return StoredImage(
        url=url,
        path=path,
        size=_number(item.get("size")) or 0,
        file_id=str(file_id),
        width=_number(item.get("width")),
        height=_number(item.get("height")),
    )
