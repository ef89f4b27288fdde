"""E-Çarşı writes: the one write endpoint, ``POST /api/orders/{order_id}/shipping``.

* **Only shipping.** The document has no status, invoice, refund or cancellation endpoint:
  those commands are ``unsupported`` and send nothing. A shipping record is per order (no item
  ids in the body): a Ship naming ``item_ids`` is ``unsupported`` too.
* **Carrier.** ``company_id`` must be one of ``GET /api/shipping-companies`` (fetched once per
  client, cached; asked again on a miss when older than ten minutes). ``carrier_code`` is taken
  as that id; otherwise ``carrier`` is matched to a company name ignoring case, Turkish letters,
  punctuation and a trailing "Kargo" (``"yurtici"`` = ``"Yurtiçi Kargo"``). No match is
  ``invalid``, before any write.
* **Desi** must be 1-100 ("Desi bilgisi 1 ile 100 arasında olmalıdır"): outside it the command is
  ``invalid`` and nothing is sent. A Ship without ``desi`` uses the client's ``default_desi``;
  with none configured (the default) it is ``invalid``: desi is what the carrier bills, and a
  guessed value is a wrong invoice nobody notices.
* **Not idempotent.** Sending the same shipping call twice creates two shipping records. So
  every attempt first reads the order (``GET /api/orders/{id}``, one request): if it already
  shows the command's tracking number the outcome is ``already_applied`` and nothing is sent.
  When the write's answer is lost (timeout, connection error, 5xx, a garbled 200) the order is
  read once more: tracking number there → ``already_applied``; not there → ``failed``
  (retriable), and the next attempt's pre-read decides again. A 429 is never processed
  (throttling comes first), so it is ``failed`` (retriable) without a read.
* **Reading a shipment.** The document prints no shipment on an order. The sandbox renders
  ``shipments`` (see :mod:`.payloads`); an answer without that field cannot show a tracking
  number, so an order whose seller status already implies a parcel (``shipped`` and later,
  :data:`~.mapping.SHIPPED_OR_LATER`) is taken as ``already_applied`` rather than risking a
  second record. Statuses that forbid shipping (cancelled, delivered…) are left for the platform
  to refuse, so the result carries its own words.
* Cost of one Ship: 2 requests (read + write), +1 the first time carriers are needed, +1 read
  when the answer was lost.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from pipeline.adapter import ApplyResult
from pipeline.dates import turkish_fold
from pipeline.errors import (
    PlatformDecodeError,
    PlatformError,
    RateLimited,
    RejectedError,
    RetryableError,
)
from pipeline.http import decode
from pipeline.platforms.ecarsi import payloads as raw
from pipeline.platforms.ecarsi.mapping import SHIPPED_OR_LATER, tracking_numbers
from pipeline.ratelimit import Lane
from schemas import AnyCommand, Outcome, Ship

if TYPE_CHECKING:
    from pipeline.platforms.ecarsi.client import EcarsiClient

_WHY_NOT: Final = "e-Çarşı documents no {what} endpoint (its only write is order shipping)"
#: Command type → why it cannot be applied (answered without any request).
UNSUPPORTED: Final[dict[str, str]] = {
    "order.set_status": _WHY_NOT.format(what="status-update"),
    "order.attach_invoice": _WHY_NOT.format(what="invoice"),
    "refund.decide": _WHY_NOT.format(what="refund"),
    "cancellation.decide": _WHY_NOT.format(what="cancellation"),
}
_ASCII: Final = str.maketrans("çğıöşüâîû", "cgiosuaiu")
_NOT_ALNUM: Final = re.compile(r"[^a-z0-9]+")


def carrier_key(name: str) -> str:
    """``"Yurtiçi Kargo"``, ``"yurtici"`` and ``"YURTİÇİ"`` all give ``"yurtici"``."""
    key = _NOT_ALNUM.sub("", turkish_fold(name).translate(_ASCII))
    return key.removesuffix("kargo") or key


class EcarsiCommands:
    """Applies commands through one :class:`EcarsiClient`."""

    def __init__(self, client: EcarsiClient) -> None:
        self._client = client

    async def apply_one(self, command: AnyCommand) -> ApplyResult:
        before = self._client.requests_sent
        if not isinstance(command, Ship):
            return ApplyResult(
                command_id=command.command_id,
                outcome=Outcome.UNSUPPORTED,
                message=UNSUPPORTED.get(command.type, f"e-Çarşı cannot apply {command.type}"),
            )
        try:
            outcome, message = await self._ship(command)
        except PlatformError as exc:
            return ApplyResult.from_error(
                command.command_id, exc, requests=self._client.requests_sent - before
            )
        return ApplyResult(
            command_id=command.command_id,
            outcome=outcome,
            message=message,
            requests=self._client.requests_sent - before,
        )

    async def _company(self, command: Ship) -> raw.ShippingCompany | None:
        for refresh in (False, True):
            companies = await self._client.shipping_companies(refresh=refresh)
            if command.carrier_code:
                found = [c for c in companies if str(c.id) == command.carrier_code.strip()]
            else:
                wanted = carrier_key(command.carrier)
                found = [c for c in companies if wanted in (carrier_key(c.name), str(c.id))]
            if found:
                return found[0]
        return None

    async def _already_shipped(self, command: Ship) -> str | None:
        """Why the order already carries this shipment, or None (raises if it is unknown)."""
        detail = await self._client.read_order(command.order_id, lane=Lane.COMMAND)
        if detail is None:
            raise self._client.ctx("orders/{id}").error(
                RejectedError,
                f"order {command.order_id} not found",
                status=404,
                platform_code="404",
                platform_message=raw.MESSAGES["order_not_found"][0],
            )
        numbers = tracking_numbers(detail)
        if numbers is not None:
            if command.tracking_number in numbers:
                return f"the order already shows tracking number {command.tracking_number}"
            return None
        if detail.status.seller in SHIPPED_OR_LATER:
            return (
                f"the order is already {detail.status.seller} and its answer lists no tracking "
                "numbers to compare; not sending a second shipping record"
            )
        return None

    async def _ship(self, command: Ship) -> tuple[Outcome, str | None]:
        if command.item_ids:
            return Outcome.UNSUPPORTED, "e-Çarşı ships whole orders: item_ids cannot be given"
        desi = command.desi if command.desi is not None else self._client.default_desi
        if desi is None:
            return Outcome.INVALID, "e-Çarşı needs desi (1-100) and no default_desi is configured"
        if not raw.DESI_MIN <= desi <= raw.DESI_MAX:
            return Outcome.INVALID, f"desi must be {raw.DESI_MIN}-{raw.DESI_MAX}, got {desi}"
        company = await self._company(command)
        if company is None:
            names = ", ".join(f"{c.id} {c.name}" for c in await self._client.shipping_companies())
            wanted = command.carrier_code or command.carrier
            return Outcome.INVALID, f"carrier {wanted!r} is not a shipping company ({names})"
        done = await self._already_shipped(command)
        if done is not None:
            return Outcome.ALREADY_APPLIED, done
        path = f"/orders/{quote(command.order_id, safe='')}/shipping"
        request = raw.ShippingRequest(
            company_id=company.id, tracking_number=command.tracking_number, desi=desi
        )
        try:
            ctx, response = await self._client.call(
                "POST", path, lane=Lane.COMMAND, endpoint="orders/{id}/shipping", json=request
            )
            answer = decode(ctx, response.body, raw.Envelope[raw.ShippingData])
        except RateLimited:
            raise
        except (RetryableError, PlatformDecodeError) as lost:
            try:
                done = await self._already_shipped(command)
            except PlatformError:
                raise lost from None
            if done is None:
                raise
            return Outcome.ALREADY_APPLIED, f"the shipping answer was lost; {done}"
        tracking = answer.data.tracking if answer.data is not None else None
        message = answer.text
        if tracking is not None and tracking.url:
            message = f"{message or ''} ({tracking.url})".strip()
        return Outcome.APPLIED, message
