"""ImageKit store against ImageKit's documented upload / list-files requests, SDK example bodies and errors."""

from __future__ import annotations

import base64
from email.parser import BytesParser
from email.policy import HTTP

import httpx
import pytest
from contract_support import Capture, documented_response, error_response, load_fixture, run

from venue_pipeline.cdn.imagekit import ImageKitStore
from venue_pipeline.core.errors import CdnError, classify

KEY = "private_KEY_0123456789"
JPEG = b"\xff\xd8\xff\xe0" + b"0" * 64


def store_for(capture: Capture) -> ImageKitStore:
    return ImageKitStore(KEY, "https://ik.imagekit.io/your_imagekit_id", httpx.AsyncClient(transport=capture.transport()), folder_root="/testing-python-folder")


def form_fields(req: httpx.Request) -> dict[str, tuple[bytes, str | None]]:
    head = f"Content-Type: {req.headers['content-type']}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    msg = BytesParser(policy=HTTP).parsebytes(head + req.content)
    return {p.get_param("name", header="content-disposition"): (p.get_payload(decode=True), p.get_filename()) for p in msg.iter_parts()}


def check_auth(req: httpx.Request) -> None:
    assert req.headers["authorization"] == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()  # empty password
    assert KEY not in str(req.url)


def test_upload_request_and_parse() -> None:
    fx = load_fixture("imagekit", "upload")
    cap = Capture(documented_response(fx))
    stored = run(store_for(cap).put("/testing-python-folder/file_name.jpg", JPEG, "image/jpeg", tags=["abc", "def"]))
    req = cap.last
    assert req.method == "POST" and (req.url.host, req.url.path) == (fx["request"]["host"], fx["request"]["path"])
    assert req.headers["content-type"].startswith("multipart/form-data; boundary=")
    check_auth(req)
    fields = form_fields(req)
    assert set(fields) <= set(fx["request"]["documented_form_fields"])
    assert fields["file"] == (JPEG, "file_name.jpg")  # binary part with a filename
    documented = fx["request"]["form"]
    for name in ("fileName", "useUniqueFileName", "overwriteFile", "tags"):
        assert fields[name][0].decode() == documented[name], name
    assert fields["folder"][0].decode().rstrip("/") == documented["folder"].rstrip("/")
    body = fx["response"]["body"]
    assert (stored.url, stored.path, stored.size, stored.file_id) == (body["url"], body["filePath"], body["size"], body["fileId"])


def test_list_files_request_and_parse() -> None:
    fx = load_fixture("imagekit", "list_files")
    cap = Capture(documented_response(fx))
    store = ImageKitStore(KEY, "https://ik.imagekit.io/your_imagekit_id", httpx.AsyncClient(transport=cap.transport()), folder_root="/")
    assert run(store.exists("/sample-cat-image_gr64HPlJS.jpg")) is True
    req = cap.last
    assert req.method == "GET" and (req.url.host, req.url.path) == (fx["request"]["host"], fx["request"]["path"])
    check_auth(req)
    assert set(req.url.params) <= set(fx["request"]["documented_params"])
    assert req.url.params["searchQuery"] == 'name = "sample-cat-image_gr64HPlJS.jpg"' and req.url.params["path"] == "/"
    assert run(store.exists("/other.jpg")) is False


@pytest.mark.parametrize("endpoint", ["upload", "list_files"])
def test_documented_errors_map_to_the_taxonomy(endpoint: str) -> None:
    fx = load_fixture("imagekit", endpoint)
    for err in fx["errors"]:
        cap = Capture(error_response(err))
        store = store_for(cap)
        with pytest.raises(CdnError) as info:
            run(store.put("/testing-python-folder/a.jpg", JPEG, "image/jpeg") if endpoint == "upload" else store.exists("/testing-python-folder/a.jpg"))
        assert info.value.error_type.value == err["error_type"], err["note"]
        assert classify(info.value.error_type).value == err["error_class"]
        assert info.value.status_code == err["status"] and KEY not in str(info.value)
        if "retry_after" in err:
            assert info.value.retry_after == err["retry_after"]  # X-RateLimit-Reset is in milliseconds
