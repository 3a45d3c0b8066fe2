"""ImageKit: the upload API (multipart, Basic auth) and serving uploaded files at ik.imagekit.io."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx
from PIL import Image, UnidentifiedImageError

from venue_pipeline.sandbox.routes_common import Ctx, Route, error_response, json_response, parse_int, route

STYLE = "imagekit"
UPLOAD_HOST = "upload.imagekit.io"
CDN_HOST = "ik.imagekit.io"
API_HOST = "api.imagekit.io"


@dataclass
class StoredFile:
    """One uploaded file as the sandbox CDN keeps it."""

    file_id: str
    name: str
    file_path: str
    content: bytes
    mime: str
    file_type: str
    width: int | None
    height: int | None
    tags: list[str] | None
    version: int = 1
    version_id: str = ""
    uploads: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[bytes, str | None]]:
    """Form fields of a multipart body: name -> (bytes, filename or None)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = BytesParser(policy=HTTP).parsebytes(head + body)
    out: dict[str, tuple[bytes, str | None]] = {}
    if not msg.is_multipart():
        return out
    for part in msg.iter_parts():  # type: ignore[attr-defined]
        assert isinstance(part, Message)
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            payload = str(part.get_payload()).encode()
        out[str(name)] = (payload, part.get_filename())
    return out


def _auth(ctx: Ctx) -> httpx.Response | None:
    header = ctx.header("authorization") or ""
    if not header.lower().startswith("basic "):
        return error_response(STYLE, 401, "Your request does not contain private API key.")
    try:
        user, _, _password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return error_response(STYLE, 401, "Your request does not contain private API key.")
    if not user.strip():
        return error_response(STYLE, 401, "Your request does not contain private API key.")
    if user.lower().startswith("invalid"):
        return error_response(STYLE, 403, "Your account cannot be authenticated.")
    return None


def _form(ctx: Ctx) -> dict[str, tuple[bytes, str | None]]:
    if "form" not in ctx.cache:
        ctype = ctx.header("content-type") or ""
        ctx.cache["form"] = parse_multipart(ctype, ctx.body) if "multipart/form-data" in ctype else {}
    return ctx.cache["form"]  # type: ignore[no-any-return]


def _text(form: dict[str, tuple[bytes, str | None]], name: str) -> str | None:
    value = form.get(name)
    return value[0].decode("utf-8", errors="replace") if value is not None else None


def _bool(value: str | None, default: bool) -> bool:
    return default if value is None else value.strip().lower() == "true"


def _folder(raw: str | None) -> str:
    folder = re.sub(r"[^a-zA-Z0-9/_-]", "_", raw or "/").strip("/")
    return f"/{folder}/" if folder else "/"


def _file_name(raw: str) -> str:
    return re.sub(r"[^a-zA-Z0-9.\-]", "_", raw)


def upload_key(ctx: Ctx) -> str | None:
    """Faults on uploads follow the target path, not the (large, changing) multipart body."""
    form = _form(ctx)
    return f"upload:{_folder(_text(form, 'folder'))}{_file_name(_text(form, 'fileName') or '')}"


def _describe(content: bytes) -> tuple[str, str, int | None, int | None]:
    try:
        with Image.open(io.BytesIO(content)) as img:
            fmt = (img.format or "").lower()
            return f"image/{fmt}", "image", img.width, img.height
    except (UnidentifiedImageError, OSError):
        return "application/octet-stream", "non-image", None, None


