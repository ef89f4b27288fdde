"""Reading and checking Pazarama requests for the simulator: bodies (with ASP.NET's
case-insensitive keys), GUIDs, dates and the one-month window, paging, the lookups of orders,
items and requests by the ids the document uses, and the write rules of 3.14-3.33. Everything
refused raises :class:`~.sandbox_rules.Refused`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
import urllib.parse
import uuid
from typing import Any, Final, TypeVar

import msgspec

from pipeline.platforms.pazarama import payloads as raw
from pipeline.platforms.pazarama.sandbox_render import record_quantity, request_ids, unit_ids
from pipeline.platforms.pazarama.sandbox_rules import CARGO_BY_GUID, CargoCompany, Refused
from pipeline.sandbox import ISTANBUL, Order, Record, TransitionRejected, World
from pipeline.sandbox.model import RecordKind

# --------------------------------------------------------------------------------------------
# Request bodies. ASP.NET binds JSON property names case-insensitively — the document itself
# sends "RefundRejectType", "SplitItems", "Quantity", "Code" — so keys are folded onto the wire
# Structs' spellings before a strict decode. A null in an optional field means "not sent"
# (nullable .NET members); a null in a required one is refused.
# --------------------------------------------------------------------------------------------

_S = TypeVar("_S", bound=msgspec.Struct)
_JSON_TYPES: Final = ("application/json", "text/json")


@functools.cache
def _info(cls: type[msgspec.Struct]) -> msgspec.inspect.StructType:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)  # noqa: S101
    return info


def _fold(value: Any, info: msgspec.inspect.Type) -> Any:
    if isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            if isinstance(member, msgspec.inspect.StructType | msgspec.inspect.ListType):
                return _fold(value, member)
        return value
    if isinstance(info, msgspec.inspect.ListType) and isinstance(value, list):
        return [_fold(v, info.item_type) for v in value]
    if isinstance(info, msgspec.inspect.StructType) and isinstance(value, dict):
        fields = {f.encode_name.casefold(): f for f in info.fields}
        out: dict[str, Any] = {}
        for key, item in value.items():
            field = fields.get(key.casefold())
            if field is None:
                continue  # unknown members are ignored, as ASP.NET does
            if item is None and not field.required and not _nullable(field.type):
                continue
            out[field.encode_name] = _fold(item, field.type)
        return out
    return value


def _nullable(info: msgspec.inspect.Type) -> bool:
    if isinstance(info, msgspec.inspect.NoneType):
        return True
    return isinstance(info, msgspec.inspect.UnionType) and any(
        isinstance(t, msgspec.inspect.NoneType) for t in info.types
    )


def read_body(body: bytes, content_type: str, cls: type[_S]) -> _S:
    """Decode a request body into ``cls`` or raise :class:`Refused`."""
    if content_type not in _JSON_TYPES and not content_type.endswith("+json"):
        raise Refused("ORD_MEDIA_TYPE", f"Content-Type: {content_type or '-'}", status=415)
    try:
        value = msgspec.json.decode(body.removeprefix(b"\xef\xbb\xbf"))
        return msgspec.convert(_fold(value, _info(cls)), type=cls)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Refused("ORD_REQUEST_INVALID", str(exc)) from None


def parse_guid(value: str | None, field: str) -> str:
    """A GUID as .NET binds it (any case, braces allowed), lower-case; else Refused."""
    if value is None:
        raise Refused("ORD_REQUEST_INVALID", f"{field} zorunludur")
    try:
        return str(uuid.UUID(value.strip().strip("{}")))
    except ValueError:
        raise Refused("ORD_REQUEST_INVALID", f"{field} geçerli bir GUID değil: {value!r}") from None


# --------------------------------------------------------------------------------------------
# Dates: "YYYY-AA-GG", optionally with "THH:mm" (3.13), seconds and fractions (ISO, as .NET
# reads it). No zone = Istanbul wall time; a zone is converted. Nothing else is accepted.
# --------------------------------------------------------------------------------------------

_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:\d{2})?)?$"
)


def parse_date(value: str, field: str) -> dt.datetime:
    """A request date as an aware datetime in Istanbul time, or Refused."""
    match = _DATE.match(value)
    if match is None:
        raise Refused("ORD_DATE_INVALID", f"{field}: {value!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = dt.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=ISTANBUL,
        )
    except ValueError:
        raise Refused("ORD_DATE_INVALID", f"{field}: {value!r}") from None
    if zone is not None:
        offset = dt.UTC if zone == "Z" else _offset(zone)
        moment = moment.replace(tzinfo=offset).astimezone(ISTANBUL)
    return moment


def _offset(zone: str) -> dt.timezone:
    sign = -1 if zone[0] == "-" else 1
    return dt.timezone(sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))


def one_month_after(moment: dt.datetime) -> dt.datetime:
    """The same wall time a calendar month later (31 January → 29 February in 2024)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def read_window(
    start: str, end: str, *, names: tuple[str, str], max_one_month: bool
) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` as aware datetimes; the end is exclusive ("İlgili günü kapsamamaktadır")."""
    lo, hi = parse_date(start, names[0]), parse_date(end, names[1])
    if hi < lo:
        raise Refused("ORD_DATE_RANGE", f"{names[0]}={start!r}, {names[1]}={end!r}")
    # Compared in wall time: "one month" is a calendar month in Istanbul.
    if max_one_month and hi.replace(tzinfo=None) > one_month_after(lo).replace(tzinfo=None):
        raise Refused("ORD_DATE_WINDOW", f"{names[0]}={start!r}, {names[1]}={end!r}")
    return lo, hi


def read_paging(size: int | None, number: int | None) -> tuple[int, int]:
    if size is None or number is None or size < 1 or number < 1:
        raise Refused("ORD_PAGING_INVALID", f"pageSize={size}, pageNumber={number}")
    return size, number


def page(rows: list[Any], size: int, number: int) -> list[Any]:
    return rows[(number - 1) * size : number * size]


_T = TypeVar("_T")


def sent(value: _T | msgspec.UnsetType | None) -> _T | None:
    """The value if it was sent and is not blank; UNSET, None and blank strings are None."""
    if value is None or isinstance(value, msgspec.UnsetType):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


# --------------------------------------------------------------------------------------------
# Lookups by the document's ids.
# --------------------------------------------------------------------------------------------


def find_order(world: World, number: int) -> Order:
    order = world.get(str(number))
    if order is None:
        raise Refused("ORD_ORDER_NOT_FOUND", f"orderNumber={number}")
    return order


def find_order_by_guid(world: World, order_id: str) -> Order:
    guid = parse_guid(order_id, "orderid")
    order = next((o for o in world.orders if o.uuid == guid), None)
    if order is None:
        raise Refused("ORD_ORDER_NOT_FOUND", f"orderid={order_id}")
    return order


def find_line(order: Order, item_id: str) -> int:
    """The item line an orderItemId names (a V2 unit id names its line)."""
    guid = parse_guid(item_id, "orderItemId")
    for item in order.items:
        if guid == item.uuid or guid in unit_ids(item):
            return item.line
    raise Refused("ORD_ITEM_NOT_FOUND", f"orderItemId={item_id}", target=order.id)


def find_record(world: World, kind: RecordKind, refund_id: str) -> Record:
    """A refund or cancellation request by refundId (a SplitItems id names its request)."""
    guid = parse_guid(refund_id, "refundId")
    for record in world.refunds if kind == "refund" else world.cancellations:
        if record.id == guid:
            return record
        order = world.order(record.order_id)
        if guid in request_ids(record, record_quantity(order, record)):
            return record
    code = "ORD_REFUND_NOT_FOUND" if kind == "refund" else "ORD_CANCEL_NOT_FOUND"
    raise Refused(code, f"refundId={refund_id}")


def requests_between(
    records: list[Record], start: str, end: str, status: int | None
) -> list[Record]:
    """getRefund and cancel/items: by request date in [start, end), any window length."""
    names = ("requestStartDate", "requestEndDate")
    lo, hi = read_window(start, end, names=names, max_one_month=False)
    return [
        r
        for r in records
        if lo <= r.created_at < hi and (status is None or r.status == str(status))
    ]


def target_status(status: int, order: Order) -> str:
    if status not in raw.ORDER_ITEM_STATUS:
        raise Refused("ORD_STATUS_UNKNOWN", f"status={status}", target=order.id)
    return str(status)


# --------------------------------------------------------------------------------------------
# Write rules.
# --------------------------------------------------------------------------------------------


def shipping_cargo(company_id: str | None, tracking: str | None, order: Order) -> CargoCompany:
    """The shipment data status 5 needs (3.14: tracking number and cargoCompanyId, both
    "Zorunlu"), the carrier among the seller's own."""
    if sent(tracking) is None:
        raise Refused("ORD_TRACKING_REQUIRED", "shippingTrackingNumber", target=order.id)
    if sent(company_id) is None:
        raise Refused("ORD_CARGO_REQUIRED", "cargoCompanyId", target=order.id)
    cargo = CARGO_BY_GUID.get(parse_guid(company_id, "cargoCompanyId"))
    if cargo is None:
        raise Refused("ORD_CARGO_UNKNOWN", f"cargoCompanyId={company_id}", target=order.id)
    return cargo


def transition_refusal(order: Order, exc: TransitionRejected) -> Refused:
    """The seller table said no (the world logged it already)."""
    moves = ", ".join(
        f"{order.item(r.item_line).uuid if r.item_line else order.id}: {r.source}->{r.target}"
        for r in exc.rejections
    )
    at_received = any(r.source == "3" for r in exc.rejections)
    code = "ORD_PREPARING_REQUIRED" if at_received else "ORD_TRANSITION_INVALID"
    return Refused(code, moves, target=order.id, logged=True)


def check_quantity(quantity: int | msgspec.UnsetType, most: int, target: str) -> None:
    given = sent(quantity)
    if given is not None and not 1 <= given <= most:
        raise Refused("ORD_QUANTITY_INVALID", f"quantity={quantity}", target=target)


def check_refund_decision(req: raw.UpdateRefundRequest, target: str) -> str | None:
    """3.18 and 3.29's rules for a refund decision; returns the description to record."""
    if req.status not in (2, 3, raw.REFUND_REVIEW_STATUS):
        raise Refused("ORD_REFUND_STATUS_INVALID", f"status={req.status}", target=target)
    description = sent(req.description)
    documents = sent(req.document_objects) or []
    if req.status == 3:
        reject = sent(req.refund_reject_type)
        if reject not in raw.REFUND_REJECT_TYPE:
            raise Refused("ORD_REJECT_TYPE_REQUIRED", f"RefundRejectType={reject}", target=target)
        if description is None:  # "açıklama alanı her bir seçim için zorunludur"
            raise Refused("ORD_DESCRIPTION_REQUIRED", "description", target=target)
        if not documents and reject not in raw.REJECT_TYPES_WITHOUT_IMAGES:
            raise Refused("ORD_DOCUMENT_REQUIRED", f"RefundRejectType={reject}", target=target)
    elif req.status == raw.REFUND_REVIEW_STATUS:
        review = sent(req.refund_review_type)
        if review not in raw.REFUND_REVIEW_TYPE:
            raise Refused("ORD_REVIEW_TYPE_REQUIRED", f"refundReviewType={review}", target=target)
        if review in raw.REVIEW_TYPES_NEEDING_DESCRIPTION and description is None:
            raise Refused("ORD_DESCRIPTION_REQUIRED", "description", target=target)
    if len(documents) > raw.REFUND_MAX_DOCUMENTS:
        raise Refused("ORD_DOCUMENT_LIMIT", f"{len(documents)} dosya", target=target)
    for document in documents:
        if not document.content:
            raise Refused("ORD_REQUEST_INVALID", f"{document.name}: boş dosya", target=target)
        if len(document.content) > raw.REFUND_MAX_DOCUMENT_BYTES:
            detail = f"{document.name}: {len(document.content)} bayt"
            raise Refused("ORD_DOCUMENT_TOO_LARGE", detail, target=target)
    return description.strip() if description else None


def check_bulk_fields(dto: raw.ShipmentUpdate, target: str, order: Order) -> None:
    """3.33: "Deliverytype:1 ve substatus:0", and for 11 every field but status null."""
    if target == "11":
        others = {k: v for k, v in msgspec.to_builtins(dto).items() if k != "status"}
        extra = sorted(k for k, v in others.items() if v is not None)
        if extra:
            raise Refused("ORD_BULK_FIELDS", ", ".join(extra), target=order.id)
    elif dto.delivery_type != 1 or dto.sub_status != 0:
        detail = f"deliveryType={dto.delivery_type}, subStatus={dto.sub_status}"
        raise Refused("ORD_DELIVERY_TYPE_INVALID", detail, target=order.id)


def invoice_lines(req: raw.InvoiceLinkRequest, order: Order) -> list[int] | None:
    """3.19: the lines an invoice link goes to (None: the whole order)."""
    link = urllib.parse.urlsplit(req.invoice_link.strip())
    if link.scheme not in ("http", "https") or not link.netloc:
        raise Refused("ORD_INVOICE_LINK_INVALID", f"invoiceLink={req.invoice_link!r}")
    item_id = sent(req.order_item_id)
    item_line = None if item_id is None else find_line(order, item_id)
    company, tracking = sent(req.delivery_company_id), sent(req.tracking_number)
    if (company is None) != (tracking is None):
        raise Refused("ORD_PACKAGE_INCOMPLETE", "deliveryCompanyId, trackingNumber")
    if company is None or tracking is None:
        return None if item_line is None else [item_line]
    cargo = CARGO_BY_GUID.get(parse_guid(company, "deliveryCompanyId"))
    if cargo is None:
        raise Refused("ORD_CARGO_UNKNOWN", f"deliveryCompanyId={company}")
    package = [
        i.line
        for i in order.items
        if i.shipment is not None
        and i.shipment.carrier_code == cargo.carrier.code
        and i.shipment.tracking_number == tracking.strip()
    ]
    if not package or (item_line is not None and item_line not in package):
        raise Refused("ORD_PACKAGE_NOT_FOUND", f"trackingNumber={tracking}")
    return package if item_line is None else [item_line]
