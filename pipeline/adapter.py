"""The port every platform implements, and what it declares about itself.

The poller and applier depend on :class:`PlatformClient` only — never on a platform module or
on aiohttp. A platform folder provides a :class:`PlatformSpec` (its id, credential keys,
default rate limit, capabilities and a factory) and registers it in
:mod:`pipeline.platforms`; adding a platform is one folder and one registry line.

Fetches are async iterators so a large window streams page by page; window splitting (a
platform's maximum window) and pagination happen inside. A record that cannot be mapped is
yielded as a :class:`Malformed` instead of raising, so one bad order never hides the rest of
the page and the poller can count it, report it and decide (invariant 7).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, Protocol

import msgspec

from pipeline.errors import PlatformError, RejectedError
from pipeline.masking import mask_text
from schemas import AnyCommand, Cancellation, Order, Outcome, Refund

if TYPE_CHECKING:
    from pipeline.http import HttpClient
    from pipeline.ratelimit import RateBudget, RateLimit

STREAMS: Final = ("orders", "refunds", "cancellations")


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What a platform can do, declared as data (the applier answers ``unsupported`` from it
    without any HTTP call, and the poller plans windows and cadence from it)."""

    #: Command types the platform can apply (``order.ship``...).
    commands: frozenset[str]
    #: Streams it can poll.
    streams: frozenset[str] = frozenset({"orders"})
    #: Largest number of commands of one type that one request can carry (1 = no batching).
    max_batch: Mapping[str, int] = msgspec.field(default_factory=dict)
    #: Longest date window one list request may span (None: no documented limit).
    max_window: dt.timedelta | None = None
    #: Page size used for list requests (the documented maximum).
    page_size: int = 100
    #: How the active sweep refreshes non-terminal orders: "window" (re-list by creation date),
    #: "updated_since" (list ordered by update time), "by_ids" (fetch many ids per call).
    sweep: str = "window"
    #: Whether the list carries a real status/date (softtr's does not).
    has_status: bool = True


class Malformed(msgspec.Struct, frozen=True, kw_only=True):
    """A record the platform returned that could not be mapped; ``error`` is masked text."""

    stream: str
    record_id: str | None
    endpoint: str
    error: str


class ApplyResult(msgspec.Struct, frozen=True, kw_only=True):
    """The platform's answer to one command (the applier turns it into a ``CommandResult``)."""

    command_id: str
    outcome: Outcome
    message: str | None = None
    platform_code: str | None = None
    request_id: str | None = None
    error: str | None = None
    #: HTTP requests this command took part in (shared requests count for each command).
    requests: int = 0
    #: For ``failed``: whether trying again later may succeed (timeouts, 5xx, 429).
    retriable: bool = False

    @classmethod
    def from_error(cls, command_id: str, exc: PlatformError, *, requests: int = 0) -> ApplyResult:
        """A platform error as a command's answer: a refusal is ``rejected`` with the platform's
        own words; anything else ``failed``, retriable as the error says."""
        if isinstance(exc, RejectedError):
            return cls(
                command_id=command_id,
                outcome=Outcome.REJECTED,
                message=exc.platform_message or exc.message,
                platform_code=exc.platform_code,
                request_id=exc.request_id,
                error=mask_text(str(exc)),
                requests=requests,
            )
        return cls(
            command_id=command_id,
            outcome=Outcome.FAILED,
            message=exc.platform_message,
            error=mask_text(str(exc)),
            requests=requests,
            retriable=exc.retriable,
        )


class PlatformClient(Protocol):
    """One platform account, seen through its API."""

    platform: str
    account: str
    capabilities: Capabilities

    def fetch_orders(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Order | Malformed]:
        """Orders created in ``[start, end)`` (aware times)."""
        ...

    async def fetch_order(self, order_id: str) -> Order | None:
        """One order by its canonical ``order_id``; ``None`` when the platform does not know it."""
        ...

    def fetch_refunds(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Refund | Malformed]:
        """Refund / return requests made in ``[start, end)``."""
        ...

    def fetch_cancellations(
        self, start: dt.datetime, end: dt.datetime
    ) -> AsyncIterator[Cancellation | Malformed]:
        """Cancellation requests made in ``[start, end)``."""
        ...

    async def apply(self, commands: Sequence[AnyCommand]) -> list[ApplyResult]:
        """Apply commands (already grouped by the caller), one result per command, same order."""
        ...

    async def aclose(self) -> None: ...


class ClientFactory(Protocol):
    def __call__(
        self,
        *,
        account: str,
        base_url: str,
        credentials: Mapping[str, str],
        http: HttpClient,
        budget: RateBudget,
        token_url: str | None = None,
    ) -> PlatformClient: ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlatformSpec:
    """Everything the shared machinery needs to know about one platform."""

    id: str
    credential_keys: frozenset[str]
    default_limit: RateLimit
    capabilities: Capabilities
    client: Callable[..., PlatformClient]
    #: ``module:Class`` of the simulator, imported only by the commands that serve it.
    sandbox: str | None = None