def upload(ctx: Ctx) -> httpx.Response:
    sandbox = ctx.sandbox
    form = _form(ctx)
    if "file" not in form:
        return error_response(STYLE, 400, "Missing file parameter for upload")
    raw_name = _text(form, "fileName")
    if not raw_name:
        return error_response(STYLE, 400, "Missing fileName parameter for upload")
    content, filename = form["file"]
    if filename is None:  # a text field: URL, data URI or Base64
        text = content.decode("utf-8", errors="replace").strip()
        if text.startswith(("http://", "https://")):
            fetched = sandbox.fetch_internal(text)
            if fetched is None:
                return error_response(STYLE, 400, "Remote file could not be fetched.")
            content = fetched
        else:
            if text.startswith("data:"):
                text = text.partition(",")[2]
            try:
                content = base64.b64decode(text, validate=True)
            except binascii.Error:
                return error_response(STYLE, 400, "Invalid file parameter: expected binary, URL or Base64.")
    if len(content) > sandbox.imagekit_max_bytes:
        mb = sandbox.imagekit_max_bytes // (1024 * 1024)
        return error_response(STYLE, 413, f"File size too large. The maximum allowed file size on your plan is {mb} MB.")
    folder = _folder(_text(form, "folder"))
    name = _file_name(raw_name)
    unique = _bool(_text(form, "useUniqueFileName"), True)
    overwrite = _bool(_text(form, "overwriteFile"), True)
    tags_raw = _text(form, "tags")
    tags = [t.strip() for t in tags_raw.split(",") if t.strip()] if tags_raw else None
    mime, file_type, width, height = _describe(content)
    with sandbox.lock:
        if unique:
            stem, dot, ext = name.rpartition(".")
            suffix = hashlib.sha256(f"{folder}{name}{sandbox.next_nonce()}".encode()).hexdigest()[:9]
            name = f"{stem}_{suffix}.{ext}" if dot else f"{name}_{suffix}"
        path = folder + name
        existing = sandbox.imagekit_files.get(path)
        if existing is not None and not unique and not overwrite:
            return error_response(
                STYLE,
                400,
                "A file with the same name already exists at the exact location. We could not overwrite it because both overwriteFile and useUniqueFileName are set to false.",
            )
        file_id = existing.file_id if existing else hashlib.sha256(f"file|{path}".encode()).hexdigest()[:24]
        version = existing.version + 1 if existing else 1
        stored = StoredFile(
            file_id=file_id,
            name=name,
            file_path=path,
            content=content,
            mime=mime,
            file_type=file_type,
            width=width,
            height=height,
            tags=tags,
            version=version,
            version_id=hashlib.sha256(f"version|{path}|{version}".encode()).hexdigest()[:24],
            uploads=(existing.uploads + 1) if existing else 1,
        )
        sandbox.imagekit_files[path] = stored
        sandbox.imagekit_uploads[path] += 1
    return json_response(_file_json(sandbox.imagekit_id, stored))


def _file_json(imagekit_id: str, f: StoredFile) -> dict[str, Any]:
    base = f"https://{CDN_HOST}/{imagekit_id}"
    out: dict[str, Any] = {
        "fileId": f.file_id,
        "name": f.name,
        "size": len(f.content),
        "versionInfo": {"id": f.version_id, "name": f"Version {f.version}"},
        "filePath": f.file_path,
        "url": f"{base}{f.file_path}",
        "fileType": f.file_type,
        "height": f.height,
        "width": f.width,
        "thumbnailUrl": f"{base}/tr:n-ik_ml_thumbnail{f.file_path}",
        "tags": f.tags,
        "AITags": None,
        "isPrivateFile": False,
        "extensionStatus": {},
    }
    if f.file_type != "image":
        out.pop("height")
        out.pop("width")
    return out


def serve(ctx: Ctx) -> httpx.Response:
    sandbox = ctx.sandbox
    path = ctx.request.url.path
    prefix = f"/{sandbox.imagekit_id}"
    if not path.startswith(prefix + "/"):
        return error_response("host", 404, "Not Found")
    rest = path[len(prefix) :]
    if rest.startswith("/tr:"):  # transformations are accepted and ignored: the original is served
        rest = "/" + rest.split("/", 2)[2] if rest.count("/") >= 2 else "/"
    stored = sandbox.imagekit_files.get(rest)
    if stored is None:
        return error_response("host", 404, "Not Found")
    return httpx.Response(200, content=stored.content, headers={"content-type": stored.mime, "cache-control": "public, max-age=31536000"})


