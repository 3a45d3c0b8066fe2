"""The one call path every provider client uses: quota, pacing, retries, error mapping and the ledger."""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Mapping

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from venue_pipeline.core.errors import ErrorType, ProviderError, error_type_for_status
from venue_pipeline.core.ports import PHOTO_ENDPOINT, ApiCall, CallLedger
from venue_pipeline.providers.base import BaseProviderClient, ProviderSettings
from venue_pipeline.providers.limits import ProviderLimiter, Turn

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
# Errors that mean the key or account is refused: every later call would fail the same way.
AUTH_FAILURES: frozenset[ErrorType] = frozenset({ErrorType.AUTH_ERROR, ErrorType.MISSING_API_KEY})
RETRYABLE: frozenset[ErrorType] = frozenset(
    {
        ErrorType.RATE_LIMITED,
        ErrorType.SERVICE_UNAVAILABLE,
        ErrorType.GATEWAY_TIMEOUT,
        ErrorType.BAD_GATEWAY,
        ErrorType.NETWORK_TIMEOUT,
        ErrorType.NETWORK_ERROR,  # a reset or refused connection: transient (core/errors.py), worth another attempt
    }
)
DEFAULT_BACKOFF_S = 0.5  # first wait between attempts when the server gave no Retry-After
MAX_BACKOFF_S = 8.0
DEFAULT_MAX_RETRY_AFTER_S = 60.0  # a longer Retry-After is not waited for inside a call
SNIPPET_CHARS = 80

def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def redact(text: str, secret: str | None) -> str:
    """The text with the secret replaced, so a key echoed by a server never reaches a message."""
    if secret and len(secret) >= 4:
        return text.replace(secret, "***")
    return text


def body_snippet(content: bytes, limit: int = SNIPPET_CHARS) -> str:
    """The first characters of a body on one line, for error messages."""
    text = content.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text[:limit] + ("…" if len(text) > limit else "")


def error_message_of(payload: Any) -> str | None:
    """The human message in the error bodies the providers use (Google, Foursquare, HERE, Geoapify)."""
    if not isinstance(payload, Mapping):
        return None
    err = payload.get("error")
    if isinstance(err, Mapping):
        return _text(err.get("message")) or _text(err.get("status"))
    parts = [
        _text(payload.get(k))
        for k in ("error_message", "message", "title", "cause", "error_description")
    ]
    found = [p for p in parts if p]
    if found:
        return "; ".join(dict.fromkeys(found))
    return _text(err)


def _text(value: Any) -> str | None:
    return value.strip()[:200] if isinstance(value, str) and value.strip() else None


