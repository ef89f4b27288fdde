"""One fuzz scenario per platform stream: pages built from the vendor documents' golden samples
(``tests/data/<platform>/``), the paths the client calls, and how to build the client.

Each scenario makes ``RECORDS`` records from its golden record: copies with distinct ids and a
date inside the fetched window (the samples' own placeholders — c2c's empty ``siparisKodu``,
ecarsi's paging over three pages of one body — are the only repairs). A mutation then breaks one
record (or its detail answer) and the others must still arrive.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.adapter import Malformed, PlatformClient
from pipeline.http import HttpClient
from pipeline.platforms.c2c.client import C2CClient
from pipeline.platforms.ecarsi.client import EcarsiClient
from pipeline.platforms.pazarama.client import PazaramaClient
from pipeline.platforms.softtr.client import SofttrClient
from pipeline.platforms.webservis.client import WebservisClient
from pipeline.ratelimit import RateBudget, RateLimit
from schemas import Cancellation, Order, Refund

DATA = Path(__file__).parent.parent / "data"
IST = dt.timezone(dt.timedelta(hours=3))
RECORDS = 3
#: The bearer tokens the fuzz server hands out (secrets too, once issued).
TOKENS = ("fz-pazarama-token-Zr81QwPo", "fz-ecarsi-token-Vb27KmQa")
Doc = dict[str, Any]
Record = Order | Refund | Cancellation | Malformed


def golden(platform: str, name: str) -> Any:
    return json.loads((DATA / platform / name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Scenario:
    name: str
    platform: str
    credentials: dict[str, str]
    start: dt.datetime
    end: dt.datetime
    #: The golden-derived records of one page.
    records: Callable[[], list[Doc]]
    #: The id a ``Malformed`` must name for a record (None: not knowable).
    record_id: Callable[[Any], str | None]
    #: The list answer around ``records``.
    envelope: Callable[[list[Any]], Doc]
    #: Path suffix of the list request.
    list_path: str
    #: The detail answer of a record, for platforms that read one per order.
    detail: Callable[[Doc], Doc] | None = None
    #: The record id a detail request asks for, from its path.
    detail_id: Callable[[str], str | None] | None = None
    #: Token endpoint suffix and its golden answer.
    token: tuple[str, Doc] | None = None
    base_suffix: str = ""
    stream: str = "orders"

    def client(self, base: str, http: HttpClient) -> PlatformClient:
        budget = RateBudget(RateLimit.from_config(per_minute=1_000_000))
        url = base + self.base_suffix
        common: dict[str, Any] = {
            "account": "main",
            "base_url": url,
            "credentials": self.credentials,
            "http": http,
            "budget": budget,
        }
        match self.platform:
            case "pazarama":
                return PazaramaClient(**common, token_url=base + "/connect/token")
            case "c2c":
                return C2CClient(**common, window=dt.timedelta(days=3))
            case "softtr":
                return SofttrClient(**common)
            case "ecarsi":
                return EcarsiClient(**common, page_size=100)
            case _:
                return WebservisClient(**common, detail_cache=0)

    def fetch(self, client: PlatformClient) -> AsyncIterator[Record]:
        if self.stream == "refunds":
            return client.fetch_refunds(self.start, self.end)  # type: ignore[return-value]
        if self.stream == "cancellations":
            return client.fetch_cancellations(self.start, self.end)  # type: ignore[return-value]
        return client.fetch_orders(self.start, self.end)  # type: ignore[return-value]

    #: Whether a refusal code in one order's detail answer ends the fetch by design: webservis
    #: reads any code but ORDERSHOW001 as account-wide (a wrong base URL, a disabled user), so
    #: it fails loudly instead of turning every order into a Malformed.
    detail_refusal_ends_fetch: bool = False

    @property
    def secrets(self) -> list[str]:
        """What must never show: the credentials, and the token this platform is handed."""
        token = [v for v in TOKENS if self.token is not None and v in json.dumps(self.token[1])]
        return [*self.credentials.values(), *token]


def _creds(platform: str, keys: tuple[str, ...]) -> dict[str, str]:
    # Long, distinctive values: a leak of any of them is unmistakable in an excerpt.
    return {k: f"fz-{platform}-{k}-Q7x9Kp2Lm4" for k in keys}


def _clones(doc: Doc, n: int, change: Callable[[Doc, int], None]) -> list[Doc]:
    out = []
    for i in range(n):
        clone = copy.deepcopy(doc)
        change(clone, i)
        out.append(clone)
    return out


def _str_or_none(value: Any) -> str | None:
    return None if value is None or isinstance(value, dict | list | bool) else str(value)


def _last_segment(pattern: str) -> Callable[[str], str | None]:
    compiled = re.compile(pattern)

    def get(path: str) -> str | None:
        found = compiled.search(path)
        return found.group(1) if found else None

    return get


# ------------------------------------------------------------------------------------- pazarama

_PZ_ORDERS = golden("pazarama", "getOrdersForApi.response.json")
_PZ_REFUNDS = golden("pazarama", "getRefund.response.json")
_PZ_CANCELS = golden("pazarama", "cancel-items.response.json")
_PZ_TOKEN = {"access_token": TOKENS[0], "expires_in": 3600, "token_type": "Bearer"}


def _pz_order(doc: Doc, i: int) -> None:
    doc["orderNumber"] = 235795225 + i
    doc["orderId"] = f"d4fb5f23-6330-4eb0-a81c-35847560df8{i}"


def _pz_envelope(golden_doc: Doc, listed: bool) -> Callable[[list[Any]], Doc]:
    def wrap(records: list[Any]) -> Doc:
        doc = copy.deepcopy(golden_doc)
        if listed:
            doc["data"] = records
        else:
            doc["data"]["refundList"] = records
        return doc

    return wrap


def _pz_request(doc: Doc, i: int) -> None:
    doc["refundId"] = f"ef2affaf-fdfc-4128-b5bc-3a4c1129e66{i}"
    doc["id"] = i + 1


def _pazarama(stream: str) -> Scenario:
    source = {"orders": _PZ_ORDERS, "refunds": _PZ_REFUNDS, "cancellations": _PZ_CANCELS}[stream]
    if stream == "orders":
        first = source["data"][0]
        records = lambda: _clones(first, RECORDS, _pz_order)  # noqa: E731
        start = dt.datetime(2023, 1, 20, tzinfo=IST)
    else:
        first = source["data"]["refundList"][0]
        records = lambda: _clones(first, RECORDS, _pz_request)  # noqa: E731
        start = dt.datetime(2021, 10, 1 if stream == "refunds" else 20, tzinfo=IST)
    key = "orderNumber" if stream == "orders" else "refundId"
    path = {
        "orders": "/order/getOrdersForApi",
        "refunds": "/order/getRefund",
        "cancellations": "/order/api/cancel/items",
    }[stream]
    return Scenario(
        name=f"pazarama-{stream}",
        platform="pazarama",
        credentials=_creds("pazarama", ("client_id", "client_secret")),
        start=start,
        end=start + dt.timedelta(days=20),
        records=records,
        record_id=lambda r: _str_or_none(r.get(key)) if isinstance(r, dict) else None,
        envelope=_pz_envelope(source, listed=stream == "orders"),
        list_path=path,
        token=("/connect/token", _PZ_TOKEN),
        stream=stream,
    )


# ------------------------------------------------------------------------------------- c2c

_C2C_ROW = golden("c2c", "GetOrdersDate.response.json")[0]


def _c2c_order(doc: Doc, i: int) -> None:
    # The sample's placeholders are empty strings; a real order has a code, status and currency.
    doc["siparisKodu"] = f"SP20191005{i:04d}"
    doc["siparisDurumu"] = "Onay Bekliyor"
    doc["siparisParaBirimi"] = "TL"
    for line in doc["siparisUrunleri"]:
        line["urunParaBirimi"] = "TL"


C2C = Scenario(
    name="c2c-orders",
    platform="c2c",
    credentials=_creds("c2c", ("domain", "api_key", "api_password")),
    start=dt.datetime(2019, 10, 5, tzinfo=IST),
    end=dt.datetime(2019, 10, 6, tzinfo=IST),
    records=lambda: _clones(_C2C_ROW, RECORDS, _c2c_order),
    record_id=lambda r: _str_or_none(r.get("siparisKodu")) if isinstance(r, dict) else None,
    envelope=lambda records: records,  # type: ignore[arg-type,return-value]
    list_path="/GetOrdersDate",
)

# ------------------------------------------------------------------------------------- softtr

_ST_LIST = golden("softtr", "orders.response.json")
_ST_DETAIL = golden("softtr", "order.response.json")


def _st_order(doc: Doc, i: int) -> None:
    doc["orderno"] = f"0109202200122{i}-AIK"


def _st_envelope(records: list[Any]) -> Doc:
    doc = copy.deepcopy(_ST_LIST)
    doc["data"].update(content=records, page=1, pageCount=1, size=10, orderCount=len(records))
    return doc


def _st_detail(row: Doc) -> Doc:
    doc = copy.deepcopy(_ST_DETAIL)
    doc["data"]["content"]["orderno"] = row["orderno"]
    return doc


SOFTTR = Scenario(
    name="softtr-orders",
    platform="softtr",
    credentials=_creds("softtr", ("username", "password")),
    start=dt.datetime(2022, 8, 31, tzinfo=IST),
    end=dt.datetime(2022, 9, 2, tzinfo=IST),
    records=lambda: _clones(_ST_LIST["data"]["content"][0], RECORDS, _st_order),
    record_id=lambda r: _str_or_none(r.get("orderno")) if isinstance(r, dict) else None,
    envelope=_st_envelope,
    list_path="/orders",
    detail=_st_detail,
    detail_id=_last_segment(r"/order/([^/]+)$"),
    base_suffix="/api",
)

# ------------------------------------------------------------------------------------- ecarsi

_EC_LIST = golden("ecarsi", "orders.list.response.success.json")
_EC_DETAIL = golden("ecarsi", "orders.detail.response.success.json")
_EC_AUTH = golden("ecarsi", "auth.response.success.json")
_EC_AUTH["data"]["token"] = TOKENS[1]


def _ec_order(doc: Doc, i: int) -> None:
    doc["order_id"] = f"12345{i}"
    doc["order_date"] = f"2024-02-19 10:00:0{i}"


def _ec_envelope(records: list[Any]) -> Doc:
    doc = copy.deepcopy(_EC_LIST)
    doc["data"]["orders"] = records
    # The sample's pagination (page 1 of 3, 20 per page) describes another list than its one row.
    doc["data"]["pagination"].update(total=len(records), per_page=100, current_page=1, last_page=1)
    return doc


def _ec_detail(row: Doc) -> Doc:
    doc = copy.deepcopy(_EC_DETAIL)
    doc["data"]["order"].update(id=row["order_id"], date=row["order_date"])
    return doc


ECARSI = Scenario(
    name="ecarsi-orders",
    platform="ecarsi",
    credentials=_creds("ecarsi", ("email", "password")),
    start=dt.datetime(2024, 2, 19, tzinfo=IST),
    end=dt.datetime(2024, 2, 20, tzinfo=IST),
    records=lambda: _clones(_EC_LIST["data"]["orders"][0], RECORDS, _ec_order),
    record_id=lambda r: _str_or_none(r.get("order_id")) if isinstance(r, dict) else None,
    envelope=_ec_envelope,
    list_path="/orders",
    detail=_ec_detail,
    detail_id=_last_segment(r"/orders/([^/]+)$"),
    token=("/api/auth", _EC_AUTH),
    base_suffix="/api",
)

# ------------------------------------------------------------------------------------- webservis

_WS_LIST = golden("webservis", "order-lists.response.synthetic.json")
_WS_SHOW = golden("webservis", "order-show.response.synthetic.json")


def _ws_order(doc: Doc, i: int) -> None:
    doc["id"] = 10 + i
    doc["code"] = f"SP24011200{10 + i}"
    doc["createdAt"] = doc["updatedAt"] = f"2024-01-12 09:05:4{i}"


def _ws_envelope(records: list[Any]) -> Doc:
    doc = copy.deepcopy(_WS_LIST)
    doc["result"].update(list=records, total=len(records), pageSize=100)
    return doc


def _ws_detail(row: Doc) -> Doc:
    doc = copy.deepcopy(_WS_SHOW)
    doc["result"]["order"].update(
        id=row["id"], code=row["code"], createdAt=row["createdAt"], updatedAt=row["updatedAt"]
    )
    return doc


WEBSERVIS = Scenario(
    name="webservis-orders",
    platform="webservis",
    credentials=_creds("webservis", ("api_key", "api_secret")),
    start=dt.datetime(2024, 1, 10, tzinfo=IST),
    end=dt.datetime(2024, 1, 20, tzinfo=IST),
    records=lambda: _clones(_WS_LIST["result"]["list"][1], RECORDS, _ws_order),
    record_id=lambda r: _str_or_none(r.get("id")) if isinstance(r, dict) else None,
    envelope=_ws_envelope,
    list_path="/order/lists",
    detail=_ws_detail,
    detail_id=_last_segment(r"/order/show/([^/]+)$"),
    base_suffix="/api/v2",
    detail_refusal_ends_fetch=True,
)

SCENARIOS = {
    s.name: s
    for s in (
        _pazarama("orders"),
        _pazarama("refunds"),
        _pazarama("cancellations"),
        C2C,
        SOFTTR,
        ECARSI,
        WEBSERVIS,
    )
}