def delete(ctx: Ctx) -> httpx.Response:
    sandbox = ctx.sandbox
    file_id = ctx.match.group("id")
    with sandbox.lock:
        path = next((p for p, f in sandbox.imagekit_files.items() if f.file_id == file_id), None)
        if path is None:
            return error_response(STYLE, 404, "The requested file does not exist.")
        del sandbox.imagekit_files[path]
    return httpx.Response(204)


def details(ctx: Ctx) -> httpx.Response:
    file_id = ctx.match.group("id")
    stored = next((f for f in ctx.sandbox.imagekit_files.values() if f.file_id == file_id), None)
    if stored is None:
        return error_response(STYLE, 404, "The requested file does not exist.")
    return json_response(_file_json(ctx.sandbox.imagekit_id, stored))


_NAME_QUERY = re.compile(r'^\s*name\s*=\s*"(?P<name>[^"]*)"\s*$')


def list_files(ctx: Ctx) -> httpx.Response:
    """List & search files: a JSON array of File objects (key `thumbnail`, not `thumbnailUrl`), filtered by
    `path` (the folder, not its subfolders), `type`, `fileType` and a `name = "..."` searchQuery."""
    folder = ctx.param("path")
    query = ctx.param("searchQuery")
    wanted_name: str | None = None
    if query:
        m = _NAME_QUERY.match(query)
        if m is None:
            return error_response(STYLE, 400, "Your request contains invalid syntax for the searchQuery parameter.")
        wanted_name = m.group("name")
    kind = ctx.param("type", "file")
    if kind not in {"file", "file-version", "folder", "all"}:
        return error_response(STYLE, 400, "Invalid type parameter.")
    limit, skip = parse_int(ctx.param("limit"), 1000), parse_int(ctx.param("skip"), 0)
    if limit is None or skip is None or not 1 <= limit <= 1000 or skip < 0:
        return error_response(STYLE, 400, "Invalid limit or skip parameter.")
    file_type = ctx.param("fileType", "all")
    out = []
    for f in sorted(ctx.sandbox.imagekit_files.values(), key=lambda f: f.file_path):
        parent = f.file_path.rsplit("/", 1)[0] + "/"
        if folder and parent != _folder(folder):
            continue
        if wanted_name is not None and f.name != wanted_name:
            continue
        if kind == "folder" or (file_type != "all" and f.file_type != file_type):
            continue
        item = _file_json(ctx.sandbox.imagekit_id, f)
        item["thumbnail"] = item.pop("thumbnailUrl")
        item.pop("extensionStatus", None)
        out.append({"type": "file", "createdAt": "2024-01-01T00:00:00.000Z", "updatedAt": "2024-01-01T00:00:00.000Z",
                    "customCoordinates": None, "customMetadata": {}, "hasAlpha": False, "mime": f.mime, **item})
    return json_response(out[skip : skip + limit])


ROUTES: list[Route] = [
    route(API_HOST, "GET", r"^/v1/files$", "imagekit", "list_files", STYLE, list_files, _auth),
    route(UPLOAD_HOST, "POST", r"^/api/v1/files/upload$", "imagekit", "upload", STYLE, upload, _auth, upload_key),
    route(API_HOST, "GET", r"^/v1/files/(?P<id>[0-9a-f]+)/details$", "imagekit", "details", STYLE, details, _auth),
    route(API_HOST, "DELETE", r"^/v1/files/(?P<id>[0-9a-f]+)$", "imagekit", "delete_file", STYLE, delete, _auth),
    route(CDN_HOST, "GET", r"^/.+$", "imagekit", "cdn_download", "host", serve),
]
HOSTS: dict[str, str] = {UPLOAD_HOST: STYLE, API_HOST: STYLE, CDN_HOST: "host"}