class HttpProviderClient(BaseProviderClient):
    """A ProviderClient whose every request goes through `_call` (quota, pacing, retries, ledger)."""

    def __init__(
        self,
        settings: ProviderSettings,
        http: httpx.AsyncClient,
        ledger: CallLedger,
        *,
        limiter: ProviderLimiter | None = None,
    ) -> None:
        super().__init__(settings, http, ledger)
        self.limiter = limiter or ProviderLimiter(
            self.name,
            rate_per_second=settings.rate_per_second,
            daily_quota=settings.daily_quota,
            ledger=ledger,
        )
        # A refused key fails every call alike, so the first HTTP attempt is a probe: the others wait
        # for its answer, and after an auth failure no request is sent again by this client.
        self._auth_failure: ProviderError | None = None
        self._probe: asyncio.Event | None = None
        self._probe_loop: asyncio.AbstractEventLoop | None = None
        self._probe_taken = False
        self._backoff_s = float(settings.options.get("retry_backoff_s", DEFAULT_BACKOFF_S))
        self._max_retry_after_s = float(
            settings.options.get("max_retry_after_s", DEFAULT_MAX_RETRY_AFTER_S)
        )

    # -- small helpers for subclasses ---------------------------------------------------------
    # -- hooks for a provider's own error forms (Google: providers/google_errors.py) -------------
    def payload_error_type(self, payload: Any) -> tuple[str, ErrorType] | None:
        """An error carried in a successful (2xx) JSON answer, as (the provider's code, taxonomy type);
        None: the answer is a result. Providers that always use HTTP statuses keep this default."""
        return None

    def status_error_type(self, payload: Any) -> ErrorType | None:
        """The taxonomy type an HTTP error's parsed body names, when it says more than the status code;
        None: the status code decides (core.errors.error_type_for_status)."""
        return None

    async def photo_turn(self) -> Turn | None:
        """A billed photo download takes a turn of this provider's limiter like an API call: it counts against
        the daily quota (QuotaExhausted when spent, before any request) and keeps to the rate across runs."""
        if self.cost(PHOTO_ENDPOINT) <= 0:
            return None
        return await self.limiter.acquire(PHOTO_ENDPOINT)

    def _api_key(self) -> str:
        """The key, or a permanent missing_api_key error (registry normally disables such clients)."""
        if not self.settings.api_key:
            raise ProviderError(ErrorType.MISSING_API_KEY, "no API key configured", target=self.name)
        return self.settings.api_key

    def _malformed(self, endpoint_kind: str, what: str) -> ProviderError:
        """A response that parsed as JSON but has the wrong shape."""
        return ProviderError(
            ErrorType.MALFORMED_RESPONSE, f"{endpoint_kind}: {what}", target=self.name
        )

    # -- the call path ------------------------------------------------------------------------
    async def _call(
        self,
        endpoint_kind: str,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        """Sends one logical request (up to MAX_ATTEMPTS HTTP attempts) and returns its parsed JSON."""
        url = self.settings.api_url(url)  # the configured base URL (providers/config.py), if any
        retrying = AsyncRetrying(
            stop=stop_after_attempt(MAX_ATTEMPTS),
            wait=self._wait,
            retry=retry_if_exception(self._should_retry),
            before_sleep=self._log_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(
                    endpoint_kind, method, url, params=params, headers=headers, json=json
                )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _await_probe(self) -> bool:
        """True when this attempt is the probe; otherwise waits for the probe's answer. Raises the stored
        auth failure instead of sending (a blocked Google key or a refused account costs one call a run)."""
        if self._auth_failure is not None:
            raise self._auth_failure
        loop = asyncio.get_running_loop()
        if self._probe is None or self._probe_loop is not loop:
            self._probe, self._probe_loop, self._probe_taken = asyncio.Event(), loop, False
        if self._probe.is_set():
            return False
        if not self._probe_taken:
            self._probe_taken = True
            return True
        await self._probe.wait()
        if self._auth_failure is not None:
            raise self._auth_failure
        return False

    def _should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, ProviderError) or exc.error_type not in RETRYABLE:
            return False
        return exc.retry_after is None or exc.retry_after <= self._max_retry_after_s

    def _wait(self, state: RetryCallState) -> float:
        """No extra wait after a Retry-After (the limiter's shared pause covers it), else backoff."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            return 0.0
        return min(MAX_BACKOFF_S, self._backoff_s * 2 ** (state.attempt_number - 1))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info("%s: attempt %d failed (%s); retrying", self.name, state.attempt_number, exc)

    async def _attempt(
        self,
        endpoint_kind: str,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json: Any,
    ) -> Any:
        """One HTTP attempt: quota, pacing, request, interpretation; always recorded in the ledger."""
        probe = await self._await_probe()
        try:
            return await self._exchange(endpoint_kind, method, url, (params, headers, json))
        except ProviderError as exc:
            if exc.error_type in AUTH_FAILURES:
                self._auth_failure = exc
            raise
        finally:
            if probe and self._probe is not None:
                self._probe.set()

    async def _exchange(self, endpoint_kind: str, method: str, url: str, body: tuple[Any, Any, Any]) -> Any:
        """Quota, pacing, the request and its interpretation; always recorded in the ledger."""
        params, headers, json = body
        # Quota and pacing: across processes when the ledger is the shared store (the call's row is written
        # ahead, counted while in flight), else in this process (providers/limits.py).
        turn = await self.limiter.acquire(endpoint_kind)
        started = time.perf_counter()
        status: int | None = None
        error_type: ErrorType | None = None
        answered = False
        try:
            try:
                response = await self.http.request(
                    method,
                    url,
                    params=dict(params) if params else None,
                    headers=dict(headers) if headers else None,
                    json=json,
                    timeout=self.settings.timeout_s,
                )
            except httpx.TimeoutException as exc:
                raise self._transport_error(ErrorType.NETWORK_TIMEOUT, exc) from None
            except httpx.TransportError as exc:
                raise self._transport_error(ErrorType.NETWORK_ERROR, exc) from None
            except httpx.DecodingError as exc:
                raise self._transport_error(ErrorType.MALFORMED_RESPONSE, exc) from None
            except httpx.RequestError as exc:
                raise self._transport_error(ErrorType.NETWORK_ERROR, exc) from None
            status = response.status_code
            payload = self._interpret(endpoint_kind, response)
            answered = True
            return payload
        except ProviderError as exc:
            error_type = exc.error_type
            raise
        finally:
            turn.finish(
                ApiCall(
                    provider=self.name,
                    endpoint=endpoint_kind,
                    status_code=status,
                    error_type=error_type.value if error_type else None,
                    # Providers bill answered requests; failed or cancelled attempts cost nothing.
                    cost=self.cost(endpoint_kind) if answered else 0.0,
                    duration_ms=int((time.perf_counter() - started) * 1000),
                    called_at=datetime.now(timezone.utc),
                )
            )

    def _transport_error(self, error_type: ErrorType, exc: httpx.HTTPError) -> ProviderError:
        detail = redact(str(exc) or type(exc).__name__, self.settings.api_key)
        return ProviderError(error_type, f"{type(exc).__name__}: {detail}", target=self.name)

    def _interpret(self, endpoint_kind: str, response: httpx.Response) -> Any:
        """The parsed JSON of a good answer; a classified ProviderError for anything else."""
        payload, parse_ok = _try_json(response.content)
        status = response.status_code
        if status >= 300:
            raise self._status_error(endpoint_kind, response, payload if parse_ok else None)
        if not parse_ok:
            ctype = response.headers.get("content-type") or "no content type"
            snippet = redact(body_snippet(response.content), self.settings.api_key) or "<empty>"
            raise ProviderError(
                ErrorType.MALFORMED_RESPONSE,
                f"{endpoint_kind} at {response.request.url.host}{response.request.url.path}: "
                f"expected JSON, got {ctype}: {snippet}",
                status_code=status,
                target=self.name,
            )
        found = self.payload_error_type(payload)
        if found is not None:
            code, error_type = found
            detail = error_message_of(payload)
            message = f"{code}: {detail}" if detail and detail != code else code
            raise ProviderError(
                error_type,
                f"{endpoint_kind}: {redact(message, self.settings.api_key)}",
                status_code=status,
                target=self.name,
            )
        return payload

    def _status_error(
        self, endpoint_kind: str, response: httpx.Response, payload: Any
    ) -> ProviderError:
        status = response.status_code
        error_type = self.status_error_type(payload) or error_type_for_status(status)
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if retry_after is not None:
                self.limiter.pause_for(min(retry_after, self._max_retry_after_s))
        if payload is not None:
            message = error_message_of(payload) or body_snippet(response.content)
        else:
            ctype = response.headers.get("content-type") or "no content type"
            message = f"non-JSON error body ({ctype}): {body_snippet(response.content) or '<empty>'}"
        return ProviderError(
            error_type,
            f"{endpoint_kind}: {redact(message, self.settings.api_key)}",
            status_code=status,
            target=self.name,
            retry_after=retry_after,
        )


def _try_json(content: bytes) -> tuple[Any, bool]:
    if not content.strip():
        return None, False
    try:
        return jsonlib.loads(content), True
    except (ValueError, UnicodeDecodeError):
        return None, False


def as_list(value: Any) -> list[Any]:
    """A list field that may be missing or null in a tolerant parse."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> Mapping[str, Any]:
    """A mapping field that may be missing or null in a tolerant parse."""
    return value if isinstance(value, Mapping) else {}


def as_float(value: Any) -> float | None:
    """A coordinate or size that may be missing, a string or garbage."""
    if isinstance(value, bool):
        return None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def as_int(value: Any) -> int | None:
    f = as_float(value)
    return int(f) if f is not None else None


def as_str(value: Any) -> str | None:
    """A non-empty string, or None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value.strip() or None if isinstance(value, str) else None
