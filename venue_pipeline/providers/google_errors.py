"""Google's error forms, read by GooglePlacesClient's hooks on the shared call path (providers/http.py).

Two forms: the legacy web services answer HTTP 200 with the outcome in a top-level "status" field
(https://developers.google.com/maps/documentation/places/web-service/search-find-place#PlacesSearchStatus), and
the Places API (New) answers an HTTP error with the google.rpc.Status body {"error": {"code", "status",
"message", "details"}} (https://cloud.google.com/apis/design/errors), whose ErrorInfo detail names a reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from venue_pipeline.core.errors import ErrorType

# Legacy web services: the "status" of an HTTP-200 answer that is an error (OK and ZERO_RESULTS are not).
LEGACY_STATUS: dict[str, ErrorType] = {
    "OVER_QUERY_LIMIT": ErrorType.RATE_LIMITED,
    "REQUEST_DENIED": ErrorType.AUTH_ERROR,
    "INVALID_REQUEST": ErrorType.BAD_REQUEST,
    # "Server-side error; trying again may be successful": a transient error the retry policy repeats.
    "UNKNOWN_ERROR": ErrorType.SERVICE_UNAVAILABLE,
    "NOT_FOUND": ErrorType.NOT_FOUND,
}
# google.rpc.Code names in the RPC error body (Places API New).
RPC_STATUS: dict[str, ErrorType] = {
    "RESOURCE_EXHAUSTED": ErrorType.RATE_LIMITED,
    "PERMISSION_DENIED": ErrorType.FORBIDDEN,
    "UNAUTHENTICATED": ErrorType.AUTH_ERROR,
    "INVALID_ARGUMENT": ErrorType.BAD_REQUEST,
    "NOT_FOUND": ErrorType.NOT_FOUND,
    "UNAVAILABLE": ErrorType.SERVICE_UNAVAILABLE,
    "DEADLINE_EXCEEDED": ErrorType.GATEWAY_TIMEOUT,
    "INTERNAL": ErrorType.SERVER_ERROR,
}
# The RPC statuses whose ErrorInfo reason may say the key itself is refused.
KEY_REASON_STATUSES = frozenset({"PERMISSION_DENIED", "INVALID_ARGUMENT", "UNAUTHENTICATED"})
# google.rpc.ErrorInfo reasons (domain googleapis.com, google/api/error_reason.proto) that are about the
# key, the project or its billing, not about one resource: every later call with that key fails the same
# way, so they are auth errors (they open the provider's per-run circuit), whatever the RPC status.
KEY_ERROR_REASONS = frozenset(
    {
        "API_KEY_INVALID",
        "API_KEY_SERVICE_BLOCKED",
        "API_KEY_HTTP_REFERRER_BLOCKED",
        "API_KEY_IP_ADDRESS_BLOCKED",
        "API_KEY_ANDROID_APP_BLOCKED",
        "API_KEY_IOS_APP_BLOCKED",
        "SERVICE_DISABLED",
        "BILLING_DISABLED",
        "CONSUMER_SUSPENDED",
        "CONSUMER_INVALID",
        "USER_PROJECT_DENIED",
        "CREDENTIALS_MISSING",
        "ACCESS_TOKEN_EXPIRED",
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
        "ACCESS_TOKEN_TYPE_UNSUPPORTED",
        "ACCOUNT_STATE_INVALID",
        "GCP_SUSPENDED",
    }
)


def legacy_status_error_type(payload: Any) -> tuple[str, ErrorType] | None:
    """(status, taxonomy type) of a legacy HTTP-200 answer whose "status" is an error; None otherwise."""
    if not isinstance(payload, Mapping):
        return None
    status = payload.get("status")
    if isinstance(status, str) and status in LEGACY_STATUS:
        return status, LEGACY_STATUS[status]
    return None


def rpc_error_type(payload: Any) -> ErrorType | None:
    """The taxonomy type of a Google RPC error body, or None when the body is not one."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("error"), Mapping):
        return None
    err = payload["error"]
    status = err.get("status")
    if not isinstance(status, str) or status not in RPC_STATUS:
        return None
    if status in KEY_REASON_STATUSES:
        for detail in err.get("details") or ():
            if isinstance(detail, Mapping) and detail.get("reason") in KEY_ERROR_REASONS:
                return ErrorType.AUTH_ERROR
    # A PERMISSION_DENIED without a key/project reason is about the resource asked for (one photo): forbidden.
    return RPC_STATUS[status]
