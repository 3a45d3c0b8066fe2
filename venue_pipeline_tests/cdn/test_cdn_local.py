"""The local store overwrites by path, writes atomically and never writes outside its root."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from venue_pipeline.cdn.local import LocalImageStore
from venue_pipeline.core.errors import CdnError, ErrorType

PATH = "/venues/the-anchor-colchester/google-places-3f2a9c1d00000000.jpg"


def test_same_path_twice_keeps_one_file_with_the_new_content(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path)
    first = asyncio.run(store.put(PATH, b"old bytes", "image/jpeg"))
    second = asyncio.run(store.put(PATH, b"new", "image/jpeg"))
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [tmp_path / PATH.lstrip("/")]
    assert files[0].read_bytes() == b"new"
    assert first.path == second.path == PATH and second.size == 3 and second.file_id is None


def test_urls_are_file_uris_or_base_url_plus_path(tmp_path: Path) -> None:
    stored = asyncio.run(LocalImageStore(tmp_path).put(PATH, b"x", "image/jpeg"))
    assert stored.url == (tmp_path / PATH.lstrip("/")).resolve().as_uri()
    served = LocalImageStore(tmp_path, base_url="http://127.0.0.1:8080/media/")
    assert served.url_for(PATH) == f"http://127.0.0.1:8080/media{PATH}"


def test_exists(tmp_path: Path) -> None:
    store = LocalImageStore(tmp_path)
    assert not asyncio.run(store.exists(PATH))
    asyncio.run(store.put(PATH, b"x", "image/jpeg"))
    assert asyncio.run(store.exists(PATH))


@pytest.mark.parametrize(
    "bad",
    [
        "/venues/../../etc/passwd.jpg",
        "/../outside.jpg",
        "//etc/passwd.jpg",
        "/venues/./x.jpg",
        "venues/relative.jpg",
        "/venues/back\\slash.jpg",
        "/venues/nul\x00.jpg",
        "/venues/no-extension",
        "/venues/",
    ],
)
def test_paths_escaping_or_bending_the_root_are_refused(tmp_path: Path, bad: str) -> None:
    root = tmp_path / "store"
    with pytest.raises(CdnError) as info:
        asyncio.run(LocalImageStore(root).put(bad, b"x", "image/jpeg"))
    assert info.value.error_type is ErrorType.BAD_REQUEST
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root, outside = tmp_path / "store", tmp_path / "outside"
    (root / "venues").mkdir(parents=True)
    outside.mkdir()
    (root / "venues" / "sneaky").symlink_to(outside, target_is_directory=True)
    with pytest.raises(CdnError):
        asyncio.run(LocalImageStore(root).put("/venues/sneaky/x.jpg", b"x", "image/jpeg"))
    assert list(outside.iterdir()) == []
