"""One error taxonomy for providers and the CDN, so every failure is classified the same way."""

from __future__ import annotations

from enum import StrEnum


class ErrorClass(StrEnum):
    """How recovery treats an error: retry it, retire it, or retry it once."""

    TRANSIENT = "transient"
    PERMANENT = "permanent"
    AMBIGUOUS = "ambiguous"


class ErrorType(StrEnum):
    """The stored error_type of a failed call or image."""

    # transient
    RATE_LIMITED = "rate_limited"
    SERVICE_UNAVAILABLE = "service_unavailable"
    GATEWAY_TIMEOUT = "gateway_timeout"
    BAD_GATEWAY = "bad_gateway"
    NETWORK_TIMEOUT = "network_timeout"
    NETWORK_ERROR = "network_error"
    QUOTA_EXHAUSTED = "quota_exhausted"
    # permanent
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    AUTH_ERROR = "auth_error"
    FILE_TOO_LARGE = "file_too_large"
    INVALID_IMAGE = "invalid_image"
    DISALLOWED_HOST = "disallowed_host"
    BAD_REQUEST = "bad_request"
    MISSING_API_KEY = "missing_api_key"
    # ambiguous
    SERVER_ERROR = "server_error"
    DOWNLOAD_FAILED = "download_failed"
    MALFORMED_RESPONSE = "malformed_response"
    UNKNOWN_ERROR = "unknown_error"


ERROR_CLASS: dict[ErrorType, ErrorClass] = {
    ErrorType.RATE_LIMITED: ErrorClass.TRANSIENT,
    ErrorType.SERVICE_UNAVAILABLE: ErrorClass.TRANSIENT,
    ErrorType.GATEWAY_TIMEOUT: ErrorClass.TRANSIENT,
    ErrorType.BAD_GATEWAY: ErrorClass.TRANSIENT,
    ErrorType.NETWORK_TIMEOUT: ErrorClass.TRANSIENT,
    ErrorType.NETWORK_ERROR: ErrorClass.TRANSIENT,
    ErrorType.QUOTA_EXHAUSTED: ErrorClass.TRANSIENT,
    ErrorType.NOT_FOUND: ErrorClass.PERMANENT,
    ErrorType.FORBIDDEN: ErrorClass.PERMANENT,
    ErrorType.AUTH_ERROR: ErrorClass.PERMANENT,
    ErrorType.FILE_TOO_LARGE: ErrorClass.PERMANENT,
    ErrorType.INVALID_IMAGE: ErrorClass.PERMANENT,
    ErrorType.DISALLOWED_HOST: ErrorClass.PERMANENT,
    ErrorType.BAD_REQUEST: ErrorClass.PERMANENT,
    ErrorType.MISSING_API_KEY: ErrorClass.PERMANENT,
    ErrorType.SERVER_ERROR: ErrorClass.AMBIGUOUS,
    ErrorType.DOWNLOAD_FAILED: ErrorClass.AMBIGUOUS,
    ErrorType.MALFORMED_RESPONSE: ErrorClass.AMBIGUOUS,
    ErrorType.UNKNOWN_ERROR: ErrorClass.AMBIGUOUS,
}

_STATUS_TYPES: dict[int, ErrorType] = {
    400: ErrorType.BAD_REQUEST,
    401: ErrorType.AUTH_ERROR,
    403: ErrorType.FORBIDDEN,
    404: ErrorType.NOT_FOUND,
    405: ErrorType.BAD_REQUEST,  # method not allowed: our request is wrong, retrying cannot help
    408: ErrorType.NETWORK_TIMEOUT,
    410: ErrorType.NOT_FOUND,
    413: ErrorType.FILE_TOO_LARGE,
    429: ErrorType.RATE_LIMITED,
    500: ErrorType.SERVER_ERROR,
    502: ErrorType.BAD_GATEWAY,
    503: ErrorType.SERVICE_UNAVAILABLE,
    504: ErrorType.GATEWAY_TIMEOUT,
}


def error_type_for_status(status: int) -> ErrorType:
    """Maps an HTTP status to the taxonomy; unknown 5xx are server errors, other codes unknown."""
    if status in _STATUS_TYPES:
        return _STATUS_TYPES[status]
    if 500 <= status < 600:
        return ErrorType.SERVER_ERROR
    return ErrorType.UNKNOWN_ERROR


def classify(error_type: ErrorType | str | None) -> ErrorClass:
    """Transient, permanent or ambiguous for a stored error_type string (unknown strings are ambiguous)."""
    if error_type is None:
        return ErrorClass.AMBIGUOUS
    try:
        return ERROR_CLASS[ErrorType(error_type)]
    except ValueError:
        return ErrorClass.AMBIGUOUS


class PipelineError(Exception):
    """A classified failure of a provider or CDN call; carries what the image row stores."""

    def __init__(
        self,
        error_type: ErrorType,
        message: str,
        *,
        status_code: int | None = None,
        target: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = ErrorType(error_type)
        self.message = message
        self.status_code = status_code
        self.target = target
        self.retry_after = retry_after

    @property
    def error_class(self) -> ErrorClass:
        return ERROR_CLASS[self.error_type]

    def __str__(self) -> str:
        code = f" (HTTP {self.status_code})" if self.status_code else ""
        where = f"{self.target}: " if self.target else ""
        return f"{where}{self.error_type.value}{code}: {self.message}"


class ProviderError(PipelineError):
    """A provider API call failed."""


class CdnError(PipelineError):
    """The image CDN refused or failed an upload."""


class DownloadError(PipelineError):
    """A photo download failed or returned something that is not an acceptable image."""


class QuotaExhausted(ProviderError):
    """The provider's daily quota is used up; the work is deferred, not failed."""

    def __init__(self, provider: str, quota: int) -> None:
        super().__init__(
            ErrorType.QUOTA_EXHAUSTED,
            f"daily quota of {quota} calls used up",
            target=provider,
        )
        self.quota = quota
