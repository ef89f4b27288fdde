"""The pipeline's exception tree, split by what the caller should do.

::

    PipelineError
    ├── ConfigError                  fatal at start-up: bad file, missing secret, unknown platform
    ├── BrokerError                  Kafka unreachable or refused (retriable = True)
    │   └── RecordRejected           the broker refuses these records for good (too large...)
    ├── CommandError                 a command is undecodable or invalid (→ outcome "invalid")
    └── PlatformError                any failed platform call; carries platform/account/endpoint
        ├── RetryableError           timeouts, connection errors, 5xx: try again with backoff
        │   └── RateLimited          429 or the vendor's own quota code; carries ``retry_after``
        ├── AuthError                401 after one token refresh, bad credentials: fail clearly
        ├── RejectedError            4xx or an error code in a 200 body: permanent, carries the
        │                            platform's own message verbatim
        ├── UnsupportedError         the platform has no API for this operation
        └── PlatformDecodeError      the answer is not what the document promises (HTML page,
                                     truncated JSON, wrong types); carries a secret-free excerpt

Every class has a ``retriable`` attribute (as aiokafka's errors do), so generic code can decide
without ``isinstance`` chains. Messages name platform, account, endpoint and field — and never a
secret, token or personal id: callers pass excerpts through :func:`pipeline.masking.mask_text`.
"""

from __future__ import annotations

#: Longest message text a PlatformError keeps (found by fuzzing: mapping errors quote values).
MAX_MESSAGE = 1500


class PipelineError(Exception):
    """Root of every error the pipeline raises on purpose."""

    retriable: bool = False


class ConfigError(PipelineError):
    """The configuration is invalid; ``path`` names the offending key (``accounts[2].platform``)."""

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class BrokerError(PipelineError):
    """The Kafka broker could not be reached or refused an operation."""

    retriable = True


class RecordRejected(BrokerError):
    """The broker refused these records for a reason retrying cannot change (too large, not
    authorized). The caller must set them aside, not retry them forever."""

    retriable = False


class CommandError(PipelineError):
    """A command could not be decoded or does not make sense (unknown account, expired...)."""


class PlatformError(PipelineError):
    """A call to a platform failed. Subclasses say whether to retry."""

    def __init__(
        self,
        message: str,
        *,
        platform: str = "",
        account: str = "",
        endpoint: str = "",
        status: int | None = None,
        platform_code: str | None = None,
        platform_message: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.platform = platform
        self.account = account
        self.endpoint = endpoint
        self.status = status
        self.platform_code = platform_code
        self.platform_message = platform_message
        self.request_id = request_id
        if len(message) > MAX_MESSAGE:  # a platform value echoed whole (a 60 kB id...)
            message = message[:MAX_MESSAGE] + f"… ({len(message) - MAX_MESSAGE} more characters)"
        self.message = message
        where = "/".join(p for p in (platform, account) if p)
        prefix = f"[{where}] " if where else ""
        target = f"{endpoint}: " if endpoint else ""
        super().__init__(f"{prefix}{target}{message}")


class RetryableError(PlatformError):
    """A transient failure: timeout, connection error, 5xx. Retry with backoff."""

    retriable = True


class RateLimited(RetryableError):
    """The platform said "too many requests". ``retry_after`` is in seconds when it told us."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class AuthError(PlatformError):
    """Credentials were refused, even after one token refresh."""


class RejectedError(PlatformError):
    """The platform refused the request for good; ``platform_message`` is its own words."""


class UnsupportedError(PlatformError):
    """The platform offers no API for this operation."""


class PlatformDecodeError(PlatformError):
    """The answer could not be decoded into the documented shape.

    ``excerpt`` is a truncated, masked slice of the body, safe to log.
    """

    def __init__(self, message: str, *, excerpt: str = "", **kw: object) -> None:
        self.excerpt = excerpt
        super().__init__(f"{message} (body starts: {excerpt!r})" if excerpt else message, **kw)  # type: ignore[arg-type]
