"""Google's rotating photo references: opaque, different on every call, yet resolvable statelessly (nonce + MAC)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from venue_pipeline.sandbox.world_photos import SimPhoto

_LEGACY_PREFIX = "Aap_uE"
_NEW_PREFIX = "AXCi2Q"


class PhotoTokens:
    """Opaque photo references that change on every call yet resolve statelessly (nonce + MAC)."""

    def __init__(self, seed: int) -> None:
        self._secret = hashlib.sha256(f"google-photo-tokens|{seed}".encode()).digest()

    def _stream(self, nonce: bytes, n: int) -> bytes:
        out = b""
        i = 0
        while len(out) < n:
            out += hashlib.sha256(self._secret + nonce + i.to_bytes(4, "big")).digest()
            i += 1
        return out[:n]

    def issue(self, photo: SimPhoto, nonce: int, *, new_api: bool) -> str:
        nb = hashlib.sha256(self._secret + nonce.to_bytes(8, "big")).digest()[:8]
        payload = photo.key.encode()
        enc = bytes(a ^ b for a, b in zip(payload, self._stream(nb, len(payload))))
        mac = hmac.new(self._secret, nb + payload + (b"N" if new_api else b"L"), hashlib.sha256).digest()[:9]
        body = base64.urlsafe_b64encode(nb + enc + mac).decode().rstrip("=")
        return (_NEW_PREFIX if new_api else _LEGACY_PREFIX) + body

    def resolve(self, token: str, *, new_api: bool) -> str | None:
        """The photo key a token was issued for, or None if it is not ours (or from the other API)."""
        prefix = _NEW_PREFIX if new_api else _LEGACY_PREFIX
        if not token.startswith(prefix):
            return None
        raw_b64 = token[len(prefix) :]
        try:
            raw = base64.urlsafe_b64decode(raw_b64 + "=" * (-len(raw_b64) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) < 8 + 9 + 1:
            return None
        nb, enc, mac = raw[:8], raw[8:-9], raw[-9:]
        payload = bytes(a ^ b for a, b in zip(enc, self._stream(nb, len(enc))))
        expected = hmac.new(self._secret, nb + payload + (b"N" if new_api else b"L"), hashlib.sha256).digest()[:9]
        if not hmac.compare_digest(mac, expected):
            return None
        return payload.decode(errors="replace")
