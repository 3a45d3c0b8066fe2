"""Real, deterministic image bytes for sandbox photos, so downloads and image checks run for real."""

from __future__ import annotations

import hashlib
import io
import random
from functools import lru_cache

from PIL import Image, ImageDraw

MAX_GENERATED_PX = 800

CONTENT_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "png": "image/png"}


def fit_within(width: int, height: int, max_w: int | None, max_h: int | None) -> tuple[int, int]:
    """Scale (width, height) down to fit max_w x max_h keeping the aspect ratio; never upscale."""
    scale = 1.0
    if max_w:
        scale = min(scale, max_w / width)
    if max_h:
        scale = min(scale, max_h / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def generated_size(width: int, height: int) -> tuple[int, int]:
    """The pixel size actually generated: the requested size capped at 800 px on the long side."""
    return fit_within(width, height, MAX_GENERATED_PX, MAX_GENERATED_PX)


def render_photo(photo_key: str, width: int, height: int, fmt: str = "jpeg") -> bytes:
    """Image bytes for a photo at (about) the requested size; identical for identical inputs."""
    w, h = generated_size(max(1, width), max(1, height))
    return _render(photo_key, w, h, fmt)


@lru_cache(maxsize=16)
def _texture(w: int, h: int) -> Image.Image:
    """Grain of one size, shared by every photo of that size (each photo's own scene lies under it)."""
    return Image.frombytes("L", (w, h), random.Random(w * 100_003 + h).randbytes(w * h)).convert("RGB")


@lru_cache(maxsize=256)
def _render(photo_key: str, w: int, h: int, fmt: str) -> bytes:
    """Draw a small scene from the key's hash, then scale it, so every size of a photo looks alike."""
    digest = hashlib.sha256(photo_key.encode()).digest()
    base_w, base_h = (96, max(8, round(96 * h / w))) if w >= h else (max(8, round(96 * w / h)), 96)
    top = tuple(digest[0:3])
    bottom = tuple(digest[3:6])
    base = Image.new("RGB", (base_w, base_h))
    draw = ImageDraw.Draw(base)
    for y in range(base_h):
        t = y / max(1, base_h - 1)
        color = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom))
        draw.line([(0, y), (base_w, y)], fill=color)
    for i in range(5):
        b = digest[6 + i * 5 : 11 + i * 5]
        x0, y0 = b[0] * base_w // 256, b[1] * base_h // 256
        size = 8 + b[2] % 40
        fill = (b[3], b[4], (b[3] + b[4]) % 256)
        if i % 2:
            draw.ellipse([x0, y0, x0 + size, y0 + size], fill=fill)
        else:
            draw.rectangle([x0, y0, x0 + size, y0 + size // 2], fill=fill)
    # Bilinear, and one texture per size: the simulator stands in for a provider's photo CDN, so its CPU is not
    # the pipeline's; at ~10 ms a photo it took a third of a 2-core benchmark machine (docs/benchmarks.md).
    image = base.resize((w, h), Image.Resampling.BILINEAR)
    if fmt != "png":  # texture makes JPEG sizes realistic; PNG stays smooth so it stays small
        image = Image.blend(image, _texture(w, h), 0.1)
    out = io.BytesIO()
    if fmt == "png":
        image.save(out, format="PNG", optimize=False)
    else:
        image.save(out, format="JPEG", quality=82)
    return out.getvalue()
